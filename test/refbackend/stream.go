package refbackend

import (
	"io"
	"sync"
)

// streamBuf is the size of the blocks prefetch hands from the decrypting
// goroutine to the writing one.
const streamBuf = 256 << 10

var streamBufs = sync.Pool{New: func() any { b := make([]byte, streamBuf); return &b }}

// prefetchCopy copies src to dst with the reading (for encrypted objects,
// the decryption) running in its own goroutine a few blocks ahead of the
// writes, so decryption and network writes overlap.
func prefetchCopy(dst io.Writer, src io.Reader) (int64, error) {
	type block struct {
		buf *[]byte
		n   int
	}
	blocks := make(chan block, 4)
	stop := make(chan struct{})
	var readErr error
	go func() {
		defer close(blocks)
		for {
			b := streamBufs.Get().(*[]byte)
			n, err := io.ReadFull(src, *b)
			if n > 0 {
				select {
				case blocks <- block{b, n}:
				case <-stop:
					streamBufs.Put(b)
					return
				}
			} else {
				streamBufs.Put(b)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	var total int64
	var writeErr error
	for b := range blocks {
		if writeErr == nil {
			n, err := dst.Write((*b.buf)[:b.n])
			total += int64(n)
			if err != nil {
				writeErr = err
				close(stop)
			}
		}
		streamBufs.Put(b.buf)
	}
	if writeErr != nil {
		return total, writeErr
	}
	return total, readErr
}
