package objstore

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// tamperSetup stores a sealed object of 4.5 chunks and returns it with the
// path of its only data file.
func tamperSetup(t *testing.T) (*Store, ObjectMeta, Sealing, []byte, string) {
	s, dir := newStore(t)
	seal := sealing(SSEC)
	data := pseudo(21, 4*chunkSize+chunkSize/2)
	m := put(t, s, "k", data, seal)
	files := dataFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("data files %v", files)
	}
	return s, m, seal, data, filepath.Join(dir, "data", files[0])
}

func rewrite(t *testing.T, path string, f func([]byte) []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, f(b), 0o600); err != nil {
		t.Fatal(err)
	}
}

func wantCorrupt(t *testing.T, s *Store, m ObjectMeta, key []byte, off, n int64) {
	t.Helper()
	for _, byRead := range []bool{false, true} {
		err := readErr(s, m, key, off, n, byRead)
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("range %d+%d of tampered object (Read: %v): %v, want ErrCorrupt", off, n, byRead, err)
		}
	}
}

func TestTamperFlipByte(t *testing.T) {
	s, m, seal, data, path := tamperSetup(t)
	rewrite(t, path, func(b []byte) []byte { b[sealedChunkSize+100] ^= 1; return b })
	wantCorrupt(t, s, m, seal.Key, 0, m.Size)
	wantCorrupt(t, s, m, seal.Key, chunkSize+5, 10)
	// Untouched chunks still read.
	if got := readRange(t, s, m, seal.Key, 2*chunkSize, 100); !bytes.Equal(got, data[2*chunkSize:2*chunkSize+100]) {
		t.Fatal("untouched chunk differs")
	}
	// A flipped tag byte too.
	rewrite(t, path, func(b []byte) []byte { b[sealedChunkSize+100] ^= 1; b[len(b)-1] ^= 0x80; return b })
	wantCorrupt(t, s, m, seal.Key, m.Size-1, 1)
}

func TestTamperSwapChunks(t *testing.T) {
	s, m, seal, _, path := tamperSetup(t)
	rewrite(t, path, func(b []byte) []byte {
		c0 := bytes.Clone(b[:sealedChunkSize])
		copy(b, b[sealedChunkSize:2*sealedChunkSize])
		copy(b[sealedChunkSize:], c0)
		return b
	})
	wantCorrupt(t, s, m, seal.Key, 0, 10)
	wantCorrupt(t, s, m, seal.Key, chunkSize, 10)
}

func TestTamperTruncate(t *testing.T) {
	for _, cut := range []int{1, tagSize + chunkSize/2, 4 * sealedChunkSize} {
		s, m, seal, _, path := tamperSetup(t)
		rewrite(t, path, func(b []byte) []byte { return b[:len(b)-cut] })
		wantCorrupt(t, s, m, seal.Key, 0, m.Size)
		wantCorrupt(t, s, m, seal.Key, 0, 1)
	}
	// Unencrypted data cannot be authenticated, but a short file is noticed.
	s, dir := newStore(t)
	m := put(t, s, "p", pseudo(3, 1000), Sealing{})
	rewrite(t, filepath.Join(dir, "data", dataFiles(t, dir)[0]), func(b []byte) []byte { return b[:500] })
	wantCorrupt(t, s, m, nil, 0, 10)
}

// Sealed segments are bound to their identity: a part's file copied over
// another part's (same size, same data key) does not decrypt.
func TestTamperSwapSegments(t *testing.T) {
	s, dir := newStore(t)
	seal := sealing(SSEKMS)
	up, err := s.CreateUpload("b", "k", ObjectMeta{}, seal)
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := pseudo(1, MinPartSize), pseudo(2, MinPartSize)
	if _, err := s.PutPart(up.UploadID, 1, bytes.NewReader(p1), seal.Key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPart(up.UploadID, 2, bytes.NewReader(p2), seal.Key); err != nil {
		t.Fatal(err)
	}
	m, err := s.Complete(up.UploadID, []CompletePart{{1, md5hex(p1)}, {2, md5hex(p2)}}, seal.Key)
	if err != nil {
		t.Fatal(err)
	}
	var rec *objRecord
	if err := s.db.View(func(tx *bolt.Tx) error {
		rec, err = getObject(tx, "b", "k")
		return err
	}); err != nil || len(rec.Segments) != 2 {
		t.Fatalf("record: %v", err)
	}
	seg1 := filepath.Join(dir, "data", rec.Segments[0].ID)
	seg2 := filepath.Join(dir, "data", rec.Segments[1].ID)
	b1, _ := os.ReadFile(seg1)
	if err := os.WriteFile(seg2, b1, 0o600); err != nil {
		t.Fatal(err)
	}
	wantCorrupt(t, s, m, seal.Key, MinPartSize, 10)
	if got := readRange(t, s, m, seal.Key, 0, 10); !bytes.Equal(got, p1[:10]) {
		t.Fatal("part 1 differs")
	}
}

func TestFinalFlagBound(t *testing.T) {
	aead, err := newGCM(randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	var id [idSize]byte
	copy(id[:], randomBytes(idSize))
	cc := newChunkCipher(aead, id)
	sealed, err := cc.seal(nil, []byte("hello"), 3, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.open(bytes.Clone(sealed), 3, true); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("non-final chunk opened as final: %v", err)
	}
	if _, err := cc.open(bytes.Clone(sealed), 4, false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("chunk opened at another index: %v", err)
	}
	copy(id[:], randomBytes(idSize))
	if _, err := newChunkCipher(aead, id).open(bytes.Clone(sealed), 3, false); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("chunk opened in another segment: %v", err)
	}
	if p, err := cc.open(sealed, 3, false); err != nil || string(p) != "hello" {
		t.Fatalf("open: %q %v", p, err)
	}
}
