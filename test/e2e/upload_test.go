package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/test/testenv"
)

// Tests of the write paths: streaming multipart uploads for sequential
// writes, encrypted staging for the rest, and its limit.

// TestStreamingWriteOfLargeFile: a large file written sequentially goes up
// as a multipart upload while it is written, and the object is the file,
// SSE-C encrypted; no upload is left behind.
func TestStreamingWriteOfLargeFile(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "stream")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "stream", e.mountArgs()...)
	data := randomBytes(t, 100<<20+12345)
	f, err := os.Create(m.Path("big"))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := f.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := getObject(t, b, "stream", "big", e); !bytes.Equal(got, data) {
		t.Fatalf("object has %d bytes that differ from the %d written", len(got), len(data))
	}
	assertEncrypted(t, b, "stream", "big", e)
	head, err := b.S3().HeadObject(context.Background(), headWithKey(e.key, &s3.HeadObjectInput{Bucket: strp("stream"), Key: strp("big")}))
	if err != nil {
		t.Fatal(err)
	}
	if etag := *head.ETag; !strings.Contains(etag, "-") {
		t.Errorf("ETag %s is not a multipart ETag: the file was not streamed", etag)
	}
	ups, err := b.S3().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: strp("stream")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left behind", len(ups.Uploads))
	}
	assertFileContent(t, m.Path("big"), data)
}

func strp(s string) *string { return &s }

// TestStagingLimitIsENOSPCAndKeepsAcknowledgedData: with a small
// --staging-limit a random-write job gets ENOSPC; what it wrote before is
// uploaded by close, and files closed earlier are intact on the server.
func TestStagingLimitIsENOSPCAndKeepsAcknowledgedData(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "full")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "full", append(e.mountArgs(), "--staging-limit", "8M")...)
	small, streamed := randomBytes(t, 3000), randomBytes(t, 40<<20)
	writeLocal(t, m.Path("small"), small)
	writeLocal(t, m.Path("streamed"), streamed) // sequential: needs no staging

	f, err := os.Create(m.Path("random"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := randomBytes(t, 1<<20)
	want := []byte{}
	var nospc bool
	// Back to front: every write but the first is a random write.
	for i := 15; i >= 0; i-- {
		off := int64(i) << 20
		if _, err := f.WriteAt(chunk, off); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("write at %d: %v, want ENOSPC", off, err)
			}
			nospc = true
			want = bytes.Repeat([]byte{0}, 16<<20)
			for j := 15; j > i; j-- {
				copy(want[j<<20:], chunk)
			}
			break
		}
	}
	if !nospc {
		t.Fatal("16 MiB of random writes fit in an 8 MiB staging limit")
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close after ENOSPC: %v", err)
	}
	if got := getObject(t, b, "full", "random", e); !bytes.Equal(got, want) {
		t.Errorf("random: the object (%d bytes) is not the acknowledged writes (%d bytes)", len(got), len(want))
	}
	if got := getObject(t, b, "full", "small", e); !bytes.Equal(got, small) {
		t.Error("small: changed")
	}
	if got := getObject(t, b, "full", "streamed", e); !bytes.Equal(got, streamed) {
		t.Error("streamed: changed")
	}
}

// TestNoPlaintextOnLocalDisk writes a 200 MiB file with random writes and
// appends, every MiB carrying a unique marker, reads it back, and scans
// the staging dir, /tmp, the mount's working dir and the backend's data:
// while the file is open and after close, the marker is nowhere.
func TestNoPlaintextOnLocalDisk(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "secret")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "secret", e.mountArgs()...)
	var raw [16]byte
	rand.Read(raw[:])
	marker := []byte("SSEFS-PLAINTEXT-MARKER-" + hex.EncodeToString(raw[:]))
	mib := func() []byte {
		p := randomBytes(t, 1<<20)
		for off := 0; off+len(marker) <= len(p); off += 64 << 10 {
			copy(p[off:], marker)
		}
		return p
	}
	const size = 200 << 20
	start := time.Now().Add(-time.Second)
	want := make([]byte, 0, size)
	f, err := os.Create(m.Path("secret.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for len(want) < 120<<20 { // streamed
		p := mib()
		want = append(want, p...)
		if _, err := f.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 { // random writes: the file moves to staging
		p := mib()[:1000+i*997]
		off := int64(i) * 5 << 20
		copy(want[off:], p)
		if _, err := f.WriteAt(p, off); err != nil {
			t.Fatal(err)
		}
	}
	for len(want) < size { // appends
		p := mib()
		want = append(want, p...)
		if _, err := f.WriteAt(p, int64(len(want)-len(p))); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]byte, size)
	if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back while open: %v, equal %v", err, bytes.Equal(got, want))
	}
	dirs := []string{filepath.Join(filepath.Dir(m.Dir), "staging"), os.TempDir(), "/tmp", filepath.Dir(m.Dir), b.Dir}
	scanForMarker(t, "while open", dirs, marker, m.Dir, start)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	assertFileContent(t, m.Path("secret.bin"), want)
	scanForMarker(t, "after close", dirs, marker, m.Dir, start)
	assertEncrypted(t, b, "secret", "secret.bin", e)
}

// scanForMarker fails the test if any regular file under dirs (on the same
// filesystem, outside skip) modified since start contains marker.
func scanForMarker(t *testing.T, when string, dirs []string, marker []byte, skip string, start time.Time) {
	t.Helper()
	scanned := 0
	for _, root := range dirs {
		var rootDev uint64
		if st, err := os.Stat(root); err == nil {
			rootDev = st.Sys().(*syscall.Stat_t).Dev
		}
		filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if path == skip || info.Sys().(*syscall.Stat_t).Dev != rootDev {
					return fs.SkipDir // a mount (ours or another test's)
				}
				return nil
			}
			if !info.Mode().IsRegular() || info.Size() > 4<<30 || info.ModTime().Before(start) {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			scanned++
			if bytes.Contains(data, marker) {
				t.Errorf("%s: plaintext marker found in %s", when, path)
			}
			return nil
		})
	}
	t.Logf("%s: %d files scanned, no marker", when, scanned)
}
