package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	ssefsfs "github.com/ssefs/ssefs/fs"
)

// The FUSE-only reference: one file served from memory through go-fuse
// with ssefs's FUSE settings (fs.MountOptions, and the kernel readahead
// raised as Root.Mount does). A cold dd of it costs what FUSE itself
// costs on this machine, with no network and no backend: the requests'
// round trips, the copy of every reply into the page cache and dd's copy
// out of it. Whatever a FUSE client does to fetch its data comes on top.
// It is measured twice: through the page cache, as ssefs mounts by
// default, and with direct I/O, as with ssefs --direct-io (one copy,
// straight into dd's buffer).

// memRoot is the root directory of the memory-backed mount.
type memRoot struct {
	gofs.Inode
	size     int64
	pattern  []byte
	directIO bool
}

// memFile is its one file, "big": size bytes of a repeated pattern.
type memFile struct {
	gofs.Inode
	size     int64
	pattern  []byte // two copies of a 1 MiB random block, so that any read of up to 1 MiB is one slice
	directIO bool
}

const memPeriod = 1 << 20

func (r *memRoot) OnAdd(ctx context.Context) {
	f := &memFile{size: r.size, pattern: r.pattern, directIO: r.directIO}
	r.AddChild("big", r.NewPersistentInode(ctx, f, gofs.StableAttr{Mode: fuse.S_IFREG}), false)
}

func (f *memFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = fuse.S_IFREG | 0o444
	out.Size = uint64(f.size)
	return 0
}

// Open keeps the page cache across opens, as ssefs does while the ETag
// stays the same, or does direct I/O, as ssefs --direct-io does.
func (f *memFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if f.directIO {
		return nil, fuse.FOPEN_DIRECT_IO, 0
	}
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *memFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n := min(int64(len(dest)), f.size-off, memPeriod)
	if n <= 0 {
		return fuse.ReadResultData(nil), 0
	}
	start := off % memPeriod
	return fuse.ReadResultData(f.pattern[start : start+n]), 0
}

// fuseOnly measures a cold dd of a size-byte memory-backed file: MB/s and
// the machine's CPU seconds per GiB, one sample per run, each on a fresh
// mount (an empty page cache), through the page cache and with direct
// I/O in turn.
func fuseOnly(t *testing.T, cfg config, res *results) {
	pattern := make([]byte, 2*memPeriod)
	rand.Read(pattern[:memPeriod])
	copy(pattern[memPeriod:], pattern[:memPeriod])
	for i := range 2 * cfg.runs {
		directIO := i%2 == 1
		tool := map[bool]string{false: fuseOnlyTool, true: fuseOnlyDirectTool}[directIO]
		dir := filepath.Join(t.TempDir(), "memfs")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		opts := ssefsfs.MountOptions(fuse.MountOptions{FsName: "ssefs-bench-memfs", DirectMount: os.Geteuid() == 0})
		srv, err := gofs.Mount(dir, &memRoot{size: cfg.size, pattern: pattern, directIO: directIO}, &gofs.Options{MountOptions: opts})
		if err != nil {
			t.Fatalf("mounting the FUSE-only reference: %v", err)
		}
		if err := ssefsfs.RaiseKernelReadahead(dir, opts.MaxReadAhead); err != nil {
			t.Logf("FUSE-only reference: kernel readahead left at its default: %v", err)
		}
		settle()
		var rate float64
		cpu, err := machineCPU(func() error {
			start := time.Now()
			err := readFile(filepath.Join(dir, "big"))
			rate = mbps(cfg.size, time.Since(start))
			return err
		})
		if uerr := srv.Unmount(); uerr != nil {
			t.Errorf("unmounting the FUSE-only reference: %v", uerr)
		}
		srv.Wait()
		must(t, err)
		res.add(tool, rowCold, rate)
		res.add(tool, rowColdCPU, perGiB(cpu, cfg.size))
	}
}

// The results columns of the FUSE-only reference, through the page cache
// and with direct I/O.
const (
	fuseOnlyTool       = "fuse-only"
	fuseOnlyDirectTool = "fuse-only-dio"
)

// machineCPU runs fn and returns the CPU seconds the whole machine spent
// meanwhile (user, system, interrupts, steal: all but idle and iowait),
// whichever processes spent them: for a mount, the backend, the mount's
// daemon and dd together.
func machineCPU(fn func() error) (float64, error) {
	before, err := busyTicks()
	if err != nil {
		return 0, err
	}
	if err := fn(); err != nil {
		return 0, err
	}
	after, err := busyTicks()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / userHZ, nil
}

// userHZ is the unit of /proc/stat: USER_HZ, 100 on every Linux ABI.
const userHZ = 100

// busyTicks sums the non-idle fields of /proc/stat's "cpu" line.
func busyTicks() (int64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy int64
	// user nice system idle iowait irq softirq steal: skip idle and iowait.
	for i, v := range f[1:9] {
		if i == 3 || i == 4 {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += n
	}
	return busy, nil
}

func perGiB(seconds float64, size int64) float64 { return seconds / (float64(size) / (1 << 30)) }

// fuseBound relates the cold-read ratio to the CPU figures: when every
// core is busy in both runs, throughput goes as the inverse of the CPU
// spent per GiB, and a FUSE client that fetches as cheaply as the SDK
// spends (a)'s CPU plus FUSE's own. It is an estimate, not a bound: the
// figures are noisy, and a client can fetch more cheaply than the SDK
// loop of (a) does.
func (r *results) fuseBound() string {
	var sb strings.Builder
	for _, ref := range []struct{ tool, how string }{
		{fuseOnlyTool, "through the page cache"},
		{fuseOnlyDirectTool, "with direct I/O (--direct-io)"},
	} {
		rate, ok1 := r.median(ref.tool, rowCold)
		fuseCPU, ok2 := r.median(ref.tool, rowColdCPU)
		sdkCPU, ok3 := r.median("sdk", rowColdCPU)
		if !ok1 || !ok2 || !ok3 || fuseCPU <= 0 || sdkCPU <= 0 {
			continue
		}
		fmt.Fprintf(&sb, "FUSE alone %s (cold dd of a memory-backed go-fuse file, ssefs's FUSE settings): %.0f MB/s, %.2f s of CPU per GiB\n"+
			"  cold-read ratio to expect of a FUSE client that fetches like (a), when CPU is the limit: %.2f / (%.2f + %.2f) = %.2fx\n",
			ref.how, rate, fuseCPU, sdkCPU, sdkCPU, fuseCPU, sdkCPU/(sdkCPU+fuseCPU))
	}
	return sb.String()
}

// memListDir is a memory-backed directory of n small files for the
// FUSE-only ls -l: readdir hands out the names, and each lookup (with
// READDIRPLUS, one per entry as readdir hands it out) makes the file's
// inode with its attributes, as ssefs does from its attribute index.
type memListDir struct {
	gofs.Inode
	names []string
}

var (
	_ gofs.NodeReaddirer = (*memListDir)(nil)
	_ gofs.NodeLookuper  = (*memListDir)(nil)
)

func (d *memListDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents := make([]fuse.DirEntry, len(d.names))
	for i, n := range d.names {
		ents[i] = fuse.DirEntry{Name: n, Mode: fuse.S_IFREG}
	}
	return gofs.NewListDirStream(ents), 0
}

func (d *memListDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if !strings.HasPrefix(name, "f") {
		return nil, syscall.ENOENT
	}
	out.Mode = fuse.S_IFREG | 0o644
	out.Size = 4096
	return d.NewInode(ctx, &memListFile{}, gofs.StableAttr{Mode: fuse.S_IFREG}), 0
}

// memListFile is a file of memListDir. Like ssefs, it keeps no extended
// attributes and says so with ENOSYS, which the kernel remembers for the
// mount: ls -l asks for each file's ACL, and ENODATA would cost a request
// per file.
type memListFile struct{ gofs.Inode }

var _ gofs.NodeGetxattrer = (*memListFile)(nil)

func (*memListFile) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// fuseOnlyLs times ls -l of a memory-backed directory of cfg.listFiles
// files through go-fuse with ssefs's FUSE settings, on a fresh mount each
// run: what FUSE itself costs an ls -l on this machine (the entries and
// inodes the kernel and the daemon make, and ls's own work), with no
// listing to fetch. A FUSE client's listing comes on top.
func fuseOnlyLs(t *testing.T, cfg config, res *results) {
	names := make([]string, cfg.listFiles)
	for i := range names {
		names[i] = fmt.Sprintf("f%05d", i)
	}
	for range cfg.runs {
		dir := filepath.Join(t.TempDir(), "memls")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		opts := ssefsfs.MountOptions(fuse.MountOptions{FsName: "ssefs-bench-memls", DirectMount: os.Geteuid() == 0})
		ttl := time.Second // ssefs's default --attr-ttl, which Root.Mount gives the kernel
		srv, err := gofs.Mount(dir, &memListDir{names: names}, &gofs.Options{MountOptions: opts,
			EntryTimeout: &ttl, AttrTimeout: &ttl, NegativeTimeout: &ttl, NullPermissions: true})
		if err != nil {
			t.Fatalf("mounting the FUSE-only ls reference: %v", err)
		}
		settle()
		d, err := timedLs(dir, cfg.listFiles)
		if uerr := srv.Unmount(); uerr != nil {
			t.Errorf("unmounting the FUSE-only ls reference: %v", uerr)
		}
		srv.Wait()
		must(t, err)
		res.add(fuseOnlyTool, rowList, d)
	}
}
