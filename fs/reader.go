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

// objectReader reads a clean object for one handle.
type objectReader interface {
	// ReadAt fills p from off, short only at the end of the object.
	// ErrPreconditionFailed means the object no longer has ref.etag.
	ReadAt(ctx context.Context, ref objectRef, p []byte, off int64) (int, error)
	// Close releases buffers.
	Close()
}

// newObjectReader reads through the block cache with readahead when the
// bucket has one (objcache.Cached), else with a plain sequential buffer.
// pageCached says whether the kernel keeps what it reads in its page cache.
func newObjectReader(b objcache.Bucket, pageCached bool) objectReader {
	if c, ok := b.(*objcache.Cached); ok {
		return cachedReader{c.NewReader(pageCached)}
	}
	return newSeqReader(b)
}

// cachedReader adapts an objcache.Reader; it is safe for concurrent use.
type cachedReader struct{ r *objcache.Reader }

// ReadAt implements objectReader.
func (c cachedReader) ReadAt(ctx context.Context, ref objectRef, p []byte, off int64) (int, error) {
	return c.r.ReadAt(ctx, objcache.Version{Key: ref.key, ETag: ref.etag, Size: ref.size}, p, off)
}

// view reads like ReadAt but may return cached bytes in place, sparing a
// copy, with a function to call once they are sent (nil when p was
// filled); the result must not be modified.
func (c cachedReader) view(ctx context.Context, ref objectRef, p []byte, off int64) ([]byte, func(), error) {
	return c.r.View(ctx, objcache.Version{Key: ref.key, ETag: ref.etag, Size: ref.size}, p, off)
}

// Close implements objectReader; the blocks stay cached for other handles.
func (cachedReader) Close() {}

// seqWindow is the least a seqReader fetches per request.
const seqWindow = 1 << 20

// seqReader keeps the last window it fetched, so sequential reads in
// kernel-sized pieces cost one GET per window. Callers serialize calls.
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
