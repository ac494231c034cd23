package fs

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

// slowHeads delays every HEAD as a remote server would and records how
// many were in flight at once.
type slowHeads struct {
	*membucket.Bucket
	mu       sync.Mutex
	inFlight int
	peak     int
}

func (s *slowHeads) Head(ctx context.Context, key string) (objcache.ObjectInfo, error) {
	s.mu.Lock()
	s.inFlight++
	s.peak = max(s.peak, s.inFlight)
	s.mu.Unlock()
	time.Sleep(2 * time.Millisecond)
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	return s.Bucket.Head(ctx, key)
}

func (s *slowHeads) peakHeads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

func TestListingThenStatSendsParallelHeadsOncePerEntry(t *testing.T) {
	var sh *slowHeads
	m := mountTestOver(t, func(b *membucket.Bucket) objcache.Bucket {
		sh = &slowHeads{Bucket: b}
		return sh
	}, func(o *Options) { o.AttrTTL = 30 * time.Second })
	const n = 400
	for i := range n {
		m.b.SetObject(fmt.Sprintf("d/f%04d", i), []byte("x"), nil)
	}
	// Attributes only a HEAD can tell: a mode, an owner, a symlink, and a
	// subdirectory with a marker.
	m.b.SetObject("d/f0100", []byte("secret"), objcache.Metadata{"mode": "33152", "uid": "77"})
	m.b.SetObject("d/f0300", []byte("f0001"), objcache.Metadata{"mode": "41471"})
	m.b.SetObject("d/sub/", nil, objcache.Metadata{"mode": "16832"})
	m.b.SetObject("d/sub/x", []byte("x"), nil)
	m.sh("stat d >/dev/null")
	m.b.ResetCalls()

	// A listing alone (find, ls without -l) sends no HEAD for the files;
	// find looks up the subdirectory only.
	if out := m.sh("find d -maxdepth 1 | wc -l"); strings.TrimSpace(out) != fmt.Sprint(n+2) {
		t.Fatalf("find lists %s entries, want %d", out, n+2)
	}
	if h := m.b.Calls(membucket.OpHead); h > 1 {
		t.Errorf("find -maxdepth 1 sent %d HEADs, want at most 1 (sub/)", h)
	}

	out := m.sh("ls -ln d")
	lines := strings.Split(strings.TrimSpace(out), "\n")[1:] // "total" first
	if len(lines) != n+1 {
		t.Fatalf("ls -ln shows %d entries, want %d:\n%s", len(lines), n+1, out)
	}
	for _, want := range []string{"-rw------- 1 77 8765 6 f0100", "lrwxrwxrwx 1 4321 8765 5 f0300", "drwx------ 2 4321 8765 4096 sub"} {
		found := false
		for _, l := range lines {
			f := strings.Fields(l)
			found = found || strings.Join(append(f[:5:5], f[8]), " ") == want
		}
		if !found {
			t.Errorf("ls -ln shows no %q", want)
		}
	}
	// One HEAD per entry (the directory's marker included), none twice.
	if h := m.b.Calls(membucket.OpHead); h < n+1 || h > n+2 {
		t.Errorf("ls -ln of %d entries sent %d HEADs, want %d", n+1, h, n+1)
	}
	if p := sh.peakHeads(); p < 8 {
		t.Errorf("at most %d HEADs were in flight, want parallel HEADs", p)
	}
	// A change we make after the prefetch shows at once.
	m.sh("chmod 600 d/f0002")
	if out := m.sh("ls -ln d/f0002"); !strings.HasPrefix(out, "-rw------- ") {
		t.Errorf("after chmod: %s", out)
	}
}

// Files created in a directory we just made cost no lookup request: the
// new directory is known to be empty, and a name found missing stays
// missing in the kernel for the TTL (cp stats its target, then creates it).
func TestCreatesInANewDirectorySendOnlyPuts(t *testing.T) {
	m := mountTest(t, func(o *Options) { o.AttrTTL = 30 * time.Second })
	m.sh("mkdir new; echo x > src; cat src >/dev/null")
	m.b.ResetCalls()
	m.sh(`for i in 1 2 3 4 5 6 7 8 9 10; do cp src new/f$i; done`)
	if lookups := m.b.Calls(membucket.OpHead) + m.b.Calls(membucket.OpList); lookups != 0 {
		t.Errorf("creating 10 files in a new directory sent %d HEADs and listings, want 0", lookups)
	}
	if n := len(m.b.Keys()); n != 12 {
		t.Errorf("%d objects, want 12 (new/, src, 10 copies): %v", n, m.b.Keys())
	}
}

// Once a lookup has started the prefetcher, READDIRPLUS hands out the
// answers of HEADs already back with the entries (then `ls -l` stats those
// without a LOOKUP each); one whose HEAD is not back is left to LOOKUP.
func TestReaddirplusCarriesPrefetchedAttributes(t *testing.T) {
	m := mountTest(t, func(o *Options) { o.AttrTTL = 30 * time.Second })
	const n = 200
	for i := range n {
		m.b.SetObject(fmt.Sprintf("d/f%04d", i), []byte("x"), nil)
	}
	m.b.SetObject("d/f0100", []byte("secret"), objcache.Metadata{"mode": "33152", "uid": "77"})
	m.sh("ls d >/dev/null; stat d/f0000 >/dev/null")
	d := m.root.GetChild("d").Operations().(*dirNode)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		d.mu.Lock()
		pf := d.list.prefetch
		d.mu.Unlock()
		if pf != nil && pf.isFinished() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the prefetcher did not finish")
		}
	}
	h := &dirHandle{d: d}
	var out fuse.EntryOut
	child, errno := h.Lookup(context.Background(), "f0100", &out)
	if errno != 0 || child == nil {
		t.Fatalf("READDIRPLUS lookup of a prefetched file: errno %v, inode %v; want its attributes", errno, child)
	}
	if out.Attr.Mode != 33152 || out.Attr.Uid != 77 || out.Attr.Size != 6 {
		t.Errorf("READDIRPLUS attributes: mode %o uid %d size %d, want 100600, 77, 6 (from the HEAD)", out.Attr.Mode, out.Attr.Uid, out.Attr.Size)
	}
	heads := m.b.Calls(membucket.OpHead)
	if out := m.sh("ls -ln d | grep -c '^-'"); strings.TrimSpace(out) != fmt.Sprint(n) {
		t.Errorf("ls -ln shows %s files, want %d", out, n)
	}
	// f0100's answer went to this test's own lookup, whose inode the
	// kernel never saw: its LOOKUP sends the one HEAD.
	if more := m.b.Calls(membucket.OpHead) - heads; more > 1 {
		t.Errorf("ls -ln after the prefetch sent %d more HEADs, want at most 1", more)
	}
}
