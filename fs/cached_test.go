package fs

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

// Tests of the fast data paths: a mount over objcache.Cached (block cache,
// readahead, streaming uploads, pending creates) on a membucket, with
// small blocks and parts so that a few MiB exercise everything.

func mountCached(t *testing.T, stagingLimit int64) *testMount {
	t.Helper()
	return mountCachedWith(t, stagingLimit, nil)
}

// mountCachedWith is mountCached with tweak applied to the options and to
// the cache's configuration.
func mountCachedWith(t *testing.T, stagingLimit int64, tweak func(*Options, *objcache.CacheConfig)) *testMount {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	tmp := t.TempDir()
	mnt, stageDir := filepath.Join(tmp, "mnt"), filepath.Join(tmp, "staging")
	for _, d := range []string{mnt, stageDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	st, err := objcache.NewStaging(stageDir, stagingLimit)
	if err != nil {
		t.Fatal(err)
	}
	b := membucket.New()
	logs := &syncBuffer{}
	opts := Options{AttrTTL: 100 * time.Millisecond, Staging: st,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	cfg := objcache.CacheConfig{CacheSize: 8 << 20, BlockSize: 1 << 20, PartSize: 5 << 20, UploadConcurrency: 2}
	if tweak != nil {
		tweak(&opts, &cfg)
	}
	c, err := objcache.NewCached(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	root := NewRoot(c, opts).(*Root)
	srv, err := root.Mount(mnt, fuse.MountOptions{})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		srv.Wait()
		if n := b.OpenUploads(); n != 0 {
			t.Errorf("%d multipart uploads left open", n)
		}
	})
	return &testMount{t: t, b: b, root: root, dir: mnt, log: logs}
}

func writeAll(t *testing.T, f *os.File, data []byte, chunk int) {
	t.Helper()
	for off := 0; off < len(data); off += chunk {
		if _, err := f.Write(data[off:min(off+chunk, len(data))]); err != nil {
			t.Fatalf("write at %d: %v", off, err)
		}
	}
}

func TestCreateWriteCloseIsOnePutAndListedAtOnce(t *testing.T) {
	m := mountCached(t, 0)
	f, err := os.Create(m.p("new.txt"))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond) // past the entry and attribute TTL
	ents, err := os.ReadDir(m.dir)
	if err != nil || len(ents) != 1 || ents[0].Name() != "new.txt" {
		t.Fatalf("listing while open: %v %v", ents, err)
	}
	if _, err := f.WriteString("hello"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if st, err := os.Stat(m.p("new.txt")); err != nil || st.Size() != 5 {
		t.Fatalf("stat while open: %v %v", st, err)
	}
	if n := m.b.Calls(membucket.OpPut); n != 0 {
		t.Fatalf("%d PUTs before close", n)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if n := m.b.Calls(membucket.OpPut); n != 1 {
		t.Errorf("create+write+close: %d PUTs, want 1", n)
	}
	if got, _ := m.object("new.txt"); string(got) != "hello" {
		t.Fatalf("object: %q", got)
	}
	m.wantMeta("new.txt", map[string]string{"mode": "33188"})
	m.sh("touch empty")
	if got, _ := m.object("empty"); len(got) != 0 {
		t.Fatalf("touch: %q", got)
	}
}

func TestStreamingWriteSendsPartsAsItGoes(t *testing.T) {
	m := mountCached(t, 1) // any staging would fail: streaming needs none
	data := randomBytes(13<<20+5, 1)
	f, err := os.Create(m.p("big"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	writeAll(t, f, data, 1<<20)
	// Parts go up in the background while the file is still open.
	for deadline := time.Now().Add(10 * time.Second); m.b.Calls(membucket.OpUploadPart) < 2 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if m.b.Calls(membucket.OpUploadPart) < 2 {
		t.Errorf("%d parts sent before close, want 2", m.b.Calls(membucket.OpUploadPart))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("big"); !bytes.Equal(got, data) {
		t.Fatalf("object: %d bytes, differ from the %d written", len(got), len(data))
	}
	got, err := os.ReadFile(m.p("big"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	// Overwrite with O_TRUNC streams again.
	data = randomBytes(6<<20, 2)
	if err := os.WriteFile(m.p("big"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("big"); !bytes.Equal(got, data) {
		t.Fatal("overwrite: object differs")
	}
}

func TestNonSequentialWritesFallBackToStaging(t *testing.T) {
	m := mountCached(t, 0)
	for _, size := range []int{3 << 20, 12 << 20} { // in memory / parts sent
		want := randomBytes(size, uint64(size))
		f, err := os.OpenFile(m.p("f"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		writeAll(t, f, want, 1<<20)
		patch := randomBytes(1000, 3)
		copy(want[4096:], patch)
		if _, err := f.WriteAt(patch, 4096); err != nil {
			t.Fatal(err)
		}
		tail := randomBytes(3000, 4)
		want = append(want, tail...)
		if _, err := f.WriteAt(tail, int64(len(want)-len(tail))); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: read back while open: %v", size, err)
		}
		if err := f.Truncate(int64(len(want) - 10)); err != nil {
			t.Fatal(err)
		}
		want = want[:len(want)-10]
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := m.object("f"); !bytes.Equal(got, want) {
			t.Fatalf("size %d: object differs", size)
		}
	}
}

func TestFsyncCommitsAStreamAndWritingGoesOn(t *testing.T) {
	m := mountCached(t, 0)
	first, more := randomBytes(11<<20, 5), randomBytes(2<<20, 6)
	f, err := os.Create(m.p("f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	writeAll(t, f, first, 1<<20)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("f"); !bytes.Equal(got, first) {
		t.Fatal("after fsync the object is not what was written")
	}
	writeAll(t, f, more, 1<<20)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("f"); !bytes.Equal(got, append(first, more...)) {
		t.Fatal("after close the object is not what was written")
	}
}

func TestFailedStreamingUploadIsReportedAndAborted(t *testing.T) {
	m := mountCached(t, 0)
	m.b.SetFault(func(op membucket.Op, key string) error {
		if op == membucket.OpUploadPart {
			return errors.New("injected part failure")
		}
		return nil
	})
	f, err := os.Create(m.p("f"))
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	data := randomBytes(12<<20, 7)
	for off := 0; off < len(data) && werr == nil; off += 1 << 20 {
		_, werr = f.Write(data[off : off+1<<20])
	}
	cerr := f.Close()
	if werr == nil && cerr == nil {
		t.Fatal("a failed upload was reported neither by write nor by close")
	}
	if _, _, ok := m.b.Object("f"); ok {
		t.Fatal("an object was stored from a failed upload")
	}
	if n := m.b.OpenUploads(); n != 0 {
		t.Fatalf("%d uploads not aborted", n)
	}
}

func TestUnlinkWhileStreaming(t *testing.T) {
	m := mountCached(t, 0)
	f, err := os.Create(m.p("gone"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	writeAll(t, f, randomBytes(11<<20, 8), 1<<20)
	if err := os.Remove(m.p("gone")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := m.b.Object("gone"); ok {
		t.Fatal("unlinked file was uploaded")
	}
	if ents, _ := os.ReadDir(m.dir); len(ents) != 0 {
		t.Fatalf("listing after unlink: %v", ents)
	}
}

func TestCachedReadsMatchAndSeeChanges(t *testing.T) {
	m := mountCached(t, 0)
	src := randomBytes(20<<20+77, 9)
	m.b.SetObject("obj", src, nil)
	if got, err := os.ReadFile(m.p("obj")); err != nil || !bytes.Equal(got, src) {
		t.Fatalf("sequential read: %v", err)
	}
	f, err := os.Open(m.p("obj"))
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		off := rnd.Int64N(int64(len(src)))
		buf := make([]byte, 1+rnd.IntN(2<<20))
		k, err := f.ReadAt(buf, off)
		if err != nil && err != io.EOF || !bytes.Equal(buf[:k], src[off:min(off+int64(len(buf)), int64(len(src)))]) {
			t.Fatalf("read %d at %d: %d, %v", len(buf), off, k, err)
		}
	}
	f.Close()
	v2 := slices.Clone(src[:5<<20])
	v2[0]++
	m.b.SetObject("obj", v2, nil)
	time.Sleep(150 * time.Millisecond)
	if got, err := os.ReadFile(m.p("obj")); err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("read after a change elsewhere: %d bytes, %v", len(got), err)
	}
}

func TestStagingLimitWithStreamingFallback(t *testing.T) {
	m := mountCached(t, 1<<20)
	f, err := os.Create(m.p("f"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })               // before the unmount
	writeAll(t, f, randomBytes(1<<20, 10), 1<<20) // in memory
	// A random write moves the MiB to staging, which is then full.
	if _, err := f.WriteAt([]byte("x"), 5<<20); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("random write past the limit: %v, want ENOSPC", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("f"); len(got) != 1<<20 {
		t.Fatalf("object has %d bytes, want the acknowledged %d", len(got), 1<<20)
	}
	// Sequential writes need no staging, whatever the limit.
	big := randomBytes(7<<20, 11)
	if err := os.WriteFile(m.p("g"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("g"); !bytes.Equal(got, big) {
		t.Fatal("streamed object differs")
	}
}

// Without the kernel's page cache (--direct-io, or a file opened
// O_DIRECT) the block cache is the only cache a re-read can hit, so a
// sequential read of a file that fits the cache keeps the blocks it has
// read through, and re-reading it fetches nothing; a sequential read of a
// file too large to fit still drops them, so that it does not push the
// small file's blocks out. Reads dropped them in every mode, so that each
// re-read with --direct-io fetched half a 64 MiB file again.
func TestReadsWithoutPageCacheKeepTheirBlocks(t *testing.T) {
	pattern := func(n int, seed byte) []byte {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7) + seed
		}
		return data
	}
	small, large := pattern(6<<20, 1), pattern(40<<20, 2) // blocks of 1 MiB, 32 in the cache
	// readDirect reads name through a new O_DIRECT descriptor in 128 KiB
	// pieces, as dd iflag=direct does.
	readDirect := func(name string) ([]byte, error) {
		f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_DIRECT, 0)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		var out bytes.Buffer
		_, err = io.CopyBuffer(&out, struct{ io.Reader }{f}, make([]byte, 128<<10))
		return out.Bytes(), err
	}
	for _, tc := range []struct {
		name     string
		directIO bool
		read     func(name string) ([]byte, error)
	}{
		{"--direct-io", true, os.ReadFile},
		{"O_DIRECT", false, readDirect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mountCachedWith(t, 0, func(o *Options, c *objcache.CacheConfig) {
				o.DirectIO = tc.directIO
				c.CacheSize = 32 << 20
			})
			m.b.SetObject("small", small, nil)
			m.b.SetObject("large", large, nil)
			read := func(name string, want []byte) int {
				t.Helper()
				before := m.b.Calls(membucket.OpGetRange)
				got, err := tc.read(m.p(name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("read %d bytes of %s that differ from the object's %d", len(got), name, len(want))
				}
				return m.b.Calls(membucket.OpGetRange) - before
			}
			read("small", small)
			for pass := 1; pass < 3; pass++ {
				if gets := read("small", small); gets != 0 {
					t.Errorf("re-read %d of a file that fits the cache sent %d GETs, want none", pass, gets)
				}
			}
			read("large", large)
			if gets := read("small", small); gets != 0 {
				t.Errorf("after a read of a file larger than the cache, re-reading the small one sent %d GETs, want none", gets)
			}
		})
	}
}
