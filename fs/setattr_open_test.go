package fs

import (
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssefs/ssefs/objcache/membucket"
)

// Tests of truncate, chmod, chown and utimens by path while the file is
// open: a change that was acknowledged reaches the server, whatever the
// open handles are (read-only ones upload nothing at their close).

// bothMounts runs fn on a plain mount (staging only) and on one over
// objcache.Cached (streaming uploads).
func bothMounts(t *testing.T, fn func(t *testing.T, m *testMount)) {
	t.Run("plain", func(t *testing.T) { fn(t, mountTest(t, nil)) })
	t.Run("cached", func(t *testing.T) { fn(t, mountCached(t, 0)) })
}

// wantServer checks the content of an object on the server.
func wantServer(t *testing.T, m *testMount, key, want, step string) {
	t.Helper()
	if got, _ := m.object(key); string(got) != want {
		t.Fatalf("%s: server has %q, want %q", step, got, want)
	}
}

// wantShown checks the size stat reports and what the open handle reads.
func wantShown(t *testing.T, m *testMount, f *os.File, want, step string) {
	t.Helper()
	if st, err := os.Stat(m.p("f")); err != nil || st.Size() != int64(len(want)) {
		t.Fatalf("%s: stat: %v, size %d, want %d", step, err, sizeOf(st), len(want))
	}
	buf := make([]byte, 64)
	k, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("%s: read through the open handle: %v", step, err)
	}
	if string(buf[:k]) != want {
		t.Fatalf("%s: the open handle reads %q, want %q", step, buf[:k], want)
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return -1
	}
	return st.Size()
}

// waitReleased waits until every handle of the mount's files is released
// (RELEASE is asynchronous to close(2)), and checks nothing was discarded.
func waitReleased(t *testing.T, m *testMount) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.root.fsys.mu.Lock()
		dirty := len(m.root.fsys.dirty)
		m.root.fsys.mu.Unlock()
		if dirty == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if strings.Contains(m.log.String(), "discarding changes") {
		t.Fatalf("changes were discarded:\n%s", m.log.String())
	}
}

func TestTruncateByPathWhileOpenReadOnly(t *testing.T) {
	bothMounts(t, func(t *testing.T, m *testMount) {
		if err := os.WriteFile(m.p("f"), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		wantShown(t, m, r, "0123456789", "before")

		if err := os.Truncate(m.p("f"), 3); err != nil {
			t.Fatalf("truncate down: %v", err)
		}
		wantServer(t, m, "f", "012", "truncate down while open read-only")
		wantShown(t, m, r, "012", "truncate down while open read-only")

		if err := os.Truncate(m.p("f"), 5); err != nil {
			t.Fatalf("truncate up: %v", err)
		}
		wantServer(t, m, "f", "012\x00\x00", "truncate up while open read-only")
		wantShown(t, m, r, "012\x00\x00", "truncate up while open read-only")

		// A second reader, then the shell tool.
		r2, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		m.sh("truncate -s 0 f")
		wantServer(t, m, "f", "", "truncate -s 0 while open read-only twice")
		wantShown(t, m, r2, "", "truncate -s 0 while open read-only twice")
		r2.Close()

		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, m)
		wantServer(t, m, "f", "", "after close")
		if got, err := os.ReadFile(m.p("f")); err != nil || len(got) != 0 {
			t.Fatalf("after close the mount shows %q (%v)", got, err)
		}
	})
}

func TestMetadataByPathWhileOpenReadOnly(t *testing.T) {
	bothMounts(t, func(t *testing.T, m *testMount) {
		if err := os.WriteFile(m.p("f"), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		m.sh("chmod 600 f && chown 1234:5678 f && touch -d '2020-01-02 03:04:05 UTC' f")
		m.wantMeta("f", map[string]string{"mode": "33152", "uid": "1234", "gid": "5678", "mtime": "1577934245"})

		// The same after a truncate, each one a single system call on the
		// path (GNU touch opens the file for writing, and its close
		// uploads whatever the node has).
		if err := os.Truncate(m.p("f"), 4); err != nil {
			t.Fatal(err)
		}
		wantServer(t, m, "f", "0123", "truncate while open read-only")
		if err := os.Chmod(m.p("f"), 0o640); err != nil {
			t.Fatal(err)
		}
		m.wantMeta("f", map[string]string{"mode": "33184"})
		if err := os.Chown(m.p("f"), 11, 22); err != nil {
			t.Fatal(err)
		}
		m.wantMeta("f", map[string]string{"uid": "11", "gid": "22"})
		mt := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := os.Chtimes(m.p("f"), mt, mt); err != nil {
			t.Fatal(err)
		}
		wantServer(t, m, "f", "0123", "truncate, then metadata, while open read-only")
		m.wantMeta("f", map[string]string{"mode": "33184", "uid": "11", "gid": "22", "mtime": "1609459200"})
		out := m.sh("ls -ln --time-style=+%s f")
		if !strings.Contains(out, "-rw-r----- 1 11 22 4 1609459200 f") {
			t.Fatalf("ls while open: %q", out)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, m)
		wantServer(t, m, "f", "0123", "after close")
		m.wantMeta("f", map[string]string{"mode": "33184", "uid": "11", "gid": "22", "mtime": "1609459200"})
	})
}

// A truncate that cannot be uploaded fails, and nothing shows it.
func TestTruncateByPathWhileOpenReadOnlyReportsUploadFailure(t *testing.T) {
	bothMounts(t, func(t *testing.T, m *testMount) {
		if err := os.WriteFile(m.p("f"), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		m.b.SetFault(func(op membucket.Op, key string) error {
			if op == membucket.OpPut || op == membucket.OpCompleteUpload || op == membucket.OpCopy {
				return errors.New("server unreachable")
			}
			return nil
		})
		if err := os.Truncate(m.p("f"), 3); !errors.Is(err, syscall.EIO) {
			t.Fatalf("truncate with failing uploads: %v, want EIO", err)
		}
		if err := os.Chmod(m.p("f"), 0o600); !errors.Is(err, syscall.EIO) {
			t.Fatalf("chmod with failing uploads: %v, want EIO", err)
		}
		m.b.SetFault(nil)
		wantServer(t, m, "f", "0123456789", "failed truncate")
		wantShown(t, m, r, "0123456789", "failed truncate")
		m.wantMeta("f", map[string]string{"mode": "33188"})
		// Closing uploads nothing of the failed changes.
		m.b.ResetCalls()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, m)
		if p, c := m.b.Calls(membucket.OpPut), m.b.Calls(membucket.OpCompleteUpload); p+c != 0 {
			t.Fatalf("close of the reader uploaded (%d PUT, %d complete)", p, c)
		}
		wantServer(t, m, "f", "0123456789", "after close")
	})
}

// Truncate by path while another handle has the file open for writing:
// the server has the truncated content when everything is closed.
func TestTruncateByPathWhileOpenReadWrite(t *testing.T) {
	bothMounts(t, func(t *testing.T, m *testMount) {
		if err := os.WriteFile(m.p("f"), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		w, err := os.OpenFile(m.p("f"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { w.Close() }() // the last w
		if _, err := w.WriteAt([]byte("AB"), 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(m.p("f"), 3); err != nil {
			t.Fatal(err)
		}
		m.sh("chmod 600 f")
		wantShown(t, m, r, "AB2", "truncate while open read-write")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		wantServer(t, m, "f", "AB2", "after the writer's close")
		m.wantMeta("f", map[string]string{"mode": "33152"})
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, m)
		wantServer(t, m, "f", "AB2", "after all closed")

		// A writer whose descriptor was closed once (its close flushed)
		// may not close again: a truncate after that is uploaded at once.
		w, err = os.OpenFile(m.p("f"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		fd, err := syscall.Dup(int(w.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Close(fd); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(m.p("f"), 1); err != nil {
			t.Fatal(err)
		}
		wantServer(t, m, "f", "A", "truncate after the writer's flush")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, m)
		wantServer(t, m, "f", "A", "after all closed again")
	})
}

// open(O_TRUNC) of a file still uploads nothing before the writer's close,
// even with a reader holding the file, and costs one upload.
func TestOpenTruncWhileOpenReadOnlyUploadsAtClose(t *testing.T) {
	bothMounts(t, func(t *testing.T, m *testMount) {
		if err := os.WriteFile(m.p("f"), []byte("old content"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		m.b.ResetCalls()
		w, err := os.OpenFile(m.p("f"), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		wantServer(t, m, "f", "old content", "open(O_TRUNC)")
		if _, err := w.WriteString("new"); err != nil {
			t.Fatal(err)
		}
		wantServer(t, m, "f", "old content", "open(O_TRUNC) and write")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		wantServer(t, m, "f", "new", "after the writer's close")
		if p, c := m.b.Calls(membucket.OpPut), m.b.Calls(membucket.OpCompleteUpload); p+c != 1 {
			t.Errorf("open(O_TRUNC)+write+close: %d PUT, %d complete; want one upload", p, c)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, m)
		wantServer(t, m, "f", "new", "after all closed")
	})
}

// ftruncate through a writable descriptor goes with that descriptor's close.
func TestFtruncateUploadsAtClose(t *testing.T) {
	bothMounts(t, func(t *testing.T, m *testMount) {
		if err := os.WriteFile(m.p("f"), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		w, err := os.OpenFile(m.p("f"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.Truncate(6); err != nil {
			t.Fatal(err)
		}
		wantShown(t, m, r, "012345", "ftruncate")
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		wantServer(t, m, "f", "012345", "after close")
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, m)
		wantServer(t, m, "f", "012345", "after all closed")
	})
}

// A writer's close failed to upload while a reader keeps the file open:
// its changes stay local, and no close will upload them any more. A
// truncate by path then succeeds only once it is on the server, and the
// server ends with what the mount shows.
func TestTruncateByPathAfterFailedCloseWhileOpenReadOnly(t *testing.T) {
	bothMounts(t, func(t *testing.T, m *testMount) {
		if err := os.WriteFile(m.p("f"), []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		w, err := os.OpenFile(m.p("f"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteAt([]byte("AB"), 0); err != nil {
			t.Fatal(err)
		}
		m.b.SetFault(func(op membucket.Op, key string) error {
			if op == membucket.OpPut || op == membucket.OpCompleteUpload || op == membucket.OpCopy {
				return errors.New("server unreachable")
			}
			return nil
		})
		if err := w.Close(); !errors.Is(err, syscall.EIO) {
			t.Fatalf("close with failing uploads: %v, want EIO", err)
		}
		if err := os.Truncate(m.p("f"), 3); !errors.Is(err, syscall.EIO) {
			t.Fatalf("truncate with failing uploads: %v, want EIO", err)
		}
		m.b.SetFault(nil)
		if err := os.Truncate(m.p("f"), 3); err != nil {
			t.Fatal(err)
		}
		m.sh("chmod 600 f")
		got, _ := m.object("f")
		if len(got) != 3 {
			t.Fatalf("server has %q after truncate -s 3", got)
		}
		wantShown(t, m, r, string(got), "truncate after a failed close")
		m.wantMeta("f", map[string]string{"mode": "33152"})
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		waitReleased(t, m)
		wantServer(t, m, "f", string(got), "after all closed")
	})
}

// open(O_CREAT|O_RDONLY) (a lock file, e.g. flock(1)) creates a file that
// is on the server when close returns; a failed upload is close's error,
// and the name is then gone.
func TestCreateReadOnlyIsStoredAtClose(t *testing.T) {
	bothMounts(t, func(t *testing.T, m *testMount) {
		fd, err := syscall.Open(m.p("lock"), syscall.O_CREAT|syscall.O_RDONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Close(fd); err != nil {
			t.Fatal(err)
		}
		wantServer(t, m, "lock", "", "after close")
		m.wantMeta("lock", map[string]string{"mode": "33152"})
		waitReleased(t, m)
		wantServer(t, m, "lock", "", "after release")
		if _, err := os.Stat(m.p("lock")); err != nil {
			t.Fatal(err)
		}

		m.b.SetFault(func(op membucket.Op, key string) error {
			if op == membucket.OpPut || op == membucket.OpCompleteUpload {
				return errors.New("server unreachable")
			}
			return nil
		})
		fd, err = syscall.Open(m.p("lock2"), syscall.O_CREAT|syscall.O_RDONLY, 0o600)
		if err != nil {
			if _, _, ok := m.b.Object("lock2"); ok {
				t.Fatalf("create failed (%v) but the object exists", err)
			}
			return // the plain mount stores the empty object at create
		}
		if err := syscall.Close(fd); !errors.Is(err, syscall.EIO) {
			t.Fatalf("close with failing uploads: %v, want EIO", err)
		}
		m.b.SetFault(nil)
		if _, err := os.Stat(m.p("lock2")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stat after the failed close: %v, want ENOENT", err)
		}
	})
}
