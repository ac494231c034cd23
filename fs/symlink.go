package fs

import (
	"context"
	"sync"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// symlinkNode is an object whose mode has S_IFLNK and whose body is the
// link target.
type symlinkNode struct {
	nodeBase
	mu     sync.Mutex
	ac     attrCache
	target []byte // nil until read
}

var (
	_ gofs.NodeReadlinker = (*symlinkNode)(nil)
	_ gofs.NodeGetattrer  = (*symlinkNode)(nil)
	_ gofs.NodeSetattrer  = (*symlinkNode)(nil)
)

func (s *symlinkNode) setAttr(a nodeAttr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.etag != s.ac.attr.etag {
		s.target = nil
	}
	s.ac.set(a)
}

// Readlink returns the object's body, cached while its ETag holds.
func (s *symlinkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	ctx = serverCtx(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.target == nil {
		key, ok := nodeKey(s.EmbeddedInode())
		if !ok {
			return nil, syscall.ENOENT
		}
		body, err := s.fsys.readAll(ctx, key)
		if err != nil {
			return nil, s.fsys.fail("readlink", key, err)
		}
		s.target = body
	}
	return s.target, 0
}

func (s *symlinkNode) attrLocked(ctx context.Context) (nodeAttr, string, syscall.Errno) {
	key, ok := nodeKey(s.EmbeddedInode())
	if ok && !s.ac.fresh(s.fsys.opts.AttrTTL) {
		info, err := s.fsys.b.Head(ctx, key)
		if err != nil {
			return nodeAttr{}, key, s.fsys.fail("getattr", key, err)
		}
		a := s.fsys.attrFromInfo(info, syscall.S_IFLNK)
		if a.etag != s.ac.attr.etag {
			s.target = nil
		}
		s.ac.set(a)
	}
	return s.ac.attr, key, 0
}

// Getattr answers from the cache, HEADing when stale.
func (s *symlinkNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	ctx = serverCtx(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	a, _, errno := s.attrLocked(ctx)
	if errno == 0 {
		a.fill(&out.Attr)
	}
	return errno
}

// Setattr (lchown, utimensat with AT_SYMLINK_NOFOLLOW) rewrites metadata
// with a copy onto itself.
func (s *symlinkNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	ctx = serverCtx(ctx)
	if s.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, key, errno := s.attrLocked(ctx)
	if errno != 0 {
		return errno
	}
	a, changed := applySetattr(a, in)
	a.mode = syscall.S_IFLNK | 0o777 // a link's own permissions are not used
	if changed {
		opts := a.putOptions(key)
		info, err := s.fsys.b.Copy(ctx, key, key, &opts)
		if err != nil {
			return s.fsys.fail("setattr", key, err)
		}
		a.etag = info.ETag
		s.ac.set(a)
	}
	a.fill(&out.Attr)
	return 0
}
