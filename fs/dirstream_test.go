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

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

// gatedBucket is a pagedBucket whose split listings hand out the common
// prefixes first, then wait for gate to close before the objects: so a
// test can look at what readdir gives while a listing is under way, and a
// directory's common prefix comes before a file of the same name.
type gatedBucket struct {
	*pagedBucket
	gate chan struct{}
}

func (b *gatedBucket) ListSplit(ctx context.Context, prefix, delimiter, after string, splits []string, fn func(objcache.ListPage) error) error {
	rest, objs, err := b.entriesAfter(ctx, prefix, delimiter, after)
	if err != nil {
		return err
	}
	var dirs, files []string
	for _, n := range rest {
		if _, ok := objs[n]; ok {
			files = append(files, n)
		} else {
			dirs = append(dirs, n)
		}
	}
	if err := fn(page(dirs, objs)); err != nil {
		return err
	}
	<-b.gate
	return fn(page(files, objs))
}

func mountGated(t *testing.T) (*testMount, chan struct{}) {
	gate := make(chan struct{})
	m := mountTestOver(t, func(b *membucket.Bucket) objcache.Bucket {
		return &gatedBucket{pagedBucket: &pagedBucket{Bucket: b}, gate: gate}
	}, func(o *Options) { o.AttrTTL = 30 * time.Second })
	// However the test ends, the listing it holds up goes on, so that
	// the unmount does not wait for it.
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	})
	return m, gate
}

// fillGated makes d/ hold files f0000 ... f0299 (more than a first page),
// a directory sub/, and a directory f0250/ beside the file f0250.
func fillGated(m *testMount) {
	for i := range 300 {
		m.b.SetObject(fmt.Sprintf("d/f%04d", i), []byte("x"), nil)
	}
	m.b.SetObject("d/sub/inner", []byte("inner"), nil)
	m.b.SetObject("d/f0250/inner", []byte("inner"), nil)
}

// Readdir hands out a large directory's entries while its listing is still
// under way, so the kernel (and with READDIRPLUS, making the inodes) works
// on the first ones while the rest is listed; every name comes once, and a
// file wins over a common prefix of the same name that came before it.
func TestReaddirHandsOutEntriesWhileListing(t *testing.T) {
	m, gate := mountGated(t)
	fillGated(m)
	f, err := os.Open(m.p("d"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type result struct {
		ents []os.DirEntry
		err  error
	}
	first := make(chan result, 1)
	go func() {
		ents, err := f.ReadDir(20)
		first <- result{ents, err}
	}()
	var got []os.DirEntry
	select {
	case r := <-first:
		if r.err != nil || len(r.ents) != 20 {
			t.Fatalf("first readdir while listing: %d entries, %v", len(r.ents), r.err)
		}
		got = r.ents
	case <-time.After(10 * time.Second):
		close(gate)
		t.Fatal("readdir waited for the whole listing: no entry came while the rest was being listed")
	}
	close(gate)
	rest, err := f.ReadDir(-1)
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, rest...)
	var names []string
	kinds := map[string]bool{}
	for _, e := range got {
		names = append(names, e.Name())
		kinds[e.Name()] = e.IsDir()
	}
	slices.Sort(names)
	want := []string{"sub"}
	for i := range 300 {
		want = append(want, fmt.Sprintf("f%04d", i))
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("readdir gave %d names (%q ...), want the %d of the directory once each", len(names), names[:min(5, len(names))], len(want))
	}
	if kinds["f0250"] || !kinds["sub"] {
		t.Errorf("f0250 is a directory: %v, sub: %v; want a file and a directory", kinds["f0250"], kinds["sub"])
	}
	// The directory's listing is complete and cached: stat needs no
	// request more than the file's own.
	if fi, err := os.Stat(m.p("d/f0299")); err != nil || fi.Size() != 1 {
		t.Fatalf("stat of the last file: %v %v", fi, err)
	}
}

// While a listing is under way, READDIRPLUS takes the attributes of the
// files handed out from the attribute index (read before any file is
// handed out), not from the directory's state, which the listing becomes
// only when it is done.
func TestStreamedEntriesCarryIndexAttributes(t *testing.T) {
	m, gate := mountGated(t)
	fillGated(m)
	m.b.SetObject("d/f0042", []byte("secret"), objcache.Metadata{"mode": "33152", "uid": "77"})
	ctx := context.Background()
	infos := map[string]objcache.ObjectInfo{}
	for i := range 300 {
		name := fmt.Sprintf("f%04d", i)
		info, err := m.b.Head(ctx, "d/"+name)
		if err != nil {
			t.Fatal(err)
		}
		info.ServerTime = info.LastModified.Add(time.Minute) // settled: indexable
		infos[name] = info
	}
	if n, err := objcache.SaveAttrIndex(ctx, m.b, "d/", infos); err != nil || n != 300 {
		t.Fatalf("index of d/: %d entries, %v", n, err)
	}
	if _, err := os.Stat(m.p("d")); err != nil {
		t.Fatal(err)
	}
	d := m.root.GetChild("d").Operations().(*dirNode)
	h := &dirHandle{d: d}
	// The first page's 100 files come before the gate opens.
	got := make(chan string, 400)
	go func() {
		for {
			e, errno := h.Readdirent(ctx)
			if e == nil || errno != 0 {
				close(got)
				return
			}
			got <- e.Name
		}
	}()
	for i := range 100 {
		select {
		case name := <-got:
			if want := fmt.Sprintf("f%04d", i); name != want {
				t.Fatalf("entry %d is %q, want %q", i, name, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d entries came while the listing ran", i)
		}
	}
	looked := make(chan error, 1)
	var out fuse.EntryOut
	go func() {
		child, errno := h.Lookup(ctx, "f0042", &out)
		if errno != 0 || child == nil {
			looked <- fmt.Errorf("errno %v, inode %v", errno, child)
			return
		}
		looked <- nil
	}()
	select {
	case err := <-looked:
		if err != nil {
			t.Fatalf("READDIRPLUS lookup while listing: %v; want the index's attributes", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("READDIRPLUS lookup waited for the listing")
	}
	if out.Attr.Mode != 33152 || out.Attr.Uid != 77 || out.Attr.Size != 6 {
		t.Errorf("attributes: mode %o uid %d size %d, want 100600, 77, 6 (the index's)", out.Attr.Mode, out.Attr.Uid, out.Attr.Size)
	}
	close(gate)
	n := 100
	for range got {
		n++
	}
	if n != 301 {
		t.Errorf("%d entries in all, want 301", n)
	}
}

// swappedBucket is a pagedBucket whose split listings hand out the second
// half of the rest first, as parallel pieces may come.
type swappedBucket struct{ *pagedBucket }

func (b *swappedBucket) ListSplit(ctx context.Context, prefix, delimiter, after string, splits []string, fn func(objcache.ListPage) error) error {
	rest, objs, err := b.entriesAfter(ctx, prefix, delimiter, after)
	if err != nil {
		return err
	}
	if err := fn(page(rest[len(rest)/2:], objs)); err != nil {
		return err
	}
	return fn(page(rest[:len(rest)/2], objs))
}

// When a listing's pieces come out of order, readdir hands the entries out
// in that order, the same on every read of the cached listing, and the
// HEADs prefetched for `ls -l` follow it: ls stats the entries in the
// order it reads them, and a prefetch in name order would run ahead on
// entries ls reaches last while ls's own lookups HEAD one by one.
func TestPrefetchFollowsReaddirOrder(t *testing.T) {
	m := mountTestOver(t, func(b *membucket.Bucket) objcache.Bucket {
		return &swappedBucket{&pagedBucket{Bucket: b}}
	}, func(o *Options) { o.AttrTTL = 30 * time.Second })
	for i := range 300 {
		m.b.SetObject(fmt.Sprintf("d/f%04d", i), []byte("x"), nil)
	}
	readdir := func() []string {
		f, err := os.Open(m.p("d"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	order := readdir()
	if len(order) != 300 || order[100] != "f0200" {
		t.Fatalf("readdir order: %d names, the 101st %q; want 300, f0200 (the pieces' order)", len(order), order[min(100, len(order)-1)])
	}
	if again := readdir(); !slices.Equal(again, order) {
		t.Errorf("the cached listing reads in another order than it was handed out")
	}
	var mu sync.Mutex
	var heads []string
	m.b.SetFault(func(op membucket.Op, key string) error {
		if op == membucket.OpHead {
			mu.Lock()
			heads = append(heads, key)
			mu.Unlock()
		}
		return nil
	})
	if _, err := os.Lstat(m.p("d/f0000")); err != nil {
		t.Fatal(err)
	}
	d := m.root.GetChild("d").Operations().(*dirNode)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if pf := d.currentPrefetcher(); pf != nil && pf.isFinished() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the prefetcher did not finish")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// Readdir handed out f0200-f0299 as entries 101-200 and f0100-f0199
	// as 201-300. Each HEAD's place in the feed can slip by the HEADs in
	// flight, or more when a worker is held up (the race detector on 2
	// cores), so the test compares the two groups' median places.
	median := func(group string) int {
		var at []int
		for i, key := range heads {
			if strings.HasPrefix(key, "d/f0"+group) {
				at = append(at, i)
			}
		}
		if len(at) != 100 {
			t.Fatalf("%d HEADs of d/f0%sxx, want 100", len(at), group)
		}
		return at[50]
	}
	if m2, m1 := median("2"), median("1"); m2 > m1 {
		t.Errorf("the prefetcher sent the HEADs of f0200-f0299 (median place %d) after those of f0100-f0199 (%d): name order, not readdir's", m2, m1)
	}
}

// A listing's names keep the order they were handed out in, leave out the
// names removed since and put the ones created since at the end.
func TestListingNamesKeepTheOrderHandedOut(t *testing.T) {
	l := &listing{entries: map[string]bool{"b": false, "a": false, "c": true}, order: []string{"b", "a", "c"}}
	l.entries["ab"] = false
	l.entries["aa"] = true
	delete(l.entries, "a")
	if got, want := l.names(), []string{"b", "c", "aa", "ab"}; !slices.Equal(got, want) {
		t.Errorf("names %q, want %q", got, want)
	}
	l.order = nil
	if got, want := l.names(), []string{"aa", "ab", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("names of a listing that handed out nothing: %q, want %q", got, want)
	}
}

// failingSplitBucket is a pagedBucket whose split listings fail while
// fail is set, after handing out a page.
type failingSplitBucket struct {
	*pagedBucket
	fail sync.Mutex // held: split listings fail
	on   bool
}

func (b *failingSplitBucket) ListSplit(ctx context.Context, prefix, delimiter, after string, splits []string, fn func(objcache.ListPage) error) error {
	rest, objs, err := b.entriesAfter(ctx, prefix, delimiter, after)
	if err != nil {
		return err
	}
	b.fail.Lock()
	on := b.on
	b.fail.Unlock()
	if !on {
		return fn(page(rest, objs))
	}
	if err := fn(page(rest[:len(rest)/2], objs)); err != nil {
		return err
	}
	return fmt.Errorf("list %s: connection reset", prefix)
}

// A listing that fails after handing out some entries fails the directory
// read with an error (not a short directory passed off as whole), caches
// nothing, and the next read lists the directory again, whole.
func TestReaddirFailingMidwayReportsTheError(t *testing.T) {
	var fb *failingSplitBucket
	m := mountTestOver(t, func(b *membucket.Bucket) objcache.Bucket {
		fb = &failingSplitBucket{pagedBucket: &pagedBucket{Bucket: b}, on: true}
		return fb
	}, func(o *Options) { o.AttrTTL = 30 * time.Second })
	for i := range 300 {
		m.b.SetObject(fmt.Sprintf("d/f%04d", i), []byte("x"), nil)
	}
	names, err := os.ReadDir(m.p("d"))
	if err == nil {
		t.Fatalf("readdir of a directory whose listing failed gave %d entries and no error", len(names))
	}
	fb.fail.Lock()
	fb.on = false
	fb.fail.Unlock()
	names, err = os.ReadDir(m.p("d"))
	if err != nil || len(names) != 300 {
		t.Fatalf("readdir after the server recovered: %d entries, %v; want 300", len(names), err)
	}
}
