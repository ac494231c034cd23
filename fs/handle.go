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
// handle holds only its access mode and its read buffer.
type handle struct {
	n        *fileNode
	writable bool

	mu sync.Mutex // serializes use of rd
	rd objectReader
}

var (
	_ gofs.FileReader   = (*handle)(nil)
	_ gofs.FileWriter   = (*handle)(nil)
	_ gofs.FileFlusher  = (*handle)(nil)
	_ gofs.FileFsyncer  = (*handle)(nil)
	_ gofs.FileReleaser = (*handle)(nil)
)

func newHandle(n *fileNode, writable bool) *handle {
	return &handle{n: n, writable: writable, rd: newSeqReader(n.fsys.b)}
}

// Read serves staged content when there is some, else ranged GETs of the
// object at the ETag last seen (re-HEAD and retry once if it changed).
func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	sf, ref, errno := h.n.readSource()
	if errno != 0 {
		return nil, errno
	}
	if sf != nil {
		k, err := sf.ReadAt(dest, off)
		if err != nil && err != io.EOF {
			key, _ := nodeKey(h.n.EmbeddedInode())
			return nil, h.n.fsys.fail("read", key, err)
		}
		return fuse.ReadResultData(dest[:k]), 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	k, err := h.rd.ReadAt(ctx, ref, dest, off)
	if errors.Is(err, objcache.ErrPreconditionFailed) {
		if ref, err = h.n.refreshRef(ctx); err == nil {
			k, err = h.rd.ReadAt(ctx, ref, dest, off)
		}
	}
	if err != nil {
		return nil, h.n.fsys.fail("read", ref.key, err)
	}
	return fuse.ReadResultData(dest[:k]), 0
}

// Write stages data; it reaches the server on flush, fsync or close.
func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if !h.writable {
		return 0, syscall.EBADF
	}
	return h.n.write(ctx, data, off)
}

// Flush runs on every close(2): a writable handle's changes are uploaded
// before it returns, and a failed upload is the error close reports.
func (h *handle) Flush(ctx context.Context) syscall.Errno {
	if !h.writable {
		return 0
	}
	return h.n.flush(ctx)
}

// Fsync uploads pending changes.
func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.n.flush(ctx)
}

// Release drops the handle; see fileNode.release.
func (h *handle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	h.rd.Close()
	h.mu.Unlock()
	h.n.release(ctx)
	return 0
}
