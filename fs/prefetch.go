package fs

import (
	"context"
	"errors"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/ssefs/ssefs/objcache"
)

// The attributes of an object live in its user metadata, which a listing
// does not return, so every child of a listed directory costs a HEAD the
// first time it is looked up. The kernel sends those lookups one at a time
// (`ls -l`, `cp -r`, `rsync` stat each entry in turn), which makes a large
// directory cost one round trip per entry. A prefetcher turns that into
// parallel HEADs: the first lookup of a listed child starts HEADs of the
// entries after it, in listing order, and the following lookups take
// their results.
//
// It starts only when files are looked up after a listing, so `find` or
// `ls` without -l, which need no attributes, send no HEAD; and it runs at most
// prefetchWindow HEADs ahead of the lookups that consume them.

const (
	// prefetchWindow bounds how many results may wait unconsumed.
	prefetchWindow = 512
	// prefetchIdle stops a prefetcher whose results nobody takes.
	prefetchIdle = 2 * time.Second
	// prefetchHeads is how many HEADs one directory's prefetcher sends
	// at once: enough to hide a remote server's latency; on a local
	// server both ends are CPU-bound well before that.
	prefetchHeads = 32
)

// headResult is one HEAD sent ahead of the lookup that wants it.
type headResult struct {
	started bool          // a worker has taken it (under prefetcher.mu)
	done    chan struct{} // closed when k, a, err and at are set
	k       kind
	a       nodeAttr
	err     error
	at      time.Time
}

// prefetcher runs the HEADs of one listing of one directory.
type prefetcher struct {
	mu       sync.Mutex
	pending  map[string]*headResult // not yet taken by a lookup
	tokens   chan struct{}          // one per result that may wait
	stop     chan struct{}          // closed when the directory's listing is dropped
	stopped  bool
	finished bool // the feeder and its workers are done
}

// startPrefetch begins HEADs of the listed children after name (in the
// listing's order, wrapping around), unless a prefetcher of the current
// listing still runs. It is called by Lookup with d.mu not held.
func (d *dirNode) startPrefetch(name string) {
	d.mu.Lock()
	l := d.list
	if !l.fresh(d.fsys.opts.AttrTTL) || l.forLookups || (l.prefetch != nil && !l.prefetch.isFinished()) {
		d.mu.Unlock()
		return
	}
	// Only a file's lookup starts it: tools that walk a tree (find, du's
	// descent) look up directories, which says nothing about whether the
	// files' attributes are wanted.
	if isDir, ok := l.entries[name]; !ok || isDir {
		d.mu.Unlock()
		return
	}
	p, ok := d.prefix()
	if !ok {
		d.mu.Unlock()
		return
	}
	// The entries after name in the order readdir handed them out (which
	// `ls -l` stats them in), then those before it, leaving out the ones
	// already looked up and those the attribute index answers.
	order := l.names()
	at := max(slices.Index(order, name), 0)
	var names []string
	var isDir []bool
	for _, n := range append(order[at:], order[:at]...) {
		if _, known := l.index.known[n]; n != name && !l.looked[n] && !known {
			names = append(names, n)
			isDir = append(isDir, l.entries[n])
		}
	}
	pf := &prefetcher{pending: map[string]*headResult{}, tokens: make(chan struct{}, prefetchWindow), stop: make(chan struct{})}
	for range prefetchWindow {
		pf.tokens <- struct{}{}
	}
	if l.prefetch != nil {
		l.prefetch.close()
	}
	l.prefetch = pf
	d.mu.Unlock()
	go d.runPrefetch(pf, l, p, names, isDir)
}

// lookedUp records that the kernel has looked name up since the listing
// (or while it runs), so a later prefetcher leaves it out.
func (d *dirNode) lookedUp(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range []*listing{d.list, d.pending} {
		if l != nil {
			if l.looked == nil {
				l.looked = map[string]bool{}
			}
			l.looked[name] = true
		}
	}
}

// runPrefetch feeds the workers, one token per HEAD.
func (d *dirNode) runPrefetch(pf *prefetcher, l *listing, prefix string, names []string, isDir []bool) {
	fsys := d.fsys
	work := make(chan int)
	var wg sync.WaitGroup
	for range prefetchHeads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if d.GetChild(names[i]) != nil {
					pf.forget(names[i]) // Lookup will not take it (see there)
					continue
				}
				pf.mu.Lock()
				r := pf.pending[names[i]]
				if r == nil || r.started {
					pf.mu.Unlock()
					continue
				}
				r.started = true
				pf.mu.Unlock()
				var info objcache.ObjectInfo
				r.k, r.a, info, r.err = fsys.headChild(context.Background(), prefix+names[i], isDir[i])
				if r.err == nil && !isDir[i] {
					d.recordHead(l, names[i], info)
				}
				r.at = time.Now()
				close(r.done)
			}
		}()
	}
	idle := time.NewTimer(prefetchIdle)
	defer idle.Stop()
feed:
	for i := range names {
		select {
		case <-pf.tokens:
		case <-pf.stop:
			break feed
		case <-idle.C:
			break feed
		}
		idle.Reset(prefetchIdle)
		pf.mu.Lock()
		if pf.stopped {
			pf.mu.Unlock()
			break
		}
		pf.pending[names[i]] = &headResult{done: make(chan struct{})}
		pf.mu.Unlock()
		work <- i
	}
	close(work)
	wg.Wait()
	pf.mu.Lock()
	pf.finished = true
	pf.mu.Unlock()
	d.prefetchDone(l)
}

// isFinished reports whether the prefetcher has sent all it will send.
func (pf *prefetcher) isFinished() bool {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	return pf.finished
}

// headChild is the HEAD of a listed child: an object, or the marker of a
// directory that the listing showed as a prefix (so its defaults apply
// when there is no marker).
func (fsys *filesys) headChild(ctx context.Context, key string, isDir bool) (kind, nodeAttr, objcache.ObjectInfo, error) {
	if !isDir {
		info, err := fsys.b.Head(ctx, key)
		if err != nil {
			return kindNone, nodeAttr{}, info, err
		}
		a := fsys.attrFromInfo(info, syscall.S_IFREG)
		return kindOf(a), a, info, nil
	}
	info, err := fsys.b.Head(ctx, key+"/")
	switch {
	case err == nil:
		a := fsys.attrFromInfo(info, syscall.S_IFDIR)
		a.mode = a.mode&^syscall.S_IFMT | syscall.S_IFDIR
		return kindDir, a, info, nil
	case errors.Is(err, objcache.ErrNotFound):
		return kindDir, fsys.defaultDirAttr(), info, nil
	}
	return kindNone, nodeAttr{}, info, err
}

// currentPrefetcher returns the prefetcher of d's cached listing, or nil.
func (d *dirNode) currentPrefetcher() *prefetcher {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.list == nil {
		return nil
	}
	return d.list.prefetch
}

// takePrefetched returns the prefetched attributes of name when a HEAD
// for it was sent and answered within the TTL. With wait (a LOOKUP) it
// waits for a HEAD in flight, and withdraws a result not yet started, so
// the caller's own HEAD is the only one. Without wait (READDIRPLUS, which
// must not block) it takes only a finished answer for a file or symlink
// and leaves anything else for the kernel's own LOOKUP: so once `ls -l`
// has started the prefetcher, the entries of its next getdents come with
// their attributes and cost no LOOKUP each.
func (d *dirNode) takePrefetched(name string, wait bool) (kind, nodeAttr, bool) {
	pf := d.currentPrefetcher()
	if pf == nil {
		return kindNone, nodeAttr{}, false
	}
	pf.mu.Lock()
	r := pf.pending[name]
	if r == nil || !wait && !r.answeredFile() {
		pf.mu.Unlock()
		return kindNone, nodeAttr{}, false
	}
	delete(pf.pending, name)
	started := r.started
	r.started = true // a worker that has not begun skips it
	pf.mu.Unlock()
	pf.release()
	if !started {
		return kindNone, nodeAttr{}, false
	}
	<-r.done
	if r.err != nil || time.Since(r.at) >= d.fsys.opts.AttrTTL {
		return kindNone, nodeAttr{}, false
	}
	return r.k, r.a, true
}

// answeredFile reports whether r's HEAD has come back and found a file or
// symlink (pf.mu held, so started is stable).
func (r *headResult) answeredFile() bool {
	if !r.started {
		return false
	}
	select {
	case <-r.done:
		return r.err == nil && (r.k == kindFile || r.k == kindSymlink)
	default:
		return false
	}
}

// forget withdraws the result for a child we changed ourselves.
func (pf *prefetcher) forget(name string) {
	pf.mu.Lock()
	r := pf.pending[name]
	delete(pf.pending, name)
	if r != nil {
		r.started = true
	}
	pf.mu.Unlock()
	if r != nil {
		pf.release()
	}
}

// release gives back a token: one more result may wait.
func (pf *prefetcher) release() {
	select {
	case pf.tokens <- struct{}{}:
	default:
	}
}

// close stops the prefetcher; HEADs in flight finish unread.
func (pf *prefetcher) close() {
	pf.mu.Lock()
	defer pf.mu.Unlock()
	if !pf.stopped {
		pf.stopped = true
		close(pf.stop)
	}
}
