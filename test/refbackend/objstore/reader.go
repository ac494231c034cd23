package objstore

// Reading a plaintext range of an object across its segments, decrypting
// only the chunks the range touches.

import (
	"fmt"
	"io"
	"os"
)

// openSeg is a segment opened for reading [start, end) of its plaintext.
type openSeg struct {
	f          *os.File
	seg        segment
	cc         *chunkCipher // nil for unencrypted content
	start, end int64
}

// rangeReader delivers a plaintext range. It implements io.WriterTo so
// io.Copy writes decrypted chunks straight from its buffer.
type rangeReader struct {
	s     *Store
	segs  []openSeg
	cur   int   // current segment
	pos   int64 // plaintext offset within segs[cur]
	bp    *[]byte
	avail []byte // plaintext ready to deliver
	batch *batchBuf
	err   error
}

func newRangeReader(s *Store, segs []openSeg) *rangeReader {
	r := &rangeReader{s: s, segs: segs, bp: getBuf()}
	if len(segs) > 0 {
		r.pos = segs[0].start
	}
	return r
}

// next makes r.avail non-empty, or returns io.EOF or an error.
func (r *rangeReader) next() error {
	for len(r.avail) == 0 {
		if r.err != nil {
			return r.err
		}
		if r.cur >= len(r.segs) {
			return io.EOF
		}
		sg := &r.segs[r.cur]
		if r.pos >= sg.end {
			sg.f.Close()
			sg.f = nil
			r.cur++
			if r.cur < len(r.segs) {
				r.pos = r.segs[r.cur].start
			}
			continue
		}
		if sg.cc == nil {
			r.err = r.loadPlain(sg)
		} else {
			r.err = r.loadChunk(sg)
		}
	}
	return nil
}

func (r *rangeReader) loadPlain(sg *openSeg) error {
	buf := (*r.bp)[:min(int64(len(*r.bp)), sg.end-r.pos)]
	n, err := sg.f.ReadAt(buf, r.pos)
	r.avail = buf[:n]
	r.pos += int64(n)
	if n < len(buf) {
		return fmt.Errorf("%w: data file %s truncated: %v", ErrCorrupt, sg.seg.ID, err)
	}
	return nil
}

// loadChunk reads and decrypts the chunk holding r.pos.
func (r *rangeReader) loadChunk(sg *openSeg) error {
	idx := r.pos / chunkSize
	cstart := idx * chunkSize
	clen := min(chunkSize, sg.seg.Size-cstart)
	buf := (*r.bp)[:clen+tagSize]
	n, err := sg.f.ReadAt(buf, idx*sealedChunkSize)
	if n < len(buf) {
		return fmt.Errorf("%w: data file %s truncated: %v", ErrCorrupt, sg.seg.ID, err)
	}
	plain, err := sg.cc.open(buf, idx, idx == numChunks(sg.seg.Size)-1)
	r.s.chunksDecrypted.Add(1)
	if err != nil {
		return fmt.Errorf("segment %s: %w", sg.seg.ID, err)
	}
	hi := min(clen, sg.end-cstart)
	r.avail = plain[r.pos-cstart : hi]
	r.pos = cstart + hi
	return nil
}

// Read implements io.Reader.
func (r *rangeReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := r.next(); err != nil {
		return 0, err
	}
	n := copy(p, r.avail)
	r.avail = r.avail[n:]
	return n, nil
}

// WriteTo implements io.WriterTo. It reads sealed content in batches of
// chunks and decrypts a batch's chunks in parallel.
func (r *rangeReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	write := func(b []byte) error {
		n, err := w.Write(b)
		total += int64(n)
		return err
	}
	for {
		if len(r.avail) > 0 { // left over from Read calls
			err := write(r.avail)
			r.avail = nil
			if err != nil {
				return total, err
			}
			continue
		}
		if r.err == nil && r.cur < len(r.segs) {
			if sg := &r.segs[r.cur]; sg.cc != nil && r.pos < sg.end {
				var pieces [][]byte
				if pieces, r.err = r.loadBatch(sg); r.err != nil {
					return total, r.err
				}
				for _, p := range pieces {
					if err := write(p); err != nil {
						return total, err
					}
				}
				continue
			}
		}
		if err := r.next(); err != nil {
			if err == io.EOF {
				err = nil
			}
			return total, err
		}
	}
}

// Close releases the files and the buffer.
func (r *rangeReader) Close() error {
	for i := range r.segs {
		if r.segs[i].f != nil {
			r.segs[i].f.Close()
			r.segs[i].f = nil
		}
	}
	if r.bp != nil {
		putBuf(r.bp)
		r.bp = nil
	}
	if r.batch != nil {
		batchBufs.Put(r.batch)
		r.batch = nil
	}
	r.avail = nil
	if r.err == nil {
		r.err = fmt.Errorf("objstore: read after close")
	}
	return nil
}
