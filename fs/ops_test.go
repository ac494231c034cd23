package fs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

func randomBytes(n int, seed uint64) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func TestCopyInCatAndLs(t *testing.T) {
	m := mountTest(t, nil)
	src := t.TempDir()
	big := randomBytes(3<<20+123, 1)
	if err := os.WriteFile(src+"/big.bin", big, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(src+"/empty", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m.sh(fmt.Sprintf("cp %s/big.bin %s/empty . && echo hello > small.txt", src, src))

	if got, _ := m.object("big.bin"); !bytes.Equal(got, big) {
		t.Fatal("big.bin on the server differs")
	}
	if got, _ := m.object("small.txt"); string(got) != "hello\n" {
		t.Fatalf("small.txt on the server: %q", got)
	}
	m.wantMeta("small.txt", map[string]string{"mode": "33188", "uid": "0", "gid": "0"})
	m.wantMeta("empty", map[string]string{"mode": "33152"}) // cp keeps 0600
	_, info := m.object("small.txt")
	if mt, err := strconv.ParseFloat(info.Metadata["mtime"], 64); err != nil || time.Since(time.Unix(int64(mt), 0)) > time.Minute {
		t.Errorf("mtime metadata %q", info.Metadata["mtime"])
	}

	// Read back through the mount (many 1 MiB windows, fresh handle).
	got, err := os.ReadFile(m.p("big.bin"))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read back big.bin: %v, equal %v", err, bytes.Equal(got, big))
	}
	if out := m.sh("cat small.txt"); out != "hello\n" {
		t.Fatalf("cat: %q", out)
	}
	ls := m.sh("ls -ln")
	for _, want := range []string{"-rw-r--r-- 1 0 0 3145851", "-rw------- 1 0 0       0", "small.txt"} {
		if !strings.Contains(ls, want) {
			t.Errorf("ls -ln lacks %q:\n%s", want, ls)
		}
	}
	if out := m.sh("cp big.bin " + src + "/out.bin && cmp big.bin " + src + "/out.bin && echo same"); out != "same\n" {
		t.Fatalf("cp out: %q", out)
	}
}

func TestObjectsWithoutMetadata(t *testing.T) {
	m := mountTest(t, func(o *Options) { o.AttrTTL = 50 * time.Millisecond })
	m.b.SetObject("plain.txt", []byte("from elsewhere"), nil)
	m.b.SetObject("implicit/dir/file", []byte("x"), nil)
	m.b.SetObject("s3fs.txt", []byte("y"), objcache.Metadata{"mode": "33261", "uid": "7", "gid": "8", "mtime": "1600000000.5"})

	st, err := os.Stat(m.p("plain.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if st.Mode() != 0o644 || sys.Uid != 4321 || sys.Gid != 8765 || st.Size() != 14 {
		t.Errorf("defaults: mode %v uid %d gid %d size %d", st.Mode(), sys.Uid, sys.Gid, st.Size())
	}
	if time.Since(st.ModTime()) > time.Minute {
		t.Errorf("mtime %v is not Last-Modified", st.ModTime())
	}
	st, err = os.Stat(m.p("s3fs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sys = st.Sys().(*syscall.Stat_t)
	if st.Mode() != 0o755 || sys.Uid != 7 || sys.Gid != 8 || st.ModTime().UnixNano() != 1600000000_500000000 {
		t.Errorf("s3fs metadata: mode %v uid %d gid %d mtime %v", st.Mode(), sys.Uid, sys.Gid, st.ModTime())
	}
	st, err = os.Stat(m.p("implicit/dir"))
	if err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
		t.Fatalf("implicit dir: %v %v", st, err)
	}
	if got, _ := os.ReadFile(m.p("implicit/dir/file")); string(got) != "x" {
		t.Fatalf("file in implicit dir: %q", got)
	}

	// Another client rewrites the object: visible after the TTL.
	m.b.SetObject("plain.txt", []byte("changed by another client"), nil)
	time.Sleep(100 * time.Millisecond)
	if got, _ := os.ReadFile(m.p("plain.txt")); string(got) != "changed by another client" {
		t.Fatalf("after remote change: %q", got)
	}

	// An object changed between open and read: re-HEAD and retry.
	f, err := os.Open(m.p("plain.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m.b.SetObject("plain.txt", []byte("third version, longer"), nil)
	buf := make([]byte, 5)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "third" {
		t.Fatalf("read after change: %q %v", buf, err)
	}
}

func TestMkdirRmdir(t *testing.T) {
	m := mountTest(t, nil)
	m.sh("mkdir -p a/b/c && mkdir -m 700 priv && touch a/b/f")
	m.wantKeys("", "a/", "a/b/", "a/b/c/", "a/b/f", "priv/")
	m.wantMeta("a/b/c/", map[string]string{"mode": "16877", "uid": "0"})
	m.wantMeta("priv/", map[string]string{"mode": "16832"})
	if st, err := os.Stat(m.p("priv")); err != nil || st.Mode().Perm() != 0o700 || !st.IsDir() {
		t.Fatalf("priv: %v %v", st, err)
	}
	if err := os.Remove(m.p("a/b")); !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	if err := os.Remove(m.p("a/b/c")); err != nil {
		t.Fatal(err)
	}
	m.wantKeys("a/", "a/", "a/b/", "a/b/f")
	m.sh("rm -r a")
	m.wantKeys("a")
	if _, err := os.Stat(m.p("a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a after rm -r: %v", err)
	}
	if err := os.Mkdir(m.p("priv"), 0o755); !errors.Is(err, os.ErrExist) {
		t.Fatalf("mkdir existing: %v", err)
	}
}

func TestReaddirSendsNoHead(t *testing.T) {
	m := mountTest(t, nil)
	m.b.PageSize = 7
	for i := range 40 {
		m.b.SetObject(fmt.Sprintf("d/f%02d", i), []byte("x"), nil)
	}
	m.b.SetObject("d/sub/inner", nil, nil)
	m.b.SetObject("d/marked/", nil, objcache.Metadata{"mode": "16877"})
	if _, err := os.Stat(m.p("d")); err != nil {
		t.Fatal(err)
	}
	m.b.ResetCalls()
	ents, err := os.ReadDir(m.p("d"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 42 {
		t.Fatalf("%d entries, want 42", len(ents))
	}
	dirs := 0
	for _, e := range ents {
		if e.IsDir() {
			dirs++
		}
	}
	if dirs != 2 {
		t.Errorf("%d directories, want 2", dirs)
	}
	if h := m.b.Calls(membucket.OpHead); h != 0 {
		t.Errorf("readdir sent %d HEADs", h)
	}
	if l := m.b.Calls(membucket.OpList); l != 1 {
		t.Errorf("readdir sent %d LISTs, want 1 (paged)", l)
	}
	// Lookups right after the listing: a missing name needs no request.
	m.b.ResetCalls()
	if _, err := os.Stat(m.p("d/nope")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if n := m.b.Calls(membucket.OpHead) + m.b.Calls(membucket.OpList); n != 0 {
		t.Errorf("negative lookup after listing sent %d requests", n)
	}
}

func TestRenameFilesAndOverwriteRules(t *testing.T) {
	m := mountTest(t, nil)
	m.sh("echo one > f1 && echo two > f2 && mkdir d1 d2 full && touch full/x && chmod 600 f1")
	m.sh("mv f1 g1")
	m.wantKeys("f1")
	if got, _ := m.object("g1"); string(got) != "one\n" {
		t.Fatalf("g1: %q", got)
	}
	m.wantMeta("g1", map[string]string{"mode": "33152"}) // metadata travels
	// file over file
	if err := unix.Rename(m.p("g1"), m.p("f2")); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("f2"); string(got) != "one\n" {
		t.Fatalf("f2 after overwrite: %q", got)
	}
	// dir over empty dir
	if err := unix.Rename(m.p("d1"), m.p("d2")); err != nil {
		t.Fatal(err)
	}
	m.wantKeys("d", "d2/")
	// dir over non-empty dir
	if err := unix.Rename(m.p("d2"), m.p("full")); !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("dir over non-empty dir: %v", err)
	}
	// file over dir, dir over file
	if err := unix.Rename(m.p("f2"), m.p("d2")); !errors.Is(err, syscall.EISDIR) {
		t.Fatalf("file over dir: %v", err)
	}
	if err := unix.Rename(m.p("d2"), m.p("f2")); !errors.Is(err, syscall.ENOTDIR) {
		t.Fatalf("dir over file: %v", err)
	}
	// RENAME_NOREPLACE
	m.sh("echo three > f3")
	err := unix.Renameat2(unix.AT_FDCWD, m.p("f3"), unix.AT_FDCWD, m.p("f2"), unix.RENAME_NOREPLACE)
	if !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("RENAME_NOREPLACE: %v", err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, m.p("f3"), unix.AT_FDCWD, m.p("f4"), unix.RENAME_NOREPLACE); err != nil {
		t.Fatal(err)
	}
	m.wantKeys("f", "f2", "f4", "full/", "full/x")
}

func TestRenameDirectoryWithNestedFiles(t *testing.T) {
	m := mountTest(t, nil)
	m.sh("mkdir -p src/x/y && echo f > src/f && echo g > src/x/g && echo h > src/x/y/h && ln -s ../f src/x/l")
	m.b.SetObject("src/implicit/z", []byte("z"), nil) // a prefix without marker
	m.sh("mv src dst")
	m.wantKeys("src")
	m.wantKeys("dst", "dst/", "dst/f", "dst/implicit/z", "dst/x/", "dst/x/g", "dst/x/l", "dst/x/y/", "dst/x/y/h")
	if out := m.sh("cat dst/x/y/h dst/x/l dst/implicit/z"); out != "h\nf\nz" {
		t.Fatalf("after mv: %q", out)
	}
	m.wantMeta("dst/x/l", map[string]string{"mode": "41471"})
	if _, err := os.Stat(m.p("src")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("src still there: %v", err)
	}
	// Into another directory, and back under the old name.
	m.sh("mkdir other && mv dst other/ && mv other/dst src")
	m.wantKeys("src/", "src/", "src/f", "src/implicit/z", "src/x/", "src/x/g", "src/x/l", "src/x/y/", "src/x/y/h")
	m.wantKeys("other", "other/")
}

func TestSymlink(t *testing.T) {
	m := mountTest(t, nil)
	m.sh("echo data > target && ln -s target link && ln -s /nowhere/at/all dangling")
	if got, _ := m.object("link"); string(got) != "target" {
		t.Fatalf("link body %q", got)
	}
	m.wantMeta("link", map[string]string{"mode": "41471"})
	if out := m.sh("readlink link dangling && cat link"); out != "target\n/nowhere/at/all\ndata\n" {
		t.Fatalf("readlink: %q", out)
	}
	// A symlink written by another client (s3fs) reads too.
	m.b.SetObject("ext", []byte("target"), objcache.Metadata{"mode": "41471"})
	if got, err := os.Readlink(m.p("ext")); err != nil || got != "target" {
		t.Fatalf("external symlink: %q %v", got, err)
	}
	st, err := os.Lstat(m.p("ext"))
	if err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("lstat ext: %v %v", st, err)
	}
}

func TestChmodChownTouch(t *testing.T) {
	m := mountTest(t, nil)
	m.sh("echo x > f && mkdir d")
	m.b.ResetCalls()
	m.sh("chmod 640 f && chown 1234:5678 f && touch -d '2020-01-02 03:04:05 UTC' f")
	m.wantMeta("f", map[string]string{"mode": "33184", "uid": "1234", "gid": "5678", "mtime": "1577934245"})
	if got, _ := m.object("f"); string(got) != "x\n" {
		t.Fatalf("content after metadata changes: %q", got)
	}
	if m.b.Calls(membucket.OpPut) != 0 || m.b.Calls(membucket.OpCopy) != 3 {
		t.Errorf("metadata changes: %d PUT, %d COPY; want 0 and 3", m.b.Calls(membucket.OpPut), m.b.Calls(membucket.OpCopy))
	}
	out := m.sh("ls -ln --time-style=+%s f")
	if !strings.Contains(out, "-rw-r----- 1 1234 5678 2 1577934245 f") {
		t.Fatalf("ls: %q", out)
	}
	m.sh("chmod 711 d && touch -d '2021-01-01 00:00:00 UTC' d")
	m.wantMeta("d/", map[string]string{"mode": "16841", "mtime": "1609459200"})
	// A directory that was only a prefix gets a marker.
	m.b.SetObject("implicit/x", nil, nil)
	m.sh("chmod 700 implicit")
	m.wantMeta("implicit/", map[string]string{"mode": "16832"})
}

func TestTruncateAppendAndOverwrite(t *testing.T) {
	m := mountTest(t, nil)
	model := []byte("0123456789abcdefghij")
	if err := os.WriteFile(m.p("f"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		if got, _ := m.object("f"); !bytes.Equal(got, model) {
			t.Fatalf("%s: server has %q, want %q", step, got, model)
		}
		if got, err := os.ReadFile(m.p("f")); err != nil || !bytes.Equal(got, model) {
			t.Fatalf("%s: mount shows %q (%v), want %q", step, got, err, model)
		}
	}
	m.sh("truncate -s 10 f")
	model = model[:10]
	check("truncate down")
	m.sh("truncate -s 15 f")
	model = append(model, 0, 0, 0, 0, 0)
	check("truncate up")
	m.sh("echo more >> f")
	model = append(model, "more\n"...)
	check("append")
	m.sh("printf XY | dd of=f bs=1 seek=3 conv=notrunc status=none")
	copy(model[3:], "XY")
	check("dd conv=notrunc")
	m.sh("printf END | dd of=f bs=1 seek=30 conv=notrunc status=none")
	model = append(model, make([]byte, 30-len(model))...)
	model = append(model, "END"...)
	check("dd past the end")
	m.sh(": > f")
	model = nil
	check("truncate by redirection")
	// A big file, then a random overwrite in the middle of it.
	model = randomBytes(5<<20, 2)
	if err := os.WriteFile(m.p("f"), model, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(m.p("f"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("PATCH"), 3<<20+7); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	copy(model[3<<20+7:], "PATCH")
	check("random overwrite of a big file")
}

func TestCloseAndFsyncReportUploadFailure(t *testing.T) {
	m := mountTest(t, nil)
	f, err := os.Create(m.p("f"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("unsaved"); err != nil {
		t.Fatal(err)
	}
	m.b.SetFault(func(op membucket.Op, key string) error {
		if op == membucket.OpPut {
			return errors.New("server unreachable")
		}
		return nil
	})
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("fsync with failing PUT: %v, want EIO", err)
	}
	if err := f.Close(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("close with failing PUT: %v, want EIO", err)
	}
	if got, _ := m.object("f"); len(got) != 0 {
		t.Fatalf("server has %q", got)
	}
	if !strings.Contains(m.log.String(), "key=f") {
		t.Errorf("log does not name the object:\n%s", m.log.String())
	}
	// The last release discards what could not be uploaded.
	for !strings.Contains(m.log.String(), "discarding changes") {
		time.Sleep(10 * time.Millisecond)
	}
	m.b.SetFault(nil)
	// Nothing pretends the data was saved.
	time.Sleep(1100 * time.Millisecond) // kernel attribute cache
	if got, err := os.ReadFile(m.p("f")); err != nil || len(got) != 0 {
		t.Fatalf("after failed close the mount shows %q (%v)", got, err)
	}

	// While the file stays open the staged data stays for a retry.
	g, err := os.Create(m.p("g"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.WriteString("second try"); err != nil {
		t.Fatal(err)
	}
	m.b.SetFault(func(op membucket.Op, key string) error {
		if op == membucket.OpPut {
			return fmt.Errorf("put: %w", objcache.ErrNoSpace)
		}
		return nil
	})
	if err := g.Sync(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fsync: %v, want ENOSPC", err)
	}
	m.b.SetFault(nil)
	if err := g.Sync(); err != nil {
		t.Fatalf("fsync retry: %v", err)
	}
	if got, _ := m.object("g"); string(got) != "second try" {
		t.Fatalf("after retried fsync: %q", got)
	}

	// Access errors map to EACCES.
	m.b.SetFault(func(op membucket.Op, key string) error {
		if op == membucket.OpPut && key == "denied" {
			return fmt.Errorf("put: %w", objcache.ErrAccessDenied)
		}
		return nil
	})
	if err := os.WriteFile(m.p("denied"), []byte("x"), 0o644); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("denied: %v", err)
	}
}

func TestStagingFullIsENOSPC(t *testing.T) {
	m := mountTest(t, func(o *Options) {
		st, err := objcache.NewStaging(t.TempDir(), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		o.Staging = st
	})
	err := os.WriteFile(m.p("big"), make([]byte, 2<<20), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write past staging limit: %v", err)
	}
}

func TestFlushAllUploadsOpenFiles(t *testing.T) {
	m := mountTest(t, nil)
	f, err := os.Create(m.p("open"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("pending"); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("open"); len(got) != 0 {
		t.Fatalf("uploaded before flush: %q", got)
	}
	if err := m.root.FlushAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.object("open"); string(got) != "pending" {
		t.Fatalf("after FlushAll: %q", got)
	}
}

func TestReadOnly(t *testing.T) {
	m := mountTest(t, func(o *Options) { o.ReadOnly = true })
	m.b.SetObject("f", []byte("x"), nil)
	if got, err := os.ReadFile(m.p("f")); err != nil || string(got) != "x" {
		t.Fatalf("read: %q %v", got, err)
	}
	if err := os.WriteFile(m.p("g"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("create on read-only mount: %v", err)
	}
}

func TestUnlinkWhileOpen(t *testing.T) {
	m := mountTest(t, nil)
	f, err := os.Create(m.p("gone"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("written after create"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(m.p("gone")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := f.ReadAt(buf, 0); err != nil || string(buf) != "written" {
		t.Fatalf("read of unlinked open file: %q %v", buf, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close of unlinked file: %v", err)
	}
	if _, _, ok := m.b.Object("gone"); ok {
		t.Fatal("unlinked file was uploaded again on close")
	}
}

func TestStatfs(t *testing.T) {
	m := mountTest(t, nil)
	m.sh("mkdir d")
	for _, p := range []string{m.dir, m.p("d")} {
		var st syscall.Statfs_t
		if err := syscall.Statfs(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Blocks < 1<<30 || st.Bavail < 1<<30 || st.Bsize != 4096 {
			t.Errorf("statfs %s: %+v", p, st)
		}
	}
}

func TestOpenForWritingLoadsLazily(t *testing.T) {
	m := mountTest(t, nil)
	m.b.SetObject("f", []byte("content"), nil)
	if _, err := os.Stat(m.p("f")); err != nil {
		t.Fatal(err)
	}
	m.b.ResetCalls()
	f, err := os.OpenFile(m.p("f"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if g, p := m.b.Calls(membucket.OpGetRange), m.b.Calls(membucket.OpPut); g != 0 || p != 0 {
		t.Errorf("open+close for writing: %d GET, %d PUT; want none", g, p)
	}
	// Overwriting it whole (cp's O_TRUNC) needs no GET either.
	m.sh("echo new > f")
	if g := m.b.Calls(membucket.OpGetRange); g != 0 {
		t.Errorf("truncating overwrite sent %d GETs", g)
	}
	if got, _ := m.object("f"); string(got) != "new\n" {
		t.Fatalf("f: %q", got)
	}
}
