package fs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/ssefs/ssefs/objcache/membucket"
)

// Renames and unlinks of files that are open, above all while they are
// being written, in both configurations (plain: everything staged;
// cached: the daemon's block cache, pending creates and streaming
// multipart uploads with 5 MiB parts). Each scenario runs the same
// syscalls on a local directory and on the mount, and the server must end
// with what the local filesystem holds.

type mountConfig struct {
	name  string
	mount func(t *testing.T) *testMount
}

var bothConfigs = []mountConfig{
	{"plain", func(t *testing.T) *testMount { return mountTest(t, nil) }},
	{"cached", func(t *testing.T) *testMount { return mountCached(t, 0) }},
}

// sameAsLocal runs fn on a local temp dir (m nil) and on a mount of each
// configuration, then compares the server's end state with the local
// tree.
func sameAsLocal(t *testing.T, fn func(t *testing.T, root string, m *testMount)) {
	for _, c := range bothConfigs {
		t.Run(c.name, func(t *testing.T) {
			local := t.TempDir()
			fn(t, local, nil)
			m := c.mount(t)
			fn(t, m.dir, m)
			m.wantTree(localTree(t, local))
		})
	}
}

// tree is the content of a file tree: files by path, and directories.
type tree struct {
	files map[string][]byte
	dirs  []string
}

func localTree(t *testing.T, root string) tree {
	t.Helper()
	tr := tree{files: map[string][]byte{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			tr.dirs = append(tr.dirs, rel)
			return nil
		}
		data, err := os.ReadFile(p)
		tr.files[rel] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tr.dirs)
	return tr
}

// wantTree checks the server's objects against a local tree: the same
// files with the same content, and the same directories (markers or
// prefixes of other keys).
func (m *testMount) wantTree(want tree) {
	m.t.Helper()
	files := map[string][]byte{}
	dirSet := map[string]bool{}
	for _, k := range m.b.Keys() {
		if d, ok := strings.CutSuffix(k, "/"); ok {
			dirSet[d] = true
			continue
		}
		data, _, _ := m.b.Object(k)
		files[k] = data
		for d := path.Dir(k); d != "."; d = path.Dir(d) {
			dirSet[d] = true
		}
	}
	for k, data := range files {
		w, ok := want.files[k]
		switch {
		case !ok:
			m.t.Errorf("server has %q (%d bytes), the local fs has no such file", k, len(data))
		case !bytes.Equal(w, data):
			m.t.Errorf("%q: server has %d bytes, local %d bytes, content equal: false", k, len(data), len(w))
		}
	}
	for k := range want.files {
		if _, ok := files[k]; !ok {
			m.t.Errorf("server lacks %q; keys: %v", k, m.b.Keys())
		}
	}
	dirs := slices.Sorted(func(yield func(string) bool) {
		for d := range dirSet {
			if !yield(d) {
				return
			}
		}
	})
	if !slices.Equal(dirs, want.dirs) {
		m.t.Errorf("directories: server %v, local %v", dirs, want.dirs)
	}
	if n := m.b.OpenUploads(); n != 0 {
		m.t.Errorf("%d multipart uploads left open", n)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestRenameWhileWriting(t *testing.T) {
	for _, tc := range []struct {
		name     string
		to       string
		chunk    int
		before   int // bytes written before the rename
		after    int // and after
		mkdirDst bool
	}{
		{"same-dir-small", "b", 1000, 3000, 5000, false},
		{"other-dir-small", "d/b", 1000, 3000, 5000, true},
		{"same-dir-streaming", "b", 1 << 20, 7 << 20, 6 << 20, false},
		{"other-dir-streaming", "d/b", 1 << 20, 7 << 20, 6 << 20, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.before+tc.after, 11)
			sameAsLocal(t, func(t *testing.T, root string, m *testMount) {
				if tc.mkdirDst {
					must(t, os.Mkdir(filepath.Join(root, "d"), 0o755))
				}
				f, err := os.Create(filepath.Join(root, "a"))
				must(t, err)
				defer f.Close()
				writeAll(t, f, data[:tc.before], tc.chunk)
				must(t, os.Rename(filepath.Join(root, "a"), filepath.Join(root, tc.to)))
				writeAll(t, f, data[tc.before:], tc.chunk)
				must(t, f.Close())
				if _, err := os.Stat(filepath.Join(root, "a")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("old name after close: %v", err)
				}
				got, err := os.ReadFile(filepath.Join(root, tc.to))
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("read back new name: %d bytes, %v", len(got), err)
				}
			})
		})
	}
}

// An existing file (on the server) opened for writing, written and
// renamed, written again: like a log file rotated while written.
func TestRenameExistingFileWhileWriting(t *testing.T) {
	sameAsLocal(t, func(t *testing.T, root string, m *testMount) {
		must(t, os.WriteFile(filepath.Join(root, "log"), []byte("line1\n"), 0o644))
		f, err := os.OpenFile(filepath.Join(root, "log"), os.O_WRONLY|os.O_APPEND, 0)
		must(t, err)
		defer f.Close()
		_, err = f.WriteString("line2\n")
		must(t, err)
		must(t, os.Rename(filepath.Join(root, "log"), filepath.Join(root, "log.1")))
		_, err = f.WriteString("line3\n")
		must(t, err)
		must(t, f.Sync())
		must(t, os.WriteFile(filepath.Join(root, "log"), []byte("new\n"), 0o644))
		_, err = f.WriteString("line4\n")
		must(t, err)
		must(t, f.Close())
	})
}

func TestRenameParentWhileWriting(t *testing.T) {
	big := randomBytes(20<<20, 12)
	small := randomBytes(40000, 13)
	sameAsLocal(t, func(t *testing.T, root string, m *testMount) {
		p := func(rel string) string { return filepath.Join(root, rel) }
		must(t, os.MkdirAll(p("d/sub"), 0o755))
		must(t, os.WriteFile(p("d/keep"), []byte("kept"), 0o644))
		must(t, os.WriteFile(p("d/sub/trunc"), []byte("to be replaced"), 0o644))
		f, err := os.Create(p("d/big"))
		must(t, err)
		defer f.Close()
		g, err := os.Create(p("d/sub/small"))
		must(t, err)
		defer g.Close()
		// Open, written, not dirty: an existing file being read.
		h, err := os.OpenFile(p("d/keep"), os.O_RDWR, 0)
		must(t, err)
		defer h.Close()
		// An existing file emptied and rewritten: streamed, not pending.
		tr, err := os.OpenFile(p("d/sub/trunc"), os.O_WRONLY|os.O_TRUNC, 0)
		must(t, err)
		defer tr.Close()

		writeAll(t, f, big[:12<<20], 1<<20) // parts on the server
		writeAll(t, g, small[:20000], 4096) // buffered, never uploaded
		writeAll(t, tr, big[:6<<20], 1<<20)
		must(t, os.Rename(p("d"), p("e")))
		writeAll(t, tr, big[6<<20:8<<20], 1<<20)
		must(t, tr.Close())
		writeAll(t, f, big[12<<20:], 1<<20)
		writeAll(t, g, small[20000:], 4096)
		_, err = h.WriteAt([]byte("KE"), 0)
		must(t, err)
		must(t, f.Close())
		must(t, g.Close())
		must(t, h.Close())
		for _, n := range []string{"d", "d/big", "d/sub/small"} {
			if _, err := os.Stat(p(n)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s after rename: %v", n, err)
			}
		}
		if got, err := os.ReadFile(p("e/big")); err != nil || !bytes.Equal(got, big) {
			t.Errorf("read back e/big: %d bytes, %v", len(got), err)
		}
	})
}

func TestUnlinkWhileWriting(t *testing.T) {
	for _, tc := range []struct {
		name          string
		existing      bool
		before, after int
	}{
		{"new-small", false, 3000, 3000},
		{"new-streaming", false, 7 << 20, 2 << 20},
		{"existing", true, 3000, 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := randomBytes(tc.before+tc.after, 14)
			sameAsLocal(t, func(t *testing.T, root string, m *testMount) {
				name := filepath.Join(root, "f")
				if tc.existing {
					must(t, os.WriteFile(name, []byte("old content"), 0o644))
				}
				f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
				must(t, err)
				defer f.Close()
				writeAll(t, f, data[:tc.before], 1<<20)
				must(t, os.Remove(name))
				writeAll(t, f, data[tc.before:], 1<<20)
				if err := f.Sync(); err != nil {
					t.Logf("fsync after unlink: %v", err)
				}
				if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("stat after fsync: %v", err)
				}
				if st, err := f.Stat(); err != nil || st.Size() != int64(len(data)) {
					t.Errorf("fstat after unlink: %v %v", st, err)
				}
				// What was written stays readable through the descriptor,
				// except (documented) what a streaming upload had sent
				// already on ssefs: that reads as EIO, never as zeros.
				got := make([]byte, len(data))
				k, err := f.ReadAt(got, 0)
				switch {
				case err == nil && bytes.Equal(got[:k], data):
				case m != nil && tc.before >= 5<<20 && errors.Is(err, syscall.EIO):
					t.Logf("read back of an unlinked streamed file: %v", err)
					tail := make([]byte, tc.after)
					if k, err := f.ReadAt(tail, int64(tc.before)); err != nil || !bytes.Equal(tail[:k], data[tc.before:]) {
						t.Errorf("read back what was written after the unlink: %d bytes, %v", k, err)
					}
				default:
					t.Errorf("read back unlinked file: %d bytes, %v; equal: %v", k, err, bytes.Equal(got[:k], data))
				}
				must(t, f.Close())
				if ents, err := os.ReadDir(root); err != nil || len(ents) != 0 {
					t.Errorf("listing: %v %v", ents, err)
				}
			})
		})
	}
}

func TestRenameOverFileOpenForReading(t *testing.T) {
	old := randomBytes(3<<20, 15)
	sameAsLocal(t, func(t *testing.T, root string, m *testMount) {
		p := func(rel string) string { return filepath.Join(root, rel) }
		must(t, os.WriteFile(p("b"), old, 0o644))
		must(t, os.WriteFile(p("a"), []byte("new content"), 0o644))
		r, err := os.Open(p("b"))
		must(t, err)
		defer r.Close()
		head := make([]byte, 4096)
		_, err = r.ReadAt(head, 0)
		must(t, err)
		must(t, os.Rename(p("a"), p("b")))
		got := make([]byte, len(old))
		k, err := r.ReadAt(got, 0)
		switch {
		case err == nil && bytes.Equal(got[:k], old):
			// The local result: the reader keeps the old file.
		case m != nil && err != nil && bytes.Equal(got[:k], old[:k]):
			// Documented: ssefs has no old version to read once it is
			// overwritten on the server; the reader gets a clean error
			// (ESTALE) after the pages the kernel cached.
			t.Logf("reader of the replaced file: %d bytes then %v", k, err)
		default:
			t.Errorf("reader of the replaced file: %d bytes, %v, old content: %v", k, err, bytes.Equal(got[:k], old[:k]))
		}
		if b, err := os.ReadFile(p("b")); err != nil || string(b) != "new content" {
			t.Errorf("b after rename: %q %v", b, err)
		}
	})
}

func TestTwoWritableHandles(t *testing.T) {
	for _, order := range []string{"wo-first", "rw-first"} {
		t.Run(order, func(t *testing.T) {
			sameAsLocal(t, func(t *testing.T, root string, m *testMount) {
				name := filepath.Join(root, "f")
				must(t, os.WriteFile(name, []byte("0123456789abcdefghij"), 0o644))
				wo, err := os.OpenFile(name, os.O_WRONLY, 0)
				must(t, err)
				defer wo.Close()
				rw, err := os.OpenFile(name, os.O_RDWR, 0)
				must(t, err)
				defer rw.Close()
				_, err = wo.WriteAt([]byte("WO"), 2)
				must(t, err)
				_, err = rw.WriteAt([]byte("RW"), 10)
				must(t, err)
				buf := make([]byte, 4)
				_, err = rw.ReadAt(buf, 0)
				must(t, err)
				if string(buf) != "01WO" {
					t.Errorf("read through the other handle: %q", buf)
				}
				_, err = wo.WriteAt([]byte("tail"), 20)
				must(t, err)
				first, second := wo, rw
				if order == "rw-first" {
					first, second = rw, wo
				}
				must(t, first.Close())
				_, err = second.WriteAt([]byte("!"), 5)
				must(t, err)
				must(t, second.Close())
			})
		})
	}
}

// A file whose close failed to upload stays dirty while another handle
// keeps it open; renamed then, its data must go up under the new name.
func TestRenameAfterFailedClose(t *testing.T) {
	for _, c := range bothConfigs {
		for _, faultDuringRename := range []bool{false, true} {
			name := c.name + "/fault-removed-before-rename"
			if faultDuringRename {
				name = c.name + "/fault-during-rename"
			}
			t.Run(name, func(t *testing.T) {
				m := c.mount(t)
				must(t, os.Mkdir(m.p("d"), 0o755))
				must(t, os.WriteFile(m.p("a"), []byte("saved"), 0o644))
				f, err := os.OpenFile(m.p("a"), os.O_WRONLY|os.O_TRUNC, 0)
				must(t, err)
				defer f.Close()
				g, err := os.OpenFile(m.p("a"), os.O_RDWR, 0)
				must(t, err)
				defer g.Close()
				data := randomBytes(100000, 16)
				writeAll(t, f, data, 1<<16)
				failData := func(op membucket.Op, key string) error {
					switch op {
					case membucket.OpPut, membucket.OpUploadPart, membucket.OpCompleteUpload, membucket.OpStartUpload:
						return errors.New("server unreachable")
					}
					return nil
				}
				m.b.SetFault(failData)
				if err := f.Close(); !errors.Is(err, syscall.EIO) {
					t.Fatalf("close with failing uploads: %v", err)
				}
				if !faultDuringRename {
					m.b.SetFault(nil)
				}
				err = os.Rename(m.p("a"), m.p("d/b"))
				if err != nil {
					t.Fatalf("rename: %v", err)
				}
				m.b.SetFault(nil)
				must(t, g.Sync())
				must(t, g.Close())
				m.wantKeys("", "d/", "d/b")
				if got, _ := m.object("d/b"); !bytes.Equal(got, data) {
					t.Errorf("d/b: %d bytes, want the %d written", len(got), len(data))
				}
			})
		}
	}
}

// mv of a file being streamed (multipart upload started, not completed)
// into another directory, with a process still writing it.
func TestMoveStreamingFileToOtherDir(t *testing.T) {
	m := mountCached(t, 0)
	must(t, os.Mkdir(m.p("out"), 0o755))
	data := randomBytes(14<<20, 17)
	f, err := os.Create(m.p("part.tmp"))
	must(t, err)
	defer f.Close()
	writeAll(t, f, data[:11<<20], 1<<20)
	if n := m.b.OpenUploads(); n != 1 {
		t.Fatalf("%d multipart uploads open before the move, want 1", n)
	}
	m.sh("mv part.tmp out/final")
	writeAll(t, f, data[11<<20:], 1<<20)
	must(t, f.Close())
	m.wantKeys("", "out/", "out/final")
	if got, _ := m.object("out/final"); !bytes.Equal(got, data) {
		t.Errorf("out/final: %d bytes, want %d", len(got), len(data))
	}
	if n := m.b.OpenUploads(); n != 0 {
		t.Errorf("%d multipart uploads left", n)
	}
}

// A directory renamed while an existing file in it is emptied and
// streamed again (no pending object): the upload must not complete under
// the old key.
func TestRenameParentWhileStreamingExistingFile(t *testing.T) {
	data := randomBytes(8<<20, 18)
	sameAsLocal(t, func(t *testing.T, root string, m *testMount) {
		p := func(rel string) string { return filepath.Join(root, rel) }
		must(t, os.Mkdir(p("d"), 0o755))
		must(t, os.WriteFile(p("d/f"), []byte("to be replaced"), 0o644))
		for _, n := range []int{3 << 20, 6 << 20} { // in memory, then parts sent
			f, err := os.OpenFile(p("d/f"), os.O_WRONLY|os.O_TRUNC, 0)
			must(t, err)
			writeAll(t, f, data[:n], 1<<20)
			must(t, os.Rename(p("d"), p("e")))
			writeAll(t, f, data[n:], 1<<20)
			must(t, f.Close())
			must(t, os.Rename(p("e"), p("d")))
		}
	})
}
