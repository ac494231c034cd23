package objcache

// bigBufferMin is the size from which a data buffer (a cache block, an
// upload part) is allocated with newDataBuffer.
const bigBufferMin = 1 << 20

// newDataBuffer returns a zeroed buffer of length n for object data. Large
// ones are backed by huge pages where the system offers them and faulted in
// with one call (see bufalloc_linux.go): on virtual machines where each page
// fault traps to the hypervisor, faulting in a fresh 256 MiB cache 4 KiB at
// a time cost a cold read a third of its speed.
func newDataBuffer(n int64) []byte {
	buf := make([]byte, n)
	if n >= bigBufferMin {
		prefault(buf)
	}
	return buf
}
