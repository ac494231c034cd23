package objcache

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// prefault asks for transparent huge pages over buf and populates it for
// writing in one system call. Both are hints: a kernel without them
// (MADV_POPULATE_WRITE is Linux 5.14) leaves the pages to fault in as usual.
func prefault(buf []byte) {
	const page = 4096
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	aligned := (start + page - 1) &^ (page - 1)
	end := (start + uintptr(len(buf))) &^ (page - 1)
	if end <= aligned {
		return
	}
	region := buf[aligned-start : end-start]
	_ = unix.Madvise(region, unix.MADV_HUGEPAGE)
	_ = unix.Madvise(region, unix.MADV_POPULATE_WRITE)
}
