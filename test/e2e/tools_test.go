package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestFileToolsKeepEncryption drives a mount with the ordinary tools a user
// runs, in both backend profiles and with both kinds of encryption, and
// checks from outside after each step that every object the step wrote rests
// encrypted with the mount's key: nothing is stored unencrypted, also after
// rename, chmod and touch on the rgw profile, where the server refuses
// encrypted copies and stores plain-to-encrypted copies unencrypted.
func TestFileToolsKeepEncryption(t *testing.T) {
	requireTool(t, "rsync")
	big := randomBytes(t, 100<<20)
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			b := testenv.StartBackend(t, profile)
			for _, kind := range []string{"SSE-C", "SSE-KMS"} {
				t.Run(kind, func(t *testing.T) {
					e := newSSECKey(t)
					if kind == "SSE-KMS" {
						e = newKMSKey(t, b)
					}
					bucket := "tools-" + strings.ToLower(strings.ReplaceAll(kind, "-", ""))
					b.CreateBucket(t, bucket)
					m := testenv.MountBucket(t, b, bucket, e.mountArgs()...)
					runFileTools(t, b, m, e, big)
					if n := assertAllEncrypted(t, b, bucket, e); n == 0 {
						t.Fatal("the bucket is empty after the tools ran")
					}
				})
			}
		})
	}
}

func runFileTools(t *testing.T, b *testenv.Backend, m *testenv.Mount, e encryption, big []byte) {
	local := t.TempDir()
	bucket := m.Bucket
	check := func(t *testing.T, keys ...string) {
		t.Helper()
		for _, k := range keys {
			assertEncrypted(t, b, bucket, k, e)
		}
	}
	gone := func(t *testing.T, keys ...string) {
		t.Helper()
		all := listKeys(t, b, bucket, "")
		for _, k := range keys {
			if slices.Contains(all, k) {
				t.Errorf("object %s is still in the bucket", k)
			}
		}
	}

	t.Run("cp in and out", func(t *testing.T) {
		for name, data := range map[string][]byte{"empty": {}, "small.txt": []byte("hello, encrypted world\n"), "big.bin": big} {
			src := filepath.Join(local, name)
			writeLocal(t, src, data)
			sh(t, local, fmt.Sprintf("cp %q %q", src, m.Path(name)))
			out := filepath.Join(local, name+".out")
			sh(t, local, fmt.Sprintf("cp %q %q", m.Path(name), out))
			assertFileContent(t, out, data)
			if got := getObject(t, b, bucket, name, e); !bytes.Equal(got, data) {
				t.Fatalf("%s: the object from outside differs from what was copied in", name)
			}
			check(t, name)
		}
	})
	t.Run("cat", func(t *testing.T) {
		if got := sh(t, m.Dir, "cat small.txt"); got != "hello, encrypted world\n" {
			t.Fatalf("cat = %q", got)
		}
	})
	t.Run("ls -l", func(t *testing.T) {
		out := sh(t, m.Dir, "ls -l")
		for _, want := range []string{"small.txt", "big.bin", "empty", fmt.Sprint(len(big))} {
			if !strings.Contains(out, want) {
				t.Fatalf("ls -l lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("mv file", func(t *testing.T) {
		sh(t, m.Dir, "cp small.txt before-mv && mv before-mv after-mv")
		assertFileContent(t, m.Path("after-mv"), []byte("hello, encrypted world\n"))
		if _, err := os.Stat(m.Path("before-mv")); !os.IsNotExist(err) {
			t.Fatalf("the source is still there after mv: %v", err)
		}
		gone(t, "before-mv")
		check(t, "after-mv")
	})
	t.Run("mv directory with nested files", func(t *testing.T) {
		sh(t, m.Dir, "mkdir -p d1/d2 && echo one > d1/f1 && echo two > d1/d2/f2 && mv d1 d3")
		assertFileContent(t, m.Path("d3/f1"), []byte("one\n"))
		assertFileContent(t, m.Path("d3/d2/f2"), []byte("two\n"))
		if _, err := os.Stat(m.Path("d1")); !os.IsNotExist(err) {
			t.Fatalf("d1 still exists after mv: %v", err)
		}
		gone(t, "d1/f1", "d1/d2/f2", "d1/", "d1/d2/")
		check(t, "d3/f1", "d3/d2/f2")
	})
	t.Run("rm and rm -r", func(t *testing.T) {
		sh(t, m.Dir, "echo x > rmme && rm rmme && mkdir -p tree/a/b && echo y > tree/a/b/c && rm -r tree")
		gone(t, "rmme", "tree/a/b/c", "tree/", "tree/a/", "tree/a/b/")
		if out := sh(t, m.Dir, "ls"); strings.Contains(out, "rmme") || strings.Contains(out, "tree") {
			t.Fatalf("removed entries still listed:\n%s", out)
		}
	})
	t.Run("mkdir -p and rmdir", func(t *testing.T) {
		sh(t, m.Dir, "mkdir -p p/q/r && test -d p/q/r && rmdir p/q/r && test ! -e p/q/r")
		out := shFails(t, m.Dir, "echo z > p/q/file && rmdir p/q")
		if !strings.Contains(out, "not empty") {
			t.Fatalf("rmdir of a non-empty dir: %s", out)
		}
		check(t, "p/q/file")
	})
	t.Run("ln -s and readlink", func(t *testing.T) {
		sh(t, m.Dir, "ln -s small.txt link")
		if got := strings.TrimSpace(sh(t, m.Dir, "readlink link")); got != "small.txt" {
			t.Fatalf("readlink = %q", got)
		}
		if got := sh(t, m.Dir, "cat link"); got != "hello, encrypted world\n" {
			t.Fatalf("cat through the link = %q", got)
		}
		check(t, "link")
	})
	t.Run("chmod", func(t *testing.T) {
		sh(t, m.Dir, "chmod 640 small.txt")
		if got := statMode(t, m.Path("small.txt")); got != 0o640 {
			t.Fatalf("mode after chmod = %o", got)
		}
		check(t, "small.txt")
		assertFileContent(t, m.Path("small.txt"), []byte("hello, encrypted world\n"))
	})
	t.Run("chown", func(t *testing.T) {
		sh(t, m.Dir, "chown 1234:5678 small.txt")
		var st syscall.Stat_t
		if err := syscall.Stat(m.Path("small.txt"), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Fatalf("owner after chown = %d:%d", st.Uid, st.Gid)
		}
		check(t, "small.txt")
	})
	t.Run("touch -d", func(t *testing.T) {
		sh(t, m.Dir, "touch -d '2001-02-03 04:05:06 UTC' small.txt")
		st, err := os.Stat(m.Path("small.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if want := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC); !st.ModTime().Equal(want) {
			t.Fatalf("mtime after touch -d = %v, want %v", st.ModTime().UTC(), want)
		}
		check(t, "small.txt")
	})
	t.Run("truncate up and down", func(t *testing.T) {
		sh(t, m.Dir, "printf 0123456789 > trunc && truncate -s 5000 trunc")
		want := append([]byte("0123456789"), make([]byte, 4990)...)
		assertFileContent(t, m.Path("trunc"), want)
		sh(t, m.Dir, "truncate -s 4 trunc")
		assertFileContent(t, m.Path("trunc"), []byte("0123"))
		if got := getObject(t, b, bucket, "trunc", e); string(got) != "0123" {
			t.Fatalf("object after truncate = %q", got)
		}
		check(t, "trunc")
	})
	t.Run("append with >>", func(t *testing.T) {
		sh(t, m.Dir, "echo first > log.txt && echo second >> log.txt && echo third >> log.txt")
		assertFileContent(t, m.Path("log.txt"), []byte("first\nsecond\nthird\n"))
		check(t, "log.txt")
	})
	t.Run("dd conv=notrunc seek", func(t *testing.T) {
		base := randomBytes(t, 3<<20)
		patch := randomBytes(t, 4096)
		writeLocal(t, filepath.Join(local, "base"), base)
		writeLocal(t, filepath.Join(local, "patch"), patch)
		sh(t, m.Dir, fmt.Sprintf("cp %s/base dd.bin && dd if=%s/patch of=dd.bin bs=4096 seek=100 conv=notrunc status=none", local, local))
		want := append([]byte(nil), base...)
		copy(want[100*4096:], patch)
		assertFileContent(t, m.Path("dd.bin"), want)
		if got := getObject(t, b, bucket, "dd.bin", e); !bytes.Equal(got, want) {
			t.Fatal("the object after dd differs")
		}
		check(t, "dd.bin")
	})
	t.Run("rsync -a in and out", func(t *testing.T) {
		src := filepath.Join(local, "tree")
		for i := 0; i < 20; i++ {
			writeLocal(t, filepath.Join(src, fmt.Sprintf("d%d/f%d.txt", i%4, i)), randomBytes(t, 1000*i))
		}
		os.Symlink("d0/f0.txt", filepath.Join(src, "lnk"))
		os.Chmod(filepath.Join(src, "d1"), 0o750)
		sh(t, local, fmt.Sprintf("rsync -a %s/ %s/", src, m.Path("synced")))
		sh(t, local, fmt.Sprintf("rsync -a %s/ %s/", m.Path("synced"), filepath.Join(local, "back")))
		sh(t, local, fmt.Sprintf("diff -r %s %s", src, filepath.Join(local, "back")))
		if st := statMode(t, filepath.Join(local, "back", "d1")); st != 0o750 {
			t.Fatalf("rsync -a round trip lost the mode of d1: %o", st)
		}
		for _, k := range listKeys(t, b, bucket, "synced/") {
			check(t, k)
		}
	})
	t.Run("tar on the mount", func(t *testing.T) {
		src := filepath.Join(local, "tarsrc")
		for i := 0; i < 10; i++ {
			writeLocal(t, filepath.Join(src, fmt.Sprintf("sub%d/file%d", i%3, i)), randomBytes(t, 5000+i))
		}
		sh(t, local, fmt.Sprintf("tar -cf %s -C %s .", m.Path("archive.tar"), src))
		sh(t, m.Dir, "mkdir extracted && tar -xf archive.tar -C extracted")
		sh(t, local, fmt.Sprintf("diff -r %s %s", src, m.Path("extracted")))
		check(t, "archive.tar", "extracted/sub0/file0")
	})
	t.Run("two processes write at once", func(t *testing.T) {
		a, c := randomBytes(t, 5<<20), randomBytes(t, 7<<20)
		writeLocal(t, filepath.Join(local, "pa"), a)
		writeLocal(t, filepath.Join(local, "pc"), c)
		sh(t, m.Dir, fmt.Sprintf("cp %s/pa par1 & cp %s/pc par2 & wait", local, local))
		assertFileContent(t, m.Path("par1"), a)
		assertFileContent(t, m.Path("par2"), c)
		check(t, "par1", "par2")
	})
}

func statMode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}
