package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
)

// fileNode is a regular file. Its content is the object on the server
// until something writes or truncates it; from then on the content lives
// in an encrypted staged file shared by every handle of the node, and
// dirty says it still has to be uploaded.
type fileNode struct {
	nodeBase
	mu      sync.Mutex
	ac      attrCache
	staged  *objcache.StagedFile
	dirty   bool
	opens   int
	deleted bool // unlinked or overwritten: never upload again
}

var (
	_ gofs.NodeGetattrer = (*fileNode)(nil)
	_ gofs.NodeSetattrer = (*fileNode)(nil)
	_ gofs.NodeOpener    = (*fileNode)(nil)
)

// loadChunk is the size of the reads that copy an object into staging.
const loadChunk = 1 << 20

// serverAttr takes attributes from a lookup unless local state is
// authoritative (staged content), and returns what the node now shows.
func (n *fileNode) serverAttr(a nodeAttr) nodeAttr {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.staged == nil {
		n.ac.set(a)
	}
	return n.localAttrLocked()
}

// localAttrLocked is the node's attributes with the staged size.
func (n *fileNode) localAttrLocked() nodeAttr {
	a := n.ac.attr
	if n.staged != nil {
		a.size = n.staged.Size()
	}
	return a
}

// refreshLocked re-reads the attributes with HEAD.
func (n *fileNode) refreshLocked(ctx context.Context) error {
	key, ok := nodeKey(n.EmbeddedInode())
	if !ok || n.deleted {
		return nil // keep what we know of an unlinked file
	}
	info, err := n.fsys.b.Head(ctx, key)
	if err != nil {
		return err
	}
	n.ac.set(n.fsys.attrFromInfo(info, syscall.S_IFREG))
	return nil
}

// Getattr answers from the staged file or the cache, HEADing when stale.
func (n *fileNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.staged == nil && !n.deleted && !n.ac.fresh(n.fsys.opts.AttrTTL) {
		if err := n.refreshLocked(ctx); err != nil {
			key, _ := nodeKey(n.EmbeddedInode())
			return n.fsys.fail("getattr", key, err)
		}
	}
	n.localAttrLocked().fill(&out.Attr)
	return 0
}

// Open makes a handle. Content is not fetched here: reads fetch ranges,
// and the first write or truncate loads the object into staging.
func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	n.mu.Lock()
	if n.staged == nil && !n.ac.fresh(n.fsys.opts.AttrTTL) {
		if err := n.refreshLocked(ctx); err != nil {
			n.mu.Unlock()
			key, _ := nodeKey(n.EmbeddedInode())
			return nil, 0, n.fsys.fail("open", key, err)
		}
	}
	n.mu.Unlock()
	fh, errno := n.open(ctx, flags)
	return fh, 0, errno
}

// open counts a new handle; O_TRUNC empties the file (uploaded on flush).
func (n *fileNode) open(ctx context.Context, flags uint32) (*handle, syscall.Errno) {
	writable := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if writable && n.fsys.opts.ReadOnly {
		return nil, syscall.EROFS
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if writable && flags&syscall.O_TRUNC != 0 {
		if errno := n.truncateLocked(ctx, 0); errno != 0 {
			return nil, errno
		}
	}
	n.opens++
	return newHandle(n, writable), 0
}

// ensureStagedLocked loads the first limit bytes of the object (all of it
// when limit < 0) into a new staged file, unless content is staged already.
func (n *fileNode) ensureStagedLocked(ctx context.Context, limit int64) error {
	if n.staged != nil {
		return nil
	}
	st, err := n.fsys.getStaging()
	if err != nil {
		return err
	}
	sf, err := st.NewFile()
	if err != nil {
		return err
	}
	err = n.loadLocked(ctx, sf, limit)
	if errors.Is(err, objcache.ErrPreconditionFailed) {
		// Changed since we looked: take the new version.
		if err = n.refreshLocked(ctx); err == nil {
			if err = sf.Truncate(0); err == nil {
				err = n.loadLocked(ctx, sf, limit)
			}
		}
	}
	if err != nil {
		sf.Close()
		return err
	}
	n.staged = sf
	return nil
}

func (n *fileNode) loadLocked(ctx context.Context, sf *objcache.StagedFile, limit int64) error {
	size := n.ac.attr.size
	if limit >= 0 {
		size = min(size, limit)
	}
	if size <= 0 {
		return nil
	}
	key, ok := nodeKey(n.EmbeddedInode())
	if !ok {
		return objcache.ErrNotFound
	}
	rc, err := n.fsys.b.GetRange(ctx, key, n.ac.attr.etag, 0, size)
	if err != nil {
		return err
	}
	defer rc.Close()
	buf := make([]byte, min(size, loadChunk))
	var off int64
	for off < size {
		k, err := io.ReadFull(rc, buf[:min(int64(len(buf)), size-off)])
		if _, werr := sf.WriteAt(buf[:k], off); werr != nil {
			return werr
		}
		off += int64(k)
		if err != nil {
			return fmt.Errorf("load %q: %w", key, err)
		}
	}
	return nil
}

// markDirtyLocked records a local change that has to be uploaded.
func (n *fileNode) markDirtyLocked() {
	n.ac.attr.mtime = time.Now()
	if !n.dirty && !n.deleted {
		n.dirty = true
		n.fsys.setDirty(n, true)
	}
}

// write stores data at off in staging.
func (n *fileNode) write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	key, _ := nodeKey(n.EmbeddedInode())
	if err := n.ensureStagedLocked(ctx, -1); err != nil {
		return 0, n.fsys.fail("write", key, err)
	}
	k, err := n.staged.WriteAt(data, off)
	if k > 0 {
		n.markDirtyLocked()
	}
	if err != nil {
		return uint32(k), n.fsys.fail("write", key, err)
	}
	return uint32(k), 0
}

// truncateLocked sets the staged size, loading only what is kept.
func (n *fileNode) truncateLocked(ctx context.Context, size int64) syscall.Errno {
	key, _ := nodeKey(n.EmbeddedInode())
	if err := n.ensureStagedLocked(ctx, size); err != nil {
		return n.fsys.fail("truncate", key, err)
	}
	if err := n.staged.Truncate(size); err != nil {
		return n.fsys.fail("truncate", key, err)
	}
	n.markDirtyLocked()
	return 0
}

// flush uploads staged changes; see flushLocked.
func (n *fileNode) flush(ctx context.Context) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.flushLocked(ctx)
}

// flushLocked uploads the staged content with Put and returns only once it
// is on the server. On failure the data stays staged and dirty.
func (n *fileNode) flushLocked(ctx context.Context) syscall.Errno {
	if !n.dirty {
		return 0
	}
	key, ok := nodeKey(n.EmbeddedInode())
	if !ok || n.deleted {
		n.dirty = false
		n.fsys.setDirty(n, false)
		return 0
	}
	a := n.localAttrLocked()
	info, err := n.fsys.b.Put(ctx, key, n.staged.NewReader(), a.size, a.putOptions(key))
	if err != nil {
		return n.fsys.fail("upload", key, err)
	}
	a.etag = info.ETag
	n.ac.set(a)
	n.dirty = false
	n.fsys.setDirty(n, false)
	return 0
}

// release drops a handle. When the last one goes while changes are still
// not on the server, its close already reported the failed upload; the
// changes are discarded (and logged) rather than uploaded later, so that
// nothing afterwards shows data the application was told was not saved.
func (n *fileNode) release(ctx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.opens--
	if n.opens > 0 {
		return
	}
	if n.dirty {
		key, _ := nodeKey(n.EmbeddedInode())
		n.fsys.log.Error("fs: discarding changes that could not be uploaded", "key", key)
		// Drop the kernel's cached pages and size, outside this request.
		go n.NotifyContent(0, 0)
	}
	n.dropStagedLocked()
}

// markDeleted stops uploads of a file whose name was removed.
func (n *fileNode) markDeleted() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.deleted = true
	if n.dirty {
		n.dirty = false
		n.fsys.setDirty(n, false)
	}
}

// Setattr handles chmod, chown, utimens and truncate. While content is
// staged the new attributes go with the next upload; otherwise metadata
// is rewritten by a server-side copy onto itself. A truncate without a
// file handle (truncate(2)) is uploaded before returning.
func (n *fileNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if n.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	key, ok := nodeKey(n.EmbeddedInode())
	if n.staged == nil && ok && !n.deleted && !n.ac.fresh(n.fsys.opts.AttrTTL) {
		if err := n.refreshLocked(ctx); err != nil {
			return n.fsys.fail("setattr", key, err)
		}
	}
	a, changed := applySetattr(n.ac.attr, in)
	size, hasSize := in.GetSize()
	if hasSize {
		if errno := n.truncateLocked(ctx, int64(size)); errno != 0 {
			return errno
		}
		if _, ok := in.GetMTime(); !ok {
			a.mtime = n.ac.attr.mtime // truncate sets mtime
		}
	}
	switch {
	case n.staged != nil && (n.dirty || hasSize):
		n.ac.attr = a
		if changed {
			n.markDirtyLocked()
			n.ac.attr.mtime = a.mtime
		}
		if f == nil && hasSize {
			errno := n.flushLocked(ctx)
			if n.opens == 0 {
				n.dropStagedLocked()
			}
			if errno != 0 {
				return errno
			}
		}
	case changed && ok && !n.deleted:
		opts := a.putOptions(key)
		info, err := n.fsys.b.Copy(ctx, key, key, &opts)
		if err != nil {
			return n.fsys.fail("setattr", key, err)
		}
		a.etag = info.ETag
		n.ac.set(a)
	}
	n.localAttrLocked().fill(&out.Attr)
	return 0
}

// dropStagedLocked forgets staged content (uploaded or not).
func (n *fileNode) dropStagedLocked() {
	if n.dirty {
		n.dirty = false
		n.fsys.setDirty(n, false)
		n.ac.at = time.Time{}
	}
	if n.staged != nil {
		n.staged.Close()
		n.staged = nil
	}
}

// readSource tells a handle where to read: the staged file, or the object
// as it was last seen.
func (n *fileNode) readSource() (*objcache.StagedFile, objectRef, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.staged != nil {
		return n.staged, objectRef{}, 0
	}
	key, ok := nodeKey(n.EmbeddedInode())
	if !ok || n.deleted {
		return nil, objectRef{}, syscall.ESTALE
	}
	return nil, objectRef{key: key, etag: n.ac.attr.etag, size: n.ac.attr.size}, 0
}

// refreshRef re-HEADs after the object changed under a reader.
func (n *fileNode) refreshRef(ctx context.Context) (objectRef, error) {
	n.mu.Lock()
	err := n.refreshLocked(ctx)
	n.mu.Unlock()
	if err != nil {
		return objectRef{}, err
	}
	_, ref, errno := n.readSource()
	if errno != 0 {
		return objectRef{}, errno
	}
	return ref, nil
}
