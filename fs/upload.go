package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/ssefs/ssefs/objcache"
)

// Streaming uploads of file content (objcache.Upload) and the pending
// objects that make a created file visible before its first upload. Only
// with an objcache.Cached bucket that can take multipart uploads; other
// buckets stage everything.

// cachedBucket returns the mount's objcache.Cached, if it has one.
func (fsys *filesys) cachedBucket() *objcache.Cached {
	c, _ := fsys.b.(*objcache.Cached)
	return c
}

// startUploadLocked makes the (empty) content of n a streaming upload to
// key, carrying n's current attributes; false when the bucket cannot.
func (n *fileNode) startUploadLocked(key string) bool {
	c := n.fsys.cachedBucket()
	if c == nil || n.deleted || key == "" {
		return false
	}
	up := c.NewUpload(key, n.ac.attr.putOptions(key))
	if up == nil {
		return false
	}
	n.up = up
	return true
}

// beginCreate makes a new file's content an empty streaming upload and
// reports the file as existing until its first upload, so that create
// sends no request and create+write+close of a small file is one PUT.
// It returns false when the bucket cannot, and the caller stores an
// empty object instead.
func (n *fileNode) beginCreate(key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.startUploadLocked(key) {
		return false
	}
	a := n.ac.attr
	opts := a.putOptions(key)
	n.endPending = n.fsys.cachedBucket().AddPending(key, objcache.ObjectInfo{
		LastModified: time.Now().UTC(),
		ContentType:  opts.ContentType,
		Metadata:     opts.Metadata,
	}, n.shownSize.Load)
	n.pendingKey = key
	n.markDirtyLocked()
	return true
}

// showSizeLocked publishes the local size for the pending object.
func (n *fileNode) showSizeLocked() {
	if n.pendingKey != "" {
		n.shownSize.Store(n.localAttrLocked().size)
	}
}

// endPendingLocked stops reporting a created file that is now on the
// server, or will never be. A pending object of the same key added since
// by a new file of that name stays.
func (n *fileNode) endPendingLocked() {
	if n.pendingKey != "" {
		n.endPending()
		n.pendingKey, n.endPending = "", nil
	}
}

// withdrawLocked stops reporting a created file whose first upload failed
// and whose last handle is closing: the parent's cached listing forgets
// the name (while it still leads to n, so that a new file of that name is
// not forgotten), then the pending object ends (only n's own). A lookup
// of the name then answers ENOENT. It returns the parent and name whose
// kernel entry the caller drops with NotifyEntry once n.mu is released;
// nil when the name no longer leads to n.
func (n *fileNode) withdrawLocked() (*gofs.Inode, string) {
	defer n.endPendingLocked()
	name, parent := n.Parent()
	if parent == nil || parent.GetChild(name) != n.EmbeddedInode() {
		return nil, ""
	}
	if d := asDir(parent.Operations()); d != nil {
		d.forgetChild(name)
	}
	return parent, name
}

// ownsName reports whether n is still what its name in its parent leads to.
func (n *fileNode) ownsName() bool {
	name, parent := n.Parent()
	return parent != nil && parent.GetChild(name) == n.EmbeddedInode()
}

// uploadToStagingLocked moves the content of a streaming upload to a
// staged file, for a write or truncate that does not continue it, or a
// read. Data still in memory is copied (a failure, e.g. ENOSPC, leaves
// the upload as it was); once parts are on the server the upload is
// committed and the object loaded back.
func (n *fileNode) uploadToStagingLocked(ctx context.Context) error {
	if buf, ok := n.up.Buffered(); ok {
		st, err := n.fsys.getStaging()
		if err != nil {
			return err
		}
		sf, err := st.NewFile()
		if err != nil {
			return err
		}
		if _, err := sf.WriteAt(buf, 0); err != nil {
			sf.Close()
			return err
		}
		n.up.Abort()
		n.up, n.staged = nil, sf
		return nil
	}
	if errno := n.flushLocked(ctx); errno != 0 {
		return errno
	}
	return n.ensureStagedLocked(ctx, -1)
}

// unlinkUploadLocked ends the upload of a file whose name was removed:
// what is still in memory stays readable through staging, the rest is
// dropped; nothing is uploaded. Once parts were sent, nothing written so
// far can be read back (S3 cannot read parts of an unfinished upload, and
// completing it would recreate the removed name): the content becomes a
// staged file of the same size whose first n.lost bytes read as EIO
// rather than as zeros, and later writes go on after them.
func (n *fileNode) unlinkUploadLocked() {
	if n.up == nil {
		return
	}
	buf, ok := n.up.Buffered()
	size := n.up.Size()
	if st, err := n.fsys.getStaging(); err == nil {
		if sf, err := st.NewFile(); err == nil {
			if ok {
				_, err = sf.WriteAt(buf, 0)
			} else {
				err = sf.Truncate(size)
			}
			if err == nil {
				n.staged = sf
				if !ok {
					n.lost = size
				}
			} else {
				sf.Close()
			}
		}
	}
	if !ok {
		key, _ := nodeKey(n.EmbeddedInode())
		n.fsys.log.Warn("fs: content of an unlinked file being uploaded is no longer readable", "key", key, "bytes", size)
	}
	n.up.Abort()
	n.up = nil
}

// prepareRenameLocked readies n for a server-side copy of its key, when
// it or a directory above it is renamed: local changes are uploaded first
// so that the copy carries them, and a close racing with the rename finds
// nothing left to store under the old key. A streaming upload is bound to
// the key it started with: one still all in memory moves to staging (no
// request), one whose parts went up is committed under the old key. A
// created file that never reached the server (pending, or withdrawn after
// a failed close) has to be stored, or there is nothing to copy. But when
// staged changes of a file that is on the server fail to upload (as after
// a close that failed), the rename goes on as on a local filesystem: the
// copy moves the stored version, and the changes stay staged and dirty,
// to go up under the new name at the next flush.
func (n *fileNode) prepareRenameLocked(ctx context.Context) syscall.Errno {
	if n.up != nil && !n.up.Started() {
		if err := n.uploadToStagingLocked(ctx); err != nil {
			key, _ := nodeKey(n.EmbeddedInode())
			return n.fsys.fail("rename", key, err)
		}
	}
	errno := n.flushLocked(ctx)
	if errno != 0 && n.up == nil && n.pendingKey == "" && !n.withdrawn {
		return 0 // logged by flushLocked; see above
	}
	return errno
}
