package e2e

import (
	"bytes"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestCloseAndFsyncMeanOnTheServer: once close() or fsync() returns 0 the
// object holds the new content; with the backend gone, close() reports an
// error instead of success.
func TestCloseAndFsyncMeanOnTheServer(t *testing.T) {
	b := testenv.StartBackend(t, testenv.DefaultProfile())
	b.CreateBucket(t, "durable")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "durable", e.mountArgs()...)

	t.Run("close", func(t *testing.T) {
		data := randomBytes(t, 2<<20)
		writeLocal(t, m.Path("closed.bin"), data)
		if got := getObject(t, b, "durable", "closed.bin", e); !bytes.Equal(got, data) {
			t.Fatal("after close() returned 0 the object does not hold the new content")
		}
	})
	t.Run("fsync", func(t *testing.T) {
		f, err := os.Create(m.Path("synced.bin"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		data := randomBytes(t, 1<<20)
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("fsync: %v", err)
		}
		if got := getObject(t, b, "durable", "synced.bin", e); !bytes.Equal(got, data) {
			t.Fatal("after fsync() returned 0 the object does not hold the new content")
		}
	})
	t.Run("backend down before close", func(t *testing.T) {
		if b.IsExternal() {
			t.Skip("the shared real-stack lab cannot be stopped per test")
		}
		f, err := os.Create(m.Path("lost.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(randomBytes(t, 1<<20)); err != nil {
			t.Fatal(err)
		}
		b.Stop()
		defer func() {
			if err := b.Start(); err != nil {
				t.Fatal(err)
			}
		}()
		if err := f.Close(); err == nil {
			t.Fatal("close() returned success although the backend was down")
		}
	})
}

// TestSIGTERMUploadsDirtyFilesBeforeExit: a file still open for writing
// when the daemon gets SIGTERM reaches the server before the process exits,
// and the mountpoint is left clean.
func TestSIGTERMUploadsDirtyFilesBeforeExit(t *testing.T) {
	b := testenv.StartBackend(t, "rgw")
	b.CreateBucket(t, "term")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "term", e.mountArgs()...)
	pid := m.PID()
	if pid == 0 {
		t.Fatal("cannot find the ssefs daemon")
	}
	f, err := os.Create(m.Path("open.bin"))
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(t, 3<<20)
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatal("ssefs did not exit within 30 s of SIGTERM")
		}
		time.Sleep(50 * time.Millisecond)
	}
	f.Close() // the mount is gone: this close cannot reach ssefs any more
	if got := getObject(t, b, "term", "open.bin", e); !bytes.Equal(got, data) {
		t.Fatalf("after SIGTERM the object holds %d bytes, want the %d written", len(got), len(data))
	}
	assertEncrypted(t, b, "term", "open.bin", e)
	if testenv.IsMounted(m.Dir) {
		t.Fatal("the mountpoint is still mounted after ssefs exited")
	}
}
