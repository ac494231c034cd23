package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
)

// Attribute indexes (objcache/attrindex.go) spare the HEAD per file that
// `ls -l`, rsync or a backup tool cost in a large directory. When a listing
// shows at least indexMinFiles files, the directory's index is read with
// it; the files it matches get their attributes without a HEAD, handed to
// the kernel with the directory entries themselves (READDIRPLUS), so the
// stat calls that follow cost no request at all. When the HEADs of a
// listing have taught us what the index lacked, the index is saved again
// in the background.

const (
	// indexMinFiles is the number of files from which a directory is
	// worth an index: below it, its HEADs cost little.
	indexMinFiles = 64
	// indexMinNew is how many new answers make a partly looked-up
	// directory's index worth saving again once its prefetcher stops.
	indexMinNew = 32
	// indexSaveTimeout bounds one save.
	indexSaveTimeout = time.Minute
)

// reservedRootName is the root-level name of the attribute indexes' prefix;
// the filesystem does not show it and refuses to create it.
var reservedRootName = objcache.AttrIndexPrefix[:len(objcache.AttrIndexPrefix)-1]

// isReserved reports whether name is hidden in d.
func (d *dirNode) isReserved(name string) bool {
	return name == reservedRootName && d.IsRoot()
}

// indexState is what a listing knows of its directory's attribute index.
type indexState struct {
	objs  map[string]objcache.ObjectInfo // files as listed
	known map[string]objcache.ObjectInfo // HEAD answers from the index, matching the listing
	heads map[string]objcache.ObjectInfo // new indexable HEAD answers
	saved bool                           // a save was started for this listing
	ix    *objcache.AttrIndex            // the index read, while listing
}

// indexWanted reports whether listings of d use attribute indexes.
func (d *dirNode) indexWanted() bool { return !d.fsys.opts.NoAttrIndex }

// indexSaved reports whether d's index is kept up to date: not on a
// read-only mount, which writes nothing.
func (d *dirNode) indexSaved() bool { return d.indexWanted() && !d.fsys.opts.ReadOnly }

// firstPageKeys is the size of a listing's first page: small, so that a
// large directory's index is asked for early.
const firstPageKeys = 100

// listSplitEvery is how many names of the index go to one piece of a
// parallel listing: a little under the 1000 entries of a listing page, so
// that a piece takes one request even from a server that reports a page
// of exactly 1000 as truncated.
const listSplitEvery = 990

// listIndexed lists the directory with prefix p into l. A first short
// page tells whether the directory is large; if so its attribute index is
// read, and the rest of the listing goes in parallel pieces cut at the
// index's names. Whatever the index says, every entry is listed. The first
// page's files are handed out once the index is read, so that they come
// with its attributes. It takes d.mu for each page, not while a request
// is out (see listInto).
func (d *dirNode) listIndexed(ctx context.Context, sl objcache.SplitLister, p string, l *listing) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The index of a directory known to have one is asked for with the
	// first page, not after it: listing it again costs one round trip
	// before the parallel pieces instead of two. Others wait for the
	// first page to say the directory is large, so that small ones cost
	// no GET of an index they do not have.
	var early chan loadedIndex
	if d.hadIndex() {
		early = make(chan loadedIndex, 1)
		go func() {
			ix, err := objcache.LoadAttrIndex(ctx, d.fsys.b, p)
			early <- loadedIndex{ix, err}
		}()
	}
	pg, more, err := sl.ListFirst(ctx, p, "/", firstPageKeys)
	if err != nil {
		return err
	}
	d.mu.Lock()
	last, added := d.addPage(l, p, pg)
	d.mu.Unlock()
	var ix *objcache.AttrIndex
	if len(pg.Objects) >= indexMinFiles {
		if early != nil {
			r := <-early
			ix, err = r.ix, r.err
		} else {
			ix, err = objcache.LoadAttrIndex(ctx, d.fsys.b, p)
		}
		if err != nil {
			d.fsys.log.Debug("no attribute index used", "dir", p, "err", err)
			ix = nil
		}
	}
	d.mu.Lock()
	if ix != nil {
		d.indexed = true
		l.index.ix = ix
		l.index.known = make(map[string]objcache.ObjectInfo, ix.Len())
	}
	d.deliver(l, added)
	d.mu.Unlock()
	if more {
		var cuts []string
		if ix != nil {
			cuts = ix.Cuts(p, last, listSplitEvery)
		}
		err = sl.ListSplit(ctx, p, "/", last, cuts, func(pg objcache.ListPage) error {
			d.mu.Lock()
			defer d.mu.Unlock()
			_, added := d.addPage(l, p, pg)
			d.deliver(l, added)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if ix != nil {
		d.mu.Lock()
		matching, files := len(l.index.known), len(l.index.objs)
		d.mu.Unlock()
		d.fsys.log.Debug("attribute index read", "dir", p, "entries", ix.Len(), "matching", matching, "files", files)
	}
	return nil
}

// loadedIndex is the outcome of reading an attribute index.
type loadedIndex struct {
	ix  *objcache.AttrIndex
	err error
}

// takeKnown returns the attributes of name from the fresh listing's index,
// for a name without an inode.
func (d *dirNode) takeKnown(name string) (kind, nodeAttr, bool) {
	k, a, _, ok := d.known(name)
	return k, a, ok
}

// known returns the attributes of name from the fresh listing's index and
// when that listing was started.
func (d *dirNode) known(name string) (kind, nodeAttr, time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l := d.list
	if !l.fresh(d.fsys.opts.AttrTTL) || l.index.known == nil {
		return kindNone, nodeAttr{}, time.Time{}, false
	}
	info, ok := l.index.known[name]
	if !ok {
		return kindNone, nodeAttr{}, time.Time{}, false
	}
	a := d.fsys.attrFromInfo(info, syscall.S_IFREG)
	return kindOf(a), a, l.started, true
}

// knownForNode returns the index's attributes of name for its existing
// file node n, when they are not older than what n knows (see
// newerServerAttr).
func (d *dirNode) knownForNode(name string, n *fileNode) (nodeAttr, bool) {
	k, a, started, ok := d.known(name)
	if !ok || k != kindFile {
		return nodeAttr{}, false
	}
	return n.newerServerAttr(a, started)
}

// newerServerAttr returns n's attributes with a (from the server) when the
// listing they were matched against was started after n's attributes were
// last set: it shows every change made through this mount before. What n
// shows then is n.serverAttr's answer (local content stays authoritative).
func (n *fileNode) newerServerAttr(a nodeAttr, listed time.Time) (nodeAttr, bool) {
	n.mu.Lock()
	at := n.ac.at
	n.mu.Unlock()
	if !at.Before(listed) {
		return nodeAttr{}, false
	}
	return n.serverAttr(a), true
}

// forgetKnown drops what the index said of name: we changed it.
func (l *listing) forgetKnown(name string) {
	delete(l.index.known, name)
	delete(l.index.heads, name)
	delete(l.index.objs, name)
}

// recordHead keeps a HEAD answer for a file of listing l, and saves the
// index once every file of the listing is known.
func (d *dirNode) recordHead(l *listing, name string, info objcache.ObjectInfo) {
	if l == nil || !d.indexSaved() || !objcache.Indexable(info) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.recordHeadLocked(l, name, info)
}

// recordLookupHead keeps the HEAD answer of a lookup for d's cached
// listing and for the one under way. The kernel looks up a large
// directory's first entries (READDIRPLUS) while the rest is still being
// listed; an index saved without their answers cost the next `ls -l` of a
// 5000-file directory 74 HEADs and a second save.
func (d *dirNode) recordLookupHead(name string, info objcache.ObjectInfo) {
	if !d.indexSaved() || !objcache.Indexable(info) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range []*listing{d.list, d.pending} {
		if l != nil {
			d.recordHeadLocked(l, name, info)
		}
	}
}

// recordHeadLocked is recordHead with d.mu held. A listing under way is
// not saved yet: it does not have all its files; listInto saves it when
// it is done (saveIfCompleteLocked).
func (d *dirNode) recordHeadLocked(l *listing, name string, info objcache.ObjectInfo) {
	o, ok := l.index.objs[name]
	if !ok || o.ETag != info.ETag || o.Size != info.Size {
		return // not the version listed
	}
	if _, ok := l.index.known[name]; ok {
		return
	}
	if l.index.heads == nil {
		l.index.heads = map[string]objcache.ObjectInfo{}
	}
	l.index.heads[name] = info
	if l != d.pending {
		d.saveIfCompleteLocked(l)
	}
}

// saveIfCompleteLocked saves l's index once every file of the finished
// listing l is known, from the index read or from a HEAD (d.mu held).
func (d *dirNode) saveIfCompleteLocked(l *listing) {
	if l.index.objs != nil && len(l.index.known)+len(l.index.heads) == len(l.index.objs) {
		d.saveIndexLocked(l)
	}
}

// prefetchDone saves the index when the prefetcher of l stopped having
// learnt enough that the index lacked.
func (d *dirNode) prefetchDone(l *listing) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(l.index.heads) >= indexMinNew {
		d.saveIndexLocked(l)
	}
}

// saveIndexLocked starts saving l's index in the background (d.mu held):
// the entries that still match plus the new answers.
func (d *dirNode) saveIndexLocked(l *listing) {
	if l.index.saved || len(l.index.heads) == 0 || len(l.index.objs) < indexMinFiles || !d.indexSaved() {
		return
	}
	p, ok := d.prefix()
	if !ok {
		return
	}
	l.index.saved = true
	d.indexed = true
	infos := make(map[string]objcache.ObjectInfo, len(l.index.known)+len(l.index.heads))
	for name, info := range l.index.known {
		infos[name] = info
	}
	for name, info := range l.index.heads {
		infos[name] = info
	}
	fsys := d.fsys
	fsys.background.Add(1)
	go func() {
		defer fsys.background.Done()
		ctx, cancel := context.WithTimeout(context.Background(), indexSaveTimeout)
		defer cancel()
		n, err := objcache.SaveAttrIndex(ctx, fsys.b, p, infos)
		if err != nil {
			fsys.log.Debug("attribute index not saved", "dir", p, "err", err)
			return
		}
		fsys.log.Debug("attribute index saved", "dir", p, "entries", n)
	}()
}

// dropIndex deletes the index of the directory with prefix p, which was
// removed or renamed; best effort, as the index is only a hint.
func (fsys *filesys) dropIndex(ctx context.Context, p string) {
	if fsys.opts.NoAttrIndex {
		return
	}
	if err := fsys.b.Delete(ctx, objcache.AttrIndexKey(p)); err != nil {
		fsys.log.Debug("attribute index not deleted", "dir", p, "err", err)
	}
}

// dropIndexTree deletes the indexes of the directory with prefix p and of
// every directory under it; best effort.
func (fsys *filesys) dropIndexTree(ctx context.Context, p string) {
	if fsys.opts.NoAttrIndex {
		return
	}
	var keys []string
	err := fsys.b.List(ctx, objcache.AttrIndexPrefix+p, "", func(pg objcache.ListPage) error {
		for _, o := range pg.Objects {
			keys = append(keys, o.Key)
		}
		return nil
	})
	for _, k := range keys {
		if err == nil {
			err = fsys.b.Delete(ctx, k)
		}
	}
	if err != nil {
		fsys.log.Debug("attribute indexes not deleted", "dir", p, "err", err)
	}
}

// hadIndex reports whether d has had an attribute index.
func (d *dirNode) hadIndex() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.indexed
}

// WaitBackground waits up to timeout for background work (index saves) to
// finish; call it after the filesystem is unmounted.
func (r *Root) WaitBackground(timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		r.fsys.background.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}
}

// dirHandle is an open directory: readdir lists one level with a delimited
// listing and sends no HEAD, so entries carry only their type. It answers
// READDIRPLUS's lookups only for names whose attributes are at hand without
// a request (from the attribute index, or HEADs already prefetched for an
// `ls -l` under way); the kernel looks the others up itself when it needs
// them, so `ls` and `find` still cost no HEAD.
type dirHandle struct {
	d   *dirNode
	s   *dirStream // nil until the first read
	pos int
}

var (
	_ gofs.NodeOpendirHandler = (*dirNode)(nil)
	_ gofs.FileReaddirenter   = (*dirHandle)(nil)
	_ gofs.FileSeekdirer      = (*dirHandle)(nil)
	_ gofs.FileLookuper       = (*dirHandle)(nil)
)

// OpendirHandle opens d for reading; the listing is taken on the first read.
func (d *dirNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	return &dirHandle{d: d}, 0, 0
}

// stream returns the handle's entries, starting the listing on first use.
func (h *dirHandle) stream(ctx context.Context) *dirStream {
	if h.s == nil {
		h.s = h.d.listStream(serverCtx(ctx))
	}
	return h.s
}

// Readdirent returns the next entry, or nil at the end.
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	e, errno := h.stream(ctx).entry(h.pos)
	if e != nil {
		h.pos++
	}
	return e, errno
}

// Seekdir moves to the entry after offset off (0: the start, which lists
// the directory again).
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == 0 {
		h.s, h.pos = nil, 0
		return 0
	}
	s := h.stream(ctx)
	h.pos = int(off)
	if e, errno := s.entry(h.pos - 1); e == nil {
		h.pos = s.count() // past the end: the end it is
		return errno
	}
	return 0
}

// known returns the index's attributes of name: from the stream while its
// listing runs (it is not the directory's listing until it is done), else
// as d.known.
func (h *dirHandle) known(name string) (k kind, a nodeAttr, started time.Time, ok bool) {
	if h.s != nil {
		if info, started, ok, inProgress := h.s.knownWhileListing(name); inProgress {
			if !ok {
				return kindNone, nodeAttr{}, time.Time{}, false
			}
			a := h.d.fsys.attrFromInfo(info, syscall.S_IFREG)
			return kindOf(a), a, started, true
		}
	}
	return h.d.known(name)
}

// Lookup answers READDIRPLUS for name when the attribute index knows it and
// it has no inode yet, or a file inode that knows no later state (see
// knownForNode), or when a prefetched HEAD of it has already been answered
// (takePrefetched without waiting); otherwise it gives no attributes (ENOENT here makes
// go-fuse send a zero node id, which the kernel takes as "none given", not
// as a negative entry).
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	d := h.d
	k, a, started, ok := h.known(name)
	if child := d.GetChild(name); child != nil {
		if n, isFile := child.Operations().(*fileNode); isFile && ok && k == kindFile {
			if a, ok := n.newerServerAttr(a, started); ok {
				a.fill(&out.Attr)
				return child, 0
			}
		}
		return nil, syscall.ENOENT
	}
	if !ok && h.s.isDone() {
		if k, a, ok = d.takePrefetched(name, false); ok {
			d.lookedUp(name)
		}
	}
	if !ok || k != kindFile && k != kindSymlink {
		return nil, syscall.ENOENT
	}
	a.fill(&out.Attr)
	return d.newChild(serverCtx(ctx), k, a), 0
}
