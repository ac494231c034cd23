package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/test/faultproxy"
	"github.com/ssefs/ssefs/test/testenv"
)

// Crash and outage tests: the backend or the mount process killed in the
// middle of work, the backend restarted under readers, and the failures a
// user meets (endpoint down, staging full, bucket deleted) ending cleanly.
// Helpers shared with faults_test.go live there.

// daemonPID finds the ssefs process serving mountpoint by its command line.
func daemonPID(t *testing.T, mountpoint string) int {
	t.Helper()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) > 2 && filepath.Base(args[0]) == "ssefs" && args[1] == "mount" && slicesContains(args, mountpoint) {
			return pid
		}
	}
	t.Fatalf("no ssefs process for %s", mountpoint)
	return 0
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// remount runs `ssefs mount` on an existing mountpoint with the same
// settings testenv uses, and returns its output.
func remount(t *testing.T, m *testenv.Mount, args ...string) (string, error) {
	t.Helper()
	ssefs, _ := testenv.MustBinaries(t)
	full := append([]string{"mount", m.Bucket, m.Dir, "--endpoint", m.Backend.Endpoint(), "--log-file", m.LogFile,
		"--staging-dir", filepath.Join(filepath.Dir(m.Dir), "staging"), "--debug"}, args...)
	cmd := exec.Command(ssefs, full...)
	cmd.Env = m.Backend.Environ()
	var out []byte
	var err error
	within(t, 90*time.Second, "ssefs mount", func() { out, err = cmd.CombinedOutput() })
	return string(out), err
}

// TestBackendKilledDuringUpload: the backend dies (SIGKILL) as the first
// part of a multipart upload is on its way. The write, fsync or close that
// was to commit the data must report an error, the object must not be
// partial, and once the backend is back writing the file again works.
func TestBackendKilledDuringUpload(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "killed")
	e := newSSECKey(t)
	p := startProxy(t, b)
	m := testenv.MountBucket(t, b, "killed", append(e.mountArgs(), "--endpoint", p.URL())...)
	const size = 40 << 20

	for i, how := range []string{"close", "fsync"} {
		t.Run(how, func(t *testing.T) {
			name := how + ".bin"
			var once sync.Once
			killed := make(chan struct{})
			p.OnRequest(func(r *http.Request) {
				if faultproxy.IsUploadPart(r) {
					once.Do(func() { b.Kill(); close(killed) }) // before the part is forwarded
				}
			})
			var writeErr, syncErr, closeErr error
			within(t, 3*time.Minute, "write, "+how+" with the backend killed", func() {
				f, err := os.Create(m.Path(name))
				if err != nil {
					writeErr = err
					return
				}
				_, writeErr = io.Copy(f, pattern(uint64(i), size))
				if how == "fsync" {
					syncErr = f.Sync()
				}
				closeErr = f.Close()
			})
			t.Logf("backend killed during the upload: write %v, fsync %v, close %v", writeErr, syncErr, closeErr)
			select {
			case <-killed:
			default:
				t.Fatal("no part upload was seen: the backend was never killed")
			}
			p.OnRequest(nil)
			if writeErr == nil && closeErr == nil && (how == "close" || syncErr == nil) {
				t.Fatal("every call returned 0 although the backend was killed during the upload")
			}
			if how == "fsync" && writeErr == nil && syncErr == nil {
				t.Error("fsync returned 0 although the backend was killed during the upload")
			}
			if err := b.Start(); err != nil {
				t.Fatal(err)
			}
			if sum, n, ok := serverSHA(t, b, "killed", name, e); ok && n != 0 {
				t.Fatalf("after the failure the server holds %d bytes (sha %x): want no object or an empty one", n, sum[:4])
			}
			want, _, _ := sha(pattern(uint64(10+i), size))
			var err error
			within(t, 2*time.Minute, "writing again", func() { err = writeFile(m.Path(name), pattern(uint64(10+i), size)) })
			if err != nil {
				t.Fatalf("writing the file again after the backend came back: %v", err)
			}
			if got, _, ok := serverSHA(t, b, "killed", name, e); !ok || got != want {
				t.Fatal("after the backend came back, close returned 0 but the server does not hold the new content")
			}
		})
	}
}

// TestMountKilledDuringWrites: SIGKILL the daemon while a writer keeps
// creating and overwriting files. On the server every object is absent,
// the empty object create made, or byte-identical to a version the test
// wrote; every file whose close returned 0 is intact (or holds the one
// version whose close was in flight). The dead mountpoint gets a clear
// message from the next mount, and after umount mounting works again.
func TestMountKilledDuringWrites(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "crash")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "crash", e.mountArgs()...)
	pid := daemonPID(t, m.Dir)

	type version struct {
		seed uint64
		size int64
		sum  [32]byte
	}
	var mu sync.Mutex
	acked := map[string][]version{} // per name, in order
	var inflight struct {
		name string
		v    version
	}
	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("f%d.bin", i%7)
			v := version{seed: 1000 + i, size: int64(64<<10 + (i*7919)%(3<<20))}
			v.sum, _, _ = sha(pattern(v.seed, v.size))
			mu.Lock()
			inflight.name, inflight.v = name, v
			mu.Unlock()
			mu.Lock()
			exists := len(acked[name]) > 0
			mu.Unlock()
			if err := overwriteFile(m.Path(name), exists, pattern(v.seed, v.size), v.size); err != nil {
				t.Logf("writer stops at %s (version %d): %v", name, i, err)
				return // the mount is gone
			}
			mu.Lock()
			acked[name] = append(acked[name], v)
			mu.Unlock()
		}
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := 0
		for _, vs := range acked {
			n += len(vs)
		}
		mu.Unlock()
		if n >= 20 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(37 * time.Millisecond) // land inside a write or an upload
	if err := syscallKill(pid); err != nil {
		t.Fatal(err)
	}
	close(stop)
	within(t, time.Minute, "the writer after the kill", func() { <-writerDone })

	mu.Lock()
	defer mu.Unlock()
	empty := sha256.Sum256(nil)
	for _, key := range listKeys(t, b, "crash", "") {
		sum, _, ok := serverSHA(t, b, "crash", key, e)
		if !ok {
			continue
		}
		known := sum == empty && len(acked[key]) == 0 || inflight.name == key && sum == inflight.v.sum
		for _, v := range acked[key] {
			known = known || sum == v.sum
		}
		if !known {
			_, size, _ := serverSHA(t, b, "crash", key, e)
			t.Errorf("%s: the server holds %d bytes the test never wrote (partial or corrupt); acked %v, in flight %s %v", key, size, acked[key], inflight.name, inflight.v)
		}
	}
	for name, vs := range acked {
		sum, _, ok := serverSHA(t, b, "crash", name, e)
		last := vs[len(vs)-1]
		if !ok || sum != last.sum && !(inflight.name == name && sum == inflight.v.sum) {
			t.Errorf("%s: acknowledged %d times, but the server does not hold the last acknowledged version", name, len(vs))
		}
	}

	out, err := remount(t, m, e.mountArgs()...)
	if err == nil || !strings.Contains(out, "stale FUSE mount") || !strings.Contains(out, "umount "+m.Dir) {
		t.Fatalf("mounting on the dead mountpoint: want a failure naming the stale mount and the umount to run, got %v:\n%s", err, out)
	}
	t.Logf("mount on the stale mountpoint says: %s", strings.TrimSpace(out))
	if out, err := exec.Command("umount", m.Dir).CombinedOutput(); err != nil {
		t.Fatalf("umount of the dead mount: %v: %s", err, out)
	}
	if out, err := remount(t, m, e.mountArgs()...); err != nil {
		t.Fatalf("mounting again after umount: %v\n%s", err, out)
	}
	for name, vs := range acked {
		got, err := readSHA(m.Path(name))
		last := vs[len(vs)-1]
		if err != nil || got != last.sum && !(inflight.name == name && got == inflight.v.sum) {
			t.Errorf("%s after remount: %v, or not the last acknowledged version", name, err)
		}
	}
}

// overwriteFile writes r's size bytes to path. An existing file is
// rewritten in place and cut with ftruncate, not opened with O_TRUNC: see
// TestOpenTruncKeepsOldVersionUntilClose for why.
func overwriteFile(path string, exists bool, r io.Reader, size int64) error {
	if !exists {
		return writeFile(path, r)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// TestOpenTruncKeepsOldVersionUntilClose: overwriting a file with
// open(O_TRUNC) (what cp, shells and most tools do) must leave the version
// that was acknowledged on the server until the new one is: a crash, a
// killed mount or a backend failure before close must not turn the old
// content into an empty object.
//
// go-fuse does not negotiate FUSE_ATOMIC_O_TRUNC, so the kernel sends
// open(O_TRUNC) as a SETATTR(size=0) without a file handle; fileNode.Setattr
// (fs/file.go) uploads such a truncate at once only when no handle is open.
func TestOpenTruncKeepsOldVersionUntilClose(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "otrunc")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "otrunc", e.mountArgs()...)
	old := randomBytes(t, 100<<10)
	writeLocal(t, m.Path("doc.txt"), old)
	f, err := os.OpenFile(m.Path("doc.txt"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := getObject(t, b, "otrunc", "doc.txt", e); !bytes.Equal(got, old) {
		t.Fatalf("after open(O_TRUNC), before any write or close, the server holds %d bytes instead of the acknowledged %d", len(got), len(old))
	}
}

// TestBackendRestartDuringLongReads: the backend is killed and restarted
// while a large file is read through a slowed proxy. Each read either
// returns the right bytes or fails; once the backend is back, reading the
// whole file again works.
func TestBackendRestartDuringLongReads(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "reads")
	e := newSSECKey(t)
	p := startProxy(t, b)
	m := testenv.MountBucket(t, b, "reads", append(e.mountArgs(), "--endpoint", p.URL())...)
	const size = 48 << 20
	want, _ := io.ReadAll(pattern(9, size))
	if err := writeFile(m.Path("long.bin"), bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"SIGKILL", "SIGTERM"} {
		t.Run(how, func(t *testing.T) {
			p.SetPlan(faultproxy.Plan{Rate: 1, Kinds: []faultproxy.Kind{faultproxy.SlowBody}, Match: faultproxy.IsObjectGet})
			defer p.SetPlan(faultproxy.Plan{})
			f, err := os.Open(m.Path("long.bin"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 1<<20)
			var good, failed int
			restarted := make(chan struct{})
			for off := int64(0); off < size; off += int64(len(buf)) {
				if off == 8<<20 {
					if how == "SIGKILL" {
						b.Kill()
					} else {
						b.Stop()
					}
					go func() {
						defer close(restarted)
						time.Sleep(500 * time.Millisecond)
						if err := b.Start(); err != nil {
							t.Error(err)
						}
					}()
				}
				var k int
				within(t, 2*time.Minute, "pread", func() { k, err = f.ReadAt(buf, off) })
				if err != nil && !(err == io.EOF && k == len(want[off:])) {
					failed++
					continue
				}
				if !bytes.Equal(buf[:k], want[off:off+int64(k)]) {
					t.Fatalf("pread at %d returned %d wrong bytes", off, k)
				}
				good++
			}
			t.Logf("%s restart during reads: %d reads right, %d failed cleanly", how, good, failed)
			within(t, time.Minute, "the backend restart", func() { <-restarted })
			waitBackend(t, b)
			got, err := readSHA(m.Path("long.bin"))
			if err != nil || got != sha256.Sum256(want) {
				t.Fatalf("reading again after the restart: %v (or content differs)", err)
			}
		})
	}
}

// waitBackend waits until the backend answers a listing.
func waitBackend(t *testing.T, b *testenv.Backend) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := b.S3().ListBuckets(context.Background(), &s3.ListBucketsInput{})
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend not back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func syscallKill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// writeBackwards writes data in pieces from the last to the first until
// a write fails, then closes: a pattern no streaming upload can take. want
// is what the file should hold: data where writes succeeded, zeros where
// they did not.
func writeBackwards(path string, data []byte, piece int) (want []byte, writeErr, closeErr error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err, nil
	}
	want = make([]byte, len(data))
	for off := (len(data) - 1) / piece * piece; off >= 0; off -= piece {
		end := min(off+piece, len(data))
		k, err := f.WriteAt(data[off:end], int64(off))
		copy(want[off:], data[off:off+k])
		if err != nil {
			writeErr = err
			break
		}
	}
	return want, writeErr, f.Close()
}

// errnoOf is the errno inside an *os.PathError or similar, or 0.
func errnoOf(err error) syscall.Errno {
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return 0
}

// TestFailuresAreClearAndBounded: an endpoint that is down at mount time,
// a full staging area and a bucket deleted under a live mount each give a
// clear error, and no system call hangs.
func TestFailuresAreClearAndBounded(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	e := newSSECKey(t)

	t.Run("endpoint down at mount time", func(t *testing.T) {
		b.CreateBucket(t, "down")
		p := startProxy(t, b)
		down := p.URL()
		p.Close() // nothing listens there now
		mnt := filepath.Join(t.TempDir(), "mnt")
		os.Mkdir(mnt, 0o755)
		var out string
		var err error
		start := time.Now()
		within(t, 2*time.Minute, "ssefs mount", func() {
			out, err = runSSEFS(t, b.Environ(), append([]string{"mount", "down", mnt, "--endpoint", down}, e.mountArgs()...)...)
		})
		assertCleanFailure(t, out, err, "unreachable", mnt)
		t.Logf("after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	})

	t.Run("staging full", func(t *testing.T) {
		b.CreateBucket(t, "full")
		m := testenv.MountBucket(t, b, "full", append(e.mountArgs(), "--staging-limit", "1M")...)
		// Backwards, so that the writes cannot stream and must be staged.
		data := randomBytes(t, 4<<20)
		var writeErr, closeErr error
		var want []byte
		within(t, time.Minute, "writing 4 MiB backwards with 1 MiB of staging", func() {
			want, writeErr, closeErr = writeBackwards(m.Path("big.bin"), data, 256<<10)
		})
		if errnoOf(writeErr) != syscall.ENOSPC {
			t.Fatalf("writing past the staging limit: got %v, want ENOSPC", writeErr)
		}
		// As on a full local disk, the file keeps what was written before
		// ENOSPC; close either stores exactly that or fails.
		sum, n, ok := serverSHA(t, b, "full", "big.bin", e)
		switch {
		case closeErr == nil && (!ok || sum != sha256.Sum256(want)):
			t.Fatalf("close returned 0 after ENOSPC, but the server holds %d bytes that are not what was written", n)
		case closeErr != nil && ok && n != 0:
			t.Fatalf("close failed (%v), but the server holds %d bytes", closeErr, n)
		}
		t.Logf("write: %v; close: %v", writeErr, closeErr)
		small := randomBytes(t, 200<<10)
		within(t, time.Minute, "a small staged write afterwards", func() {
			_, writeErr, closeErr = writeBackwards(m.Path("small.bin"), small, 64<<10)
		})
		if writeErr != nil || closeErr != nil {
			t.Fatalf("a staged write within the limit after ENOSPC: write %v, close %v (staging space not given back?)", writeErr, closeErr)
		}
		if got := getObject(t, b, "full", "small.bin", e); !bytes.Equal(got, small) {
			t.Fatal("small.bin: the server does not hold what close acknowledged")
		}
	})

	t.Run("bucket deleted under a live mount", func(t *testing.T) {
		b.CreateBucket(t, "gone")
		m := testenv.MountBucket(t, b, "gone", e.mountArgs()...)
		writeLocal(t, m.Path("a.txt"), []byte("hello"))
		os.Mkdir(m.Path("d"), 0o755)
		for _, k := range listKeys(t, b, "gone", "") {
			if _, err := b.S3().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("gone"), Key: aws.String(k)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.S3().DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: aws.String("gone")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // past the attribute and listing TTL
		var err error
		within(t, time.Minute, "create in a deleted bucket", func() { err = writeFile(m.Path("new.txt"), strings.NewReader("data")) })
		if err == nil {
			t.Error("creating a file in a deleted bucket reported success")
		}
		t.Logf("create: %v", err)
		within(t, time.Minute, "read in a deleted bucket", func() { _, err = os.ReadFile(m.Path("a.txt")) })
		if err == nil {
			t.Error("reading a file of a deleted bucket succeeded")
		}
		t.Logf("read: %v", err)
		var ents []os.DirEntry
		within(t, time.Minute, "readdir in a deleted bucket", func() { ents, err = os.ReadDir(m.Dir) })
		if err == nil && len(ents) > 0 {
			t.Errorf("listing a deleted bucket shows %d entries", len(ents))
		}
		t.Logf("readdir: %d entries, %v", len(ents), err)
		within(t, time.Minute, "mkdir in a deleted bucket", func() { err = os.Mkdir(m.Path("x"), 0o755) })
		if err == nil {
			t.Error("mkdir in a deleted bucket reported success")
		}
		if !strings.Contains(m.Log(), "NoSuchBucket") {
			t.Error("the mount's log does not say the bucket is gone (NoSuchBucket)")
		}
	})
}

// TestAppendAfterFailedCloseLeavesNoHole: after close(2) failed (the
// upload did not go through) the file is what the server holds; an
// O_APPEND write right after must append to that, not past the size of the
// discarded data, which would leave zero bytes the program never wrote.
//
// Found by the model test (testdata/model/seeds.txt, seed 613943018, ops
// 113-125: an append whose close failed, retried, read back as ">\x00\x10"
// instead of ">\x10"): after a failed close the kernel's cached size is
// stale, so O_APPEND handles write at the end ssefs knows (fs/handle.go).
func TestAppendAfterFailedCloseLeavesNoHole(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "append")
	e := newSSECKey(t)
	p := startProxy(t, b)
	m := testenv.MountBucket(t, b, "append", append(e.mountArgs(), "--endpoint", p.URL())...)
	writeLocal(t, m.Path("log"), []byte("A"))
	appendTo := func(s string) error {
		f, err := os.OpenFile(m.Path("log"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(s); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	p.SetPlan(faultproxy.Plan{Rate: 1, Kinds: []faultproxy.Kind{faultproxy.Error500}, Match: faultproxy.IsObjectPut})
	if err := appendTo("BBBB"); err == nil {
		t.Fatal("close succeeded although every upload failed")
	}
	p.SetPlan(faultproxy.Plan{})
	if err := appendTo("C"); err != nil {
		t.Fatal(err)
	}
	if got := getObject(t, b, "append", "log", e); string(got) != "AC" {
		t.Fatalf("after a failed append and a good one the server holds %q, want \"AC\"", got)
	}
}

// TestRecreateAfterFailedCloseOfNewFile: when close(2) of a new file fails
// (its first upload did not go through) the file does not exist: a stat,
// a plain open and a listing of its directory say so right away, and
// creating it again right away works, with O_TRUNC or O_EXCL, although the
// kernel was told to keep the entry for 30 s. Found by the model test
// (seed 983547793, op 1907: create of a/d.txt/d.txt/a/c/c retried after
// EINTR at close, ENOENT): the kernel kept its entry of the file, so the
// create went to OPEN, which found no object.
//
// Also a file deleted by another client: a create through an entry the
// kernel still holds makes it anew, and a plain open says ENOENT.
func TestRecreateAfterFailedCloseOfNewFile(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "recreate")
	e := newSSECKey(t)
	p := startProxy(t, b)
	// A long TTL, so the kernel's entry outlives the failed upload's retries.
	m := testenv.MountBucket(t, b, "recreate", append(e.mountArgs(), "--endpoint", p.URL(), "--attr-ttl", "30s")...)
	assertGone := func(name string) {
		t.Helper()
		if _, err := os.Stat(m.Path(name)); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("stat of %s: %v, want ENOENT", name, err)
		}
		if f, err := os.Open(m.Path(name)); !errors.Is(err, syscall.ENOENT) {
			if err == nil {
				f.Close()
			}
			t.Fatalf("open of %s without O_CREAT: %v, want ENOENT", name, err)
		}
		ents, err := os.ReadDir(m.Dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, ent := range ents {
			if ent.Name() == name {
				t.Fatalf("%s is listed", name)
			}
		}
	}
	createExcl := func(path string, data []byte) error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	for _, c := range []struct {
		name   string
		create func(string, []byte) error
	}{
		{"new.txt", func(path string, data []byte) error { return os.WriteFile(path, data, 0o644) }},
		{"excl.txt", createExcl},
	} {
		p.SetPlan(faultproxy.Plan{Rate: 1, Kinds: []faultproxy.Kind{faultproxy.Error500}, Match: faultproxy.IsObjectPut})
		if err := c.create(m.Path(c.name), []byte("first")); err == nil {
			t.Fatalf("%s: close succeeded although every upload failed", c.name)
		}
		p.SetPlan(faultproxy.Plan{})
		assertGone(c.name)
		if err := c.create(m.Path(c.name), []byte("second")); err != nil {
			t.Fatalf("creating %s again after its first close failed: %v", c.name, err)
		}
		if got := getObject(t, b, "recreate", c.name, e); string(got) != "second" {
			t.Fatalf("the server holds %q for %s, want \"second\"", got, c.name)
		}
		assertFileContent(t, m.Path(c.name), []byte("second"))
	}

	// The kernel's entry outlives the object in other ways too: a file
	// deleted by another client after a rename of its directory (which
	// makes ssefs look again at what it knew of the moved files, while the
	// kernel keeps their entries). A create through such an entry makes the
	// file anew; a plain open says ENOENT.
	writeLocal(t, m.Path("d/moved.txt"), []byte("one"))
	if err := os.Rename(m.Path("d"), m.Path("e")); err != nil {
		t.Fatal(err)
	}
	assertFileContent(t, m.Path("e/moved.txt"), []byte("one"))
	if _, err := b.S3().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String("recreate"), Key: aws.String("e/moved.txt")}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(m.Path("e"), m.Path("f")); err != nil {
		t.Fatal(err)
	}
	if f, err := os.Open(m.Path("f/moved.txt")); !errors.Is(err, syscall.ENOENT) {
		if err == nil {
			f.Close()
		}
		t.Fatalf("open of a file deleted elsewhere: %v, want ENOENT", err)
	}
	writeLocal(t, m.Path("f/moved.txt"), []byte("two"))
	if got := getObject(t, b, "recreate", "f/moved.txt", e); string(got) != "two" {
		t.Fatalf("the server holds %q for f/moved.txt, want \"two\"", got)
	}
}
