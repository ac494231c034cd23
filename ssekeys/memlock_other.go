//go:build !linux

package ssekeys

// newChunk returns heap memory: locking is only implemented for Linux.
func newChunk(size int) (mem []byte, locked bool) {
	return make([]byte, size), false
}

// HardenProcess does nothing off Linux.
func HardenProcess() error { return nil }
