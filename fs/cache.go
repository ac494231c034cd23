package fs

import (
	"maps"
	"slices"
	"time"
)

// Caches with a short TTL (Options.AttrTTL) so that a burst of system
// calls (ls -l, cp -r) costs few requests, while changes made by other
// clients show up soon. Our own changes update them in place.

// attrCache holds a node's attributes and when they were fetched.
type attrCache struct {
	attr nodeAttr
	at   time.Time // zero: must be fetched again
}

func (c *attrCache) fresh(ttl time.Duration) bool {
	return !c.at.IsZero() && time.Since(c.at) < ttl
}

func (c *attrCache) set(a nodeAttr) {
	c.attr = a
	c.at = time.Now()
}

// listing is one directory level as the server listed it: child name ->
// whether it is a directory.
type listing struct {
	started  time.Time // when the LIST was sent
	at       time.Time
	entries  map[string]bool
	prefetch *prefetcher     // nil until a lookup follows the listing
	looked   map[string]bool // children looked up since the listing
	index    indexState      // the attribute index (attrindex.go)
	// forLookups: made to answer a burst of lookups (relistForLookups),
	// not by a readdir; it starts no prefetch.
	forLookups bool
	// out gets the entries while the listing runs (nil after, and for a
	// listing made for lookups).
	out *dirStream
	// order is the order the entries were handed out in (names).
	order []string
	// changed holds the names we created or removed while the listing
	// ran (dirNode.pending): what we did is newer than what a page says,
	// which may have been read before it.
	changed map[string]bool
}

func (l *listing) fresh(ttl time.Duration) bool {
	return l != nil && time.Since(l.at) < ttl
}

// names returns the child names in the order readdir hands them out: the
// order the listing delivered them in (a streamed listing's pieces come as
// they come), then the names added since, sorted; sorted for a listing
// that delivered nothing. The prefetcher follows it, since `ls -l` stats
// the entries in the order it reads them.
func (l *listing) names() []string {
	if l.order == nil {
		return slices.Sorted(maps.Keys(l.entries))
	}
	names := make([]string, 0, len(l.entries))
	listed := make(map[string]bool, len(l.order))
	for _, n := range l.order {
		if _, ok := l.entries[n]; ok && !listed[n] {
			listed[n] = true
			names = append(names, n)
		}
	}
	var added []string
	for n := range l.entries {
		if !listed[n] {
			added = append(added, n)
		}
	}
	slices.Sort(added)
	return append(names, added...)
}

// cachedChild answers from a fresh listing: known reports whether the
// listing could answer, exists and isDir what it says.
func (d *dirNode) cachedChild(name string) (known, exists, isDir bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.list.fresh(d.fsys.opts.AttrTTL) {
		return false, false, false
	}
	isDir, exists = d.list.entries[name]
	return true, exists, isDir
}

// noteChild records that we created (or moved in) a child, in the cached
// listing and in the one under way.
func (d *dirNode) noteChild(name string, isDir bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := d.pending; l != nil {
		// A file the listing has not handed out yet goes out now: a
		// later page that has it is ignored.
		if was, seen := l.entries[name]; !isDir && (!seen || was) { // l.out is set while l is pending
			l.out.addFiles([]string{name}, nil)
			l.order = append(l.order, name)
		}
		l.changed[name] = true
	}
	for _, l := range []*listing{d.list, d.pending} {
		if l != nil {
			l.entries[name] = isDir
			l.forgetKnown(name)
			if l.prefetch != nil {
				l.prefetch.forget(name)
			}
		}
	}
}

// forgetChild records that we removed (or moved away) a child, in the
// cached listing and in the one under way.
func (d *dirNode) forgetChild(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending != nil {
		d.pending.changed[name] = true
	}
	for _, l := range []*listing{d.list, d.pending} {
		if l != nil {
			delete(l.entries, name)
			l.forgetKnown(name)
			if l.prefetch != nil {
				l.prefetch.forget(name)
			}
		}
	}
}

// setListing replaces the cached listing (d.mu held), stopping the old
// one's prefetcher.
func (d *dirNode) setListing(l *listing) {
	if d.list != nil && d.list.prefetch != nil {
		d.list.prefetch.close()
	}
	d.list = l
}
