package objcache

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// rawBytes returns everything on disk that staging could have written: the
// files in dir and the backing files of the given (unlinked) staged files.
func rawBytes(t *testing.T, dir string, files ...*StagedFile) [][]byte {
	t.Helper()
	var out [][]byte
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	for _, sf := range files {
		st, err := sf.f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, st.Size())
		if _, err := sf.f.ReadAt(b, 0); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func containsMarker(blobs [][]byte, marker []byte) bool {
	for _, b := range blobs {
		if bytes.Contains(b, marker) {
			return true
		}
	}
	return false
}

func TestStagingNeverStoresPlaintext(t *testing.T) {
	dir := t.TempDir()
	st, err := NewStaging(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := st.NewFile()
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	marker := []byte("SSEFS-PLAINTEXT-MARKER-7f3a9c")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		off := rng.Int64N(1 << 20)
		if _, err := sf.WriteAt(marker, off); err != nil {
			t.Fatal(err)
		}
	}
	// Rewrite the same spot many times: each rewrite gets a fresh nonce.
	for range 20 {
		if _, err := sf.WriteAt(marker, 100); err != nil {
			t.Fatal(err)
		}
	}
	if containsMarker(rawBytes(t, dir, sf), marker) {
		t.Fatal("staged plaintext marker found on disk")
	}
	// Control: the same scan does see an unencrypted copy, so it can fail.
	if err := os.WriteFile(filepath.Join(dir, "control"), append([]byte("xx"), marker...), 0o600); err != nil {
		t.Fatal(err)
	}
	if !containsMarker(rawBytes(t, dir, sf), marker) {
		t.Fatal("control: scan does not find a plaintext marker")
	}
	// The backing file is not left in dir.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("dir holds %d entries, want only the control", len(ents))
	}
}

func TestStagingLimit(t *testing.T) {
	st, err := NewStaging(t.TempDir(), 3*stagingBlock)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := st.NewFile()
	b, _ := st.NewFile()
	defer b.Close()
	data := bytes.Repeat([]byte{'a'}, 2*stagingBlock)
	if _, err := a.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteAt([]byte("b"), 0); err != nil {
		t.Fatal(err)
	}
	// Overwriting allocated blocks needs no space.
	if _, err := a.WriteAt([]byte("A"), 10); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteAt([]byte("more"), stagingBlock); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("write past limit: %v, want ErrNoSpace", err)
	}
	// A straddling write that needs one allocated and one new block fails whole.
	if _, err := a.WriteAt([]byte("xyz"), 2*stagingBlock-1); !errors.Is(err, ErrNoSpace) {
		t.Fatalf("straddling write: %v, want ErrNoSpace", err)
	}
	got := make([]byte, 2*stagingBlock)
	if _, err := a.ReadAt(got, 0); err != nil {
		t.Fatal(err)
	}
	data[10] = 'A'
	if !bytes.Equal(got, data) {
		t.Fatal("data changed by a failed write")
	}
	// Space comes back on Close and on shrinking.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.WriteAt([]byte("more"), stagingBlock); err != nil {
		t.Fatalf("after close: %v", err)
	}
	if err := b.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if st.Used() != 0 {
		t.Fatalf("used %d after truncate to 0", st.Used())
	}
}

func TestStagingModel(t *testing.T) {
	st, err := NewStaging(t.TempDir(), 0)
	if err != nil {
		t.Fatal(err)
	}
	sf, err := st.NewFile()
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	var model []byte
	rng := rand.New(rand.NewPCG(3, 4))
	const span = 5 * stagingBlock
	for i := range 400 {
		switch rng.IntN(5) {
		case 0: // truncate
			size := rng.Int64N(span)
			if err := sf.Truncate(size); err != nil {
				t.Fatal(err)
			}
			if size <= int64(len(model)) {
				model = model[:size]
			} else {
				model = append(model, make([]byte, size-int64(len(model)))...)
			}
		default: // write
			off := rng.Int64N(span)
			p := make([]byte, rng.IntN(2*stagingBlock)+1)
			for j := range p {
				p[j] = byte(rng.IntN(255) + 1)
			}
			if n, err := sf.WriteAt(p, off); err != nil || n != len(p) {
				t.Fatalf("write: %d %v", n, err)
			}
			if end := off + int64(len(p)); end > int64(len(model)) {
				model = append(model, make([]byte, end-int64(len(model)))...)
			}
			copy(model[off:], p)
		}
		if sf.Size() != int64(len(model)) {
			t.Fatalf("step %d: size %d, model %d", i, sf.Size(), len(model))
		}
		if i%20 == 0 {
			got, err := io.ReadAll(sf.NewReader())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, model) {
				t.Fatalf("step %d: content differs from model", i)
			}
		}
		// A random ReadAt, possibly past the end.
		off := rng.Int64N(span + 10)
		buf := make([]byte, rng.IntN(3*stagingBlock)+1)
		n, err := sf.ReadAt(buf, off)
		want := []byte{}
		if off < int64(len(model)) {
			want = model[off:min(int64(len(model)), off+int64(len(buf)))]
		}
		if n != len(want) || !bytes.Equal(buf[:n], want) {
			t.Fatalf("step %d: ReadAt(%d, %d) = %d bytes, want %d", i, len(buf), off, n, len(want))
		}
		if n < len(buf) && err != io.EOF {
			t.Fatalf("short read without EOF: %v", err)
		}
	}
}
