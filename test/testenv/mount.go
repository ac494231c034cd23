package testenv

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mount is a live ssefs mount started with `ssefs mount`.
type Mount struct {
	Dir     string // the mountpoint
	Bucket  string
	LogFile string
	Backend *Backend
	t       testing.TB
	mounted bool
}

// MountBucket mounts bucket of b at a new directory with `ssefs mount`
// (daemonized, as a user runs it), passing the backend's endpoint and
// credentials and args (e.g. "--sse-c-key-file", path). The mount is
// unmounted when the test ends.
func MountBucket(t testing.TB, b *Backend, bucket string, args ...string) *Mount {
	t.Helper()
	m := &Mount{Dir: filepath.Join(t.TempDir(), "mnt"), Bucket: bucket, Backend: b, t: t}
	m.LogFile = m.Dir + ".log"
	if err := os.Mkdir(m.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := m.run(args...)
	if err != nil {
		t.Fatalf("ssefs mount: %v\n%s\nlog:\n%s", err, out, m.Log())
	}
	m.mounted = true
	t.Cleanup(func() { m.Unmount() })
	return m
}

// TryMount runs `ssefs mount` and returns its combined output and error,
// without failing the test: for tests of bad input.
func TryMount(t testing.TB, b *Backend, bucket, dir string, args ...string) (string, error) {
	t.Helper()
	m := &Mount{Dir: dir, Bucket: bucket, Backend: b, LogFile: dir + ".log", t: t}
	out, err := m.run(args...)
	if err == nil {
		m.mounted = true
		m.Unmount()
	}
	return out, err
}

func (m *Mount) run(args ...string) (string, error) {
	ssefs, _ := MustBinaries(m.t)
	full := append([]string{"mount", m.Bucket, m.Dir, "--endpoint", m.Backend.Endpoint(), "--log-file", m.LogFile,
		"--staging-dir", filepath.Join(filepath.Dir(m.Dir), "staging"), "--debug"}, args...)
	cmd := exec.Command(ssefs, full...)
	cmd.Env = m.Backend.Environ()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Path is the path of name inside the mount.
func (m *Mount) Path(name string) string { return filepath.Join(m.Dir, name) }

// Log returns the mount's log so far.
func (m *Mount) Log() string {
	b, _ := os.ReadFile(m.LogFile)
	return string(b)
}

// Unmount runs umount(8) and waits until the mountpoint is no longer a FUSE
// mount; it retries while the mount is busy.
func (m *Mount) Unmount() {
	if !m.mounted {
		return
	}
	m.mounted = false
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := exec.Command("umount", m.Dir).CombinedOutput()
		if err == nil || !IsMounted(m.Dir) {
			break
		}
		if time.Now().After(deadline) {
			m.t.Errorf("umount %s: %v: %s", m.Dir, err, out)
			exec.Command("umount", "-l", m.Dir).Run()
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	for IsMounted(m.Dir) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// IsMounted reports whether dir is a mountpoint of a FUSE filesystem.
func IsMounted(dir string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && unescapeMount(f[4]) == dir && strings.Contains(line, " - fuse") {
			return true
		}
	}
	var st syscall.Stat_t
	return errors.Is(syscall.Stat(dir, &st), syscall.ENOTCONN)
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// PID returns the process id of the ssefs daemon serving the mount, found
// by its command line, or 0.
func (m *Mount) PID() int {
	return DaemonPID(m.Dir)
}

// DaemonPID finds the ssefs process whose command line names mountpoint.
func DaemonPID(mountpoint string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && filepath.Base(args[0]) == "ssefs" && slices.Contains(args, mountpoint) {
			return pid
		}
	}
	return 0
}
