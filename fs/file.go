package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
)

// fileNode is a regular file. Its content is the object on the server
// until something writes or truncates it. Sequential writes from offset 0
// of an empty file stream into an upload (up) when the bucket can take
// one; anything else (random writes, appends to an existing object,
// truncates to a non-zero size) moves the content into an encrypted staged
// file shared by every handle of the node. dirty says local content still
// has to be uploaded.
type fileNode struct {
	nodeBase
	mu      sync.Mutex
	ac      attrCache
	staged  *objcache.StagedFile
	up      *objcache.Upload // streaming upload of the content; nil when none
	dirty   bool
	opens   int
	deleted bool // unlinked or overwritten: never upload again
	// closers counts the handles that upload the node's local changes at
	// their close (handle.closer: writable ones, and the read-only handle
	// of open(O_CREAT|O_RDONLY)) and that no close(2) has flushed yet
	// (handle.closed); each reports a failed upload at its close. A change
	// made while there is none (truncate, chmod, utimens by path while the
	// file is open only for reading, or after its writers closed) is
	// uploaded before it is acknowledged, since nothing else would upload
	// it: read-only closes upload nothing, and the last release discards
	// what is left.
	closers int

	// pendingKey is the key reported as existing (objcache.Cached pending
	// objects) while a created file is not on the server yet; shownSize
	// is the size reported for it.
	pendingKey string
	endPending func() // ends this file's pending object
	shownSize  atomic.Int64
	// withdrawn: a created file whose first upload failed at the close of
	// its last handle. Its name is no longer reported (see withdrawLocked);
	// its content stays for a retry until the handle is released, and is
	// uploaded only while the name still leads to this node.
	withdrawn bool
	// lost: the first lost bytes of the staged content of an unlinked
	// file were sent in parts of an upload that the unlink aborted; reads
	// of them fail with EIO (see unlinkUploadLocked).
	lost int64
	// keptETag is the version whose pages the kernel may cache: an open
	// that finds the same ETag keeps the page cache, any other drops it.
	keptETag string
	// failedClose is open (not nil) from a close(2) whose upload failed,
	// leaving no closer, until the changes are discarded by the release
	// that follows, written to again, or uploaded after all; an Open
	// meanwhile waits for it (see awaitFailedCloseLocked).
	failedClose chan struct{}
}

// releaseWait bounds how long an open waits for the release of a handle
// whose close failed to upload (awaitFailedCloseLocked).
const releaseWait = time.Second

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
	if !n.localLocked() {
		n.ac.set(a)
	}
	return n.localAttrLocked()
}

// localLocked reports whether the content is local (staged or streaming),
// so that the server's attributes are not authoritative.
func (n *fileNode) localLocked() bool { return n.staged != nil || n.up != nil }

// localAttrLocked is the node's attributes with the local size.
func (n *fileNode) localAttrLocked() nodeAttr {
	a := n.ac.attr
	switch {
	case n.staged != nil:
		a.size = n.staged.Size()
	case n.up != nil:
		a.size = n.up.Size()
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
	ctx = serverCtx(ctx)
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.localLocked() && !n.deleted && !n.ac.fresh(n.fsys.opts.AttrTTL) {
		if err := n.refreshLocked(ctx); err != nil {
			key, _ := nodeKey(n.EmbeddedInode())
			return n.fsys.fail("getattr", key, err)
		}
	}
	n.localAttrLocked().fill(&out.Attr)
	return 0
}

// Open makes a handle. Content is not fetched here: reads fetch ranges,
// and the first write or truncate streams or stages. With the block cache
// (objcache.Cached) the kernel keeps its cached pages of the file when the
// object's ETag is the one they were read from (FOPEN_KEEP_CACHE), and
// drops them otherwise: a change made elsewhere after the open is then not
// seen through pages already cached, until the next open.
func (n *fileNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	ctx = serverCtx(ctx)
	n.mu.Lock()
	n.awaitFailedCloseLocked(ctx)
	if !n.localLocked() && !n.ac.fresh(n.fsys.opts.AttrTTL) {
		if err := n.refreshLocked(ctx); err != nil {
			n.mu.Unlock()
			key, _ := nodeKey(n.EmbeddedInode())
			errno := n.fsys.fail("open", key, err)
			if errno == syscall.ENOENT {
				// The kernel's entry for the name outlived the object
				// (deleted elsewhere, or a created file whose first upload
				// failed). FUSE does not pass O_CREAT to OPEN, so Open
				// cannot tell a create from a plain open: ESTALE makes the
				// VFS walk the path again with a LOOKUP, which answers
				// ENOENT to a plain open and lets open(O_CREAT) create
				// the file anew.
				return nil, 0, syscall.ESTALE
			}
			return nil, 0, errno
		}
	}
	var fuseFlags uint32
	if !n.localLocked() && n.fsys.cachedBucket() != nil {
		if etag := n.ac.attr.etag; etag != "" && etag == n.keptETag {
			fuseFlags = fuse.FOPEN_KEEP_CACHE
		}
		n.keptETag = n.ac.attr.etag
	} else {
		n.keptETag = ""
	}
	n.mu.Unlock()
	fh, errno := n.open(ctx, flags)
	return fh, fuseFlags | n.fsys.openFlags(flags), errno
}

// openFlags returns the FUSE open flags a handle gets from how it was
// opened. A write-only handle does direct I/O: the kernel hands the
// writer's pages to ssefs instead of first copying them into the page
// cache, which cost a sequential write a sixth of the machine's CPU. It
// loses nothing: such a handle can neither read nor be mapped shared
// for writing, and the kernel drops cached pages its writes overlap.
// With Options.DirectIO every handle does direct I/O.
func (fsys *filesys) openFlags(flags uint32) uint32 {
	if fsys.opts.DirectIO || flags&syscall.O_ACCMODE == syscall.O_WRONLY {
		return fuse.FOPEN_DIRECT_IO
	}
	return 0
}

// open counts a new handle; O_TRUNC empties the file (uploaded on flush).
// A writable handle counts as a closer until its first close, and so does
// a read-only one that opens a created file no writer has open: that is
// open(O_CREAT|O_RDONLY) (a lock file), and the new file is uploaded at
// its close as it would be at a writer's.
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
	// Reads of an O_DIRECT file bypass the page cache even without
	// FOPEN_DIRECT_IO.
	pageCached := n.fsys.openFlags(flags)&fuse.FOPEN_DIRECT_IO == 0 && flags&syscall.O_DIRECT == 0
	h := newHandle(n, writable, writable && flags&syscall.O_APPEND != 0, pageCached)
	if writable || n.pendingKey != "" && n.dirty && n.closers == 0 {
		h.closer = true
		n.closers++
	}
	return h, 0
}

// ensureStagedLocked loads the first limit bytes of the object (all of it
// when limit < 0) into a new staged file, unless content is staged already.
// A streaming upload moves to staging.
func (n *fileNode) ensureStagedLocked(ctx context.Context, limit int64) error {
	if n.staged != nil {
		return nil
	}
	if n.up != nil {
		return n.uploadToStagingLocked(ctx)
	}
	sf, err := n.loadStagedLocked(ctx, limit)
	if err != nil {
		return err
	}
	n.staged = sf
	return nil
}

// loadStagedLocked returns a new staged file holding the first limit
// bytes of the object (all of it when limit < 0), taking the current
// version if the object changed since it was last seen.
func (n *fileNode) loadStagedLocked(ctx context.Context, limit int64) (*objcache.StagedFile, error) {
	st, err := n.fsys.getStaging()
	if err != nil {
		return nil, err
	}
	sf, err := st.NewFile()
	if err != nil {
		return nil, err
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
		return nil, err
	}
	return sf, nil
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

// awaitFailedCloseLocked waits (n.mu held, dropped meanwhile) while the
// changes of a handle whose close(2) failed to upload them wait for its
// release to discard them. The kernel sends RELEASE only after close has
// returned, and an open that came first took the changes up: a program
// that closed a file, was told the upload failed, and appended to it
// again saved the failed bytes after all ("ABBBBC" instead of "AC"). It
// waits at most releaseWait: a duplicate of the descriptor (which keeps
// the handle open, with its content, see closeFlush) sends no release.
func (n *fileNode) awaitFailedCloseLocked(ctx context.Context) {
	ch := n.failedClose
	if ch == nil {
		return
	}
	n.mu.Unlock()
	t := time.NewTimer(releaseWait)
	timedOut := false
	select {
	case <-ch:
	case <-t.C:
		timedOut = true
	case <-ctx.Done():
	}
	t.Stop()
	n.mu.Lock()
	if timedOut && n.failedClose == ch {
		n.endFailedCloseLocked() // no release is coming: later opens do not wait
	}
}

// endFailedCloseLocked ends the wait of awaitFailedCloseLocked: the
// changes were discarded, written to again or uploaded.
func (n *fileNode) endFailedCloseLocked() {
	if n.failedClose != nil {
		close(n.failedClose)
		n.failedClose = nil
	}
}

// markDirtyLocked records a local change that has to be uploaded.
func (n *fileNode) markDirtyLocked() {
	n.endFailedCloseLocked()
	n.ac.attr.mtime = time.Now()
	if !n.dirty && !n.deleted {
		n.dirty = true
		n.fsys.setDirty(n, true)
	}
}

// write appends data to the streaming upload when it continues it (or
// starts one in an empty file), else stores it at off in staging.
func (n *fileNode) write(ctx context.Context, data []byte, off int64, appending bool) (uint32, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if appending {
		off = n.localAttrLocked().size
	}
	defer n.showSizeLocked()
	key, _ := nodeKey(n.EmbeddedInode())
	if !n.localLocked() && off == 0 && n.ac.attr.size == 0 {
		n.startUploadLocked(key)
	}
	if n.staged == nil && n.up != nil && off == n.up.Size() {
		// Not interruptible: a write cut short after taking part of data
		// would have to be retried through staging.
		if err := n.up.Write(context.WithoutCancel(ctx), data); err != nil {
			return 0, n.fsys.fail("write", key, err)
		}
		n.markDirtyLocked()
		return uint32(len(data)), 0
	}
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

// truncateLocked sets the local size, loading only what is kept. Emptying
// a file whose content is on the server starts a streaming upload; a
// truncate to the size a streaming upload has is a no-op.
func (n *fileNode) truncateLocked(ctx context.Context, size int64) syscall.Errno {
	defer n.showSizeLocked()
	key, _ := nodeKey(n.EmbeddedInode())
	if !n.localLocked() && size == 0 && n.startUploadLocked(key) {
		n.markDirtyLocked()
		return 0
	}
	if n.staged == nil && n.up != nil && size == n.up.Size() {
		n.markDirtyLocked()
		return 0
	}
	if err := n.ensureStagedLocked(ctx, size); err != nil {
		return n.fsys.fail("truncate", key, err)
	}
	if err := n.staged.Truncate(size); err != nil {
		return n.fsys.fail("truncate", key, err)
	}
	n.lost = min(n.lost, size)
	n.markDirtyLocked()
	return 0
}

// flush uploads staged changes; see flushLocked.
func (n *fileNode) flush(ctx context.Context) syscall.Errno {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.flushLocked(ctx)
}

// closeFlush is the flush of a closer's close(2) (see fileNode.closers);
// the first one ends h's count as a closer. When the last
// handle of a created file that never reached the server closes with its
// changes still not uploaded, the file is withdrawn before close returns
// (withdrawLocked): a stat or open of the name right after then answers
// ENOENT, and open(O_CREAT) creates it anew, instead of meeting the
// kernel's cached entry for a file that does not exist. The content stays
// until the handle is released: a duplicate of the descriptor (a shell
// redirection) can still write it and upload it with its own close.
func (n *fileNode) closeFlush(ctx context.Context, h *handle) syscall.Errno {
	n.mu.Lock()
	n.closedLocked(h)
	errno := n.flushLocked(ctx)
	var parent *gofs.Inode
	var name string
	if n.opens == 1 && n.dirty && n.pendingKey != "" && !n.deleted {
		parent, name = n.withdrawLocked()
		n.withdrawn = true
	}
	if errno != 0 && n.dirty && n.closers == 0 && n.failedClose == nil {
		n.failedClose = make(chan struct{})
	}
	n.mu.Unlock()
	if parent != nil {
		// Synchronous, so that the kernel has dropped its entry when
		// close returns; no lock of ours is held (see EntryNotify).
		parent.NotifyEntry(name)
	}
	return errno
}

// flushLocked commits the streaming upload, or uploads the staged content
// with Put, and returns only once it is on the server. On failure staged
// data stays staged and dirty; a failed streaming upload whose parts were
// sent is aborted and reported again by every later flush.
func (n *fileNode) flushLocked(ctx context.Context) syscall.Errno {
	if !n.dirty {
		return 0
	}
	if n.withdrawn && !n.ownsName() {
		// The name was created again since: like an overwritten file,
		// this one is never uploaded.
		n.deleted = true
	}
	key, ok := nodeKey(n.EmbeddedInode())
	if !ok || n.deleted {
		n.dirty = false
		n.fsys.setDirty(n, false)
		return 0
	}
	a := n.localAttrLocked()
	// An upload once started is finished even if the caller is interrupted
	// (a signal during close(2)): cancelling it would lose data the
	// application was told was written, as close cannot be retried.
	ctx = context.WithoutCancel(ctx)
	var info objcache.ObjectInfo
	var err error
	if n.up != nil {
		info, err = n.up.Commit(ctx, a.putOptions(key))
	} else {
		info, err = n.fsys.b.Put(ctx, key, n.staged.NewReader(), a.size, a.putOptions(key))
	}
	if err != nil {
		return n.fsys.fail("upload", key, err)
	}
	n.up = nil
	n.endPendingLocked()
	n.endFailedCloseLocked()
	n.withdrawn = false
	a.etag = info.ETag
	n.ac.set(a)
	n.dirty = false
	n.fsys.setDirty(n, false)
	return 0
}

// closedLocked records that h will upload nothing more by itself: it was
// closed, or released.
func (n *fileNode) closedLocked(h *handle) {
	if h.closer && !h.closed {
		h.closed = true
		n.closers--
	}
}

// release drops a handle. When the last one goes while changes are still
// not on the server, its close already reported the failed upload; the
// changes are discarded (and logged) rather than uploaded later, so that
// nothing afterwards shows data the application was told was not saved.
// A created file that never reached the server is then gone: its close
// normally withdrew it already (closeFlush); if not (the last handle was
// read-only, or two closed at once), it is withdrawn here.
func (n *fileNode) release(ctx context.Context, h *handle) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if h.closer && !h.closed {
		// Released without a close: its open(2) failed after OPEN. A
		// change acknowledged while it counted as a closer is uploaded
		// now, unless another closer will (errors are logged).
		n.closedLocked(h)
		if n.closers == 0 {
			n.flushLocked(ctx)
		}
	}
	n.opens--
	if n.opens > 0 {
		return
	}
	if n.dirty {
		key, _ := nodeKey(n.EmbeddedInode())
		n.fsys.log.Error("fs: discarding changes that could not be uploaded", "key", key)
		var parent *gofs.Inode
		var name string
		if n.pendingKey != "" && !n.deleted {
			parent, name = n.withdrawLocked()
		}
		// Drop the kernel's cached pages and size (and its entry of a
		// withdrawn file), outside this request. An open that comes
		// first meets no object and is retried (ESTALE, see Open).
		go func() {
			n.NotifyContent(0, 0)
			if parent != nil {
				parent.NotifyEntry(name)
			}
		}()
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
	n.endPendingLocked()
	n.unlinkUploadLocked()
}

// Setattr handles chmod, chown, utimens and truncate. A change is
// acknowledged only once it is on the server, or left to a handle whose
// close will upload it (closesLocked): ftruncate, and a change by path
// while some writer has not closed yet. That is what
// open(O_TRUNC) is: the kernel sends it as OPEN, then a SETATTR of the
// size without a handle (no FUSE_ATOMIC_O_TRUNC in go-fuse), and the
// emptied content goes up with what the writer writes at its close,
// instead of an empty object first that would drop the acknowledged
// content before the writer has written anything. Otherwise (truncate(2)
// of a file that is closed, open only for reading, or whose writers have
// closed) the change is uploaded before returning: read-only closes
// upload nothing and the last release discards what is left.
//
// While local changes wait for a writer's close, new attributes go with
// them; without local changes metadata is rewritten by a server-side
// copy onto itself.
func (n *fileNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	ctx = serverCtx(ctx)
	if n.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	key, ok := nodeKey(n.EmbeddedInode())
	if !n.localLocked() && ok && !n.deleted && !n.ac.fresh(n.fsys.opts.AttrTTL) {
		if err := n.refreshLocked(ctx); err != nil {
			return n.fsys.fail("setattr", key, err)
		}
	}
	size, hasSize := in.GetSize()
	carried := n.closesLocked(f)
	if hasSize && !carried && !n.dirty && ok && !n.deleted {
		if errno := n.truncateNowLocked(ctx, key, int64(size), in); errno != 0 {
			return errno
		}
		n.localAttrLocked().fill(&out.Attr)
		return 0
	}
	if _, changed := applySetattr(n.ac.attr, in); changed && n.up != nil && n.up.Started() {
		// A multipart upload carries the metadata it started with:
		// commit it, then rewrite the metadata below.
		if errno := n.flushLocked(ctx); errno != 0 {
			return errno
		}
	}
	a, changed := applySetattr(n.ac.attr, in)
	if hasSize {
		if errno := n.truncateLocked(ctx, int64(size)); errno != 0 {
			return errno
		}
		if _, ok := in.GetMTime(); !ok {
			a.mtime = n.ac.attr.mtime // truncate sets mtime
		}
	}
	switch {
	case n.localLocked() && (n.dirty || hasSize):
		n.ac.attr = a
		if changed {
			n.markDirtyLocked()
			n.ac.attr.mtime = a.mtime
		}
		if !carried {
			// No closer will upload this: upload the local content with
			// the change now. It was dirty already (a writer's upload
			// failed at its close, and a reader keeps the file open), or
			// the file is unlinked and nothing is uploaded.
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

// closesLocked reports whether a handle will close after a SETATTR
// through f and upload local changes then: f itself when it is writable
// (ftruncate: the descriptor it came through is still open), or any
// closer not closed yet (see fileNode.closers).
func (n *fileNode) closesLocked(f gofs.FileHandle) bool {
	if h, ok := f.(*handle); ok && h.writable {
		return true
	}
	return n.closers > 0
}

// truncateNowLocked truncates a file with no local changes and no writer
// to carry the truncate: the truncated content (with the other changes
// of in) is uploaded from a private staged copy, and the node takes the
// new version only once it is on the server, so that a failed upload
// leaves nothing that shows the change. A clean staged copy that readers
// may be reading is truncated to match.
func (n *fileNode) truncateNowLocked(ctx context.Context, key string, size int64, in *fuse.SetAttrIn) syscall.Errno {
	var body io.Reader = strings.NewReader("")
	if size > 0 {
		var sf *objcache.StagedFile
		var err error
		if n.staged != nil {
			sf, err = n.copyStagedLocked(min(size, n.staged.Size()))
		} else {
			sf, err = n.loadStagedLocked(ctx, size)
		}
		if err == nil {
			if err = sf.Truncate(size); err != nil { // extending: zeros
				sf.Close()
			}
		}
		if err != nil {
			return n.fsys.fail("truncate", key, err)
		}
		defer sf.Close()
		body = sf.NewReader()
	}
	a, _ := applySetattr(n.ac.attr, in)
	if _, ok := in.GetMTime(); !ok {
		a.mtime = time.Now() // truncate sets mtime
	}
	a.size = size
	// Like flushLocked: an upload once started is finished.
	info, err := n.fsys.b.Put(context.WithoutCancel(ctx), key, body, size, a.putOptions(key))
	if err != nil {
		return n.fsys.fail("truncate", key, err)
	}
	a.etag = info.ETag
	n.ac.set(a)
	if n.staged != nil {
		if err := n.staged.Truncate(size); err != nil {
			// Reads go to the new object instead.
			n.fsys.fail("truncate staged copy", key, err)
			n.dropStagedLocked()
		}
	}
	return 0
}

// copyStagedLocked returns a new staged file with the first size bytes
// of the node's staged content.
func (n *fileNode) copyStagedLocked(size int64) (*objcache.StagedFile, error) {
	st, err := n.fsys.getStaging()
	if err != nil {
		return nil, err
	}
	sf, err := st.NewFile()
	if err != nil {
		return nil, err
	}
	buf := make([]byte, min(size, loadChunk))
	for off := int64(0); off < size; {
		k, err := n.staged.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		if k > 0 {
			if _, werr := sf.WriteAt(buf[:k], off); werr != nil {
				err = werr
			}
			off += int64(k)
		}
		if err != nil && (err != io.EOF || off < size) {
			sf.Close()
			return nil, err
		}
	}
	return sf, nil
}

// dropStagedLocked forgets local content (uploaded or not), aborting a
// streaming upload.
func (n *fileNode) dropStagedLocked() {
	n.endFailedCloseLocked()
	if n.dirty {
		n.dirty = false
		n.fsys.setDirty(n, false)
		n.ac.at = time.Time{}
	}
	if n.staged != nil {
		n.staged.Close()
		n.staged = nil
		n.lost = 0
	}
	if n.up != nil {
		n.up.Abort()
		n.up = nil
	}
	n.endPendingLocked()
	n.withdrawn = false
}

// readSource tells a handle where to read: the staged file, or the object
// as it was last seen. Reading a file being streamed moves it to staging.
// With a staged file, the ref's size is how many bytes at its start are
// lost (see fileNode.lost).
func (n *fileNode) readSource(ctx context.Context) (*objcache.StagedFile, objectRef, syscall.Errno) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.up != nil {
		if err := n.uploadToStagingLocked(ctx); err != nil {
			key, _ := nodeKey(n.EmbeddedInode())
			return nil, objectRef{}, n.fsys.fail("read", key, err)
		}
	}
	if n.staged != nil {
		return n.staged, objectRef{size: n.lost}, 0
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
	_, ref, errno := n.readSource(ctx)
	if errno != 0 {
		return objectRef{}, errno
	}
	return ref, nil
}
