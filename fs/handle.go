package fs

import (
	"context"
	"errors"
	"io"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
)

// handle is one open file description. Content state is the node's; the
// handle holds only its access mode and its reader.
type handle struct {
	n        *fileNode
	writable bool
	// appending: opened with O_APPEND. Its writes go to the end of the
	// file as ssefs knows it, not to the offset the kernel computed from
	// its cached size, which is stale after a failed close discarded
	// changes (it would leave a hole of zeros).
	appending bool
	// closer: its close uploads the node's local changes (writable, or
	// see fileNode.open); set by open, then constant. closed: a close(2)
	// of it has flushed (or it was released), so it no longer counts
	// among the node's closers; guarded by n.mu.
	closer, closed bool

	mu     sync.Mutex // serializes use of rd unless it is concurrent
	rd     objectReader
	serial bool
}

var (
	_ gofs.FileReader   = (*handle)(nil)
	_ gofs.FileWriter   = (*handle)(nil)
	_ gofs.FileFlusher  = (*handle)(nil)
	_ gofs.FileFsyncer  = (*handle)(nil)
	_ gofs.FileReleaser = (*handle)(nil)
)

// newHandle makes a handle of n; pageCached says whether the kernel keeps
// what it reads in its page cache (no direct I/O).
func newHandle(n *fileNode, writable, appending, pageCached bool) *handle {
	rd := newObjectReader(n.fsys.b, pageCached)
	_, concurrent := rd.(cachedReader)
	return &handle{n: n, writable: writable, appending: appending, rd: rd, serial: !concurrent}
}

// Read serves staged content when there is some, else the object at the
// ETag last seen (re-HEAD and retry once if it changed) through the block
// cache. Reads of one handle run in parallel (the kernel sends them
// asynchronously) unless its reader is the plain sequential one.
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	ctx = serverCtx(ctx)
	sf, ref, errno := h.n.readSource(ctx)
	if errno != 0 {
		return nil, errno
	}
	if sf != nil {
		if off < ref.size && len(dest) > 0 {
			return nil, syscall.EIO // lost by an unlink (see fileNode.lost)
		}
		k, err := sf.ReadAt(dest, off)
		if err != nil && err != io.EOF {
			key, _ := nodeKey(h.n.EmbeddedInode())
			return nil, h.n.fsys.fail("read", key, err)
		}
		return fuse.ReadResultData(dest[:k]), 0
	}
	if h.serial {
		h.mu.Lock()
		defer h.mu.Unlock()
	}
	data, release, err := h.readObject(ctx, ref, dest, off)
	if errors.Is(err, objcache.ErrPreconditionFailed) {
		if ref, err = h.n.refreshRef(ctx); err == nil {
			data, release, err = h.readObject(ctx, ref, dest, off)
		}
	}
	if err != nil {
		return nil, h.n.fsys.fail("read", ref.key, err)
	}
	if release != nil {
		return &cachedResult{data: data, release: release}, 0
	}
	return fuse.ReadResultData(data), 0
}

// readObject reads from the object, without a copy when the block cache
// can hand out its bytes (then release is not nil).
func (h *handle) readObject(ctx context.Context, ref objectRef, dest []byte, off int64) (data []byte, release func(), err error) {
	if cr, ok := h.rd.(cachedReader); ok {
		return cr.view(ctx, ref, dest, off)
	}
	k, err := h.rd.ReadAt(ctx, ref, dest, off)
	return dest[:k], nil, err
}

// cachedResult hands bytes of a cached block to the kernel and lets the
// cache reuse the block's buffer once they are sent.
//
// It must offer Slices: with splicing off, go-fuse calls Done on a result
// that has only Bytes as soon as it has the bytes, before it writes them
// to the kernel, which would let the cache refill the buffer under the
// write; a result with Slices is written with writev first and Done after.
type cachedResult struct {
	data    []byte
	release func()
}

// Bytes implements fuse.ReadResult.
func (r *cachedResult) Bytes(buf []byte) ([]byte, fuse.Status) { return r.data, fuse.OK }

// Slices hands the bytes to go-fuse's vectored write, which keeps the
// result (and the buffer) until the write is done.
func (r *cachedResult) Slices() ([][]byte, fuse.Status) { return [][]byte{r.data}, fuse.OK }

// Size implements fuse.ReadResult.
func (r *cachedResult) Size() int { return len(r.data) }

// Done implements fuse.ReadResult.
func (r *cachedResult) Done() { r.release() }

// Write streams or stages data; it is on the server after flush, fsync or
// close.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	ctx = serverCtx(ctx)
	if !h.writable {
		return 0, syscall.EBADF
	}
	return h.n.write(ctx, data, off, h.appending)
}

// Flush runs on every close(2): a writable handle's changes are uploaded
// before it returns, and a failed upload is the error close reports (see
// fileNode.closeFlush). A read-only handle's close does not wait for the
// node (an upload may hold it), unless it is the one that created the
// file (see fileNode.open).
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	ctx = serverCtx(ctx)
	if !h.writable && !h.closer {
		return 0
	}
	return h.n.closeFlush(ctx, h)
}

// Fsync uploads pending changes.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	ctx = serverCtx(ctx)
	return h.n.flush(ctx)
}

// Release drops the handle; see fileNode.release.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	ctx = serverCtx(ctx)
	h.mu.Lock()
	h.rd.Close()
	h.mu.Unlock()
	h.n.release(ctx, h)
	return 0
}
