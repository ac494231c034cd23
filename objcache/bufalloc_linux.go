package objcache

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// pageAligned returns the whole pages inside buf, or nil if there are none.
func pageAligned(buf []byte) []byte {
	const page = 4096
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	aligned := (start + page - 1) &^ (page - 1)
	end := (start + uintptr(len(buf))) &^ (page - 1)
	if end <= aligned {
		return nil
	}
	return buf[aligned-start : end-start]
}

// hugePages asks for transparent huge pages over buf: a hint, which a
// kernel without them ignores.
func hugePages(buf []byte) {
	if region := pageAligned(buf); region != nil {
		_ = unix.Madvise(region, unix.MADV_HUGEPAGE)
	}
}

// populate faults in buf for writing in one system call
// (MADV_POPULATE_WRITE, Linux 5.14); where that is missing, the pages
// fault in as they are first written.
func populate(buf []byte) {
	if region := pageAligned(buf); region != nil {
		_ = unix.Madvise(region, unix.MADV_POPULATE_WRITE)
	}
}
