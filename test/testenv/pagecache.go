package testenv

import (
	"os"
	"syscall"
	"unsafe"
)

// PagesCached returns how many pages of f are in the kernel's page cache,
// from cachestat(2) (Linux 6.5 and later: ENOSYS before; system call 451
// on every architecture).
func PagesCached(f *os.File) (uint64, error) {
	var rng struct{ off, len uint64 } // len 0: to the end of the file
	var stat struct{ cache, dirty, writeback, evicted, recentlyEvicted uint64 }
	_, _, errno := syscall.Syscall6(451, f.Fd(), uintptr(unsafe.Pointer(&rng)), uintptr(unsafe.Pointer(&stat)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return stat.cache, nil
}
