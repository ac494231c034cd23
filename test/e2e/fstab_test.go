package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// fstabMount writes an alternative fstab with one line and runs
// `mount -T FILE MOUNTPOINT`: mount(8) -> mount.fuse3 -> ssefs, as for a
// line in /etc/fstab. It returns an unmount function.
func fstabMount(t *testing.T, source, mountpoint, fstype, options string) {
	t.Helper()
	fstab := filepath.Join(t.TempDir(), "fstab")
	line := fmt.Sprintf("%s %s %s %s 0 0\n", source, mountpoint, fstype, options)
	if err := os.WriteFile(fstab, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-T", fstab, mountpoint).CombinedOutput(); err != nil {
		t.Fatalf("mount -T %s %s: %v\n%s\nfstab: %s", fstab, mountpoint, err, out, line)
	}
	t.Cleanup(func() {
		if testenv.IsMounted(mountpoint) {
			exec.Command("umount", mountpoint).Run()
		}
	})
	if !testenv.IsMounted(mountpoint) {
		t.Fatalf("mount -T returned success but %s is not mounted", mountpoint)
	}
}

func fstabOptions(t *testing.T, b *testenv.Backend, e encryption, logFile string) string {
	passwd := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(passwd, []byte(b.Env["AWS_ACCESS_KEY_ID"]+":"+b.Env["AWS_SECRET_ACCESS_KEY"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("_netdev,nofail,endpoint=%s,passwd_file=%s,sse_c_key_file=%s,log_file=%s,staging_dir=%s",
		b.Endpoint(), passwd, e.keyFile, logFile, filepath.Join(t.TempDir(), "staging"))
}

// TestFstabMountAndUmount mounts through mount(8) with both fstab forms:
// type fuse.ssefs after `make install` (mount.fuse3 finds ssefs only on its
// fixed PATH), and type fuse with source PREFIX/bin/ssefs#BUCKET after
// `make install PREFIX=<tmp>`; file I/O works in between and umount ends it.
func TestFstabMountAndUmount(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "fstab")
	e := newSSECKey(t)

	forms := []struct{ name, prefix, source, fstype string }{
		{"fuse.ssefs", "/usr/local", "fstab", "fuse.ssefs"},
		{"fuse-with-program-source", "", "", "fuse"},
	}
	for _, f := range forms {
		t.Run(f.name, func(t *testing.T) {
			prefix := f.prefix
			if prefix == "" {
				prefix = t.TempDir()
			}
			if out, err := exec.Command("make", "-C", testenv.RepoRoot(), "install", "PREFIX="+prefix).CombinedOutput(); err != nil {
				t.Fatalf("make install PREFIX=%s: %v\n%s", prefix, err, out)
			}
			source := f.source
			if source == "" {
				source = prefix + "/bin/ssefs#fstab"
			}
			mnt := filepath.Join(t.TempDir(), "mnt")
			os.Mkdir(mnt, 0o755)
			logFile := mnt + ".log"
			fstabMount(t, source, mnt, f.fstype, fstabOptions(t, b, e, logFile))

			name := "via-" + f.fstype + ".txt"
			data := randomBytes(t, 300000)
			writeLocal(t, filepath.Join(mnt, name), data)
			assertFileContent(t, filepath.Join(mnt, name), data)
			assertEncrypted(t, b, "fstab", name, e)

			if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
				t.Fatalf("umount: %v\n%s", err, out)
			}
			if testenv.IsMounted(mnt) {
				t.Fatal("still mounted after umount")
			}
		})
	}
}
