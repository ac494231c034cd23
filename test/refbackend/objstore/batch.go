package objstore

// Batched, parallel decryption for whole-range reads (rangeReader.WriteTo).

import (
	"fmt"
	"runtime"
	"sync"
)

const (
	batchChunks   = 16 // chunks read with one ReadAt (1 MiB of plaintext)
	maxDecWorkers = 4
)

// batchBuf holds one batch of sealed chunks and the plaintext pieces that
// decrypting it in place yields.
type batchBuf struct {
	buf    [batchChunks * sealedChunkSize]byte
	pieces [batchChunks][]byte
	errs   [batchChunks]error
}

var batchBufs = sync.Pool{New: func() any { return new(batchBuf) }}

// loadBatch reads and decrypts up to batchChunks chunks from r.pos on and
// returns their plaintext restricted to the range.
func (r *rangeReader) loadBatch(sg *openSeg) ([][]byte, error) {
	if r.batch == nil {
		r.batch = batchBufs.Get().(*batchBuf)
	}
	b := r.batch
	first := r.pos / chunkSize
	last := min((sg.end-1)/chunkSize, first+batchChunks-1)
	cnt := int(last - first + 1)
	lastChunk := numChunks(sg.seg.Size) - 1
	fileOff := first * sealedChunkSize
	fileEnd := min((last+1)*sealedChunkSize, sealedSize(sg.seg.Size))
	buf := b.buf[:fileEnd-fileOff]
	if n, err := sg.f.ReadAt(buf, fileOff); n < len(buf) {
		return nil, fmt.Errorf("%w: data file %s truncated: %v", ErrCorrupt, sg.seg.ID, err)
	}
	decrypt := func(cc *chunkCipher, i int) {
		lo := i * sealedChunkSize
		hi := min(lo+sealedChunkSize, len(buf))
		b.pieces[i], b.errs[i] = cc.open(buf[lo:hi], first+int64(i), first+int64(i) == lastChunk)
	}
	workers := min(runtime.GOMAXPROCS(0), maxDecWorkers, cnt)
	var wg sync.WaitGroup
	for w := 1; w < workers; w++ {
		cc := *sg.cc // own nonce and AAD scratch; the AEAD is stateless
		wg.Go(func() {
			for i := w; i < cnt; i += workers {
				decrypt(&cc, i)
			}
		})
	}
	for i := 0; i < cnt; i += workers {
		decrypt(sg.cc, i)
	}
	wg.Wait()
	r.s.chunksDecrypted.Add(int64(cnt))
	for i := range cnt {
		if b.errs[i] != nil {
			return nil, fmt.Errorf("segment %s: %w", sg.seg.ID, b.errs[i])
		}
	}
	pieces := b.pieces[:cnt]
	// Trim to the range: the start of the first chunk, the end of the last.
	endInLast := min(sg.end-last*chunkSize, int64(len(pieces[cnt-1])))
	pieces[cnt-1] = pieces[cnt-1][:endInLast]
	pieces[0] = pieces[0][r.pos-first*chunkSize:]
	r.pos = last*chunkSize + endInLast
	return pieces, nil
}
