package objcache

// bigBufferMin is the size from which a data buffer (a cache block, an
// upload part) is given huge pages (newDataBuffer, newLazyBuffer).
const bigBufferMin = 1 << 20

// newDataBuffer returns a zeroed buffer of length n for object data, faulted
// in at once (an upload part, which the writer fills at memory speed).
// Large ones are backed by huge pages where the system offers them and
// faulted in with one call (see bufalloc_linux.go): on virtual machines
// where each page fault traps to the hypervisor, faulting in a fresh
// 256 MiB 4 KiB at a time cost a cold read a third of its speed.
func newDataBuffer(n int64) []byte {
	buf := newLazyBuffer(n)
	if n >= bigBufferMin {
		populate(buf)
	}
	return buf
}

// newLazyBuffer returns a zeroed buffer of length n, on huge pages where
// the system offers them, but not faulted in yet: for a cache block, which
// its fetch populates a chunk at a time just before the chunk arrives
// (BlockCache.fill), on the fetch's own goroutine. So the GET goes out and
// the first bytes reach a reader without waiting for the whole block's
// memory, and no reader waits while the cache's lock is held for it. On
// the test VM, populating 16 MiB took from 2 to 24 ms; a cold read's first
// 64 MiB, over 10 fresh mounts each, took a median 116 ms this way against
// 152 ms with whole blocks populated up front, and its slowest 1 MiB read
// 22 ms against 47.
func newLazyBuffer(n int64) []byte {
	buf := make([]byte, n)
	if n >= bigBufferMin {
		hugePages(buf)
	}
	return buf
}
