package objstore

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

var allModes = []SSEMode{SSENone, SSEC, SSEKMS}

func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.CreateBucket("b"); err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// sealing returns a Sealing of mode with a fresh random key.
func sealing(mode SSEMode) Sealing {
	switch mode {
	case SSEC:
		return Sealing{Mode: SSEC, Key: randomBytes(32)}
	case SSEKMS:
		return Sealing{Mode: SSEKMS, Key: randomBytes(32), KMSKeyID: "0b5e6c1e-kms-test"}
	}
	return Sealing{}
}

// pseudo returns n deterministic pseudo-random bytes.
func pseudo(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func md5hex(b []byte) string {
	s := md5.Sum(b)
	return hex.EncodeToString(s[:])
}

// readRange reads a range twice, through Read and through WriteTo (what
// io.Copy uses), and checks that both agree.
func readRange(t testing.TB, s *Store, m ObjectMeta, key []byte, off, n int64) []byte {
	t.Helper()
	var got [2][]byte
	for i := range got {
		rc, err := s.ReadRange(m, key, off, n)
		if err != nil {
			t.Fatalf("ReadRange(%d, %d): %v", off, n, err)
		}
		if i == 0 {
			got[i], err = io.ReadAll(rc)
		} else {
			var buf bytes.Buffer
			_, err = io.Copy(&buf, rc)
			got[i] = buf.Bytes()
		}
		rc.Close()
		if err != nil {
			t.Fatalf("reading range %d+%d: %v", off, n, err)
		}
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Fatalf("range %d+%d: Read and WriteTo differ", off, n)
	}
	return got[0]
}

// readErr reads a range to the end and returns the first error, from
// ReadRange or from reading; through WriteTo, or through Read if byRead.
func readErr(s *Store, m ObjectMeta, key []byte, off, n int64, byRead ...bool) error {
	rc, err := s.ReadRange(m, key, off, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	if len(byRead) > 0 && byRead[0] {
		_, err = io.ReadAll(rc)
	} else {
		_, err = io.Copy(io.Discard, rc)
	}
	return err
}

func put(t testing.TB, s *Store, key string, data []byte, seal Sealing) ObjectMeta {
	t.Helper()
	m, err := s.Put("b", key, bytes.NewReader(data), ObjectMeta{ContentType: "application/octet-stream"}, seal)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return m
}

// dataFiles lists the names in the store's data directory.
func dataFiles(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// errReader yields data, then err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}
