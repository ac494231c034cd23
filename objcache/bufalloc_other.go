//go:build !linux

package objcache

// hugePages and populate do nothing where huge pages and
// MADV_POPULATE_WRITE are not available: pages fault in as they are first
// written.
func hugePages(buf []byte) {}
func populate(buf []byte)  {}
