package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/testenv"
)

// Tests of the read path: the block cache with readahead (objcache) behind
// a real mount.

// putLarge stores size bytes (pattern repeated; its length divides the
// part size) as an SSE-C object from outside, with a multipart upload.
func putLarge(t *testing.T, b *testenv.Backend, bucket, key string, pattern []byte, size int64, k *ssekeys.Key) {
	t.Helper()
	const partSize = 64 << 20
	ctx := context.Background()
	c := b.S3()
	alg, kb, md5 := aws.String("AES256"), aws.String(k.Base64()), aws.String(k.MD5Base64())
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key,
		SSECustomerAlgorithm: alg, SSECustomerKey: kb, SSECustomerKeyMD5: md5})
	if err != nil {
		t.Fatal(err)
	}
	var parts []types.CompletedPart
	for off, num := int64(0), int32(1); off < size; off, num = off+partSize, num+1 {
		n := min(partSize, size-off)
		body := bytes.Repeat(pattern, int(partSize/int64(len(pattern))))[:n]
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: aws.Int32(num), Body: bytes.NewReader(body), ContentLength: aws.Int64(n),
			SSECustomerAlgorithm: alg, SSECustomerKey: kb, SSECustomerKeyMD5: md5})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		SSECustomerAlgorithm: alg, SSECustomerKey: kb, SSECustomerKeyMD5: md5}); err != nil {
		t.Fatal(err)
	}
}

// TestCachedObjectOverwrittenElsewhereReadsNewBytes: a file read through
// the mount (so its blocks and pages are cached) and then overwritten by
// another client reads with the new bytes on the next open.
func TestCachedObjectOverwrittenElsewhereReadsNewBytes(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "cache")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "cache", e.mountArgs()...)
	v1, v2 := randomBytes(t, 12<<20+123), randomBytes(t, 12<<20+123)
	putObject(t, b, "cache", "f", v1, e.key)
	for range 2 { // the second read is served from the caches
		assertFileContent(t, m.Path("f"), v1)
	}
	putObject(t, b, "cache", "f", v2, e.key)
	time.Sleep(1100 * time.Millisecond) // the attribute TTL
	assertFileContent(t, m.Path("f"), v2)
	// A different size too.
	v3 := randomBytes(t, 5<<20)
	putObject(t, b, "cache", "f", v3, e.key)
	time.Sleep(1100 * time.Millisecond)
	assertFileContent(t, m.Path("f"), v3)
}

// TestRandomAndConcurrentReadsOfLargeObject: reads at random offsets and
// sizes over a 256 MiB object match the source, through a small cache
// (so blocks are evicted and fetched again), and concurrent readers of one
// file, sequential and random, all see the source.
func TestRandomAndConcurrentReadsOfLargeObject(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "big")
	e := newSSECKey(t)
	const size = 256 << 20
	pattern := randomBytes(t, 1<<20+7) // not block-aligned: every block differs
	src := bytes.Repeat(pattern, size/len(pattern)+1)[:size]
	putObject(t, b, "big", "obj", src, e.key)
	m := testenv.MountBucket(t, b, "big", append(e.mountArgs(), "--cache-size", "32M", "--block-size", "2M")...)

	t.Run("random", func(t *testing.T) {
		f, err := os.Open(m.Path("obj"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rnd := rand.New(rand.NewPCG(1, 2))
		for i := range 300 {
			off := rnd.Int64N(size)
			n := 1 + rnd.IntN(3<<20)
			if i%3 == 0 {
				n = 1 + rnd.IntN(8192)
			}
			buf := make([]byte, n)
			k, err := f.ReadAt(buf, off)
			want := src[off:min(off+int64(n), size)]
			if err != nil && err != io.EOF || !bytes.Equal(buf[:k], want) {
				t.Fatalf("read %d at %d: %d bytes, %v; differs from the source: %v", n, off, k, err, !bytes.Equal(buf[:k], want))
			}
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for r := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- readerAgrees(m.Path("obj"), src, r)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// readerAgrees reads path in the pattern of reader r (even: sequential
// with its own read size; odd: random 64 KiB reads) and compares.
func readerAgrees(path string, src []byte, r int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if r%2 == 0 {
		got, err := io.ReadAll(io.LimitReader(bufioReader(f, 4096<<r), int64(len(src))))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, src) {
			return fmt.Errorf("reader %d: sequential read differs from the source", r)
		}
		return nil
	}
	rnd := rand.New(rand.NewPCG(uint64(r), 9))
	buf := make([]byte, 64<<10)
	for range 200 {
		off := rnd.Int64N(int64(len(src) - len(buf)))
		if _, err := f.ReadAt(buf, off); err != nil {
			return err
		}
		if !bytes.Equal(buf, src[off:off+int64(len(buf))]) {
			return fmt.Errorf("reader %d: read at %d differs from the source", r, off)
		}
	}
	return nil
}

// bufioReader reads f in pieces of n bytes.
func bufioReader(f *os.File, n int) io.Reader {
	return readerFunc(func(p []byte) (int, error) { return f.Read(p[:min(len(p), n)]) })
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// TestReadMemoryStaysWithinCacheSize reads a 2 GiB file through a mount
// with --cache-size 256M: the mount's peak RSS stays under 256 + 128 MiB.
func TestReadMemoryStaysWithinCacheSize(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 2 GiB")
	}
	if testenv.RaceBuild() {
		// The race runtime's shadow memory (~870 MiB here) is not the
		// daemon's; make test runs this test again with a normal build.
		t.Skip("the race-built daemon's RSS is dominated by the race runtime")
	}
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "mem")
	e := newSSECKey(t)
	const size = 2 << 30
	putLarge(t, b, "mem", "big", randomBytes(t, 1<<20), size, e.key)
	m := testenv.MountBucket(t, b, "mem", append(e.mountArgs(), "--cache-size", "256M")...)
	sh(t, "/", fmt.Sprintf("dd if=%s of=/dev/null bs=1M status=none", m.Path("big")))
	rss := peakRSSOf(t, m.Dir)
	t.Logf("peak RSS reading %d MiB with a 256 MiB cache: %.0f MiB", size>>20, rss)
	if rss > 256+128 {
		t.Errorf("peak RSS %.0f MiB is over 256 MiB cache + 128 MiB", rss)
	}
}

// peakRSSOf returns VmHWM in MiB of the ssefs process serving dir.
func peakRSSOf(t *testing.T, dir string) float64 {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		if _, err := strconv.Atoi(ent.Name()); err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", ent.Name(), "cmdline"))
		args := strings.Split(string(cmdline), "\x00")
		if len(args) < 3 || filepath.Base(args[0]) != "ssefs" || !containsArg(args, dir) {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", ent.Name(), "status"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
				return kb / 1024
			}
		}
	}
	t.Fatalf("no ssefs process serves %s", dir)
	return 0
}

func containsArg(args []string, s string) bool {
	for _, a := range args {
		if a == s {
			return true
		}
	}
	return false
}

// TestDirectIOMount: a mount with -o direct_io (the fstab spelling of
// --direct-io) reads and writes right with the file tools and with
// readers of every size, maps files shared, sees another client's
// overwrite at the next open, and stores what cp, a read-write handle and
// a shared mapping wrote.
func TestDirectIOMount(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "dio")
	e := newSSECKey(t)
	m := testenv.MountBucket(t, b, "dio", append(e.mountArgs(), "-o", "direct_io", "--cache-size", "32M", "--block-size", "2M")...)
	local := t.TempDir()

	src := randomBytes(t, 24<<20+4097)
	writeLocal(t, filepath.Join(local, "src"), src)
	sh(t, local, fmt.Sprintf(`cp src %[1]q/copied && cmp src %[1]q/copied && cp %[1]q/copied back && cmp src back`, m.Dir))
	if !bytes.Equal(getObject(t, b, "dio", "copied", e), src) {
		t.Fatal("the object cp wrote differs from the source")
	}
	f, err := os.Open(m.Path("copied"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := testenv.PagesCached(f)
	f.Close()
	if err != nil && !errors.Is(err, syscall.ENOSYS) {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d pages of a file read with direct I/O are in the page cache", n)
	}
	for r := range 4 { // sequential reads of 4 KiB to 32 KiB, and random 64 KiB reads
		if err := readerAgrees(m.Path("copied"), src, r); err != nil {
			t.Error(err)
		}
	}

	t.Run("shared mapping", func(t *testing.T) {
		f, err := os.Open(m.Path("copied"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		mem, err := syscall.Mmap(int(f.Fd()), 0, len(src), syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			t.Fatalf("mmap MAP_SHARED: %v", err)
		}
		defer syscall.Munmap(mem)
		if !bytes.Equal(mem, src) {
			t.Fatal("mapped bytes differ from the source")
		}
	})

	t.Run("read-write handle", func(t *testing.T) {
		f, err := os.OpenFile(m.Path("copied"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		patch := bytes.Repeat([]byte("patched "), 1000)
		if _, err := f.WriteAt(patch, 5<<20+3); err != nil {
			t.Fatal(err)
		}
		want := append([]byte(nil), src...)
		copy(want[5<<20+3:], patch)
		got := make([]byte, len(patch)+8192)
		if _, err := f.ReadAt(got, 5<<20+3-4096); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[5<<20+3-4096:5<<20+3-4096+len(got)]) {
			t.Fatal("a read-write handle reads other bytes than it wrote")
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if !bytes.Equal(getObject(t, b, "dio", "copied", e), want) {
			t.Fatal("the object differs from what the read-write handle wrote")
		}
	})

	t.Run("shared writable mapping", func(t *testing.T) {
		f, err := os.OpenFile(m.Path("copied"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		mem, err := syscall.Mmap(int(f.Fd()), 0, 8192, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
		if err != nil {
			f.Close()
			t.Fatalf("mmap MAP_SHARED writable: %v", err)
		}
		copy(mem[100:], "via the mapping")
		if err := syscall.Munmap(mem); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatalf("fsync: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if got := getObject(t, b, "dio", "copied", e); !bytes.Equal(got[100:115], []byte("via the mapping")) {
			t.Fatalf("the object has %q where the mapping wrote", got[100:115])
		}
	})

	t.Run("overwritten elsewhere", func(t *testing.T) {
		v2 := randomBytes(t, 3<<20+5)
		putObject(t, b, "dio", "copied", v2, e.key)
		time.Sleep(1100 * time.Millisecond) // the attribute TTL
		assertFileContent(t, m.Path("copied"), v2)
	})
}
