package e2e

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ssefs/ssefs/test/faultproxy"
	"github.com/ssefs/ssefs/test/testenv"
)

// TestConcurrentReadersAndWriters: 16 goroutines share one mount. Eight
// write, close and re-read files of their own; four read shared files that
// do not change, checking every byte; four overwrite one shared file with
// whole versions of their own. At the end every private file holds its
// last version (through the mount and on the server), and the shared file
// holds exactly one of the versions whose close returned 0, never a mix.
func TestConcurrentReadersAndWriters(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "conc")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "conc", e.mountArgs()...)

	shared := make([][]byte, 3)
	for i := range shared {
		shared[i] = randomBytes(t, (i+1)*3<<20+i)
		writeLocal(t, m.Path(fmt.Sprintf("ro%d.bin", i)), shared[i])
	}
	const rounds = 6
	var wg sync.WaitGroup
	var mu sync.Mutex
	last := map[string][]byte{}        // private file -> last acknowledged content
	hotVersions := map[[32]byte]bool{} // acknowledged versions of hot.bin
	var hotWritten [][]byte            // every version written to hot.bin
	var ops, hotFailures atomic.Int64
	errs := make(chan error, 64)
	fail := func(format string, args ...any) {
		select {
		case errs <- fmt.Errorf(format, args...):
		default:
		}
	}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("w%d/data.bin", w)
			if err := os.MkdirAll(m.Path(fmt.Sprintf("w%d", w)), 0o755); err != nil {
				fail("mkdir: %v", err)
				return
			}
			for r := range rounds {
				data := make([]byte, 256<<10+w*4099+r*777)
				pattern(uint64(w*100+r), int64(len(data))).Read(data)
				if err := os.WriteFile(m.Path(name), data, 0o644); err != nil {
					fail("%s round %d: %v", name, r, err)
					return
				}
				got, err := os.ReadFile(m.Path(name))
				ops.Add(2)
				if err != nil || !bytes.Equal(got, data) {
					fail("%s round %d: read back %d bytes, %v: differs from what was written", name, r, len(got), err)
					return
				}
				mu.Lock()
				last[name] = data
				mu.Unlock()
			}
		}()
	}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range rounds * 2 {
				i := (r + k) % len(shared)
				got, err := os.ReadFile(m.Path(fmt.Sprintf("ro%d.bin", i)))
				ops.Add(1)
				if err != nil || !bytes.Equal(got, shared[i]) {
					fail("reader %d: ro%d.bin: %d bytes, %v: differs", r, i, len(got), err)
					return
				}
			}
		}()
	}
	for h := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				data := make([]byte, 1<<20+h*31+r)
				pattern(uint64(9000+h*100+r), int64(len(data))).Read(data)
				mu.Lock()
				hotWritten = append(hotWritten, data)
				mu.Unlock()
				err := os.WriteFile(m.Path("hot.bin"), data, 0o644)
				ops.Add(1)
				if err != nil {
					hotFailures.Add(1) // allowed: a concurrent overwrite may fail; it must not count as saved
					continue
				}
				mu.Lock()
				hotVersions[sha256.Sum256(data)] = true
				mu.Unlock()
			}
		}()
	}
	within(t, 5*time.Minute, "16 concurrent readers and writers", wg.Wait)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for name, data := range last {
		if got := getObject(t, b, "conc", name, e); !bytes.Equal(got, data) {
			t.Errorf("%s: the server does not hold the last acknowledged version", name)
		}
	}
	got := getObject(t, b, "conc", "hot.bin", e)
	if !hotVersions[sha256.Sum256(got)] {
		// Legal on any filesystem: two writers both truncate (O_TRUNC)
		// before either writes, then the shorter version lands over the
		// longer one. Then every byte must still be one that some writer
		// wrote at that offset, and the length that of a written version.
		if off, ok := layeredFrom(got, hotWritten); !ok {
			t.Errorf("hot.bin: the server holds %d bytes that no sequence of the %d writes explains (byte %d)", len(got), len(hotWritten), off)
		} else {
			t.Logf("hot.bin: the server holds concurrent writes layered over each other (%d bytes), as a local filesystem would", len(got))
		}
	}
	if local, err := os.ReadFile(m.Path("hot.bin")); err != nil || !bytes.Equal(local, got) {
		t.Errorf("hot.bin: the mount shows %d bytes (%v), the server %d", len(local), err, len(got))
	}
	t.Logf("%d operations, %d failed overwrites of the shared file, %d acknowledged versions", ops.Load(), hotFailures.Load(), len(hotVersions))
}

// TestGoCallersNeverSeeEINTR: a Go program under load gets preemption
// signals all the time; the kernel turns each one that arrives during a
// FUSE request into an interrupt, and go-fuse into a cancelled context.
// ssefs must not let that fail stat, mkdir, rename, unlink or close with
// EINTR (libfuse ignores interrupts unless mounted with -o intr). The calls
// are made with package syscall, which does not retry EINTR as package os
// does for some of them.
func TestGoCallersNeverSeeEINTR(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "intr")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "intr", e.mountArgs()...)
	stop := make(chan struct{})
	var spin sync.WaitGroup
	for range runtime.GOMAXPROCS(0) * 2 { // keep the scheduler preempting
		spin.Add(1)
		go func() {
			defer spin.Done()
			x := 0
			for {
				select {
				case <-stop:
					return
				default:
					for i := range 1 << 16 {
						x += i
					}
				}
			}
		}()
	}
	counts := map[string]int{}
	var mu sync.Mutex
	note := func(op string, err error) {
		if errnoOf(err) == syscall.EINTR {
			mu.Lock()
			counts[op]++
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				dir := m.Path(fmt.Sprintf("d%d-%d", w, i))
				note("mkdir", syscall.Mkdir(dir, 0o755))
				var st syscall.Stat_t
				note("stat", syscall.Stat(dir, &st))
				file := dir + "/f"
				fd, err := syscall.Open(file, syscall.O_CREAT|syscall.O_WRONLY, 0o644)
				note("open", err)
				if err == nil {
					_, err = syscall.Write(fd, bytes.Repeat([]byte{'x'}, 64<<10))
					note("write", err)
					note("close", syscall.Close(fd))
				}
				note("stat", syscall.Stat(file, &st))
				note("rename", syscall.Rename(file, dir+"/g"))
				note("unlink", syscall.Unlink(dir+"/g"))
				note("rmdir", syscall.Rmdir(dir))
			}
		}()
	}
	within(t, 5*time.Minute, "the calls", wg.Wait)
	close(stop)
	spin.Wait()
	for op, n := range counts {
		t.Errorf("%s failed with EINTR %d times", op, n)
	}
}

// TestSignalDuringCloseKeepsUpload: a program that gets a signal (with a
// handler) while close(2) uploads must not see the upload abandoned: the
// kernel sends FUSE an interrupt, and an ssefs that honours it fails close
// with EINTR and then drops the data at release. The writer is a python3
// process with a SIGUSR1 handler; the proxy stalls the upload so that the
// signal lands inside close.
// (Every fs operation runs with a context detached from FUSE interrupts:
// fs/dir.go serverCtx.)
func TestSignalDuringCloseKeepsUpload(t *testing.T) {
	requireTool(t, "python3")
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "sig")
	e := newSSECKey(t)
	p := startProxy(t, b)
	m := testenv.MountBucket(t, b, "sig", append(e.mountArgs(), "--endpoint", p.URL())...)
	p.SetPlan(faultproxy.Plan{Rate: 1, Kinds: []faultproxy.Kind{faultproxy.Stall}, Stall: 3 * time.Second, Match: faultproxy.IsObjectPut})
	script := `
import os, signal, sys
signal.signal(signal.SIGUSR1, lambda *a: None)
f = open(sys.argv[1], "wb")
f.write(b"s" * (1 << 20))
print("closing", flush=True)
try:
    f.close()
except OSError as e:
    print("close:", e.errno, e, flush=True)
    sys.exit(3)
print("closed", flush=True)
`
	cmd := exec.Command("python3", "-c", script, m.Path("signalled.bin"))
	outFile, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer outFile.Close()
	cmd.Stdout, cmd.Stderr = outFile, outFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	output := func() string { b, _ := os.ReadFile(outFile.Name()); return string(b) }
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(output(), "closing"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the writer never reached close: %s", output())
		}
	}
	time.Sleep(time.Second) // inside the stalled upload
	cmd.Process.Signal(syscall.SIGUSR1)
	within(t, time.Minute, "the signalled writer", func() { err = cmd.Wait() })
	if err != nil {
		t.Fatalf("close(2) failed after a signal: %v\n%s", err, output())
	}
	if got := getObject(t, b, "sig", "signalled.bin", e); len(got) != 1<<20 {
		t.Fatalf("close returned 0 but the server holds %d bytes", len(got))
	}
}

// layeredFrom reports whether data is what whole writes from offset 0 of
// some of versions could leave in a file (each later write overlaying the
// earlier ones): its length is a version's, and each byte is some longer-
// or-equal version's byte at that offset. It returns the first byte that
// no version explains.
func layeredFrom(data []byte, versions [][]byte) (int, bool) {
	sized := false
	for _, v := range versions {
		sized = sized || len(v) == len(data)
	}
	if !sized {
		return len(data), false
	}
	for i := range data {
		found := false
		for _, v := range versions {
			if i < len(v) && v[i] == data[i] {
				found = true
				break
			}
		}
		if !found {
			return i, false
		}
	}
	return 0, true
}
