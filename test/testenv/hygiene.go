package testenv

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssefs/ssefs/ssekeys"
)

// The suite-wide hygiene check (issue 7): with RunTestsWithHygiene, every
// mount testenv starts logs with --debug to a log file that is kept until
// the end of the run; every SSE-C key a mount is given (read from its key
// file), every SSE-KMS key testenv creates and every plaintext marker a
// test writes into an encrypted file is registered; each daemon's /proc
// cmdline, environ and open files are scanned right after it mounts and
// again before it is unmounted, its staging dir after it is unmounted, and
// each reference backend's data dir (ciphertext) and log when it stops.
// After the last test, every kept log, and every file under the temp dir
// and the default staging dir written since the suite began, are scanned
// for every key (raw, base64, hex) and marker. A hit anywhere fails the
// run.
//
// With SSEFS_RACE=1 (race-built binaries), every ssefs and
// ssefs-refbackend process writes its race reports to a file
// (GORACE=log_path=...); a report from a mount's daemon fails the test
// that ran it, and any report fails the run.

// suite is the registry of the test process.
var suite hygiene

type hygiene struct {
	mu    sync.Mutex
	on    bool      // RunTestsWithHygiene
	start time.Time // when the suite began
	dir   string    // logs/ and race/ of this run
	// before holds the directories of the temp dir that existed when the
	// suite began: other programs' (other test runs, the go tool), whose
	// files the end-of-suite scan leaves alone; what the suite writes goes
	// to directories it makes.
	before map[string]bool

	secrets   Secrets
	backendOK map[string]bool // secrets the reference backend stores by design (SSE-KMS keys in its key manager)
	keyFiles  map[string]bool // the tests' own key files: never scanned
	keys      int
	markers   int
	all, data *matcher // matchers for all secrets, and for those the backend must not hold; nil when stale

	logN      int             // logs made so far, for their names
	logs      []string        // daemon logs to scan at the end
	keptLogs  map[string]bool // the logs (as the daemons wrote them) already in logs
	daemons   int             // daemons whose /proc entries were scanned
	openFiles int             // files daemons held open, scanned through /proc
	files     int             // files scanned during the run (staging dirs, backend data)
	bytes     int64
	leaks     []string
	races     map[string]bool // race report files already reported by a test
	daemonOf  map[int]string  // what each daemon pid served, for reports
	spent     time.Duration   // time the scans during the run took
}

// RunTestsWithHygiene is RunTests with the suite-wide hygiene check: after
// the tests it scans what the suite left for keys and plaintext markers,
// prints each leak and a one-line summary, and turns the exit code into a
// failure on any leak or data race.
func RunTestsWithHygiene(m interface{ Run() int }) int {
	suite.mu.Lock()
	suite.on = true
	suite.start = time.Now().Add(-time.Second)
	suite.before = map[string]bool{}
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		if e.IsDir() {
			suite.before[e.Name()] = true
		}
	}
	suite.mu.Unlock()
	if _, err := suite.workDir(); err != nil {
		fmt.Fprintln(os.Stderr, "hygiene:", err)
		return 1
	}
	setRaceEnv()
	code := m.Run()
	if !suite.finish(os.Stdout) && code == 0 {
		code = 1
	}
	RemoveBinaries()
	suite.cleanup(code == 0)
	return code
}

// workDir is this run's directory for kept logs and race reports, made on
// first use.
func (h *hygiene) workDir() (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir == "" {
		dir, err := os.MkdirTemp("", "ssefs-e2e-")
		if err != nil {
			return "", err
		}
		for _, sub := range []string{"logs", "race"} {
			if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
				return "", err
			}
		}
		h.dir = dir
	}
	return h.dir, nil
}

// cleanup removes the run's directory, unless the run failed and it is
// worth a look.
func (h *hygiene) cleanup(passed bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dir == "" {
		return
	}
	if passed || !h.on {
		os.RemoveAll(h.dir)
	} else {
		fmt.Printf("hygiene: kept the daemon logs and race reports in %s\n", h.dir)
	}
	h.dir = ""
}

// RegisterKey adds a key that must never appear outside the test's own
// key files, in any encoding. what names it (a fingerprint, never bytes).
func RegisterKey(what string, raw []byte) { suite.registerKey(what, raw, false) }

func (h *hygiene) registerKey(what string, raw []byte, backendOK bool) {
	if len(raw) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.secrets == nil {
		h.secrets, h.backendOK = Secrets{}, map[string]bool{}
	}
	if _, ok := h.secrets[what+" raw"]; ok {
		return
	}
	for name, b := range KeySecrets(what, raw) {
		h.secrets[name] = b
		if backendOK {
			h.backendOK[name] = true
		}
	}
	h.keys++
	h.all, h.data = nil, nil
}

// RegisterKeyFile registers every key of an SSE-C key file (parsed as
// ssefs parses it) and excludes the file itself from the scans. A file
// that is not a valid key file registers nothing.
func RegisterKeyFile(path string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	suite.mu.Lock()
	if suite.keyFiles == nil {
		suite.keyFiles = map[string]bool{}
	}
	suite.keyFiles[path] = true
	suite.mu.Unlock()
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	defer clear(data)
	ring, err := ssekeys.ParseKeys(data)
	if err != nil {
		return
	}
	for _, k := range ring.All() {
		raw := k.Bytes()
		RegisterKey("SSE-C key "+k.Fingerprint(), raw)
	}
}

// RegisterMarker adds a plaintext marker a test writes into an encrypted
// file: it must never appear in a log, a process listing, a staged file,
// a temp file, or the backend's data. Markers of objects stored
// unencrypted on purpose must not be registered.
func RegisterMarker(marker string) {
	if marker == "" {
		return
	}
	suite.mu.Lock()
	defer suite.mu.Unlock()
	if suite.secrets == nil {
		suite.secrets, suite.backendOK = Secrets{}, map[string]bool{}
	}
	name := "plaintext marker " + marker
	if _, ok := suite.secrets[name]; ok {
		return
	}
	suite.secrets[name] = []byte(marker)
	suite.markers++
	suite.all, suite.data = nil, nil
}

// matcher returns the matcher of every registered secret, or, with
// backendData, of those a backend's data must not hold either.
func (h *hygiene) matcher(backendData bool) *matcher {
	h.mu.Lock()
	defer h.mu.Unlock()
	if backendData {
		if h.data == nil {
			s := Secrets{}
			for k, v := range h.secrets {
				if !h.backendOK[k] {
					s[k] = v
				}
			}
			h.data = newMatcher(s)
		}
		return h.data
	}
	if h.all == nil {
		h.all = newMatcher(h.secrets)
	}
	return h.all
}

func (h *hygiene) enabled() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.on
}

// leak records leaks and fails the test that found them.
func (h *hygiene) leak(t testing.TB, leaks ...string) {
	t.Helper()
	if len(leaks) == 0 {
		return
	}
	h.mu.Lock()
	h.leaks = append(h.leaks, leaks...)
	h.mu.Unlock()
	for _, l := range leaks {
		t.Errorf("hygiene: leak: %s", l)
	}
}

func (h *hygiene) count(files int, n int64) {
	h.mu.Lock()
	h.files += files
	h.bytes += n
	h.mu.Unlock()
}

// took adds the time since start to the time the scans took.
func (h *hygiene) took(start time.Time) {
	h.mu.Lock()
	h.spent += time.Since(start)
	h.mu.Unlock()
}

// logFile is where a mount's log goes: kept in the run's directory.
func (h *hygiene) logFile(t testing.TB) string {
	dir, err := h.workDir()
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.logN++
	n := h.logN
	h.mu.Unlock()
	name := regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(t.Name(), "_")
	return filepath.Join(dir, "logs", fmt.Sprintf("%04d-%.100s.log", n, name))
}

// keepLog adds a daemon log to the end-of-suite scan; a log outside the
// run's directory (a test's own --log-file) is copied there first, since
// the test's temp dir goes away.
func (h *hygiene) keepLog(t testing.TB, path string) {
	if path == "" {
		return
	}
	h.mu.Lock()
	dir := h.dir
	kept := h.keptLogs[path]
	if h.keptLogs == nil {
		h.keptLogs = map[string]bool{}
	}
	h.keptLogs[path] = true
	h.mu.Unlock()
	if kept {
		return
	}
	if dir == "" || !strings.HasPrefix(path, dir+"/") {
		copyPath := h.logFile(t)
		data, err := os.ReadFile(path)
		if err != nil {
			return
		}
		if err := os.WriteFile(copyPath, data, 0o600); err != nil {
			t.Errorf("hygiene: keep log %s: %v", path, err)
			return
		}
		path = copyPath
	}
	h.mu.Lock()
	h.logs = append(h.logs, path)
	h.mu.Unlock()
}

// KeepLog adds the log of a daemon a test started itself (not through
// MountBucket) to the end-of-suite scan. Call it once the daemon is gone.
func KeepLog(t testing.TB, path string) {
	if suite.enabled() {
		suite.keepLog(t, path)
	}
}

// checkOutput scans what a command printed.
func (h *hygiene) checkOutput(t testing.TB, what string, out []byte) {
	if !h.enabled() {
		return
	}
	defer h.took(time.Now())
	var leaks []string
	for _, s := range h.matcher(false).find(out) {
		leaks = append(leaks, what+": "+s)
	}
	h.leak(t, leaks...)
}

// checkProcess scans a daemon's /proc cmdline, environ and open files.
func (h *hygiene) checkProcess(t testing.TB, pid int, first bool) {
	if !h.enabled() || pid <= 0 {
		return
	}
	defer h.took(time.Now())
	leaks, open := h.matcher(false).scanProcess(pid)
	h.mu.Lock()
	if first {
		h.daemons++
	}
	h.openFiles += open
	h.mu.Unlock()
	h.leak(t, leaks...)
}

// checkTree scans a directory a daemon or backend wrote (staging dir,
// backend data) now, before the test's temp dir goes away.
func (h *hygiene) checkTree(t testing.TB, root string, backendData bool) {
	if !h.enabled() {
		return
	}
	defer h.took(time.Now())
	if _, err := os.Stat(root); err != nil {
		return
	}
	// The backend's data files hold whole objects and parts (GiBs over the
	// suite): their first and last MiB show whether one rests in plaintext
	// (every marker-carrying write repeats its marker at least every 256
	// KiB); its metadata files are small and read whole.
	var ends int64
	if backendData {
		ends = 1 << 20
	}
	leaks, files, n := h.matcher(backendData).scanTree(root, time.Time{}, func(string) bool { return false }, ends)
	h.count(files, n)
	h.leak(t, leaks...)
}

// checkFile scans one file now.
func (h *hygiene) checkFile(t testing.TB, path string, backendData bool) {
	if !h.enabled() {
		return
	}
	defer h.took(time.Now())
	found, n, ok := h.matcher(backendData).scanFile(path)
	if !ok {
		return
	}
	h.count(1, n)
	var leaks []string
	for _, s := range found {
		leaks = append(leaks, path+": "+s)
	}
	h.leak(t, leaks...)
}

// Data races in race-built binaries.

const raceMarker = "WARNING: DATA RACE"

// RaceBuild reports whether the binaries are built with -race (SSEFS_RACE=1):
// a test whose bounds the race detector breaks (memory, speed) checks it.
func RaceBuild() bool { return os.Getenv("SSEFS_RACE") == "1" }

// raceEnv is the GORACE setting that sends a race-built process's reports
// to race/race.PID in the run's directory, or "" when the binaries are
// not race-built.
func raceEnv() string {
	if !RaceBuild() {
		return ""
	}
	dir, err := suite.workDir()
	if err != nil {
		return ""
	}
	v := strings.TrimSpace(os.Getenv("GORACE"))
	if strings.Contains(v, "log_path=") {
		return "GORACE=" + v
	}
	return "GORACE=" + strings.TrimSpace(v+" log_path="+filepath.Join(dir, "race", "race"))
}

// setRaceEnv puts raceEnv into this process's environment, so every
// binary a test starts (backends, CLI runs, mounts made by hand) reports
// races to the run's directory. The test binary itself read GORACE when it
// started and is not affected.
func setRaceEnv() {
	if kv := raceEnv(); kv != "" {
		os.Setenv("GORACE", strings.TrimPrefix(kv, "GORACE="))
	}
}

// raceReport returns the race report of process pid, if it wrote one.
func (h *hygiene) raceReport(pid int) (string, string) {
	h.mu.Lock()
	dir := h.dir
	h.mu.Unlock()
	if dir == "" || pid <= 0 {
		return "", ""
	}
	p := filepath.Join(dir, "race", fmt.Sprintf("race.%d", pid))
	data, err := os.ReadFile(p)
	if err != nil || !bytes.Contains(data, []byte(raceMarker)) {
		return "", ""
	}
	return p, string(data)
}

// checkRaces fails t for every data race that process pid reported,
// in its race report file or in log.
func (h *hygiene) checkRaces(t testing.TB, what string, pids []int, log string) {
	t.Helper()
	for _, pid := range pids {
		if p, report := h.raceReport(pid); p != "" {
			h.mu.Lock()
			if h.races == nil {
				h.races = map[string]bool{}
			}
			h.races[p] = true
			h.mu.Unlock()
			t.Errorf("%s (pid %d) reported a data race (%s):\n%s", what, pid, p, excerpt(report, raceMarker, 6000))
		}
	}
	if log != "" {
		if data, err := os.ReadFile(log); err == nil && bytes.Contains(data, []byte(raceMarker)) {
			t.Errorf("%s: its log %s reports a data race:\n%s", what, log, excerpt(string(data), raceMarker, 6000))
		}
	}
}

// excerpt is up to n bytes of s from the first occurrence of mark.
func excerpt(s, mark string, n int) string {
	if i := strings.Index(s, mark); i > 0 {
		s = s[max(0, i-200):]
	}
	if len(s) > n {
		s = s[:n] + "\n[...]"
	}
	return s
}

// waitExit waits until ssefs process pid has exited (or is a zombie), at
// most d. Another program under the pid (reused) is not waited for.
func waitExit(pid int, d time.Duration) {
	if pid <= 0 {
		return
	}
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return
		}
		// pid (comm) STATE ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || !bytes.Contains(stat[:i], []byte("(ssefs")) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
			return
		}
	}
}

// finish runs the end-of-suite scan and prints the leaks and the summary;
// it reports whether the run is clean.
func (h *hygiene) finish(w io.Writer) bool {
	began := time.Now()
	races := h.reportRaces(w) // waits for the last daemons to exit
	h.mu.Lock()
	dir, start := h.dir, h.start
	before := h.before
	logs := append([]string(nil), h.logs...)
	keyFiles := map[string]bool{}
	for k := range h.keyFiles {
		keyFiles[k] = true
	}
	h.mu.Unlock()
	m := h.matcher(false)
	var leaks []string

	// The kept daemon logs (and what else the run's directory holds).
	logBytes := int64(0)
	for _, p := range logs {
		found, n, ok := m.scanFile(p)
		if !ok {
			continue
		}
		logBytes += n
		for _, s := range found {
			leaks = append(leaks, p+": "+s)
		}
	}
	kept := map[string]bool{}
	for _, p := range logs {
		kept[p] = true
	}
	var dirFiles int
	var dirBytes int64
	if dir != "" {
		var dirLeaks []string
		dirLeaks, dirFiles, dirBytes = m.scanTree(dir, time.Time{}, func(p string) bool { return kept[p] }, 0)
		leaks = append(leaks, dirLeaks...)
	}

	// Every file under the temp dir and the default staging dir written
	// since the suite began, but the tests' key files, the test binaries
	// (go-build*, the ssefs build), the run's directory (done above) and
	// the directories that were there before the suite began.
	tmp := filepath.Clean(os.TempDir())
	skip := func(p string) bool {
		base := filepath.Base(p)
		top := filepath.Dir(p) == tmp
		return keyFiles[p] || p == dir || (buildDir != "" && p == buildDir) ||
			top && (strings.HasPrefix(base, "go-build") || before[base])
	}
	roots := []string{tmp}
	if cache, err := os.UserCacheDir(); err == nil {
		roots = append(roots, filepath.Join(cache, "ssefs"))
	}
	tmpFiles, tmpBytes := 0, int64(0)
	for _, root := range roots {
		l, f, n := m.scanTree(root, start, skip, 0)
		leaks = append(leaks, l...)
		tmpFiles += f
		tmpBytes += n
	}

	h.mu.Lock()
	leaks = append(h.leaks, leaks...)
	keys, markers, daemons, openFiles, spent := h.keys, h.markers, h.daemons, h.openFiles, h.spent
	files := h.files + dirFiles + tmpFiles
	scanned := h.bytes + dirBytes + tmpBytes
	h.mu.Unlock()
	for _, l := range leaks {
		fmt.Fprintf(w, "hygiene: LEAK: %s\n", l)
	}
	fmt.Fprintf(w, "hygiene: %d mounts scanned (/proc cmdline, environ, %d open files), %d daemon logs (%d log bytes), %d files (%d bytes: staging dirs, backend data, temp dir), %d keys, %d markers: %d leaks, %d data race reports (scans took %.1fs during the tests, %.1fs after)\n",
		daemons, openFiles, len(logs), logBytes, files, scanned, keys, markers, len(leaks), races, spent.Seconds(), time.Since(began).Seconds())
	return len(leaks) == 0 && races == 0
}

// noteDaemon records what daemon pid serves, for race reports.
func (h *hygiene) noteDaemon(pid int, what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.daemonOf == nil {
		h.daemonOf = map[int]string{}
	}
	h.daemonOf[pid] = what
}

// reportRaces prints every race report a race-built process wrote that no
// test has reported yet, and returns how many reports hold a data race.
// It first gives the daemons of the last mounts time to exit (a race
// report's summary is written at exit).
func (h *hygiene) reportRaces(w io.Writer) int {
	h.mu.Lock()
	dir := h.dir
	var pids []int
	for pid := range h.daemonOf {
		pids = append(pids, pid)
	}
	h.mu.Unlock()
	if dir == "" {
		return 0
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		waitExit(pid, time.Until(deadline))
	}
	races := 0
	reports, _ := filepath.Glob(filepath.Join(dir, "race", "race.*"))
	for _, p := range reports {
		data, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(data, []byte(raceMarker)) {
			continue
		}
		races++
		h.mu.Lock()
		reported := h.races[p]
		h.mu.Unlock()
		if !reported {
			who := "a race-built process"
			var pid int
			if _, err := fmt.Sscanf(filepath.Ext(p), ".%d", &pid); err == nil {
				h.mu.Lock()
				if d := h.daemonOf[pid]; d != "" {
					who = d
				}
				h.mu.Unlock()
			}
			fmt.Fprintf(w, "data race reported by %s (%s):\n%s\n", who, p, excerpt(string(data), raceMarker, 6000))
		}
	}
	return races
}
