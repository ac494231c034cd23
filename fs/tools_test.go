package fs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeTree writes a small tree with nested dirs, modes, an empty file, a
// larger file and a symlink.
func makeTree(t *testing.T, dir string) {
	t.Helper()
	files := map[string][]byte{
		"a.txt":              []byte("alpha\n"),
		"empty":              nil,
		"sub/b.bin":          randomBytes(1<<20+17, 3),
		"sub/deeper/c.txt":   []byte("charlie\n"),
		"sub/deeper/d.sh":    []byte("#!/bin/sh\necho hi\n"),
		"with space/e f.txt": []byte("spaces\n"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "sub/deeper/d.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "emptydir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../a.txt", filepath.Join(dir, "sub/link")); err != nil {
		t.Fatal(err)
	}
}

func needTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed", name)
	}
}

func TestRsyncInAndOut(t *testing.T) {
	needTool(t, "rsync")
	m := mountTest(t, nil)
	src, back := t.TempDir(), t.TempDir()
	makeTree(t, src)
	m.sh(fmt.Sprintf("rsync -a %s/ tree/ && diff -r %s tree", src, src))
	m.sh(fmt.Sprintf("rsync -a tree/ %s/ && diff -r %s %s", back, src, back))
	// rsync -a kept modes and times, so a second run has nothing to copy.
	if out := m.sh(fmt.Sprintf("rsync -ai %s/ tree/", src)); strings.TrimSpace(out) != "" {
		t.Errorf("second rsync changed things:\n%s", out)
	}
	m.wantMeta("tree/sub/deeper/d.sh", map[string]string{"mode": "33261"})
	m.wantMeta("tree/emptydir/", map[string]string{"mode": "16832"})
	m.wantMeta("tree/sub/link", map[string]string{"mode": "41471"})
	if got, _ := m.object("tree/sub/link"); string(got) != "../a.txt" {
		t.Errorf("symlink body %q", got)
	}
	st, _ := os.Stat(filepath.Join(src, "a.txt"))
	m.wantMeta("tree/a.txt", map[string]string{"mtime": formatMtime(st.ModTime())})
}

func TestTarCreateAndExtract(t *testing.T) {
	m := mountTest(t, nil)
	src := t.TempDir()
	makeTree(t, src)
	// Extract into the mount, archive from the mount, extract that outside.
	m.sh(fmt.Sprintf("tar -C %s -cf - . | (mkdir x && tar -C x -xpf -) && diff -r %s x", src, src))
	out := t.TempDir()
	m.sh(fmt.Sprintf("tar -cf arch.tar -C x . && tar -C %s -xpf arch.tar && diff -r %s %s", out, src, out))
	data, _ := m.object("arch.tar")
	if !bytes.Contains(data, []byte("charlie")) {
		t.Error("archive on the server lacks file content")
	}
	m.wantMeta("x/sub/deeper/d.sh", map[string]string{"mode": "33261"})
}

func TestShellTools(t *testing.T) {
	m := mountTest(t, nil)
	src := t.TempDir()
	makeTree(t, src)
	m.sh(fmt.Sprintf("cp -r %s c && diff -r %s c", src, src))
	m.sh("mkdir -p p/q/r && ln -s q/r p/lnk && chown -h 99:98 p/lnk && mv c p/q/r/ && rm -r p/q/r/c/sub")
	m.wantKeys("p/", "p/", "p/lnk", "p/q/", "p/q/r/", "p/q/r/c/", "p/q/r/c/a.txt", "p/q/r/c/empty", "p/q/r/c/emptydir/", "p/q/r/c/with space/", "p/q/r/c/with space/e f.txt")
	m.wantMeta("p/lnk", map[string]string{"uid": "99", "gid": "98"})
	if out := m.sh("ls p/lnk/c"); out != "a.txt\nempty\nemptydir\nwith space\n" {
		t.Errorf("ls through the symlink: %q", out)
	}
	// Two processes writing different files at once.
	m.sh(`for i in 1 2; do (dd if=/dev/urandom of=w$i bs=64k count=40 status=none; cp w$i ../w$i.copy) & done; wait`)
	for _, i := range []string{"1", "2"} {
		local, err := os.ReadFile(filepath.Join(m.dir, "..", "w"+i+".copy"))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := m.object("w" + i); !bytes.Equal(got, local) || len(got) != 40<<16 {
			t.Errorf("w%s: server has %d bytes, differs from what was written", i, len(got))
		}
	}
}
