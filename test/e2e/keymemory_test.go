package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssefs/ssefs/test/testenv"
)

// mapping is one line of /proc/PID/maps, with its Locked: size from smaps.
type mapping struct {
	start, end uint64
	perms      string
	name       string
	lockedKB   int
}

func (m mapping) String() string {
	name := m.name
	if name == "" {
		name = "[anon]"
	}
	return fmt.Sprintf("%x-%x %s %s (locked %d kB)", m.start, m.end, m.perms, name, m.lockedKB)
}

// processMappings reads /proc/PID/smaps: every mapping with its Locked:
// size.
func processMappings(t *testing.T, pid int) []mapping {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok && len(fields) >= 5 && !strings.HasSuffix(fields[0], ":") {
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				m := mapping{start: start, end: end, perms: fields[1]}
				if len(fields) >= 6 {
					m.name = strings.Join(fields[5:], " ")
				}
				out = append(out, m)
				continue
			}
		}
		if fields[0] == "Locked:" && len(out) > 0 && len(fields) >= 2 {
			out[len(out)-1].lockedKB, _ = strconv.Atoi(fields[1])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("/proc/%d/smaps lists no mapping", pid)
	}
	return out
}

// memScan is where each pattern occurs in a process's memory.
type memScan struct {
	hits       map[string][]uint64 // pattern name -> addresses
	scanned    int64               // bytes read
	unreadable []string            // mappings that could not be read
}

// scanMemory reads every readable mapping of pid through /proc/PID/mem (as
// root: the daemon is not dumpable, so only CAP_SYS_PTRACE gets in) and
// records every occurrence of each pattern.
func scanMemory(t *testing.T, pid int, maps []mapping, patterns map[string][]byte) memScan {
	t.Helper()
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatalf("opening the daemon's memory: %v", err)
	}
	defer mem.Close()
	maxLen := 0
	for _, p := range patterns {
		maxLen = max(maxLen, len(p))
	}
	res := memScan{hits: map[string][]uint64{}}
	const chunk = 1 << 20
	buf := make([]byte, chunk+maxLen)
	for _, m := range maps {
		if m.perms[0] != 'r' || m.name == "[vvar]" || m.name == "[vvar_vclock]" || m.name == "[vsyscall]" {
			continue
		}
		for off := m.start; off < m.end; off += chunk {
			n := min(uint64(len(buf)), m.end-off)
			got, err := mem.ReadAt(buf[:n], int64(off))
			if got == 0 && err != nil && err != io.EOF {
				res.unreadable = append(res.unreadable, fmt.Sprintf("%s: %v", m, err))
				break
			}
			res.scanned += int64(min(got, chunk))
			data := buf[:got]
			for name, p := range patterns {
				for i := 0; ; {
					j := bytes.Index(data[i:], p)
					if j < 0 || i+j >= chunk { // matches starting past chunk are the next round's
						break
					}
					res.hits[name] = append(res.hits[name], off+uint64(i+j))
					i += j + 1
				}
			}
		}
	}
	return res
}

// mappingOf returns the mapping holding addr.
func mappingOf(maps []mapping, addr uint64) (mapping, bool) {
	for _, m := range maps {
		if addr >= m.start && addr < m.end {
			return m, true
		}
	}
	return mapping{}, false
}

// statusKB reads a "Name:   N kB" line of /proc/PID/status.
func statusKB(t *testing.T, pid int, name string) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name+":" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s line", pid, name)
	return 0
}

// TestKeyMemoryOneLockedCopy: after a workload of a few hundred keyed
// requests (small and multipart writes, copies, HEADs and GETs), the
// daemon's memory, read whole through /proc/PID/mem, holds the raw SSE-C
// key in one place only, and that place is locked (never swapped to disk),
// and holds no hex form of it at all, even when the key file was hex (its
// read and decode buffers are wiped). The key's base64 form (the header
// value) has one locked home too; the base64 copies elsewhere are the
// per-request ones the SDK and net/http make (nearly all in SigV4
// canonical requests, which sign the key header; a few in connections'
// write buffers) and live until the garbage collector reuses the memory or
// the next request overwrites them. Their number depends on how many
// requests ran since the last GC cycles, so it is logged, not bounded.
// (Before keys had a locked slot, every request also left its own
// Base64() string behind: about 480 copies after this workload, against
// about 290 now.)
func TestKeyMemoryOneLockedCopy(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	t.Run("raw key file", func(t *testing.T) { checkKeyMemory(t, b, "keymem-raw", false) })
	t.Run("hex key file", func(t *testing.T) { checkKeyMemory(t, b, "keymem-hex", true) })
}

func checkKeyMemory(t *testing.T, b *testenv.Backend, bucket string, hexFile bool) {
	b.CreateBucket(t, bucket)
	e := newSSECKey(t)
	raw, err := os.ReadFile(e.keyFile)
	if err != nil || len(raw) != 32 {
		t.Fatalf("key file: %d bytes, %v", len(raw), err)
	}
	if hexFile {
		os.Remove(e.keyFile)
		if err := os.WriteFile(e.keyFile, []byte("# a hex key\n"+hex.EncodeToString(raw)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m := testenv.MountBucket(t, b, bucket, e.mountArgs()...)
	pid := daemonPID(t, m.Dir)

	small := randomBytes(t, 10<<10)
	for i := range 30 {
		writeLocal(t, m.Path(fmt.Sprintf("small/%02d", i)), small)
	}
	big := randomBytes(t, 20<<20) // multipart
	writeLocal(t, m.Path("big.bin"), big)
	sh(t, m.Dir, "cp small/00 copy && mv small/01 moved && cp big.bin big-copy.bin")
	time.Sleep(1100 * time.Millisecond) // past the attribute TTL: HEADs again
	for i := 2; i < 30; i++ {
		assertFileContent(t, m.Path(fmt.Sprintf("small/%02d", i)), small)
	}
	assertFileContent(t, m.Path("copy"), small)
	assertFileContent(t, m.Path("moved"), small)
	assertFileContent(t, m.Path("big-copy.bin"), big)
	assertEncrypted(t, b, bucket, "big-copy.bin", e)

	patterns := map[string][]byte{
		"raw":    raw,
		"hex":    []byte(hex.EncodeToString(raw)),
		"HEX":    []byte(strings.ToUpper(hex.EncodeToString(raw))),
		"base64": []byte(base64.StdEncoding.EncodeToString(raw)),
	}
	maps := processMappings(t, pid)
	scan := scanMemory(t, pid, maps, patterns)
	t.Logf("scanned %d MB of daemon memory in %d mappings; unreadable: %v", scan.scanned>>20, len(maps), scan.unreadable)

	rawHits := scan.hits["raw"]
	if len(rawHits) == 0 {
		t.Fatal("the raw key is nowhere in the daemon's memory, yet it encrypts with it: the scan is broken")
	}
	if len(rawHits) > 2 {
		t.Errorf("the raw key is in %d places in the daemon's memory, want one (at most 2)", len(rawHits))
	}
	var home mapping
	for _, a := range rawHits {
		mp, ok := mappingOf(maps, a)
		t.Logf("raw key at %#x in %v", a, mp)
		if !ok || mp.lockedKB == 0 {
			t.Errorf("the raw key at %#x is in memory that is not locked: %v", a, mp)
		}
		home = mp
	}
	for _, form := range []string{"hex", "HEX"} {
		if n := len(scan.hits[form]); n > 0 {
			t.Errorf("the %s form of the key is in the daemon's memory %d times; nothing should ever make it", form, n)
		}
	}
	var lockedB64, otherB64 int
	for _, a := range scan.hits["base64"] {
		if mp, ok := mappingOf(maps, a); ok && mp.lockedKB > 0 && mp.start == home.start {
			lockedB64++
		} else {
			otherB64++
		}
	}
	if lockedB64 == 0 {
		t.Errorf("the key's base64 header form is not next to the raw key in locked memory (%d copies elsewhere)", otherB64)
	}
	t.Logf("base64 copies: %d in the key's locked region, %d transient ones elsewhere (request buffers, garbage)", lockedB64, otherB64)
	if vmLck := statusKB(t, pid, "VmLck"); vmLck < 4 {
		t.Errorf("VmLck %d kB: the daemon has no locked memory", vmLck)
	} else {
		t.Logf("VmLck %d kB", vmLck)
	}
}

// corePatternDir returns the directory a process with working directory
// cwd dumps core into, or a reason to skip.
func corePatternDir(cwd string) (string, string) {
	data, err := os.ReadFile("/proc/sys/kernel/core_pattern")
	if err != nil {
		return "", "cannot read core_pattern: " + err.Error()
	}
	pattern := strings.TrimSpace(string(data))
	switch {
	case strings.HasPrefix(pattern, "|"):
		return "", "core_pattern pipes cores to a program (" + pattern + "): no core file to look for"
	case !strings.Contains(pattern, "/"):
		return cwd, ""
	}
	dir := filepath.Dir(pattern)
	if strings.Contains(dir, "%") {
		return "", "core_pattern has a templated directory: " + pattern
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(cwd, dir)
	}
	return dir, ""
}

// newFiles lists the entries of dir not in before.
func newFiles(dir string, before []string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !slices.Contains(before, e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

func listDir(dir string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// waitGone waits until pid has exited (or is a zombie).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && (stat[i+2] == 'Z' || stat[i+2] == 'X') {
			return
		}
	}
	t.Fatalf("process %d did not die", pid)
}

// raiseCore runs its arguments with RLIMIT_CORE raised to unlimited (exit 3
// when the hard limit forbids it).
const raiseCore = `ulimit -c unlimited || exit 3; exec "$0" "$@"`

// TestCoreDumpRefused: a crashing daemon writes no core file, which would
// hold its keys and the plaintext it served. The daemon runs with
// RLIMIT_CORE unlimited and GOTRACEBACK=crash (so the Go runtime ends a
// SIGABRT by re-raising it for a core dump) and is killed with SIGABRT; it
// is not dumpable, so the kernel writes nothing. The control is an ordinary
// process killed the same way in the same place, which must dump core (the
// test skips when the system writes no core files there at all).
func TestCoreDumpRefused(t *testing.T) {
	work := t.TempDir()
	coreDir, skip := corePatternDir(work)
	if skip != "" {
		t.Skip(skip)
	}

	// Control: sh raises the limit and becomes sleep, which SIGABRT kills
	// with a core dump.
	before := listDir(coreDir)
	ctl := exec.Command("sh", "-c", raiseCore, "sleep", "100")
	ctl.Dir = work
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", ctl.Process.Pid))
		if strings.TrimSpace(string(comm)) == "sleep" {
			break
		}
		if time.Now().After(deadline) {
			ctl.Process.Kill()
			ctl.Wait()
			t.Skipf("the control never became sleep (comm %q): cannot raise RLIMIT_CORE?", comm)
		}
	}
	ctl.Process.Signal(syscall.SIGABRT)
	ctl.Wait()
	ws, _ := ctl.ProcessState.Sys().(syscall.WaitStatus)
	ctlCores := newFiles(coreDir, before)
	if !ws.Signaled() || !ws.CoreDump() || len(ctlCores) == 0 {
		t.Skipf("the control wrote no core file in %s (status %v, core dumped %v, new files %v): this system writes none", coreDir, ctl.ProcessState, ws.CoreDump(), ctlCores)
	}
	for _, c := range ctlCores {
		os.Remove(filepath.Join(coreDir, c))
	}
	t.Logf("control: sleep killed by SIGABRT dumped %v in %s", ctlCores, coreDir)

	// The daemon, mounted the way a user does, under the same conditions.
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "core")
	e := newSSECKey(t)
	ssefs, _ := testenv.MustBinaries(t)
	mnt := filepath.Join(work, "mnt")
	os.Mkdir(mnt, 0o755)
	mount := exec.Command("sh", append([]string{"-c", raiseCore, ssefs, "mount", "core", mnt, "--endpoint", b.Endpoint(),
		"--log-file", filepath.Join(work, "mnt.log"), "--staging-dir", filepath.Join(work, "staging")}, e.mountArgs()...)...)
	mount.Dir = work
	mount.Env = append(b.Environ(), "GOTRACEBACK=crash")
	t.Cleanup(func() {
		if testenv.IsMounted(mnt) {
			exec.Command("umount", "-l", mnt).Run()
		}
	})
	if out, err := mount.CombinedOutput(); err != nil {
		t.Fatalf("ssefs mount: %v\n%s", err, out)
	}
	pid := daemonPID(t, mnt)
	data := randomBytes(t, 1<<20)
	writeLocal(t, filepath.Join(mnt, "secret.bin"), data)
	assertFileContent(t, filepath.Join(mnt, "secret.bin"), data)

	limits, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if !regexp.MustCompile(`(?m)^Max core file size\s+unlimited\s`).Match(limits) {
		t.Fatalf("the daemon's RLIMIT_CORE was not raised: the test proves nothing\n%s", limits)
	}
	environ, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if !slices.Contains(strings.Split(string(environ), "\x00"), "GOTRACEBACK=crash") {
		t.Fatal("the daemon does not run with GOTRACEBACK=crash: the test proves nothing")
	}

	before = listDir(coreDir)
	if err := syscall.Kill(pid, syscall.SIGABRT); err != nil {
		t.Fatal(err)
	}
	waitGone(t, pid)
	if cores := newFiles(coreDir, before); len(cores) > 0 {
		t.Errorf("the daemon killed by SIGABRT dumped core: %v in %s", cores, coreDir)
	}
}
