package testenv

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"maps"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// testSecrets are 20 keys in every encoding, a marker and a short string.
func testSecrets(t testing.TB) Secrets {
	s := Secrets{"marker": []byte("SSEFS-PLAINTEXT-" + fmt.Sprintf("%x", randBytes(t, 12))), "short": []byte("tiny-secret")}
	for i := range 20 {
		for k, v := range KeySecrets(fmt.Sprintf("key%d", i), randBytes(t, 32)) {
			s[k] = v
		}
	}
	return s
}

// TestMatcherFindsWhatContainsFinds: at every offset, alone, at the edges
// and side by side, the one-pass matcher reports exactly what
// bytes.Contains reports for each secret.
func TestMatcherFindsWhatContainsFinds(t *testing.T) {
	s := testSecrets(t)
	m := newMatcher(s)
	names := make([]string, 0, len(s))
	for k := range s {
		names = append(names, k)
	}
	slices.Sort(names)
	want := func(data []byte) []string {
		var out []string
		for _, k := range names {
			if bytes.Contains(data, s[k]) {
				out = append(out, k)
			}
		}
		return out
	}
	if got := m.find(randBytes(t, 1<<20)); len(got) != 0 {
		t.Fatalf("found %v in random data", got)
	}
	for i := range 2000 {
		data := randBytes(t, 100+mrand.IntN(4000))
		for range 1 + mrand.IntN(3) {
			p := s[names[mrand.IntN(len(names))]]
			if len(p) > len(data) {
				continue
			}
			off := mrand.IntN(len(data) - len(p) + 1)
			switch i % 5 {
			case 0:
				off = 0
			case 1:
				off = len(data) - len(p)
			}
			copy(data[off:], p)
		}
		if got, exp := m.find(data), want(data); !slices.Equal(got, exp) {
			t.Fatalf("round %d: found %v, want %v", i, got, exp)
		}
	}
}

// TestScanReaderAcrossChunks: a secret that straddles the boundary of the
// 4 MiB chunks a file is read in is found.
func TestScanReaderAcrossChunks(t *testing.T) {
	s := testSecrets(t)
	m := newMatcher(s)
	for _, name := range []string{"key3 hex", "key7 raw", "marker", "short"} {
		p := s[name]
		for _, delta := range []int{-len(p), -len(p) / 2, -1, 0, 1} {
			data := randBytes(t, 9<<20)
			off := 4<<20 + delta
			copy(data[off:], p)
			found, n, err := m.scanReader(bytes.NewReader(data))
			if err != nil || n != int64(len(data)) || !slices.Contains(found, name) {
				t.Fatalf("%s at %d: found %v, read %d, %v", name, off, found, n, err)
			}
		}
	}
}

// TestScanTreeSkipsAndFinds: the tree scan reads files written since the
// cut-off, skips what it is told to, and names the file and the secret.
func TestScanTreeSkipsAndFinds(t *testing.T) {
	s := testSecrets(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("clean.log", randBytes(t, 1000))
	leak := append([]byte("level=DEBUG msg=x key="), s["key2 base64"]...)
	write("sub/leak.log", leak)
	skipped := write("key.file", s["key4 raw"])
	old := write("old.log", s["key5 hex"])
	since := time.Now().Add(-time.Minute)
	os.Chtimes(old, since.Add(-time.Hour), since.Add(-time.Hour))
	leaks, files, _ := ScanTree(dir, since, map[string]bool{skipped: true}, s)
	// Every form the leaked text contains: base64 unpadded always, and
	// base64url too when the random key's encoding has no + or /.
	var want []string
	for _, name := range slices.Sorted(maps.Keys(s)) {
		if bytes.Contains(leak, s[name]) {
			want = append(want, filepath.Join(dir, "sub/leak.log")+": "+name)
		}
	}
	slices.Sort(leaks)
	if files != 2 || !slices.Equal(leaks, want) {
		t.Fatalf("scanned %d files, leaks %v; want 2 files and %v", files, leaks, want)
	}
}

func BenchmarkMatcher(b *testing.B) {
	s := testSecrets(b)
	delete(s, "short")
	m := newMatcher(s)
	data := randBytes(b, 32<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m.find(data)
	}
}

// TestScanTreeEnds: with ends set, a large file is read at its first and
// last bytes only, and what lies there is found.
func TestScanTreeEnds(t *testing.T) {
	s := testSecrets(t)
	dir := t.TempDir()
	data := randBytes(t, 10<<20)
	copy(data[100:], s["key1 hex"])
	copy(data[5<<20:], s["key2 raw"])
	copy(data[len(data)-50:], s["marker"])
	if err := os.WriteFile(filepath.Join(dir, "part"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	leaks, files, n := newMatcher(s).scanTree(dir, time.Time{}, func(string) bool { return false }, 1<<20)
	p := filepath.Join(dir, "part")
	want := []string{p + ": key1 hex", p + ": marker"}
	if files != 1 || n != 2<<20 || !slices.Equal(leaks, want) {
		t.Fatalf("%d files, %d bytes, leaks %v; want 1 file, %d bytes, %v", files, n, leaks, 2<<20, want)
	}
}
