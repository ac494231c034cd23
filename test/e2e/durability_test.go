package e2e

import (
	"bytes"
	"os"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestCloseAndFsyncMeanOnTheServer: once close() or fsync() returns 0 the
// object holds the new content; with the backend gone, close() reports an
// error instead of success.
func TestCloseAndFsyncMeanOnTheServer(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
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
