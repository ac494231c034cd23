package fs

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

// pagedBucket is a membucket that hands out a listing's first page alone
// (objcache.SplitLister), as the S3 client does, and records the sizes of
// the first pages asked for.
type pagedBucket struct {
	*membucket.Bucket
	mu     sync.Mutex
	firsts []int // max of each ListFirst
}

// entries lists prefix whole: names (keys and common prefixes) in order.
func (b *pagedBucket) entries(ctx context.Context, prefix, delimiter string) ([]string, map[string]objcache.ObjectInfo, error) {
	var names []string
	objs := map[string]objcache.ObjectInfo{}
	err := b.Bucket.List(ctx, prefix, delimiter, func(pg objcache.ListPage) error {
		for _, o := range pg.Objects {
			names = append(names, o.Key)
			objs[o.Key] = o
		}
		names = append(names, pg.Prefixes...)
		return nil
	})
	slices.Sort(names)
	return names, objs, err
}

func page(names []string, objs map[string]objcache.ObjectInfo) objcache.ListPage {
	var pg objcache.ListPage
	for _, n := range names {
		if o, ok := objs[n]; ok {
			pg.Objects = append(pg.Objects, o)
		} else {
			pg.Prefixes = append(pg.Prefixes, n)
		}
	}
	return pg
}

func (b *pagedBucket) ListFirst(ctx context.Context, prefix, delimiter string, max int) (objcache.ListPage, bool, error) {
	b.mu.Lock()
	b.firsts = append(b.firsts, max)
	b.mu.Unlock()
	names, objs, err := b.entries(ctx, prefix, delimiter)
	return page(names[:min(max, len(names))], objs), len(names) > max, err
}

func (b *pagedBucket) ListSplit(ctx context.Context, prefix, delimiter, after string, splits []string, fn func(objcache.ListPage) error) error {
	rest, objs, err := b.entriesAfter(ctx, prefix, delimiter, after)
	if err != nil {
		return err
	}
	return fn(page(rest, objs))
}

// entriesAfter is entries without the names up to after.
func (b *pagedBucket) entriesAfter(ctx context.Context, prefix, delimiter, after string) ([]string, map[string]objcache.ObjectInfo, error) {
	names, objs, err := b.entries(ctx, prefix, delimiter)
	at, _ := slices.BinarySearch(names, after)
	for at < len(names) && names[at] <= after {
		at++
	}
	return names[at:], objs, err
}

// relists counts the first pages asked for to re-list a directory for
// lookups.
func (b *pagedBucket) relists() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, max := range b.firsts {
		if max == lookupRelistMax {
			n++
		}
	}
	return n
}

func mountPaged(t *testing.T, ttl time.Duration) (*testMount, *pagedBucket) {
	var pb *pagedBucket
	m := mountTestOver(t, func(b *membucket.Bucket) objcache.Bucket {
		pb = &pagedBucket{Bucket: b}
		return pb
	}, func(o *Options) { o.AttrTTL = ttl })
	return m, pb
}

// Creating a file looks its name up first, and an absent name cost a HEAD,
// a marker HEAD and a LIST. In a burst of creates the directory is
// re-listed instead, once per TTL, and the names are answered from it.
func TestCreateBurstRelistsTheDirectory(t *testing.T) {
	const ttl = 2 * time.Second
	m, pb := mountPaged(t, ttl)
	m.b.SetObject("d/", nil, nil)
	m.b.SetObject("d/old", []byte("old"), nil)
	m.b.SetObject("d/sub/inner", []byte("inner"), nil)
	if _, err := os.Stat(m.p("d")); err != nil {
		t.Fatal(err)
	}
	m.b.ResetCalls()
	start := time.Now()
	const files = 40
	for i := range files {
		if err := os.WriteFile(m.p(fmt.Sprintf("d/f%02d", i)), []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if time.Since(start) > ttl/2 {
		t.Skipf("the creates took %v: too slow for a %v TTL to tell", time.Since(start), ttl)
	}
	// The first absent name is probed (HEAD, marker HEAD, LIST), the second
	// HEADed and then the directory re-listed; the rest cost nothing.
	if n := m.b.Calls(membucket.OpHead); n > 4 {
		t.Errorf("%d HEADs for %d creates, want at most 4", n, files)
	}
	if n := pb.relists(); n != 1 {
		t.Errorf("%d re-listings of the directory, want 1", n)
	}
	// The listing knows the files already there and what we created.
	for _, name := range []string{"old", "sub", "f00", "f39"} {
		if _, err := os.Stat(m.p("d/" + name)); err != nil {
			t.Errorf("stat d/%s: %v", name, err)
		}
	}
	// What another client creates shows within the TTL, as a file or as a
	// directory.
	m.b.SetObject("d/outside", []byte("x"), nil)
	m.b.SetObject("d/outdir/y", []byte("y"), nil)
	time.Sleep(ttl + 100*time.Millisecond)
	if st, err := os.Stat(m.p("d/outside")); err != nil || st.IsDir() {
		t.Errorf("stat d/outside after the TTL: %v, %v", st, err)
	}
	if st, err := os.Stat(m.p("d/outdir")); err != nil || !st.IsDir() {
		t.Errorf("stat d/outdir after the TTL: %v, %v", st, err)
	}
	// A readdir lists for itself, not from the listing made for lookups.
	ents, err := os.ReadDir(m.p("d"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != files+4 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("readdir shows %d entries, want %d: %s", len(ents), files+4, strings.Join(names, " "))
	}
}

// A directory too large for one page is not re-listed for lookups: its
// names are probed one by one, and it is not asked for again at every
// create.
func TestCreateBurstInLargeDirectoryProbesNames(t *testing.T) {
	m, pb := mountPaged(t, 2*time.Second)
	for i := range lookupRelistMax + 1 {
		m.b.SetObject(fmt.Sprintf("big/e%04d", i), []byte("e"), nil)
	}
	if _, err := os.Stat(m.p("big")); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := os.WriteFile(m.p(fmt.Sprintf("big/new%d", i)), []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n := pb.relists(); n != 1 {
		t.Errorf("%d attempts to re-list the large directory, want 1", n)
	}
	if _, err := os.Stat(m.p("big/e0500")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(m.p("big/new9")); err != nil {
		t.Error(err)
	}
}
