package objstore

// Writing a segment: stream a body into a new data file, sealing it chunk by
// chunk, crash-safely (temp file, fsync, rename, fsync of the directory).

import (
	"crypto/cipher"
	"crypto/md5"
	"encoding/hex"
	"hash"
	"io"
	"os"
	"sync"
)

// chunkBufs are reusable buffers for writing and reading chunks.
var chunkBufs = sync.Pool{New: func() any {
	b := make([]byte, sealedChunkSize)
	return &b
}}

func getBuf() *[]byte  { return chunkBufs.Get().(*[]byte) }
func putBuf(b *[]byte) { chunkBufs.Put(b) }

// fill reads from r until buf is full or r is exhausted. eof tells that r
// reported io.EOF. Any other error of r is returned unchanged.
func fill(r io.Reader, buf []byte) (n int, eof bool, err error) {
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err == io.EOF {
			return n, true, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, false, nil
}

// writeSegment streams body into a new data file: sealed with aead, or as
// sent if aead is nil. It returns the segment and the MD5 of the plaintext.
// On any error, including an error of body (returned unchanged), no data
// file is left behind.
func (s *Store) writeSegment(body io.Reader, aead cipher.AEAD) (seg segment, sum [md5.Size]byte, err error) {
	rawID := randomBytes(idSize)
	seg.ID = hex.EncodeToString(rawID)
	f, err := os.CreateTemp(s.dataDir, tmpPrefix+"*")
	if err != nil {
		return seg, sum, err
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	h := md5.New()
	if aead == nil {
		seg.Size, err = copyPlain(f, body, h)
	} else {
		var id [idSize]byte
		copy(id[:], rawID)
		seg.Size, err = copySealed(f, body, h, newChunkCipher(aead, id))
	}
	if err != nil {
		return seg, sum, err
	}
	if err = f.Sync(); err != nil {
		return seg, sum, err
	}
	err = f.Close()
	f = nil
	if err != nil {
		return seg, sum, err
	}
	if err = os.Rename(tmp, s.dataPath(seg.ID)); err != nil {
		return seg, sum, err
	}
	if err = syncDir(s.dataDir); err != nil {
		os.Remove(s.dataPath(seg.ID))
		return seg, sum, err
	}
	h.Sum(sum[:0])
	return seg, sum, nil
}

// copyPlain copies body to w unchanged.
func copyPlain(w io.Writer, body io.Reader, h hash.Hash) (int64, error) {
	bp := getBuf()
	defer putBuf(bp)
	buf := (*bp)[:chunkSize]
	var size int64
	for {
		n, eof, err := fill(body, buf)
		if err != nil {
			return size, err
		}
		h.Write(buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return size, err
		}
		size += int64(n)
		if eof {
			return size, nil
		}
	}
}

// copySealed seals body chunk by chunk into w. A chunk is known to be the
// final one only once the body has reported EOF after it, so the next chunk
// is read before the current one is sealed.
func copySealed(w io.Writer, body io.Reader, h hash.Hash, cc *chunkCipher) (int64, error) {
	ba, bb, bo := getBuf(), getBuf(), getBuf()
	defer putBuf(ba)
	defer putBuf(bb)
	defer putBuf(bo)
	cur, next, out := (*ba)[:chunkSize], (*bb)[:chunkSize], *bo
	n, eof, err := fill(body, cur)
	if err != nil {
		return 0, err
	}
	var size int64
	for idx := int64(0); ; idx++ {
		final := eof
		m := 0
		if !final {
			if m, eof, err = fill(body, next); err != nil {
				return size, err
			}
			final = m == 0 && eof
		}
		h.Write(cur[:n])
		sealed, err := cc.seal(out[:0], cur[:n], idx, final)
		if err != nil {
			return size, err
		}
		if _, err := w.Write(sealed); err != nil {
			return size, err
		}
		size += int64(n)
		if final {
			return size, nil
		}
		cur, next, n = next, cur, m
	}
}
