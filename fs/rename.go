package fs

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/ssefs/ssefs/objcache"
)

// renameNoReplace is RENAME_NOREPLACE of renameat2(2).
const renameNoReplace = 0x1

// nodeKind is the kind of an existing inode.
func nodeKind(in *gofs.Inode) kind {
	switch in.Operations().(type) {
	case *fileNode:
		return kindFile
	case *dirNode:
		return kindDir
	case *symlinkNode:
		return kindSymlink
	}
	return kindNone
}

// asDir returns the directory node behind an inode's operations.
func asDir(ops gofs.InodeEmbedder) *dirNode {
	switch d := ops.(type) {
	case *Root:
		return &d.dirNode
	case *dirNode:
		return d
	}
	return nil
}

// Rename moves a file, symlink or directory by server-side copies and
// deletes, with POSIX overwrite rules. go-fuse moves the inode in its
// tree when this returns success.
func (d *dirNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	ctx = serverCtx(ctx)
	if d.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	if flags&gofs.RENAME_EXCHANGE != 0 || flags&^(renameNoReplace|gofs.RENAME_EXCHANGE) != 0 {
		return syscall.EINVAL
	}
	nd := asDir(newParent)
	if nd == nil {
		return syscall.ENOTDIR
	}
	src, errno := d.childKey(name)
	if errno != 0 {
		return errno
	}
	dst, errno := nd.childKey(newName)
	if errno != 0 {
		return errno
	}
	if src == dst {
		return 0
	}
	srcKind := kindNone
	if child := d.GetChild(name); child != nil {
		srcKind = nodeKind(child) // the kernel looked the source up just before
	}
	if srcKind == kindNone {
		k, _, err := d.fsys.probe(ctx, d, name, src)
		if err != nil {
			return d.fsys.fail("rename", src, err)
		}
		srcKind = k
	}
	dstKind, _, err := d.fsys.probe(ctx, nd, newName, dst)
	switch {
	case errors.Is(err, objcache.ErrNotFound):
		dstKind = kindNone
	case err != nil:
		return d.fsys.fail("rename", dst, err)
	}
	if dstKind != kindNone && flags&renameNoReplace != 0 {
		return syscall.EEXIST
	}
	if srcKind == kindDir {
		errno = d.renameDir(ctx, name, src, dst, dstKind)
	} else {
		errno = d.renameObject(ctx, name, src, dst, dstKind)
	}
	if errno != 0 {
		return errno
	}
	nd.markRemoved(newName)
	d.forgetChild(name)
	nd.noteChild(newName, srcKind == kindDir)
	return 0
}

// renameObject moves a file or symlink: copy (keeping metadata), then
// delete. An open file is readied first (prepareRenameLocked: its local
// changes uploaded, when the server takes them) and stays locked until
// the copy and delete are done, so that no write or flush of it goes to
// the old key in between.
func (d *dirNode) renameObject(ctx context.Context, name, src, dst string, dstKind kind) syscall.Errno {
	if dstKind == kindDir {
		return syscall.EISDIR
	}
	var fn *fileNode
	if child := d.GetChild(name); child != nil {
		fn, _ = child.Operations().(*fileNode)
	}
	if fn != nil {
		fn.mu.Lock()
		defer fn.mu.Unlock()
		if errno := fn.prepareRenameLocked(ctx); errno != 0 {
			return errno
		}
	}
	info, err := d.fsys.b.Copy(ctx, src, dst, nil)
	if errors.Is(err, objcache.ErrNotFound) && fn != nil && fn.dirty {
		// The object went away on the server (deleted elsewhere) while
		// the file has local content: store it, then move it.
		if errno := fn.flushLocked(ctx); errno != 0 {
			return errno
		}
		info, err = d.fsys.b.Copy(ctx, src, dst, nil)
	}
	if err != nil {
		return d.fsys.fail("rename", src, err)
	}
	if err := d.fsys.b.Delete(ctx, src); err != nil {
		return d.fsys.fail("rename", src, err)
	}
	if fn != nil && fn.staged == nil {
		fn.ac.attr.etag = info.ETag
	}
	return 0
}

// renameDir moves every key under src/ to dst/: all copies first, then the
// deletes, so a failed copy leaves the source whole.
func (d *dirNode) renameDir(ctx context.Context, name, src, dst string, dstKind kind) syscall.Errno {
	srcP, dstP := src+"/", dst+"/"
	switch dstKind {
	case kindFile, kindSymlink:
		return syscall.ENOTDIR
	case kindDir:
		empty, err := d.fsys.isEmpty(ctx, dstP)
		if err != nil {
			return d.fsys.fail("rename", dstP, err)
		}
		if !empty {
			return syscall.ENOTEMPTY
		}
	}
	// The indexes of the tree describe objects that the move replaces.
	defer d.fsys.dropIndexTree(ctx, srcP)
	child := d.GetChild(name)
	if child != nil {
		if errno := moveOpenFiles(ctx, child, func() syscall.Errno { return d.moveKeys(ctx, srcP, dstP) }); errno != 0 {
			return errno
		}
		expire(child)
		return 0
	}
	return d.moveKeys(ctx, srcP, dstP)
}

// moveOpenFiles runs move with the files under the directory readied
// (see prepareRenameLocked) before the listing, and kept locked until the
// copies and deletes are done: the kernel does not serialize writes and
// closes of files inside a directory with its rename, and a flush in
// between would store under an old key, after its copy or before its
// delete.
func moveOpenFiles(ctx context.Context, dir *gofs.Inode, move func() syscall.Errno) syscall.Errno {
	for _, fn := range openFilesUnder(dir) {
		fn.mu.Lock()
		defer fn.mu.Unlock()
		if errno := fn.prepareRenameLocked(ctx); errno != 0 {
			return errno
		}
	}
	return move()
}

// moveKeys copies every key under srcP to dstP, then deletes the sources.
func (d *dirNode) moveKeys(ctx context.Context, srcP, dstP string) syscall.Errno {
	var keys []string
	err := d.fsys.b.List(ctx, srcP, "", func(pg objcache.ListPage) error {
		for _, o := range pg.Objects {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return d.fsys.fail("rename", srcP, err)
	}
	var copied []string
	for _, k := range keys {
		to := dstP + k[len(srcP):]
		if _, err := d.fsys.b.Copy(ctx, k, to, nil); err != nil {
			for _, c := range copied {
				_ = d.fsys.b.Delete(ctx, c)
			}
			return d.fsys.fail("rename", k, err)
		}
		copied = append(copied, to)
	}
	for _, k := range keys {
		if err := d.fsys.b.Delete(ctx, k); err != nil {
			return d.fsys.fail("rename", k, err)
		}
	}
	return 0
}

// expire makes a moved subtree fetch its attributes again: every copy got
// a new ETag.
func expire(in *gofs.Inode) {
	switch n := in.Operations().(type) {
	case *dirNode:
		n.mu.Lock()
		n.ac.at, n.list, n.pending = time.Time{}, nil, nil
		n.mu.Unlock()
	case *fileNode:
		n.mu.Lock()
		n.ac.at = time.Time{}
		n.mu.Unlock()
	case *symlinkNode:
		n.mu.Lock()
		n.ac.at = time.Time{}
		n.mu.Unlock()
	}
	for _, ch := range in.Children() {
		expire(ch)
	}
}

// openFilesUnder returns the file nodes in the subtree of in, in inode
// number order: directory renames that lock several of them always take
// the locks in the same order, so that two overlapping ones cannot
// deadlock.
func openFilesUnder(in *gofs.Inode) []*fileNode {
	type numbered struct {
		ino uint64
		fn  *fileNode
	}
	var found []numbered
	var walk func(*gofs.Inode)
	walk = func(in *gofs.Inode) {
		for _, ch := range in.Children() {
			switch n := ch.Operations().(type) {
			case *fileNode:
				found = append(found, numbered{ch.StableAttr().Ino, n})
			case *dirNode:
				walk(ch)
			}
		}
	}
	walk(in)
	slices.SortFunc(found, func(a, b numbered) int { return cmp.Compare(a.ino, b.ino) })
	files := make([]*fileNode, len(found))
	for i, f := range found {
		files[i] = f.fn
	}
	return files
}
