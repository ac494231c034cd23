package fs

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

// testMount is a live FUSE mount of a Root over a membucket.
type testMount struct {
	t    *testing.T
	b    *membucket.Bucket
	root *Root
	dir  string // the mountpoint
	log  *syncBuffer
}

// syncBuffer collects log output safely from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// mountTest mounts a fresh bucket in a temp dir and unmounts it when the
// test ends. tweak may adjust the options.
func mountTest(t *testing.T, tweak func(*Options)) *testMount {
	t.Helper()
	return mountTestOver(t, nil, tweak)
}

// mountTestOver is mountTest with the bucket seen by the filesystem
// wrapped by wrap (nil: the bucket itself), e.g. to watch its calls.
func mountTestOver(t *testing.T, wrap func(*membucket.Bucket) objcache.Bucket, tweak func(*Options)) *testMount {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skip("no /dev/fuse")
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		if _, err := exec.LookPath("fusermount"); err != nil {
			t.Skip("fusermount3 not installed")
		}
	}
	tmp := t.TempDir()
	mnt := filepath.Join(tmp, "mnt")
	stageDir := filepath.Join(tmp, "staging")
	for _, d := range []string{mnt, stageDir} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	st, err := objcache.NewStaging(stageDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	opts := Options{
		UID: 4321, GID: 8765,
		DirMode: 0o755, FileMode: 0o644,
		AttrTTL: time.Second,
		Staging: st,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if tweak != nil {
		tweak(&opts)
	}
	b := membucket.New()
	var fb objcache.Bucket = b
	if wrap != nil {
		fb = wrap(b)
	}
	root := NewRoot(fb, opts).(*Root)
	srv, err := root.Mount(mnt, fuse.MountOptions{})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		srv.Wait()
	})
	return &testMount{t: t, b: b, root: root, dir: mnt, log: logs}
}

// p returns the path of rel inside the mount.
func (m *testMount) p(rel string) string { return filepath.Join(m.dir, rel) }

// sh runs a shell command in the mountpoint and returns its output.
func (m *testMount) sh(script string) string {
	m.t.Helper()
	// The shell changes into the mount itself: a forked child must never
	// touch the mount before exec, because Go's vfork parks the thread the
	// FUSE server may need for a GC stop-the-world.
	cmd := exec.Command("sh", "-c", `cd "$1" && shift && eval "$1"`, "sh", m.dir, script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		m.t.Fatalf("%s: %v\n%s", script, err, out)
	}
	return string(out)
}

// object returns an object's content and info, failing if it is missing.
func (m *testMount) object(key string) ([]byte, objcache.ObjectInfo) {
	m.t.Helper()
	data, info, ok := m.b.Object(key)
	if !ok {
		m.t.Fatalf("object %q missing; keys: %v", key, m.b.Keys())
	}
	return data, info
}

// wantMeta checks metadata values of an object.
func (m *testMount) wantMeta(key string, want map[string]string) {
	m.t.Helper()
	_, info := m.object(key)
	for k, v := range want {
		if got := info.Metadata[k]; got != v {
			m.t.Errorf("%s: metadata %s = %q, want %q (all: %v)", key, k, got, v, info.Metadata)
		}
	}
}

// wantKeys checks the exact set of keys under prefix.
func (m *testMount) wantKeys(prefix string, want ...string) {
	m.t.Helper()
	var got []string
	for _, k := range m.b.Keys() {
		if strings.HasPrefix(k, prefix) {
			got = append(got, k)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		m.t.Errorf("keys under %q:\n got %v\nwant %v", prefix, got, want)
	}
}
