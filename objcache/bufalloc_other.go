//go:build !linux

package objcache

// prefault does nothing where huge pages and MADV_POPULATE_WRITE are not
// available: pages fault in as they are first written.
func prefault(buf []byte) {}
