package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

// openGate lets a gatedBucket's listings go on; closing it twice is fine.
func openGate(gate chan struct{}) {
	select {
	case <-gate:
	default:
		close(gate)
	}
}

// whileListing runs f while the listing of a gatedBucket waits at its
// gate, and fails the test if f has not returned within 10 s: it waited
// for the listing.
func whileListing(t *testing.T, gate chan struct{}, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s while the directory was being listed: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		openGate(gate)
		t.Fatalf("%s waited for the directory's listing to end", what)
	}
}

// startListing opens d/ and reads its first 20 entries, which come while
// the rest of the listing waits at the gate.
func startListing(t *testing.T, m *testMount, gate chan struct{}) *os.File {
	t.Helper()
	f, err := os.Open(m.p("d"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	whileListing(t, gate, "the first readdir", func() error {
		ents, err := f.ReadDir(20)
		if err == nil && len(ents) != 20 {
			err = fmt.Errorf("%d entries, want 20", len(ents))
		}
		return err
	})
	return f
}

// readNames reads f to its end and returns the names it gave.
func readNames(t *testing.T, f *os.File) []string {
	t.Helper()
	names, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// A listing under way holds nothing else up: stat of a file and of the
// directory itself, the lookup of an absent name, and a second reader of
// the directory (which reads the same listing) all go on while it waits.
// A directory of 50,000 files held a stat for 1.3 s when the listing held
// the directory's lock.
func TestListingHoldsUpNoLookup(t *testing.T) {
	m, gate := mountGated(t)
	fillGated(m)
	first := startListing(t, m, gate)
	whileListing(t, gate, "stat of a file", func() error {
		fi, err := os.Stat(m.p("d/f0299"))
		if err == nil && fi.Size() != 1 {
			err = fmt.Errorf("size %d, want 1", fi.Size())
		}
		return err
	})
	whileListing(t, gate, "stat of the directory", func() error {
		_, err := os.Stat(m.p("d"))
		return err
	})
	whileListing(t, gate, "stat of an absent name", func() error {
		if _, err := os.Stat(m.p("d/absent")); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("got %v, want it not to exist", err)
		}
		return nil
	})
	second, err := os.Open(m.p("d"))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	whileListing(t, gate, "a second reader's first readdir", func() error {
		ents, err := second.ReadDir(20)
		if err == nil && len(ents) != 20 {
			err = fmt.Errorf("%d entries, want 20", len(ents))
		}
		return err
	})
	openGate(gate)
	if n := len(readNames(t, first)) + 20; n != 301 {
		t.Errorf("the first reader got %d entries, want 301", n)
	}
	if n := len(readNames(t, second)) + 20; n != 301 {
		t.Errorf("the second reader got %d entries, want 301", n)
	}
}

// Changes made through the mount while a listing runs go into it: a file
// created then is handed out and stays in the cached listing, though the
// page that would have had it was read before; a file removed then stays
// out of the cached listing, though a page read before still had it,
// whether the listing had handed it out already (f0005) or not (f0290).
func TestChangesWhileListingGoIntoTheListing(t *testing.T) {
	m, gate := mountGated(t)
	fillGated(m)
	f := startListing(t, m, gate)
	whileListing(t, gate, "creating d/new", func() error { return os.WriteFile(m.p("d/new"), []byte("new"), 0o644) })
	whileListing(t, gate, "removing d/f0290", func() error { return os.Remove(m.p("d/f0290")) })
	whileListing(t, gate, "removing d/f0005", func() error { return os.Remove(m.p("d/f0005")) })
	openGate(gate)
	streamed := readNames(t, f)
	if n := count(streamed, "new"); n != 1 {
		t.Errorf("the listing under way handed out d/new %d times, want once", n)
	}
	if n := count(streamed, "f0290"); n != 0 {
		t.Errorf("the listing under way handed out d/f0290, removed before its page came")
	}
	// The directory is read again from the cached listing (30 s TTL).
	want := []string{"new", "sub"}
	for i := range 300 {
		if i != 5 && i != 290 {
			want = append(want, fmt.Sprintf("f%04d", i))
		}
	}
	slices.Sort(want)
	g, err := os.Open(m.p("d"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	got := readNames(t, g)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("the cached listing has %d names, want %d: with d/new, without d/f0005 and d/f0290 (missing %q, extra %q)",
			len(got), len(want), missing(want, got), missing(got, want))
	}
	d := m.root.GetChild("d").Operations().(*dirNode)
	if known, exists, _ := d.cachedChild("new"); !known || !exists {
		t.Errorf("the cached listing says of d/new: known %v, exists %v; want it there", known, exists)
	}
	if known, exists, _ := d.cachedChild("f0290"); !known || exists {
		t.Errorf("the cached listing says of d/f0290: known %v, exists %v; want it gone", known, exists)
	}
}

// count returns how many times s holds name.
func count(s []string, name string) int {
	n := 0
	for _, x := range s {
		if x == name {
			n++
		}
	}
	return n
}

// missing returns the names of want that got lacks.
func missing(want, got []string) []string {
	var out []string
	for _, n := range want {
		if !slices.Contains(got, n) {
			out = append(out, n)
		}
	}
	return out
}

// earlyIndexBucket is a pagedBucket that records whether d/'s attribute
// index was asked for while its first page was: ListFirst waits up to
// patience for that GET before it answers.
type earlyIndexBucket struct {
	*pagedBucket
	index    string // the index's key
	mu       sync.Mutex
	patience time.Duration
	asked    chan struct{} // closed by the index's GET
	early    []bool        // per first page of d/: whether the index's GET came first
}

func (b *earlyIndexBucket) GetRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	if key == b.index {
		b.mu.Lock()
		select {
		case <-b.asked:
		default:
			close(b.asked)
		}
		b.mu.Unlock()
	}
	return b.pagedBucket.GetRange(ctx, key, etag, off, n)
}

func (b *earlyIndexBucket) ListFirst(ctx context.Context, prefix, delimiter string, max int) (objcache.ListPage, bool, error) {
	if prefix == "d/" && max == firstPageKeys {
		b.mu.Lock()
		patience, asked := b.patience, b.asked
		b.mu.Unlock()
		select {
		case <-asked:
		case <-time.After(patience):
		}
		b.mu.Lock()
		select {
		case <-asked:
			b.early = append(b.early, true)
		default:
			b.early = append(b.early, false)
		}
		b.mu.Unlock()
	}
	return b.pagedBucket.ListFirst(ctx, prefix, delimiter, max)
}

// The index of a directory known to have one is asked for together with
// its first page when it is listed again, so a re-listing waits for one
// round trip before its parallel pieces, not two; a directory not known
// to have one is not sent a GET before its first page says it is large.
func TestRelistingAsksForTheIndexWithTheFirstPage(t *testing.T) {
	ctx := context.Background()
	var eb *earlyIndexBucket
	m := mountTestOver(t, func(b *membucket.Bucket) objcache.Bucket {
		eb = &earlyIndexBucket{pagedBucket: &pagedBucket{Bucket: b}, index: objcache.AttrIndexKey("d/"),
			patience: 300 * time.Millisecond, asked: make(chan struct{})}
		return eb
	}, func(o *Options) { o.AttrTTL = 200 * time.Millisecond })
	infos := map[string]objcache.ObjectInfo{}
	for i := range 300 {
		name := fmt.Sprintf("f%04d", i)
		m.b.SetObject("d/"+name, []byte("x"), objcache.Metadata{"mode": "33188"})
		info, err := m.b.Head(ctx, "d/"+name)
		if err != nil {
			t.Fatal(err)
		}
		info.ServerTime = info.LastModified.Add(time.Minute) // settled: indexable
		infos[name] = info
	}
	if _, err := objcache.SaveAttrIndex(ctx, m.b, "d/", infos); err != nil {
		t.Fatal(err)
	}
	list := func() {
		t.Helper()
		names, err := os.ReadDir(m.p("d"))
		if err != nil || len(names) != 300 {
			t.Fatalf("readdir: %d entries, %v; want 300", len(names), err)
		}
	}
	list() // first listing: the mount does not know d has an index
	eb.mu.Lock()
	eb.patience, eb.asked = 5*time.Second, make(chan struct{})
	eb.mu.Unlock()
	time.Sleep(300 * time.Millisecond) // past the TTL: list again
	list()
	eb.mu.Lock()
	defer eb.mu.Unlock()
	firsts := eb.early
	if len(firsts) != 2 {
		t.Fatalf("%d first pages of d/ asked for, want 2", len(firsts))
	}
	if firsts[0] {
		t.Errorf("the first listing of d/ asked for its index before its first page came: a GET that a small directory never needs")
	}
	if !firsts[1] {
		t.Errorf("listing d/ again did not ask for its index until its first page came: two round trips before the pieces")
	}
}

// settledBucket answers HEADs as if a minute had passed since each object
// was written, so that their answers are indexable at once
// (objcache.Indexable) and a test need not wait out the settle time.
type settledBucket struct{ *gatedBucket }

func (b settledBucket) Head(ctx context.Context, key string) (objcache.ObjectInfo, error) {
	info, err := b.gatedBucket.Head(ctx, key)
	info.ServerTime = info.ServerTime.Add(time.Minute)
	return info, err
}

// The HEAD answers of lookups made while a directory is still being listed
// (the kernel looks up the first entries readdir hands out, READDIRPLUS)
// go into the attribute index the listing saves. They were lost: the
// first `ls -l` of a 5000-file directory saved an index without the 74
// files the kernel had looked up meanwhile, so the second `ls -l` HEADed
// them again and saved the index a second time.
func TestLookupsWhileListingGoIntoTheIndex(t *testing.T) {
	ctx := context.Background()
	gate := make(chan struct{})
	m := mountTestOver(t, func(b *membucket.Bucket) objcache.Bucket {
		return settledBucket{&gatedBucket{pagedBucket: &pagedBucket{Bucket: b}, gate: gate}}
	}, func(o *Options) { o.AttrTTL = 30 * time.Second })
	t.Cleanup(func() { openGate(gate) })
	const files = 300
	for i := range files {
		m.b.SetObject(fmt.Sprintf("d/f%04d", i), []byte("x"), objcache.Metadata{"mode": "33188"})
	}
	f := startListing(t, m, gate)
	whileListing(t, gate, "stat of the first 20 files", func() error {
		for i := range 20 {
			if _, err := os.Stat(m.p(fmt.Sprintf("d/f%04d", i))); err != nil {
				return err
			}
		}
		return nil
	})
	heads := m.b.Calls(membucket.OpHead)
	if heads < 20 {
		t.Fatalf("%d HEADs while the listing waited, want at least the 20 files looked up", heads)
	}
	openGate(gate)
	if n := len(readNames(t, f)) + 20; n != files {
		t.Fatalf("readdir gave %d entries, want %d", n, files)
	}
	for i := range files { // what ls -l does after reading the directory
		if _, err := os.Stat(m.p(fmt.Sprintf("d/f%04d", i))); err != nil {
			t.Fatal(err)
		}
	}
	key := objcache.AttrIndexKey("d/")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, _, ok := m.b.Object(key); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no attribute index saved 10 s after every file of d/ was looked up")
		}
	}
	ix, err := objcache.LoadAttrIndex(ctx, m.b, "d/")
	if err != nil {
		t.Fatal(err)
	}
	var lacking []string
	for i := range files {
		name := fmt.Sprintf("f%04d", i)
		_, info, _ := m.b.Object("d/" + name)
		if _, ok := ix.Match(name, info); !ok {
			lacking = append(lacking, name)
		}
	}
	if len(lacking) > 0 {
		t.Errorf("the index saved has %d of the %d files; it lacks %d: %v", ix.Len(), files, len(lacking), lacking[:min(len(lacking), 25)])
	}
	if puts := m.b.Calls(membucket.OpPut); puts != 1 {
		t.Errorf("%d PUTs, want the one of the index", puts)
	}
}
