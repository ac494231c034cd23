package e2e

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssefs/ssefs/test/testenv"
)

// The scanners (testenv.KeySecrets, ScanTree, ScanProcess) are shared with
// the suite-wide check that testenv.RunTestsWithHygiene runs after every
// test (see main_test.go): the checks here prove on one workload that they
// find what they look for; that one proves the whole suite leaves nothing.

// TestNoKeyOrPlaintextLeaks runs a workload (small and multipart writes,
// staged random writes, rename, chmod, symlink, reads) on a mount with
// --debug and a log file, then looks for the SSE-C key in every encoding
// and for a plaintext marker in: the log, the daemon's /proc cmdline and
// environ, every file it holds open (the unlinked staged files), the
// staging dir, and every file under /tmp written since the test started
// (the key file itself excepted). Each scanner is first shown to find a
// planted secret, so a clean result means something.
func TestNoKeyOrPlaintextLeaks(t *testing.T) {
	start := time.Now().Add(-time.Second)
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "hygiene")
	e := newSSECKey(t)
	raw, err := os.ReadFile(e.keyFile)
	if err != nil || len(raw) != 32 {
		t.Fatalf("key file: %d bytes, %v", len(raw), err)
	}
	marker := []byte("SSEFS-PLAINTEXT-" + hex.EncodeToString(randomBytes(t, 12)))
	testenv.RegisterMarker(string(marker)) // for the suite-wide scan too
	s := testenv.KeySecrets("SSE-C key", raw)
	s["plaintext marker"] = marker

	t.Run("controls", func(t *testing.T) {
		dir := t.TempDir()
		planted := filepath.Join(dir, "planted")
		os.WriteFile(planted, append([]byte("x "), s["SSE-C key hex"]...), 0o600)
		if leaks, _, _ := testenv.ScanTree(dir, start, nil, s); !strings.Contains(strings.Join(leaks, "\n"), "planted: SSE-C key hex") {
			t.Fatalf("the file scanner missed a planted hex key: %v", leaks)
		}
		cmd := exec.Command("sh", "-c", "exec 3<"+planted+"; rm "+planted+"; sleep 60; true", string(marker))
		cmd.Env = []string{"PLANTED=" + string(s["SSE-C key base64 unpadded"])}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		time.Sleep(100 * time.Millisecond) // exec done
		found, _ := testenv.ScanProcess(cmd.Process.Pid, s)
		leaks := strings.Join(found, "\n")
		if !strings.Contains(leaks, "cmdline: plaintext marker") || !strings.Contains(leaks, "environ: SSE-C key base64 unpadded") ||
			!strings.Contains(leaks, "(deleted)): SSE-C key hex") {
			t.Fatalf("the process scanner missed planted secrets in cmdline, environ or an open unlinked file: %v", leaks)
		}
	})

	m := testenv.MountBucket(t, b, "hygiene", e.mountArgs()...)
	pid := daemonPID(t, m.Dir)
	body := bytes.Repeat(append(marker, '\n'), 1<<20/len(marker))
	writeLocal(t, m.Path("small.txt"), body[:4096])
	writeLocal(t, m.Path("dir/big.txt"), bytes.Repeat(body, 20)) // multipart
	sh(t, m.Dir, "mv small.txt dir/moved.txt && chmod 600 dir/moved.txt && ln -s dir/moved.txt link && cat link dir/big.txt > /dev/null && cp dir/moved.txt copy.txt")
	// A file written backwards stays staged while it is open: scan then.
	f, err := os.Create(m.Path("staged.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for off := 3 << 20; off >= 0; off -= 1 << 20 {
		if _, err := f.WriteAt(body, int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	stagingDir := filepath.Join(filepath.Dir(m.Dir), "staging")
	leaks, openFiles := testenv.ScanProcess(pid, s)
	if openFiles == 0 {
		t.Error("the daemon held no regular file open while a file was staged: the staging scan proves nothing")
	}
	stagedLeaks, _, _ := testenv.ScanTree(stagingDir, time.Time{}, nil, s)
	leaks = append(leaks, stagedLeaks...)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := getObject(t, b, "hygiene", "staged.txt", e); !bytes.Contains(got, marker) {
		t.Fatal("the workload did not store the marker: the scan would prove nothing")
	}
	assertAllEncrypted(t, b, "hygiene", e)
	m.Unmount()

	if !strings.Contains(m.Log(), "level=DEBUG") {
		t.Error("the mount log has no debug lines: --debug was not in effect")
	}
	treeLeaks, scanned, _ := testenv.ScanTree(os.TempDir(), start, map[string]bool{e.keyFile: true}, s)
	leaks = append(leaks, treeLeaks...)
	for _, l := range leaks {
		t.Errorf("leak: %s", l)
	}
	t.Logf("scanned the daemon's /proc entries and %d open files, the staging dir, and %d files under %s (the mount log included)", openFiles, scanned, os.TempDir())
}

// TestAllowOtherImpliesDefaultPermissions: with allow_other the kernel must
// check permission bits for other users, so the mount carries
// default_permissions however allow_other was asked for.
func TestAllowOtherImpliesDefaultPermissions(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "shared")
	e := newSSECKey(t)
	for _, args := range [][]string{{"--allow-other"}, {"-o", "allow_other"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			m := testenv.MountBucket(t, b, "shared", append(e.mountArgs(), args...)...)
			opts := mountOptionsOf(t, m.Dir)
			for _, want := range []string{"allow_other", "default_permissions"} {
				if !opts[want] {
					t.Errorf("/proc/mounts options of %s lack %s: %v", m.Dir, want, opts)
				}
			}
		})
	}
	t.Run("control: no allow_other", func(t *testing.T) {
		m := testenv.MountBucket(t, b, "shared", e.mountArgs()...)
		if opts := mountOptionsOf(t, m.Dir); opts["allow_other"] {
			t.Errorf("allow_other without asking: %v", opts)
		}
	})
}

// mountOptionsOf returns the options /proc/mounts shows for dir.
func mountOptionsOf(t *testing.T, dir string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == dir {
			opts := map[string]bool{}
			for _, o := range strings.Split(f[3], ",") {
				opts[o] = true
			}
			return opts
		}
	}
	t.Fatalf("%s is not in /proc/mounts", dir)
	return nil
}

// TestKeyFileReadOncePerProcess: the key file is opened once by the mount
// command (to validate it before detaching) and once by the daemon, and
// never again: counted with strace over the whole life of the mount. Then,
// as a behavioural check, the key file is replaced by another key and
// removed: the mount keeps writing with, and reading by, the key it
// loaded at mount time.
func TestKeyFileReadOncePerProcess(t *testing.T) {
	requireTool(t, "strace")
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "once")
	e := newSSECKey(t)
	testenv.RegisterKeyFile(e.keyFile) // for the suite-wide scan: this mount is not made by testenv
	ssefs, _ := testenv.MustBinaries(t)
	dir := t.TempDir()
	mnt, trace := filepath.Join(dir, "mnt"), filepath.Join(dir, "strace.out")
	os.Mkdir(mnt, 0o755)
	st := exec.Command("strace", "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", trace,
		ssefs, "mount", "once", mnt, "--endpoint", b.Endpoint(), "--log-file", mnt+".log", "--debug",
		"--staging-dir", filepath.Join(dir, "staging"), "--sse-c-key-file", e.keyFile)
	st.Env = b.Environ()
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		exec.Command("umount", mnt).Run()
		st.Process.Signal(syscall.SIGTERM)
		st.Wait()
		testenv.KeepLog(t, mnt+".log")
	}()
	for deadline := time.Now().Add(60 * time.Second); !testenv.IsMounted(mnt); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the traced mount did not come up")
		}
	}
	data := randomBytes(t, 3<<20)
	writeLocal(t, filepath.Join(mnt, "a.bin"), data)

	other := newSSECKey(t)
	testenv.RegisterKeyFile(other.keyFile)
	otherRaw, _ := os.ReadFile(other.keyFile)
	if err := os.WriteFile(e.keyFile, otherRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	writeLocal(t, filepath.Join(mnt, "b.bin"), data)
	os.Remove(e.keyFile)
	writeLocal(t, filepath.Join(mnt, "c.bin"), data)
	time.Sleep(1100 * time.Millisecond) // past the attribute TTL: reads HEAD again
	for _, name := range []string{"a.bin", "b.bin", "c.bin"} {
		assertFileContent(t, filepath.Join(mnt, name), data)
		assertEncrypted(t, b, "once", name, e) // the original key, not the replacement
	}
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v %s", err, out)
	}
	st.Process.Signal(syscall.SIGTERM)
	st.Wait()

	raw, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	opens := map[string]int{} // pid -> opens of the key file
	re := regexp.MustCompile(`^(\d+)\s+open(at2?)?\(.*"` + regexp.QuoteMeta(e.keyFile) + `"`)
	for _, line := range strings.Split(string(raw), "\n") {
		if mm := re.FindStringSubmatch(line); mm != nil {
			opens[mm[1]]++
		}
	}
	if len(opens) == 0 {
		t.Fatalf("strace saw no open of the key file: the count proves nothing\n%.2000s", raw)
	}
	total := 0
	for pid, n := range opens {
		total += n
		if n != 1 {
			t.Errorf("process %s opened the key file %d times, want once", pid, n)
		}
	}
	if total > 2 {
		t.Errorf("the key file was opened %d times by %d processes, want at most 2 (mount command, daemon)", total, len(opens))
	}
	t.Logf("key file opens per process: %v", opens)
}
