package objcache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

// gatedBucket holds every GetRange until gate is closed and tracks how many
// are open at once.
type gatedBucket struct {
	*membucket.Bucket
	gate          chan struct{}
	open, maxOpen atomic.Int32
}

func (g *gatedBucket) GetRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	cur := g.open.Add(1)
	defer g.open.Add(-1)
	for {
		m := g.maxOpen.Load()
		if cur <= m || g.maxOpen.CompareAndSwap(m, cur) {
			break
		}
	}
	<-g.gate
	return g.Bucket.GetRange(ctx, key, etag, off, n)
}

func blockPattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func version(t *testing.T, b *membucket.Bucket, key string) objcache.Version {
	t.Helper()
	info, err := b.Head(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return objcache.Version{Key: key, ETag: info.ETag, Size: info.Size}
}

func TestConcurrentMissesShareOneGet(t *testing.T) {
	mb := membucket.New()
	src := blockPattern(3<<20, 1)
	mb.SetObject("o", src, nil)
	g := &gatedBucket{Bucket: mb, gate: make(chan struct{})}
	c, err := objcache.NewBlockCache(g, 1<<20, 8<<20, 4)
	if err != nil {
		t.Fatal(err)
	}
	v := version(t, mb, "o")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1000)
			off := int64(i * 1000)
			if _, err := c.ReadAt(context.Background(), v, buf, off); err != nil || !bytes.Equal(buf, src[off:off+1000]) {
				t.Errorf("reader %d: %v", i, err)
			}
		}()
	}
	for g.open.Load() == 0 { // the first GET starts; the others must join it
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	close(g.gate)
	wg.Wait()
	if n := mb.Calls(membucket.OpGetRange); n != 1 {
		t.Errorf("8 concurrent misses of one block sent %d GETs, want 1", n)
	}
}

func TestMemoryBoundCountsFetchesInFlight(t *testing.T) {
	mb := membucket.New()
	mb.SetObject("o", blockPattern(20<<20, 2), nil)
	g := &gatedBucket{Bucket: mb, gate: make(chan struct{})}
	c, err := objcache.NewBlockCache(g, 1<<20, 4<<20, 16)
	if err != nil {
		t.Fatal(err)
	}
	v := version(t, mb, "o")
	for idx := range int64(20) {
		c.Prefetch(v, idx)
		if c.Used() > c.Limit() {
			t.Fatalf("after %d prefetches %d bytes used, limit %d", idx+1, c.Used(), c.Limit())
		}
	}
	close(g.gate)
	buf := make([]byte, 20<<20)
	if _, err := c.ReadAt(context.Background(), v, buf, 0); err != nil {
		t.Fatal(err)
	}
	if g.maxOpen.Load() > 4 {
		t.Errorf("%d GETs in flight with room for 4 blocks", g.maxOpen.Load())
	}
	if c.Used() > c.Limit() {
		t.Errorf("%d bytes used, limit %d", c.Used(), c.Limit())
	}
}

func TestChangedObjectIsNotServedStale(t *testing.T) {
	mb := membucket.New()
	mb.SetObject("o", blockPattern(2<<20, 3), nil)
	c, err := objcache.NewCached(mb, objcache.CacheConfig{CacheSize: 8 << 20, BlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	r := c.NewReader(true)
	v1 := version(t, mb, "o")
	buf := make([]byte, 2<<20)
	if _, err := r.ReadAt(context.Background(), v1, buf, 0); err != nil {
		t.Fatal(err)
	}
	src2 := blockPattern(2<<20, 4)
	mb.SetObject("o", src2, nil)
	v2 := version(t, mb, "o")
	if _, err := r.ReadAt(context.Background(), v2, buf, 0); err != nil || !bytes.Equal(buf, src2) {
		t.Fatalf("read of the new version: %v, equal %v", err, bytes.Equal(buf, src2))
	}
	// The old version's blocks are keyed apart; a block of it not cached
	// yet fails the ETag check rather than mixing versions.
	c2, _ := objcache.NewCached(mb, objcache.CacheConfig{CacheSize: 8 << 20, BlockSize: 1 << 20})
	if _, err := c2.NewReader(true).ReadAt(context.Background(), v1, buf, 0); !errors.Is(err, objcache.ErrPreconditionFailed) {
		t.Fatalf("read of a replaced version: %v, want ErrPreconditionFailed", err)
	}
}

func TestRandomReadsBypassTheCache(t *testing.T) {
	mb := membucket.New()
	src := blockPattern(16<<20, 5)
	mb.SetObject("o", src, nil)
	c, err := objcache.NewCached(mb, objcache.CacheConfig{CacheSize: 8 << 20, BlockSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	r := c.NewReader(true)
	v := version(t, mb, "o")
	rnd := rand.New(rand.NewPCG(6, 6))
	for range 50 {
		off := rnd.Int64N(int64(len(src)-4096)) + 4096
		buf := make([]byte, 4096)
		if _, err := r.ReadAt(context.Background(), v, buf, off); err != nil || !bytes.Equal(buf, src[off:off+4096]) {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
	if used := c.Blocks().Used(); used > 2<<20 {
		t.Errorf("random 4 KiB reads filled %d bytes of cache", used)
	}
}

func TestUploadSmallIsOnePutLargeStreamsParts(t *testing.T) {
	mb := membucket.New()
	c, err := objcache.NewCached(mb, objcache.CacheConfig{PartSize: 5 << 20, UploadConcurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	up := c.NewUpload("small", objcache.PutOptions{})
	if err := up.Write(ctx, []byte("tiny")); err != nil {
		t.Fatal(err)
	}
	if _, err := up.Commit(ctx, objcache.PutOptions{ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	if mb.Calls(membucket.OpPut) != 1 || mb.Calls(membucket.OpStartUpload) != 0 {
		t.Errorf("small upload: %d PUTs, %d multipart starts", mb.Calls(membucket.OpPut), mb.Calls(membucket.OpStartUpload))
	}
	src := blockPattern(17<<20+3, 7)
	up = c.NewUpload("large", objcache.PutOptions{})
	for off := 0; off < len(src); off += 1 << 20 {
		if err := up.Write(ctx, src[off:min(off+1<<20, len(src))]); err != nil {
			t.Fatal(err)
		}
	}
	// The parts go up in the background: give a loaded machine time to
	// start them, still before the commit.
	for deadline := time.Now().Add(5 * time.Second); mb.Calls(membucket.OpUploadPart) < 2 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := mb.Calls(membucket.OpUploadPart); n < 2 {
		t.Errorf("%d parts sent before commit, want 2 (the third may still be starting)", n)
	}
	info, err := up.Commit(ctx, objcache.PutOptions{})
	if err != nil || info.Size != int64(len(src)) {
		t.Fatalf("commit: %v %+v", err, info)
	}
	if n := mb.Calls(membucket.OpUploadPart); n != 4 {
		t.Errorf("%d parts for 17 MiB in parts of 5 MiB, want 4", n)
	}
	if got, _, _ := mb.Object("large"); !bytes.Equal(got, src) {
		t.Fatal("large object differs")
	}
	// An aborted upload leaves nothing.
	up = c.NewUpload("aborted", objcache.PutOptions{})
	for range 12 {
		if err := up.Write(ctx, src[:1<<20]); err != nil {
			t.Fatal(err)
		}
	}
	up.Abort()
	if _, _, ok := mb.Object("aborted"); ok || mb.OpenUploads() != 0 {
		t.Fatalf("abort left an object (%v) or %d uploads", ok, mb.OpenUploads())
	}
}
