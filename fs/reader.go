package fs

import (
	"context"
	"io"

	"github.com/ssefs/ssefs/objcache"
)

// objectRef names one version of an object.
type objectRef struct {
	key, etag string
	size      int64
}

// objectReader reads a clean object for one handle. It is the seam where
// the block cache with readahead (objcache) will plug in; callers
// serialize calls.
type objectReader interface {
	// ReadAt fills p from off, short only at the end of the object.
	// ErrPreconditionFailed means the object no longer has ref.etag.
	ReadAt(ctx context.Context, ref objectRef, p []byte, off int64) (int, error)
	// Close releases buffers.
	Close()
}

// seqWindow is the least a seqReader fetches per request.
const seqWindow = 1 << 20

// seqReader keeps the last window it fetched, so sequential reads in
// kernel-sized pieces cost one GET per window.
type seqReader struct {
	b      objcache.Bucket
	ref    objectRef
	bufOff int64
	buf    []byte
}

func newSeqReader(b objcache.Bucket) *seqReader { return &seqReader{b: b} }

// ReadAt implements objectReader.
func (r *seqReader) ReadAt(ctx context.Context, ref objectRef, p []byte, off int64) (int, error) {
	if ref.key != r.ref.key || ref.etag != r.ref.etag {
		r.ref, r.buf = ref, nil
	}
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		if pos >= ref.size {
			break
		}
		if pos < r.bufOff || pos >= r.bufOff+int64(len(r.buf)) {
			if err := r.fetch(ctx, ref, pos, len(p)-done); err != nil {
				return done, err
			}
		}
		done += copy(p[done:], r.buf[pos-r.bufOff:])
	}
	return done, nil
}

func (r *seqReader) fetch(ctx context.Context, ref objectRef, off int64, want int) error {
	n := min(max(int64(want), seqWindow), ref.size-off)
	rc, err := r.b.GetRange(ctx, ref.key, ref.etag, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := make([]byte, n)
	if _, err := io.ReadFull(rc, buf); err != nil {
		r.buf = nil
		return err
	}
	r.bufOff, r.buf = off, buf
	return nil
}

// Close implements objectReader.
func (r *seqReader) Close() { r.buf = nil }
