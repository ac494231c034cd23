package fs

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
)

// dirNode is a directory: a zero-byte "dir/" marker object, or just a key
// prefix with objects under it.
type dirNode struct {
	nodeBase
	mu   sync.Mutex
	ac   attrCache
	list *listing
	// pending is the listing a readdir has under way (listInto), which
	// becomes list when it is done; nil when none runs. Lookups and
	// changes do not wait for it: changes go into it as into list.
	pending *listing
	// indexed: the directory has had an attribute index (read or saved).
	indexed bool
	// lastMiss is when a looked-up name was last found absent;
	// relistAfter is when the directory may next be re-listed for lookups
	// (relistForLookups).
	lastMiss, relistAfter time.Time
}

var (
	_ gofs.NodeLookuper  = (*dirNode)(nil)
	_ gofs.NodeGetattrer = (*dirNode)(nil)
	_ gofs.NodeSetattrer = (*dirNode)(nil)
	_ gofs.NodeMkdirer   = (*dirNode)(nil)
	_ gofs.NodeCreater   = (*dirNode)(nil)
	_ gofs.NodeSymlinker = (*dirNode)(nil)
	_ gofs.NodeUnlinker  = (*dirNode)(nil)
	_ gofs.NodeRmdirer   = (*dirNode)(nil)
	_ gofs.NodeRenamer   = (*dirNode)(nil)
)

// prefix is the key prefix of the directory's children ("" for the root,
// "a/b/" otherwise).
func (d *dirNode) prefix() (string, bool) {
	key, ok := nodeKey(d.EmbeddedInode())
	if !ok || key == "" {
		return "", ok
	}
	return key + "/", true
}

func (d *dirNode) childKey(name string) (string, syscall.Errno) {
	p, ok := d.prefix()
	if !ok {
		return "", syscall.ENOENT
	}
	if d.isReserved(name) {
		return "", syscall.EPERM
	}
	return p + name, 0
}

// kind is what a name in a directory turned out to be.
type kind int

const (
	kindNone kind = iota
	kindFile
	kindDir
	kindSymlink
)

func kindOf(a nodeAttr) kind {
	switch a.mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return kindDir
	case syscall.S_IFLNK:
		return kindSymlink
	}
	return kindFile
}

// errStop ends a listing after its first page.
var errStop = errors.New("stop listing")

// probe finds out what key is: an object (file or symlink), a directory
// (marker or prefix), or nothing (ErrNotFound). A fresh listing of the
// parent answers negative lookups and says which HEAD to send; a burst of
// negative lookups re-lists a small parent to get one.
func (fsys *filesys) probe(ctx context.Context, d *dirNode, name, key string) (kind, nodeAttr, error) {
	known, exists, isDir := d.cachedChild(name)
	if known && !exists {
		d.noteMiss()
		return kindNone, nodeAttr{}, objcache.ErrNotFound
	}
	if !known || !isDir {
		info, err := fsys.b.Head(ctx, key)
		if err == nil {
			d.recordLookupHead(name, info)
			a := fsys.attrFromInfo(info, syscall.S_IFREG)
			return kindOf(a), a, nil
		}
		if !errors.Is(err, objcache.ErrNotFound) {
			return kindNone, nodeAttr{}, err
		}
	}
	if !known && d.relistForLookups(ctx) {
		if known, exists, _ = d.cachedChild(name); known && !exists {
			d.noteMiss()
			return kindNone, nodeAttr{}, objcache.ErrNotFound
		}
	}
	a, err := fsys.headDir(ctx, key+"/")
	if errors.Is(err, objcache.ErrNotFound) {
		d.noteMiss()
	}
	return kindDir, a, err
}

// lookupRelistMax is the most entries a directory may have for a burst of
// lookups of absent names to re-list it rather than probe each name.
const lookupRelistMax = 1000

// relistBackoff is how long a directory found too large (or failing) to
// re-list for lookups has its names probed one by one again.
const relistBackoff = time.Minute

// noteMiss records that a looked-up name was found absent.
func (d *dirNode) noteMiss() {
	d.mu.Lock()
	d.lastMiss = time.Now()
	d.mu.Unlock()
}

// relistForLookups lists d again when lookups of absent names come in a
// burst (another was found absent within the TTL) and d fits in one page
// of lookupRelistMax entries. Creating files looks each name up first:
// with the listing, the lookups of the next TTL are answered from it, so a
// burst of creates costs one listing per TTL instead of a HEAD, a marker
// HEAD and a LIST per file. It reports whether d has a fresh listing.
func (d *dirNode) relistForLookups(ctx context.Context) bool {
	sl, ok := d.fsys.b.(objcache.SplitLister)
	if !ok {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock() // held while listing one page: changes through us wait for it
	ttl := d.fsys.opts.AttrTTL
	if d.list.fresh(ttl) {
		return true // another lookup has just listed
	}
	now := time.Now()
	if now.Sub(d.lastMiss) >= ttl || now.Before(d.relistAfter) {
		return false
	}
	p, ok := d.prefix()
	if !ok {
		return false
	}
	pg, more, err := sl.ListFirst(ctx, p, "/", lookupRelistMax)
	if err != nil || more {
		d.relistAfter = now.Add(relistBackoff)
		return false
	}
	l := &listing{started: now, entries: map[string]bool{}, forLookups: true} // no index objects: none to record
	d.addPage(l, p, pg)
	l.at = time.Now()
	d.setListing(l)
	return true
}

// headDir returns the attributes of the directory with key prefix p: from
// its marker, or the defaults when only objects under it exist.
func (fsys *filesys) headDir(ctx context.Context, p string) (nodeAttr, error) {
	info, err := fsys.b.Head(ctx, p)
	if err == nil {
		a := fsys.attrFromInfo(info, syscall.S_IFDIR)
		a.mode = a.mode&^syscall.S_IFMT | syscall.S_IFDIR
		return a, nil
	}
	if !errors.Is(err, objcache.ErrNotFound) {
		return nodeAttr{}, err
	}
	empty, err := fsys.isEmpty(ctx, p)
	if err != nil {
		return nodeAttr{}, err
	}
	if empty {
		return nodeAttr{}, objcache.ErrNotFound
	}
	return fsys.defaultDirAttr(), nil
}

// isEmpty reports whether nothing but the marker itself is under prefix p.
// Two keys answer it where the bucket can list a first page: a full page of
// a large directory cost a lookup of it as much as a quarter of its listing.
func (fsys *filesys) isEmpty(ctx context.Context, p string) (bool, error) {
	// The marker sorts first; anything else in a page says "not empty".
	other := func(pg objcache.ListPage) bool {
		for _, o := range pg.Objects {
			if o.Key != p {
				return true
			}
		}
		return len(pg.Prefixes) > 0
	}
	if sl, ok := fsys.b.(objcache.SplitLister); ok {
		pg, more, err := sl.ListFirst(ctx, p, "/", 2)
		return err == nil && !more && !other(pg), err
	}
	empty := true
	err := fsys.b.List(ctx, p, "/", func(pg objcache.ListPage) error {
		if other(pg) {
			empty = false
			return errStop
		}
		return nil
	})
	if errors.Is(err, errStop) {
		err = nil
	}
	return empty, err
}

// serverCtx detaches a request's context from FUSE interrupts. The kernel
// interrupts a request whenever the calling thread receives any signal
// (the Go runtime's preemption signals included, so Go programs under load
// trigger it all the time), and go-fuse turns that into a cancelled
// context; a HEAD, listing, PUT or copy cut short that way failed stat,
// mkdir or rename with EINTR, after the server may already have acted.
// Like libfuse without -o intr, ssefs lets such requests finish: each is
// bounded by the client's retries.
func serverCtx(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// Lookup finds a child by HEAD, or takes the answer of a HEAD prefetched
// after a listing (see prefetch.go), and reuses the existing inode when the type still matches, so
// open files keep their state.
func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = serverCtx(ctx)
	if d.isReserved(name) {
		return nil, syscall.ENOENT
	}
	key, errno := d.childKey(name)
	if errno != 0 {
		return nil, errno
	}
	// A prefetched or indexed answer is only for a name without an inode:
	// one we know may have changed through us since that HEAD was sent.
	k, a, ok := kindNone, nodeAttr{}, false
	switch child := d.GetChild(name); {
	case child == nil:
		if k, a, ok = d.takeKnown(name); !ok {
			k, a, ok = d.takePrefetched(name, true)
		}
	default:
		if n, isFile := child.Operations().(*fileNode); isFile {
			if a, ok := d.knownForNode(name, n); ok {
				d.lookedUp(name)
				a.fill(&out.Attr)
				return child, 0
			}
		}
	}
	d.lookedUp(name)
	if !ok {
		d.startPrefetch(name)
		var err error
		k, a, err = d.fsys.probe(ctx, d, name, key)
		if err != nil {
			return nil, d.fsys.fail("lookup", key, err)
		}
	}
	if child := d.GetChild(name); child != nil {
		switch n := child.Operations().(type) {
		case *fileNode:
			if k == kindFile {
				n.serverAttr(a).fill(&out.Attr)
				return child, 0
			}
		case *dirNode:
			if k == kindDir {
				n.setAttr(a)
				a.fill(&out.Attr)
				return child, 0
			}
		case *symlinkNode:
			if k == kindSymlink {
				n.setAttr(a)
				a.fill(&out.Attr)
				return child, 0
			}
		}
	}
	a.fill(&out.Attr)
	return d.newChild(ctx, k, a), 0
}

// newChild makes an inode of the given kind.
func (d *dirNode) newChild(ctx context.Context, k kind, a nodeAttr) *gofs.Inode {
	switch k {
	case kindDir:
		n := &dirNode{nodeBase: nodeBase{fsys: d.fsys}}
		n.ac.set(a)
		return d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFDIR})
	case kindSymlink:
		n := &symlinkNode{nodeBase: nodeBase{fsys: d.fsys}}
		n.ac.set(a)
		return d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFLNK})
	}
	n := &fileNode{nodeBase: nodeBase{fsys: d.fsys}}
	n.ac.set(a)
	return d.NewInode(ctx, n, gofs.StableAttr{Mode: syscall.S_IFREG})
}

func (d *dirNode) setAttr(a nodeAttr) {
	d.mu.Lock()
	d.ac.set(a)
	d.mu.Unlock()
}

// Getattr answers from the cache, or HEADs the marker.
func (d *dirNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	ctx = serverCtx(ctx)
	a, errno := d.attr(ctx)
	if errno != 0 {
		return errno
	}
	a.fill(&out.Attr)
	return 0
}

func (d *dirNode) attr(ctx context.Context) (nodeAttr, syscall.Errno) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.IsRoot() {
		return d.fsys.defaultDirAttr(), 0
	}
	if !d.ac.fresh(d.fsys.opts.AttrTTL) {
		p, ok := d.prefix()
		if !ok {
			return d.ac.attr, 0
		}
		info, err := d.fsys.b.Head(ctx, p)
		switch {
		case err == nil:
			a := d.fsys.attrFromInfo(info, syscall.S_IFDIR)
			a.mode = a.mode&^syscall.S_IFMT | syscall.S_IFDIR
			d.ac.set(a)
		case errors.Is(err, objcache.ErrNotFound):
			d.ac.set(d.fsys.defaultDirAttr()) // a prefix without marker
		default:
			return nodeAttr{}, d.fsys.fail("getattr", p, err)
		}
	}
	return d.ac.attr, 0
}

// Setattr rewrites the marker's metadata (creating a marker for a
// directory that was only a prefix). The root has no object; changes to
// it are accepted and not kept.
func (d *dirNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	ctx = serverCtx(ctx)
	if d.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	a, errno := d.attr(ctx)
	if errno != 0 {
		return errno
	}
	a, changed := applySetattr(a, in)
	if changed && !d.IsRoot() {
		p, _ := d.prefix()
		opts := a.putOptions(p)
		info, err := d.fsys.b.Copy(ctx, p, p, &opts)
		if errors.Is(err, objcache.ErrNotFound) {
			info, err = d.fsys.b.Put(ctx, p, strings.NewReader(""), 0, opts)
		}
		if err != nil {
			return d.fsys.fail("setattr", p, err)
		}
		a.etag = info.ETag
		d.setAttr(a)
	}
	a.fill(&out.Attr)
	return 0
}

// addPage adds a page of the listing of prefix p to l, keeping what an
// earlier page said of a name (pages may overlap, see listInto), and
// returns the page's last key or prefix and the files it added.
func (d *dirNode) addPage(l *listing, p string, pg objcache.ListPage) (last string, added []string) {
	for _, o := range pg.Objects {
		last = max(last, o.Key)
		if name := o.Key[len(p):]; validName(name) && !d.isReserved(name) && !l.changed[name] {
			if isDir, seen := l.entries[name]; !seen || isDir {
				added = append(added, name)
			}
			l.entries[name] = false // a file wins over a prefix of its name
			if _, seen := l.index.objs[name]; !seen && l.index.objs != nil {
				l.index.objs[name] = o
			}
		}
	}
	for _, sub := range pg.Prefixes {
		last = max(last, sub)
		name := strings.TrimSuffix(sub[len(p):], "/")
		if _, isFile := l.entries[name]; validName(name) && !isFile && !d.isReserved(name) && !l.changed[name] {
			l.entries[name] = true
		}
	}
	return last, added
}

// deliver hands the files a page added to l to l's stream, with what the
// attribute index, once read, says of them (d.mu held).
func (d *dirNode) deliver(l *listing, names []string) {
	if ix := l.index.ix; ix != nil {
		for _, name := range names {
			if o, ok := l.index.objs[name]; ok {
				if info, ok := ix.Match(name, o); ok {
					l.index.known[name] = info
				}
			}
		}
	}
	if l.out != nil {
		l.out.addFiles(names, l.index.known)
		l.order = append(l.order, names...)
	}
}

// listStream returns the entries of d for an open directory: at once from
// a fresh listing, else as a listing brings them: the one under way, or a
// new one (listInto, run meanwhile).
func (d *dirNode) listStream(ctx context.Context) *dirStream {
	d.mu.Lock()
	defer d.mu.Unlock()
	// A listing made for lookups has neither the attribute index nor the
	// prefetch of attributes that ls -l wants: list again.
	if d.list.fresh(d.fsys.opts.AttrTTL) && !d.list.forLookups {
		return completeDirStream(d.list)
	}
	if d.pending != nil {
		return d.pending.out
	}
	s := newDirStream(time.Now())
	p, ok := d.prefix()
	if !ok {
		s.finish(nil, syscall.ENOENT)
		return s
	}
	l := &listing{
		started: s.started,
		entries: map[string]bool{},
		index:   indexState{objs: map[string]objcache.ObjectInfo{}},
		out:     s,
		changed: map[string]bool{},
	}
	d.pending = l
	go d.listInto(ctx, p, l)
	return s
}

// listInto lists the directory with prefix p into l, d's pending listing,
// handing its entries to l.out as they come, and makes it d's cached
// listing when it is done. It holds d.mu only to add a page: lookups,
// stat and changes through us go on meanwhile (a directory of 50,000
// files held a stat 1.3 s), the changes going into l too (noteChild,
// forgetChild).
func (d *dirNode) listInto(ctx context.Context, p string, l *listing) {
	var err error
	if sl, ok := d.fsys.b.(objcache.SplitLister); ok && d.indexWanted() {
		err = d.listIndexed(ctx, sl, p, l)
	} else {
		err = d.fsys.b.List(ctx, p, "/", func(pg objcache.ListPage) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			_, added := d.addPage(l, p, pg)
			d.deliver(l, added)
			return nil
		})
	}
	s := l.out
	if err != nil {
		errno := d.fsys.fail("readdir", p, err)
		d.mu.Lock()
		if d.pending == l {
			d.pending = nil
		}
		l.out = nil
		d.mu.Unlock()
		s.finish(nil, errno)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(l.index.objs) < indexMinFiles || !d.indexSaved() {
		l.index.objs = nil // only new HEAD answers for a saved index need them
	}
	var dirs []string
	for name, isDir := range l.entries {
		if isDir {
			dirs = append(dirs, name)
		}
	}
	slices.Sort(dirs)
	l.order = append(l.order, dirs...)
	l.index.ix, l.out, l.changed = nil, nil, nil
	l.at = time.Now()
	// A directory moved away meanwhile (expire) has dropped l: its
	// entries are those of the old prefix.
	if d.pending == l {
		d.pending = nil
		d.setListing(l)
		// Lookups while it ran (READDIRPLUS) may have HEADed its last
		// unknown files.
		d.saveIfCompleteLocked(l)
	}
	s.finish(dirs, 0)
}

// validName rejects keys that cannot be a directory entry ("a//b", "a/.").
func validName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.Contains(name, "/")
}

// Mkdir writes a "dir/" marker carrying the mode.
func (d *dirNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = serverCtx(ctx)
	if d.fsys.opts.ReadOnly {
		return nil, syscall.EROFS
	}
	key, errno := d.childKey(name)
	if errno != 0 {
		return nil, errno
	}
	a := newAttr(syscall.S_IFDIR|mode&07777, callerOf(ctx))
	info, err := d.fsys.b.Put(ctx, key+"/", strings.NewReader(""), 0, a.putOptions(key+"/"))
	if err != nil {
		return nil, d.fsys.fail("mkdir", key+"/", err)
	}
	a.etag = info.ETag
	d.noteChild(name, true)
	a.fill(&out.Attr)
	child := d.newChild(ctx, kindDir, a)
	// We just made it: it is empty, so lookups of names in it need no
	// request until the listing's TTL runs out.
	nd := child.Operations().(*dirNode)
	nd.mu.Lock()
	nd.setListing(&listing{at: time.Now(), entries: map[string]bool{}})
	nd.mu.Unlock()
	return child, 0
}

// Create opens a new file. With a bucket that streams uploads
// (objcache.Cached) nothing is sent yet: the file is reported as existing
// until its content goes up on flush, fsync or close, so a small file
// costs one PUT. Otherwise an empty object is stored at once (so that the
// file is listed and its permissions checked by the server).
func (d *dirNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	ctx = serverCtx(ctx)
	if d.fsys.opts.ReadOnly {
		return nil, nil, 0, syscall.EROFS
	}
	key, errno := d.childKey(name)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	a := newAttr(syscall.S_IFREG|mode&07777, callerOf(ctx))
	opts := a.putOptions(key)
	a.contentType = opts.ContentType
	child := d.newChild(ctx, kindFile, a)
	fn := child.Operations().(*fileNode)
	if !fn.beginCreate(key) {
		info, err := d.fsys.b.Put(ctx, key, strings.NewReader(""), 0, opts)
		if err != nil {
			return nil, nil, 0, d.fsys.fail("create", key, err)
		}
		a.etag = info.ETag
		fn.serverAttr(a)
	}
	d.noteChild(name, false)
	fh, errno := fn.open(ctx, flags)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	a.fill(&out.Attr)
	return child, fh, d.fsys.openFlags(flags), 0
}

// Symlink stores the target as the body of an object with S_IFLNK mode.
func (d *dirNode) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ctx = serverCtx(ctx)
	if d.fsys.opts.ReadOnly {
		return nil, syscall.EROFS
	}
	key, errno := d.childKey(name)
	if errno != 0 {
		return nil, errno
	}
	a := newAttr(syscall.S_IFLNK|0o777, callerOf(ctx))
	info, err := d.fsys.b.Put(ctx, key, strings.NewReader(target), int64(len(target)), a.putOptions(key))
	if err != nil {
		return nil, d.fsys.fail("symlink", key, err)
	}
	a.etag, a.size = info.ETag, int64(len(target))
	d.noteChild(name, false)
	a.fill(&out.Attr)
	child := d.newChild(ctx, kindSymlink, a)
	child.Operations().(*symlinkNode).target = []byte(target)
	return child, 0
}

// Unlink deletes a file or symlink object. An open file stays usable; its
// data is no longer uploaded.
func (d *dirNode) Unlink(ctx context.Context, name string) syscall.Errno {
	ctx = serverCtx(ctx)
	if d.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	key, errno := d.childKey(name)
	if errno != 0 {
		return errno
	}
	if err := d.fsys.b.Delete(ctx, key); err != nil {
		return d.fsys.fail("unlink", key, err)
	}
	d.markRemoved(name)
	d.forgetChild(name)
	return 0
}

// markRemoved tells an open file node that its object is gone.
func (d *dirNode) markRemoved(name string) {
	if child := d.GetChild(name); child != nil {
		if fn, ok := child.Operations().(*fileNode); ok {
			fn.markDeleted()
		}
	}
}

// Rmdir deletes the marker of an empty directory.
func (d *dirNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	ctx = serverCtx(ctx)
	if d.fsys.opts.ReadOnly {
		return syscall.EROFS
	}
	key, errno := d.childKey(name)
	if errno != 0 {
		return errno
	}
	p := key + "/"
	empty, err := d.fsys.isEmpty(ctx, p)
	if err != nil {
		return d.fsys.fail("rmdir", p, err)
	}
	if !empty {
		return syscall.ENOTEMPTY
	}
	if err := d.fsys.b.Delete(ctx, p); err != nil {
		return d.fsys.fail("rmdir", p, err)
	}
	if child := d.GetChild(name); child != nil {
		if dn, ok := child.Operations().(*dirNode); ok && dn.hadIndex() {
			d.fsys.dropIndex(ctx, p)
		}
	}
	d.forgetChild(name)
	return 0
}
