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
	staging string // the --staging-dir testenv passed
	pids    []int  // the `ssefs mount` command and the daemons seen serving the mount
}

// MountBucket mounts bucket of b at a new directory with `ssefs mount`
// (daemonized, as a user runs it), passing the backend's endpoint and
// credentials, --debug, a log file and args (e.g. "--sse-c-key-file",
// path). The mount is unmounted when the test ends.
//
// Under RunTestsWithHygiene the log file is kept for the end-of-suite
// scan, the SSE-C keys of a --sse-c-key-file are registered, and the
// daemon's /proc entries are scanned once it is up (see hygiene.go).
func MountBucket(t testing.TB, b *Backend, bucket string, args ...string) *Mount {
	t.Helper()
	m := &Mount{Dir: filepath.Join(t.TempDir(), "mnt"), Bucket: bucket, Backend: b, t: t}
	if err := os.Mkdir(m.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := m.run(args...)
	if err != nil {
		m.afterExit()
		t.Fatalf("ssefs mount: %v\n%s\nlog:\n%s", err, out, m.Log())
	}
	m.mounted = true
	m.afterMount()
	t.Cleanup(func() { m.Unmount() })
	return m
}

// TryMount runs `ssefs mount` and returns its combined output and error,
// without failing the test: for tests of bad input.
func TryMount(t testing.TB, b *Backend, bucket, dir string, args ...string) (string, error) {
	t.Helper()
	m := &Mount{Dir: dir, Bucket: bucket, Backend: b, t: t}
	out, err := m.run(args...)
	if err == nil {
		m.mounted = true
		m.afterMount()
		m.Unmount()
	} else {
		m.afterExit()
	}
	return out, err
}

func (m *Mount) run(args ...string) (string, error) {
	ssefs, _ := MustBinaries(m.t)
	for _, f := range sseCKeyFiles(args) {
		RegisterKeyFile(f)
	}
	full := []string{"mount", m.Bucket, m.Dir, "--endpoint", m.Backend.Endpoint()}
	// The test's own log flags win: a --log-file of its own is kept as is.
	if own := flagValue(args, "log-file"); own != "" {
		m.LogFile = own
	} else {
		if suite.enabled() {
			m.LogFile = suite.logFile(m.t)
		} else {
			m.LogFile = m.Dir + ".log"
		}
		full = append(full, "--log-file", m.LogFile)
	}
	m.staging = flagValue(args, "staging-dir")
	if m.staging == "" {
		m.staging = filepath.Join(filepath.Dir(m.Dir), "staging")
		full = append(full, "--staging-dir", m.staging)
	}
	if suite.enabled() {
		// Every request logged, so the suite's scan of the logs sees
		// all that a daemon might leak. Not in benchmarks: a user's
		// mount does not log each request.
		full = append(full, "--debug")
	}
	full = append(full, args...)
	cmd := exec.Command(ssefs, full...)
	cmd.Env = m.Backend.Environ()
	if kv := raceEnv(); kv != "" {
		cmd.Env = append(cmd.Env, kv)
	}
	out, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		m.pids = append(m.pids, cmd.Process.Pid)
	}
	suite.checkOutput(m.t, "output of ssefs mount "+m.Dir, out)
	return string(out), err
}

// sseCKeyFiles returns the SSE-C key files named in mount arguments, as
// --sse-c-key-file F, --sse-c-key-file=F or -o ...,sse_c_key_file=F.
func sseCKeyFiles(args []string) []string {
	var files []string
	if f := flagValue(args, "sse-c-key-file"); f != "" {
		files = append(files, f)
	}
	for i, a := range args {
		var opts string
		switch {
		case a == "-o" && i+1 < len(args):
			opts = args[i+1]
		case strings.HasPrefix(a, "-o") && a != "-o":
			opts = strings.TrimPrefix(a, "-o")
		default:
			continue
		}
		for _, o := range strings.Split(opts, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(o), "sse_c_key_file="); ok {
				files = append(files, v)
			}
		}
	}
	return files
}

// flagValue is the last value args give the long flag name (--name V or
// --name=V), or "".
func flagValue(args []string, name string) string {
	v := ""
	for i, a := range args {
		if a == "--"+name && i+1 < len(args) {
			v = args[i+1]
		} else if after, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			v = after
		}
	}
	return v
}

// afterMount notes the daemon and scans its /proc entries.
func (m *Mount) afterMount() {
	if pid := DaemonPID(m.Dir); pid != 0 {
		m.daemon(pid, true)
	}
}

// daemon notes pid as a daemon of the mount and scans its /proc entries.
func (m *Mount) daemon(pid int, first bool) {
	if first {
		m.pids = append(m.pids, pid)
		suite.noteDaemon(pid, "the ssefs daemon of "+m.t.Name()+" at "+m.Dir)
	}
	suite.checkProcess(m.t, pid, first)
}

// afterExit runs the checks due once the mount is gone: its staging dir,
// its log and the race reports of its processes so far. The daemon takes
// a moment to exit after umount returns; this does not wait for it (a
// second per mount): a race it reports as it shuts down is found by the
// end-of-suite check, which waits for every daemon.
func (m *Mount) afterExit() {
	suite.checkTree(m.t, m.staging, false)
	if suite.enabled() {
		suite.keepLog(m.t, m.LogFile)
	}
	suite.checkRaces(m.t, "ssefs mount "+m.Dir, m.pids, m.LogFile)
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
	// The daemon serving the mount now (a test may have remounted it).
	if pid := DaemonPID(m.Dir); pid != 0 {
		m.daemon(pid, !slices.Contains(m.pids, pid))
	}
	defer m.afterExit()
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
