package fs

import (
	"context"
	"time"

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
	n.fsys.cachedBucket().AddPending(key, objcache.ObjectInfo{
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
// server, or will never be.
func (n *fileNode) endPendingLocked() {
	if n.pendingKey != "" {
		n.fsys.cachedBucket().RemovePending(n.pendingKey)
		n.pendingKey = ""
	}
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
// dropped; nothing is uploaded.
func (n *fileNode) unlinkUploadLocked() {
	if n.up == nil {
		return
	}
	if buf, ok := n.up.Buffered(); ok && len(buf) > 0 {
		if st, err := n.fsys.getStaging(); err == nil {
			if sf, err := st.NewFile(); err == nil {
				if _, err := sf.WriteAt(buf, 0); err == nil {
					n.staged = sf
				} else {
					sf.Close()
				}
			}
		}
	}
	n.up.Abort()
	n.up = nil
}
