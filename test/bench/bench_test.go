// Package bench is `make bench`: ssefs against the direct-SDK limit on the
// reference backend, and against s3fs and rclone when they are installed.
// It runs only with SSEFS_BENCH=1:
//
//	SSEFS_BENCH=1 go test -run TestBench -v -timeout 60m ./test/bench
//
// SSEFS_BENCH_MB (default 1024) sets the size of the large object,
// SSEFS_BENCH_RSS_MB (default 4096) the read watched for peak RSS,
// SSEFS_BENCH_RUNS (default 3) the runs per figure (the median is shown),
// SSEFS_BENCH_COLD_PAIRS (default 3) the cold reads per run, each paired
// with a cold read by the SDK right before it (the ratio shown is the
// median of the pairs'; each sequential write and each ls -l is paired in
// the same way),
// SSEFS_BENCH_PEERS=0 skips s3fs and rclone, SSEFS_BENCH_QUICK=1 measures
// only the large-object rows, and SSEFS_BENCH_ARGS adds ssefs mount flags
// (e.g. "--block-size 8M").
//
// ssefs is measured twice: as mounted by default (through the kernel's
// page cache) and with --direct-io (column ssefs-dio).
//
// Under the cold read it shows the CPU the whole machine spent per GiB, and
// after the table what a cold read of a memory-backed go-fuse file with
// ssefs's FUSE settings costs (fuseonly_test.go), through the page cache
// and with direct I/O: FUSE's own share, which no FUSE client can avoid.
package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/testenv"
)

const bucket = "bench"

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// config of one bench run.
type config struct {
	size       int64 // large object, bytes
	rssSize    int64 // read watched for RSS
	runs       int
	coldPairs  int // cold reads per run, each paired with an SDK read
	smallFiles int
	listFiles  int
	randomOps  int
	quick      bool
	src        string // local file of size random bytes (the write source)
}

func TestBench(t *testing.T) {
	if os.Getenv("SSEFS_BENCH") != "1" {
		t.Skip("set SSEFS_BENCH=1 (make bench)")
	}
	cfg := config{
		size:       int64(envInt("SSEFS_BENCH_MB", 1024)) << 20,
		rssSize:    int64(envInt("SSEFS_BENCH_RSS_MB", 4096)) << 20,
		runs:       envInt("SSEFS_BENCH_RUNS", 3),
		coldPairs:  max(1, envInt("SSEFS_BENCH_COLD_PAIRS", 3)),
		smallFiles: 1000,
		listFiles:  5000,
		randomOps:  1000,
		quick:      os.Getenv("SSEFS_BENCH_QUICK") == "1",
	}
	cfg.size = (cfg.size + sdkPartSize - 1) / sdkPartSize * sdkPartSize
	ctx := context.Background()
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, bucket)
	// One SSE-C key for everyone: the file ssefs reads, the same bytes
	// for the SDK and the peers.
	keyFile := filepath.Join(t.TempDir(), "ssec.key")
	key, err := ssekeys.GenerateKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	s := newSDK(b, bucket, key)

	data := make([]byte, cfg.size)
	rand.Read(data)
	cfg.src = filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(cfg.src, data, 0o600); err != nil {
		t.Fatal(err)
	}

	res := newResults()
	t.Logf("direct SDK: %d MiB object, %d parts of %d MiB / ranges of %d MiB, %d in flight", cfg.size>>20, cfg.size/sdkPartSize, sdkPartSize>>20, sdkRangeSize>>20, sdkParallel)
	sdkCold := func() (rate, cpuPerGiB float64, err error) {
		settle()
		start := time.Now()
		cpu, err := machineCPU(func() error { return s.getParallel(ctx, "big", cfg.size) })
		return mbps(cfg.size, time.Since(start)), perGiB(cpu, cfg.size), err
	}
	for range cfg.runs {
		settle()
		start := time.Now()
		must(t, s.putParallel(ctx, "big", data, cfg.size))
		res.add("sdk", rowWrite, mbps(cfg.size, time.Since(start)))
		rate, cpu, err := sdkCold()
		must(t, err)
		res.add("sdk", rowCold, rate)
		res.add("sdk", rowColdCPU, cpu)
		if cfg.quick {
			continue
		}
		settle()
		ops, err := s.randomGets(ctx, "big", cfg.size, cfg.randomOps)
		must(t, err)
		res.add("sdk", rowRandom, ops)
		settle()
		ops, err = s.putSmall(ctx, "sdk-small/", cfg.smallFiles)
		must(t, err)
		res.add("sdk", rowSmall, ops)
	}
	// sdkWrite uploads the object as (a) does, right before a tool's
	// sequential write of the same bytes.
	sdkWrite := func() (float64, error) {
		settle()
		start := time.Now()
		err := s.putParallel(ctx, "sdk-w", data, cfg.size)
		return mbps(cfg.size, time.Since(start)), err
	}
	if !cfg.quick {
		must(t, s.fill(ctx, "ls/", cfg.listFiles))
	}
	// timedListing times one listing of the ls -l directory by the SDK,
	// checking that it saw every file.
	timedListing := func(list func(context.Context, string) (int, error)) (float64, error) {
		start := time.Now()
		n, err := list(ctx, "ls/")
		if err == nil && n != cfg.listFiles {
			err = fmt.Errorf("listing has %d entries, want %d", n, cfg.listFiles)
		}
		return time.Since(start).Seconds(), err
	}
	// sdkList times the bare listing, as (a) does, right before a tool's
	// ls -l.
	sdkList := func() (float64, error) { return timedListing(s.list) }
	listHeads := func(ctx context.Context, prefix string) (int, error) { return s.listHeads(ctx, prefix, headsAtOnce) }
	dropIndex := func() error {
		_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(objcache.AttrIndexKey("ls/"))})
		return err
	}
	for range cfg.runs * btoi(!cfg.quick) {
		for _, m := range []struct {
			rw   *row
			list func(context.Context, string) (int, error)
		}{{rowList, s.list}, {rowListHeads, listHeads}} {
			settle()
			d, err := timedListing(m.list)
			must(t, err)
			res.add("sdk", m.rw, d)
		}
	}

	if !cfg.quick {
		localLs(t, cfg, res)
	}

	args := strings.Fields(os.Getenv("SSEFS_BENCH_ARGS"))
	tools := []fsUnderTest{
		&ssefsMount{label: "ssefs", b: b, bucket: bucket, keyFile: keyFile, args: args},
		&ssefsMount{label: "ssefs-dio", b: b, bucket: bucket, keyFile: keyFile, args: append(slices.Clip(args), "--direct-io")},
	}
	if os.Getenv("SSEFS_BENCH_PEERS") != "0" {
		if _, err := exec.LookPath("s3fs"); err == nil {
			tools = append(tools, s3fsMount(t, b, bucket, key))
		}
		if _, err := exec.LookPath("rclone"); err == nil {
			tools = append(tools, rcloneMount(t, b, bucket, key))
		}
	}
	names := []string{}
	for _, fs := range tools {
		names = append(names, fs.name())
	}
	defer func() { // even when a step fails
		fmt.Print(res.table(cfg, names) + "ssefs-dio: ssefs mounted with --direct-io (no kernel page cache)\n" + res.fuseBound() + res.listBound(cfg))
	}()
	for _, fs := range tools {
		t.Logf("%s: running the workloads", fs.name())
		runWorkloads(t, fs, cfg, res, sdkPairs{sdkCold, sdkWrite, sdkList, dropIndex})
	}
	t.Logf("FUSE alone: cold reads of a %d MiB memory-backed file", cfg.size>>20)
	fuseOnly(t, cfg, res)
	if !cfg.quick {
		t.Logf("FUSE alone: ls -l of a memory-backed directory of %d files", cfg.listFiles)
		fuseOnlyLs(t, cfg, res)
	}
	// Peak RSS while reading a large object (ssefs only; the object is
	// written with the SDK from the 1 GiB pattern).
	rssKey := "rss"
	if cfg.quick {
		cfg.rssSize = cfg.size
		rssKey = "big"
	}
	if !cfg.quick {
		must(t, s.putParallel(ctx, rssKey, readPattern(t, cfg.src), cfg.rssSize))
	}
	ss := tools[0]
	mnt := ss.mount(t)
	must(t, readFile(filepath.Join(mnt, rssKey)))
	rss, err := peakRSS(mountPID(mnt))
	must(t, err)
	ss.unmount(t)
	res.add("ssefs", rowRSSBig, rss)

}

// sdkPairs are the SDK's figures taken right before a tool's, in the same
// state of the machine: a cold read (MB/s and CPU s per GiB), an upload
// of the same bytes as the sequential write (MB/s) and the bare listing
// of the ls -l directory (s). dropIndex deletes the attribute index of the
// ls -l directory, if any.
type sdkPairs struct {
	cold      func() (rate, cpuPerGiB float64, err error)
	write     func() (float64, error)
	list      func() (float64, error)
	dropIndex func() error
}

// headsAtOnce is how many HEADs the SDK's reference for a first ls -l
// sends at once: as many as ssefs's prefetcher (fs/prefetch.go).
const headsAtOnce = 32

// settle writes back what earlier steps left dirty in the page cache (the
// backend's files above all) and lets the machine calm down, so that a
// figure does not pay for the writeback of the step before it (the cold
// read comes right after the SDK's gigabytes of writes).
func settle() {
	syscall.Sync()
	time.Sleep(time.Second)
}

func readPattern(t *testing.T, path string) []byte {
	data, err := os.ReadFile(path)
	must(t, err)
	return data
}

// runWorkloads measures one filesystem: each figure cfg.runs times. A
// failing workload fails the bench for ssefs (either column); for a peer
// it is reported
// in the table and the rest goes on.
//
// Before each cold read, sequential write and ls -l, the SDK does the same
// (sdk), recorded under the tool's name as the pair of its figure.
func runWorkloads(t *testing.T, fs fsUnderTest, cfg config, res *results, sdk sdkPairs) {
	name := fs.name()
	step := func(rw *row, fn func() (float64, error)) (float64, bool) {
		v, err := fn()
		if err != nil {
			if strings.HasPrefix(name, "ssefs") {
				t.Errorf("%s: %s: %v", name, rw.label, err)
			} else {
				t.Logf("%s: %s failed: %v", name, rw.label, err)
			}
			res.fail(name, rw)
			return 0, false
		}
		t.Logf("%s: %s: %.3f %s", name, rw.label, v, rw.unit)
		res.add(name, rw, v)
		return v, true
	}
	// throughput times fn over cfg.size bytes; with cpuRow set it also
	// records the machine's CPU per GiB meanwhile under that row.
	throughput := func(cpuRow *row, fn func() error) func() (float64, error) {
		return func() (float64, error) {
			settle()
			start := time.Now()
			cpu, err := machineCPU(fn)
			if err == nil && cpuRow != nil {
				t.Logf("%s: %s: %.3f %s", name, cpuRow.label, perGiB(cpu, cfg.size), cpuRow.unit)
				res.add(name, cpuRow, perGiB(cpu, cfg.size))
			}
			return mbps(cfg.size, time.Since(start)), err
		}
	}
	// paired measures sdkFn (under sdkRow) and then fn (under rw), and
	// records the ratio of the two under rw.pairRatios.
	paired := func(sdkRow *row, sdkFn func() (float64, error), rw *row, fn func() (float64, error)) bool {
		sdkV, ok1 := step(sdkRow, sdkFn)
		v, ok2 := step(rw, fn)
		if ok1 && ok2 {
			res.add(name, rw.pairRatios, v/sdkV)
		}
		return ok1 && ok2
	}
	// coldPair reads the object with the SDK and then, cold, through the
	// mount at mnt, and records both and their ratios.
	coldPair := func(mnt string) {
		ok := paired(rowColdSDK, func() (float64, error) {
			rate, cpu, err := sdk.cold()
			if err == nil {
				res.add(name, rowColdSDKCPU, cpu)
			}
			return rate, err
		}, rowCold, throughput(rowColdCPU, func() error { return readFile(filepath.Join(mnt, "big")) }))
		if !ok {
			return
		}
		cpu, _ := res.last(name, rowColdCPU)
		sdkCPU, _ := res.last(name, rowColdSDKCPU)
		res.add(name, rowColdCPURatios, cpu/sdkCPU)
	}
	for run := range cfg.runs {
		// Cold reads: each on a fresh mount, of the object written by the
		// SDK; the last one's mount goes on with the other workloads.
		for range cfg.coldPairs - 1 {
			coldPair(fs.mount(t))
			fs.unmount(t)
		}
		mnt := fs.mount(t)
		obj := filepath.Join(mnt, "big")
		coldPair(mnt)
		step(rowWarm, throughput(nil, func() error { return readFile(obj) }))
		dst := filepath.Join(mnt, fmt.Sprintf("%s-w%d", name, run))
		paired(rowWriteSDK, sdk.write, rowWrite, throughput(nil, func() error {
			_, err := shell(`dd if="$1" of="$2" bs=1M status=none`, cfg.src, dst)
			return err
		}))
		if cfg.quick {
			fs.unmount(t)
			continue
		}
		step(rowSmall, func() (float64, error) {
			dir := filepath.Join(mnt, fmt.Sprintf("%s-small%d", name, run))
			if err := os.Mkdir(dir, 0o755); err != nil {
				return 0, err
			}
			body := make([]byte, 4096)
			settle()
			start := time.Now()
			for i := range cfg.smallFiles {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), body, 0o644); err != nil {
					return 0, err
				}
			}
			return float64(cfg.smallFiles) / time.Since(start).Seconds(), nil
		})
		step(rowRSS, func() (float64, error) { return peakRSS(mountPID(mnt)) })
		fs.unmount(t)

		// Random reads and ls -l on fresh mounts: nothing cached.
		mnt = fs.mount(t)
		settle()
		step(rowRandom, func() (float64, error) { return randomReads(filepath.Join(mnt, "big"), cfg.size, cfg.randomOps) })
		fs.unmount(t)
		lsl := func() (float64, error) { return timedLs(filepath.Join(mnt, "ls"), cfg.listFiles) }
		if run == 0 {
			// The first ls -l of a directory that has no attribute index
			// (that ssefs did not write, or an earlier tool's run
			// indexed): a sample of its own, not one of the pairs, which
			// measure the ls -l of every day.
			if err := sdk.dropIndex(); err != nil {
				t.Fatal(err)
			}
			mnt = fs.mount(t)
			settle()
			step(rowListFirst, lsl)
			fs.unmount(t)
		}
		mnt = fs.mount(t)
		settle()
		paired(rowListSDK, sdk.list, rowList, lsl)
		fs.unmount(t)
	}
}

// localLs times ls -l of cfg.listFiles empty files on tmpfs, cfg.runs
// times: what ls itself spends on a directory that large (sorting,
// formatting, a statx and a getxattr per file), which every ls -l figure
// includes and the bare listing it is compared with does not.
func localLs(t *testing.T, cfg config, res *results) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &st); err != nil || st.Type != tmpfsMagic {
		t.Logf("no tmpfs at /dev/shm: ls -l's own cost not measured")
		return
	}
	dir, err := os.MkdirTemp("/dev/shm", "ssefs-bench-ls-")
	must(t, err)
	defer os.RemoveAll(dir)
	for i := range cfg.listFiles {
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), nil, 0o644))
	}
	for range cfg.runs {
		settle()
		d, err := timedLs(dir, cfg.listFiles)
		must(t, err)
		res.add("sdk", rowListLocal, d)
	}
}

// timedLs times ls -l of dir in seconds, checking that it showed at least
// files lines: the same command for every tool and reference.
func timedLs(dir string, files int) (float64, error) {
	start := time.Now()
	out, err := shell(`ls -l "$1" | wc -l`, dir)
	d := time.Since(start)
	if n, _ := strconv.Atoi(strings.TrimSpace(out)); err == nil && n < files {
		err = fmt.Errorf("ls -l shows %d lines, want %d", n, files)
	}
	return d.Seconds(), err
}

// tmpfsMagic is tmpfs's f_type in statfs(2).
const tmpfsMagic = 0x01021994

// listBound prints what ls -l itself costs (localLs) and what it costs
// through FUSE alone (fuseOnlyLs), each with the ls -l ratio it makes
// against (a)'s bare listing: the ratio to expect of a client whose
// listing is as fast as (a)'s, the floor of the ls -l row on this
// machine.
func (r *results) listBound(cfg config) string {
	list, ok := r.median("sdk", rowList)
	if !ok || list <= 0 {
		return ""
	}
	var sb strings.Builder
	for _, ref := range []struct {
		tool string
		rw   *row
		what string
	}{
		{"sdk", rowListLocal, fmt.Sprintf("ls -l's own work (the same ls -l of %d empty files on tmpfs)", cfg.listFiles)},
		{fuseOnlyTool, rowList, fmt.Sprintf("ls -l through FUSE alone (a memory-backed go-fuse directory of %d files, ssefs's FUSE settings, fresh mounts)", cfg.listFiles)},
	} {
		if v, ok := r.median(ref.tool, ref.rw); ok {
			fmt.Fprintf(&sb, "%s: %.3f s\n  ls -l ratio to expect of a client whose listing is as fast as (a)'s: (%.3f + %.3f) / %.3f = %.2fx\n",
				ref.what, v, list, v, list, (list+v)/list)
		}
	}
	return sb.String()
}

func randomReads(path string, size int64, n int) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = randInt64(size/4096) * 4096
	}
	start := time.Now()
	for _, off := range offs {
		if _, err := f.ReadAt(buf, off); err != nil {
			return 0, fmt.Errorf("read %s at %d: %w", path, off, err)
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func readFile(path string) error {
	_, err := shell(`dd if="$1" of=/dev/null bs=1M status=none`, path)
	return err
}

// shell runs script with sh -c and the given arguments ($1, $2, ...).
func shell(script string, args ...string) (string, error) {
	out, err := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %v: %s", script, args, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mbps(n int64, d time.Duration) float64 { return float64(n) / 1e6 / d.Seconds() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
