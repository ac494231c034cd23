// Package fs is ssefs's FUSE filesystem: a go-fuse v2 node tree over an
// objcache.Bucket, with s3fs-compatible metadata and directory markers
// (DESIGN sections 4 and 5). Directory, file and symlink nodes live in
// dir.go, file.go and symlink.go; per-open state in handle.go.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
)

// Options configures a mount.
type Options struct {
	// UID and GID own objects that carry no uid/gid metadata.
	UID, GID uint32
	// DirMode and FileMode are the permissions of objects without mode
	// metadata, umask already applied. Zero means 0755 and 0644.
	DirMode, FileMode os.FileMode
	// AttrTTL is how long attributes and listings are cached, here and in
	// the kernel. Zero means 1 s.
	AttrTTL time.Duration
	// ReadOnly refuses every change with EROFS.
	ReadOnly bool
	// Staging holds written data until it is uploaded. Nil means a
	// staging area in os.TempDir() without a size limit.
	Staging *objcache.Staging
	// Logger receives failures (with object keys, never key material).
	// Nil discards them.
	Logger *slog.Logger
	// NoAttrIndex turns attribute indexes off (attrindex.go): large
	// directories then cost a HEAD per file looked up.
	NoAttrIndex bool
	// DirectIO opens every file with direct I/O: reads and writes bypass
	// the kernel's page cache and go to ssefs at the size the program
	// asked for. A large sequential read then costs about half the
	// kernel CPU per byte (one copy instead of two, no page-cache pages
	// to allocate), which is what bulk copies are bound by on a busy
	// client. In exchange nothing is kept in the page cache between
	// opens (re-reads come from the block cache or the server), and
	// small reads each cost a FUSE round trip instead of being batched
	// by kernel readahead.
	DirectIO bool
}

// filesys is the state shared by every node of one mount.
type filesys struct {
	b       objcache.Bucket
	opts    Options
	log     *slog.Logger
	started time.Time

	mu      sync.Mutex
	staging *objcache.Staging
	dirty   map[*fileNode]struct{} // files with staged data not yet uploaded

	background sync.WaitGroup // index saves in flight
}

// Root is the root directory of a mount. It also flushes what is dirty on
// shutdown.
type Root struct {
	dirNode
}

var _ gofs.InodeEmbedder = (*Root)(nil)

// nodeBase is embedded by every node type.
type nodeBase struct {
	gofs.Inode
	fsys *filesys
}

var (
	_ gofs.NodeStatfser    = (*nodeBase)(nil)
	_ gofs.NodeGetxattrer  = (*nodeBase)(nil)
	_ gofs.NodeListxattrer = (*nodeBase)(nil)
)

// NewRoot builds the root node of a filesystem over b. The result is a
// *Root.
func NewRoot(b objcache.Bucket, opts Options) gofs.InodeEmbedder {
	if opts.DirMode == 0 {
		opts.DirMode = 0o755
	}
	if opts.FileMode == 0 {
		opts.FileMode = 0o644
	}
	if opts.AttrTTL <= 0 {
		opts.AttrTTL = time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fsys := &filesys{b: b, opts: opts, log: log, started: time.Now(),
		staging: opts.Staging, dirty: map[*fileNode]struct{}{}}
	return &Root{dirNode: dirNode{nodeBase: nodeBase{fsys: fsys}}}
}

// Mount mounts a filesystem over b on mountpoint and serves it until
// unmounted. To flush dirty files before unmounting, use NewRoot and
// (*Root).Mount instead, which keep the *Root at hand.
func Mount(mountpoint string, b objcache.Bucket, opts Options, fuseOpts fuse.MountOptions) (*fuse.Server, error) {
	return NewRoot(b, opts).(*Root).Mount(mountpoint, fuseOpts)
}

// MountOptions returns fuseOpts with ssefs's FUSE settings for speed: 1
// MiB reads, writes and readahead, async reads with up to 64 of them (and
// readahead) in flight, no splicing, no locks, READDIRPLUS (answered only
// from the attribute index, so that listing a directory needs no request
// per entry). The benchmark mounts its FUSE-only reference with them too.
func MountOptions(fuseOpts fuse.MountOptions) fuse.MountOptions {
	fuseOpts.MaxWrite = 1 << 20
	fuseOpts.MaxReadAhead = 1 << 20 // the kernel's is raised to it after mounting
	fuseOpts.MaxBackground = 64
	fuseOpts.SyncRead = false
	// Splicing only pays for file-backed replies; for ours it costs a
	// pipe and three system calls per read before falling back.
	fuseOpts.DisableSplice = true
	fuseOpts.EnableLocks = false
	fuseOpts.DisableReadDirPlus = false
	// A shared mapping of a file opened with direct I/O (Options.DirectIO)
	// is served through the page cache instead of failing with ENODEV.
	// Kernels before 6.6 ignore the flag.
	fuseOpts.ExtraCapabilities |= fuse.CAP_DIRECT_IO_ALLOW_MMAP
	return fuseOpts
}

// Mount mounts r on mountpoint with ssefs's FUSE settings (MountOptions) on
// top of fuseOpts, and raises the kernel's readahead for the mount to
// match them.
func (r *Root) Mount(mountpoint string, fuseOpts fuse.MountOptions) (*fuse.Server, error) {
	ttl := r.fsys.opts.AttrTTL
	fuseOpts = MountOptions(fuseOpts)
	if fuseOpts.FsName == "" {
		fuseOpts.FsName = "ssefs"
	}
	if fuseOpts.Name == "" {
		fuseOpts.Name = "ssefs"
	}
	if r.fsys.opts.ReadOnly && !slices.Contains(fuseOpts.Options, "ro") {
		fuseOpts.Options = append(fuseOpts.Options, "ro")
	}
	server, err := gofs.Mount(mountpoint, r, &gofs.Options{
		MountOptions: fuseOpts,
		EntryTimeout: &ttl,
		AttrTimeout:  &ttl,
		// A name found missing stays missing for the TTL too, so that
		// cp's stat of its target and the open(O_CREAT) after it cost
		// one lookup, not two.
		NegativeTimeout: &ttl,
		NullPermissions: true, // show mode 000 as 000
	})
	if err != nil {
		return nil, err
	}
	if err := RaiseKernelReadahead(mountpoint, fuseOpts.MaxReadAhead); err != nil {
		r.fsys.log.Debug("kernel readahead left at its default", "err", err)
	}
	return server, nil
}

// FlushAll uploads every file that has data not yet on the server, e.g.
// on SIGTERM before unmounting. It returns the joined errors of the files
// that could not be uploaded; their data stays staged.
func (r *Root) FlushAll(ctx context.Context) error {
	r.fsys.mu.Lock()
	nodes := make([]*fileNode, 0, len(r.fsys.dirty))
	for n := range r.fsys.dirty {
		nodes = append(nodes, n)
	}
	r.fsys.mu.Unlock()
	var errs []error
	for _, n := range nodes {
		if errno := n.flush(ctx); errno != 0 {
			key, _ := nodeKey(n.EmbeddedInode())
			errs = append(errs, fmt.Errorf("upload %q: %w", key, errno))
		}
	}
	return errors.Join(errs...)
}

// Getxattr answers ENOSYS: ssefs keeps no extended attributes, and
// ENOSYS makes the kernel stop asking (it then answers EOPNOTSUPP itself),
// which spares `ls -l` two requests per file (security.selinux and the
// ACL names).
func (*nodeBase) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Listxattr answers ENOSYS, like Getxattr.
func (*nodeBase) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Statfs reports large made-up numbers: a bucket has no fixed capacity.
func (*nodeBase) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	const blocks = 1 << 40 // 4 PiB of 4 KiB blocks
	out.Bsize, out.Frsize = 4096, 4096
	out.Blocks, out.Bfree, out.Bavail = blocks, blocks, blocks
	out.Files, out.Ffree = 1<<40, 1<<40
	out.NameLen = 1024
	return 0
}

// getStaging returns the staging area, creating the default one on first
// use.
func (fsys *filesys) getStaging() (*objcache.Staging, error) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if fsys.staging == nil {
		st, err := objcache.NewStaging(os.TempDir(), 0)
		if err != nil {
			return nil, err
		}
		fsys.staging = st
	}
	return fsys.staging, nil
}

func (fsys *filesys) setDirty(n *fileNode, dirty bool) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	if dirty {
		fsys.dirty[n] = struct{}{}
	} else {
		delete(fsys.dirty, n)
	}
}

// nodeKey is the object key of a node: its path from the root. ok is false
// for a node that is no longer in the tree (unlinked).
func nodeKey(in *gofs.Inode) (key string, ok bool) {
	var segs []string
	for !in.IsRoot() {
		name, parent := in.Parent()
		if parent == nil {
			return "", false
		}
		segs = append(segs, name)
		in = parent
	}
	slices.Reverse(segs)
	return strings.Join(segs, "/"), true
}

// callerOf returns the process making the request, when known.
func callerOf(ctx context.Context) *fuse.Caller {
	c, _ := fuse.FromContext(ctx)
	return c
}

// readAll reads a whole small object.
func (fsys *filesys) readAll(ctx context.Context, key string) ([]byte, error) {
	rc, err := fsys.b.GetRange(ctx, key, "", 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
