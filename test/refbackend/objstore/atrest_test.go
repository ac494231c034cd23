package objstore

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storedFiles returns the content of every file under dir.
func storedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		out[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// markedData is size bytes of random data with marker repeated in it.
func markedData(marker string, size int) []byte {
	b := randomBytes(size)
	for i := 100; i+len(marker) < size; i += 10000 {
		copy(b[i:], marker)
	}
	return b
}

func TestNoPlaintextAtRest(t *testing.T) {
	marker := "SSEFS-MARKER-" + hex.EncodeToString(randomBytes(12))
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			s, dir := newStore(t)
			seal := sealing(mode)
			var firsts [][]byte
			single := markedData(marker, 200<<10)
			put(t, s, "single", single, seal)
			tiny := markedData(marker, len(marker)+200)
			put(t, s, "tiny", tiny, seal)
			firsts = append(firsts, single[:64], tiny[:64])
			// A completed multipart object and one still in progress.
			for _, key := range []string{"done", "pending"} {
				up, err := s.CreateUpload("b", key, ObjectMeta{}, seal)
				if err != nil {
					t.Fatal(err)
				}
				p1, p2 := markedData(marker, MinPartSize), markedData(marker, 70000)
				firsts = append(firsts, p1[:64], p2[:64])
				for n, p := range [][]byte{p1, p2} {
					if _, err := s.PutPart(up.UploadID, n+1, bytes.NewReader(p), seal.Key); err != nil {
						t.Fatal(err)
					}
				}
				if key == "done" {
					if _, err := s.Complete(up.UploadID, []CompletePart{{1, md5hex(p1)}, {2, md5hex(p2)}}, seal.Key); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			files := storedFiles(t, dir)
			if len(files) < 4 {
				t.Fatalf("only %d files stored", len(files))
			}
			all := [][]byte{}
			for _, b := range files {
				all = append(all, b)
			}
			contains := func(needle []byte) string {
				for p, b := range files {
					if bytes.Contains(b, needle) {
						return p
					}
				}
				return ""
			}
			if mode == SSENone {
				if contains([]byte(marker)) == "" {
					t.Fatal("marker not found for an unencrypted object: the scan is broken")
				}
				return
			}
			needles := map[string][]byte{"marker": []byte(marker)}
			for i, f := range firsts {
				needles["first 64 bytes #"+string(rune('0'+i))] = f
			}
			k := seal.Key
			needles["raw key"] = k
			needles["base64 key"] = []byte(base64.StdEncoding.EncodeToString(k))
			needles["base64url key"] = []byte(base64.RawURLEncoding.EncodeToString(k))
			needles["hex key"] = []byte(hex.EncodeToString(k))
			needles["HEX key"] = []byte(strings.ToUpper(hex.EncodeToString(k)))
			for what, n := range needles {
				if p := contains(n); p != "" {
					t.Errorf("%s found in %s", what, p)
				}
			}
		})
	}
}
