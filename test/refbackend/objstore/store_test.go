package objstore

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	s, _ := newStore(t)
	if err := s.CreateBucket("b"); !errors.Is(err, ErrBucketExists) {
		t.Fatalf("duplicate bucket: %v", err)
	}
	for _, n := range []string{"zeta", "alpha", "mid"} {
		if err := s.CreateBucket(n); err != nil {
			t.Fatal(err)
		}
	}
	bs, err := s.ListBuckets()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range bs {
		names = append(names, b.Name)
		if b.Created.IsZero() {
			t.Fatal("zero creation time")
		}
	}
	if !slices.Equal(names, []string{"alpha", "b", "mid", "zeta"}) {
		t.Fatalf("ListBuckets: %v", names)
	}
	if _, err := s.HeadBucket("nope"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("HeadBucket missing: %v", err)
	}
	if info, err := s.HeadBucket("mid"); err != nil || info.Name != "mid" {
		t.Fatalf("HeadBucket: %v %+v", err, info)
	}
	put(t, s, "x", []byte("x"), Sealing{})
	if err := s.DeleteBucket("b"); !errors.Is(err, ErrBucketNotEmpty) {
		t.Fatalf("delete non-empty: %v", err)
	}
	if _, err := s.CreateUpload("mid", "k", ObjectMeta{}, Sealing{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket("mid"); !errors.Is(err, ErrBucketNotEmpty) {
		t.Fatalf("delete with upload: %v", err)
	}
	if err := s.DeleteBucket("nope"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("delete missing: %v", err)
	}
	if err := s.DeleteBucket("zeta"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HeadBucket("zeta"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("deleted bucket still there: %v", err)
	}

	if x, err := s.GetBucketReplication("alpha"); x != nil || err != nil {
		t.Fatalf("no replication: %q %v", x, err)
	}
	xml := []byte("<ReplicationConfiguration/>")
	if err := s.PutBucketReplication("alpha", xml); err != nil {
		t.Fatal(err)
	}
	if x, err := s.GetBucketReplication("alpha"); string(x) != string(xml) || err != nil {
		t.Fatalf("replication: %q %v", x, err)
	}
	if err := s.PutBucketReplication("nope", xml); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("replication on missing bucket: %v", err)
	}
	if _, err := s.GetBucketReplication("nope"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("replication of missing bucket: %v", err)
	}
}

func TestList(t *testing.T) {
	defer func(n int) { listBatch = n }(listBatch)
	listBatch = 3 // exercise the batching
	s, _ := newStore(t)
	keys := []string{"a", "a/", "a/b", "a/c", "a0", "b", "b/x", "c\xff", "dir/1", "dir/2", "dir/3", "dir/4", "e"}
	for i, k := range slices.Backward(keys) {
		put(t, s, k, []byte(k), []Sealing{{}, sealing(SSEC), sealing(SSEKMS)}[i%3])
	}
	list := func(prefix, after string, want, limit int) []string {
		var out []string
		err := s.List("b", prefix, after, want, func(m ObjectMeta) bool {
			if m.Size != int64(len(m.Key)) || m.ETag != md5hex([]byte(m.Key)) {
				t.Errorf("bad listed meta %+v", m)
			}
			out = append(out, m.Key)
			return len(out) < limit
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cases := []struct {
		prefix, after string
		limit         int
		want          []string
	}{
		{"", "", 100, keys},
		{"", "", 4, keys[:4]},
		{"", "a0", 100, keys[5:]},
		{"", "a00", 100, keys[5:]},
		{"a/", "", 100, []string{"a/", "a/b", "a/c"}},
		{"a/", "a/", 100, []string{"a/b", "a/c"}},
		{"dir/", "a", 100, []string{"dir/1", "dir/2", "dir/3", "dir/4"}},
		{"dir/", "dir/2", 100, []string{"dir/3", "dir/4"}},
		{"dir/", "e", 100, nil},
		{"zz", "", 100, nil},
		{"c", "", 100, []string{"c\xff"}},
	}
	for _, c := range cases {
		// However many entries the caller says it wants, it gets all it
		// takes: the first read is cut short, not the listing.
		for _, want := range []int{0, 1, 2, 5, 1000} {
			if got := list(c.prefix, c.after, want, c.limit); !slices.Equal(got, c.want) {
				t.Errorf("List(%q, %q, want %d) taking %d = %q, want %q", c.prefix, c.after, want, c.limit, got, c.want)
			}
		}
	}
	var sse []string
	s.List("b", "dir/", "", 0, func(m ObjectMeta) bool {
		sse = append(sse, m.SSE.String())
		return true
	})
	if strings.Join(sse, ",") == "none,none,none,none" {
		t.Fatal("listing lost SSE modes")
	}
	if err := s.List("nope", "", "", 0, func(ObjectMeta) bool { return true }); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("List missing bucket: %v", err)
	}
}

// A meta returned by List reads like one returned by Stat.
func TestListMetaReads(t *testing.T) {
	s, _ := newStore(t)
	seal := sealing(SSEC)
	data := pseudo(4, 70000)
	put(t, s, "k", data, seal)
	var m ObjectMeta
	s.List("b", "", "", 1, func(x ObjectMeta) bool { m = x; return false })
	if err := s.CheckKey(m, seal.Key); err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, s, m, seal.Key, 10, 65536); string(got) != string(data[10:10+65536]) {
		t.Fatal("range differs")
	}
}

func TestCrashLeftovers(t *testing.T) {
	s, dir := newStore(t)
	seal := sealing(SSEC)
	data := pseudo(8, 150<<10)
	put(t, s, "k", data, seal)
	up, err := s.CreateUpload("b", "mp", ObjectMeta{}, Sealing{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPart(up.UploadID, 1, strings.NewReader("part one"), nil); err != nil {
		t.Fatal(err)
	}
	keep := dataFiles(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What a kill -9 can leave: a half-written temp file, and a renamed
	// data file whose metadata commit never happened (or an old version
	// whose removal after the commit never happened).
	dd := filepath.Join(dir, "data")
	for name, body := range map[string]string{
		tmpPrefix + "123456":               "half written",
		"0123456789abcdef0123456789abcdef": "orphan data file",
		tmpPrefix + "dir":                  "",
	} {
		p := filepath.Join(dd, name)
		var err error
		if body == "" {
			err = os.Mkdir(p, 0o700)
		} else {
			err = os.WriteFile(p, []byte(body), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if got := dataFiles(t, dir); !slices.Equal(got, keep) {
		t.Fatalf("after reopen data files %v, want %v", got, keep)
	}
	m, err := s2.Stat("b", "k")
	if err != nil {
		t.Fatal(err)
	}
	if got := readRange(t, s2, m, seal.Key, 0, m.Size); string(got) != string(data) {
		t.Fatal("object damaged by recovery")
	}
	if ps, err := s2.ListParts(up.UploadID); err != nil || len(ps) != 1 {
		t.Fatalf("upload damaged by recovery: %v %v", err, ps)
	}
}

func TestOpenTwiceFails(t *testing.T) {
	defer func(d time.Duration) { lockTimeout = d }(lockTimeout)
	lockTimeout = 50 * time.Millisecond
	_, dir := newStore(t)
	if s2, err := Open(dir); err == nil {
		s2.Close()
		t.Fatal("second Open of a live store succeeded")
	}
}
