package objstore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	sizes := []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3<<20 + 17}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, mode := range allModes {
		for _, size := range sizes {
			t.Run(fmt.Sprintf("%v/%d", mode, size), func(t *testing.T) {
				seal := sealing(mode)
				data := pseudo(uint64(size)+uint64(mode), size)
				key := fmt.Sprintf("obj-%v-%d", mode, size)
				pm, err := s.Put("b", key, bytes.NewReader(data), ObjectMeta{
					ContentType: "text/plain", Headers: map[string]string{"Cache-Control": "no-cache"},
					UserMeta: map[string]string{"mode": "33188"},
				}, seal)
				if err != nil {
					t.Fatal(err)
				}
				m, err := s.Stat("b", key)
				if err != nil {
					t.Fatal(err)
				}
				if m.Size != int64(size) || m.ETag != md5hex(data) || m.ETag != pm.ETag || m.SSE != mode ||
					m.ContentType != "text/plain" || m.Headers["Cache-Control"] != "no-cache" ||
					m.UserMeta["mode"] != "33188" || m.PartsCount != 0 || m.LastModified.IsZero() {
					t.Fatalf("bad meta %+v", m)
				}
				if mode == SSEKMS && m.KMSKeyID != seal.KMSKeyID {
					t.Fatalf("KMSKeyID %q", m.KMSKeyID)
				}
				if mode == SSEC && m.SSECKeyMD5 == "" {
					t.Fatal("no SSECKeyMD5")
				}
				if err := s.CheckKey(m, seal.Key); err != nil {
					t.Fatal(err)
				}
				if got := readRange(t, s, m, seal.Key, 0, int64(size)); !bytes.Equal(got, data) {
					t.Fatalf("full read differs (%d bytes)", len(got))
				}
				for range 20 {
					off := rng.Int64N(int64(size) + 1)
					n := rng.Int64N(int64(size) - off + 1)
					if got := readRange(t, s, m, seal.Key, off, n); !bytes.Equal(got, data[off:off+n]) {
						t.Fatalf("range %d+%d differs", off, n)
					}
				}
				if err := readErr(s, m, seal.Key, int64(size), 1); !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("range past end: %v", err)
				}
				if err := readErr(s, m, seal.Key, -1, 1); !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("negative offset: %v", err)
				}
			})
		}
	}
}

func TestReaderByteByByte(t *testing.T) {
	s, _ := newStore(t)
	seal := sealing(SSEC)
	data := pseudo(5, 200<<10)
	m := put(t, s, "k", data, seal)
	rc, err := s.ReadRange(m, seal.Key, 1000, 150<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(struct{ io.Reader }{rc}, 1<<30)) // plain Read path
	if err != nil || !bytes.Equal(got, data[1000:1000+150<<10]) {
		t.Fatalf("read: %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	s, _ := newStore(t)
	for _, mode := range []SSEMode{SSEC, SSEKMS} {
		seal := sealing(mode)
		m := put(t, s, "k-"+mode.String(), pseudo(7, 100000), seal)
		wrong := randomBytes(32)
		if err := s.CheckKey(m, wrong); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("%v CheckKey wrong: %v", mode, err)
		}
		if err := s.CheckKey(m, seal.Key[:16]); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("%v CheckKey short: %v", mode, err)
		}
		if err := s.CheckKey(m, nil); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("%v CheckKey nil: %v", mode, err)
		}
		if _, err := s.ReadRange(m, wrong, 0, 10); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("%v ReadRange wrong: %v", mode, err)
		}
		// A meta built by the caller checks against the current version.
		if err := s.CheckKey(ObjectMeta{Bucket: "b", Key: m.Key}, wrong); !errors.Is(err, ErrWrongKey) {
			t.Fatalf("%v CheckKey caller meta: %v", mode, err)
		}
		if err := s.CheckKey(ObjectMeta{Bucket: "b", Key: m.Key}, seal.Key); err != nil {
			t.Fatal(err)
		}
	}
	m := put(t, s, "plain", []byte("x"), Sealing{})
	if err := s.CheckKey(m, randomBytes(32)); err != nil {
		t.Fatalf("plain CheckKey: %v", err)
	}
	if _, err := s.Put("b", "bad", bytes.NewReader(nil), ObjectMeta{}, Sealing{Mode: SSEC, Key: []byte("short")}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("short key Put: %v", err)
	}
}

func TestOverwriteDelete(t *testing.T) {
	s, dir := newStore(t)
	seal := sealing(SSEC)
	v1 := pseudo(1, 300<<10)
	m1 := put(t, s, "k", v1, seal)
	r1, err := s.ReadRange(m1, seal.Key, 0, m1.Size) // opened before the overwrite
	if err != nil {
		t.Fatal(err)
	}
	v2 := pseudo(2, 100<<10)
	m2 := put(t, s, "k", v2, sealing(SSEKMS))
	if n := len(dataFiles(t, dir)); n != 1 {
		t.Fatalf("%d data files after overwrite, want 1", n)
	}
	got, err := io.ReadAll(r1)
	r1.Close()
	if err != nil || !bytes.Equal(got, v1) {
		t.Fatalf("reader opened before overwrite: %v", err)
	}
	if _, err := s.ReadRange(m1, seal.Key, 0, 1); !errors.Is(err, ErrObjectChanged) {
		t.Fatalf("stale meta: %v", err)
	}
	if err := s.Delete("b", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat("b", "k"); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("Stat after delete: %v", err)
	}
	if _, err := s.ReadRange(m2, nil, 0, 1); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("ReadRange after delete: %v", err)
	}
	if err := s.Delete("b", "k"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := s.Delete("nob", "k"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("delete in missing bucket: %v", err)
	}
	if _, err := s.Stat("nob", "k"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("stat in missing bucket: %v", err)
	}
	if n := len(dataFiles(t, dir)); n != 0 {
		t.Fatalf("%d data files after delete", n)
	}
}

func TestBodyErrorCommitsNothing(t *testing.T) {
	s, dir := newStore(t)
	old := put(t, s, "k", []byte("old content"), Sealing{})
	for _, mode := range allModes {
		for _, bodyErr := range []error{errors.New("signature mismatch"), io.ErrUnexpectedEOF} {
			body := &errReader{data: pseudo(3, 200<<10), err: bodyErr}
			_, err := s.Put("b", "k", body, ObjectMeta{}, sealing(mode))
			if err != bodyErr {
				t.Fatalf("%v: Put error %v, want %v unchanged", mode, err, bodyErr)
			}
			_, err = s.Put("b", "new", &errReader{err: bodyErr}, ObjectMeta{}, sealing(mode))
			if err != bodyErr {
				t.Fatalf("%v: empty body error %v", mode, err)
			}
		}
	}
	m, err := s.Stat("b", "k")
	if err != nil || m.ETag != old.ETag {
		t.Fatalf("old object changed: %v %+v", err, m)
	}
	if _, err := s.Stat("b", "new"); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("failed Put committed: %v", err)
	}
	if n := len(dataFiles(t, dir)); n != 1 {
		t.Fatalf("%d data files, want 1", n)
	}
	if _, err := s.Put("nob", "k", bytes.NewReader(nil), ObjectMeta{}, Sealing{}); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("Put to missing bucket: %v", err)
	}
}

func TestConcurrentPuts(t *testing.T) {
	s, dir := newStore(t)
	const writers = 4
	seals := make([]Sealing, writers)
	datas := make([][]byte, writers)
	byETag := map[string]int{}
	for i := range writers {
		seals[i] = sealing(allModes[i%3])
		datas[i] = pseudo(uint64(i+10), 100<<10+i*7000)
		byETag[md5hex(datas[i])] = i
	}
	put(t, s, "k", datas[0], seals[0])
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range writers {
		wg.Go(func() {
			for range 5 {
				if _, err := s.Put("b", "k", bytes.NewReader(datas[i]), ObjectMeta{}, seals[i]); err != nil {
					errs <- err
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 30 {
				m, err := s.Stat("b", "k")
				if err != nil {
					errs <- err
					return
				}
				i := byETag[m.ETag]
				rc, err := s.ReadRange(m, seals[i].Key, 0, m.Size)
				if errors.Is(err, ErrObjectChanged) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, datas[i]) {
					errs <- fmt.Errorf("mixed read of version %d: %v", i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(dataFiles(t, dir)); n != 1 {
		t.Fatalf("%d data files after concurrent puts", n)
	}
}

func TestChunksDecryptedPerRange(t *testing.T) {
	s, _ := newStore(t)
	seal := sealing(SSEC)
	data := pseudo(9, 8<<20)
	m := put(t, s, "k", data, seal)
	for _, off := range []int64{0, 12345, 3<<20 + 1, 7 << 20} {
		for _, byRead := range []bool{false, true} {
			before := s.ChunksDecrypted()
			if err := readErr(s, m, seal.Key, off, 1<<20, byRead); err != nil {
				t.Fatal(err)
			}
			if n := s.ChunksDecrypted() - before; n > (1<<20)/(64<<10)+2 {
				t.Fatalf("1 MiB range at %d (Read: %v) decrypted %d chunks", off, byRead, n)
			}
		}
		if got := readRange(t, s, m, seal.Key, off, 1<<20); !bytes.Equal(got, data[off:off+1<<20]) {
			t.Fatal("range differs")
		}
	}
	for _, byRead := range []bool{false, true} {
		before := s.ChunksDecrypted()
		if err := readErr(s, m, seal.Key, 5<<20+100, 10, byRead); err != nil {
			t.Fatal(err)
		}
		if n := s.ChunksDecrypted() - before; n != 1 {
			t.Fatalf("10-byte range decrypted %d chunks", n)
		}
	}
}

func TestDataFilesNamesTheObjectsSegments(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Put("b", "k", strings.NewReader("hello"), ObjectMeta{}, Sealing{}); err != nil {
		t.Fatal(err)
	}
	paths, err := s.DataFiles("b", "k")
	if err != nil || len(paths) != 1 {
		t.Fatalf("DataFiles = %v, %v; want one file", paths, err)
	}
	if got, err := os.ReadFile(paths[0]); err != nil || string(got) != "hello" {
		t.Fatalf("the named file holds %q, %v; want the unencrypted object's bytes", got, err)
	}
	if _, err := s.DataFiles("b", "missing"); !errors.Is(err, ErrNoSuchKey) {
		t.Fatalf("DataFiles of a missing key: %v", err)
	}
}
