package objcache

import (
	"context"
	"io"
	"testing"
	"time"
)

// zeroObjects serves ranges of zero bytes; the block cache needs nothing else.
type zeroObjects struct{ Bucket }

func (zeroObjects) GetRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	return io.NopCloser(io.LimitReader(zeroReader{}, n)), nil
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// A sequential read through a full cache reuses the buffers of the blocks
// it evicts instead of allocating (and faulting in) new ones.
func TestFullCacheReusesEvictedBuffers(t *testing.T) {
	const blockSize, blocks, limitBlocks = 1 << 20, 24, 4
	v := Version{Key: "o", ETag: `"1"`, Size: blocks * blockSize}
	c, err := NewBlockCache(zeroObjects{}, blockSize, limitBlocks*blockSize, 4)
	if err != nil {
		t.Fatal(err)
	}
	buffers := map[*byte]bool{}
	buf := make([]byte, blockSize)
	for idx := range int64(blocks) {
		if _, err := c.ReadAt(context.Background(), v, buf, idx*blockSize); err != nil {
			t.Fatal(err)
		}
		c.mu.Lock()
		for _, blk := range c.lru.Values() {
			buffers[&blk.data[0]] = true
		}
		c.mu.Unlock()
		if c.Used() > c.Limit() {
			t.Fatalf("%d bytes used, limit %d", c.Used(), c.Limit())
		}
	}
	if len(buffers) > limitBlocks {
		t.Errorf("reading %d blocks through a cache of %d used %d distinct buffers, want at most %d", blocks, limitBlocks, len(buffers), limitBlocks)
	}
}

// A sequential reader drops the blocks it has read through (the kernel's
// page cache holds them) and reuses their buffers, so a long read keeps
// about its readahead window in memory instead of filling the cache with
// fresh buffers; blocks it skipped over, cached by another reader, stay.
func TestSequentialReaderDropsWhatItReadThrough(t *testing.T) {
	const bs, blocks, limitBlocks = 1 << 20, 64, 32
	v := Version{Key: "o", ETag: `"1"`, Size: blocks * bs}
	c, err := NewBlockCache(zeroObjects{}, bs, limitBlocks*bs, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Another reader's blocks, in a region the sequential reader skips.
	other := make([]byte, bs)
	for idx := int64(40); idx < 44; idx++ {
		if _, err := c.ReadAt(ctx, v, other, idx*bs); err != nil {
			t.Fatal(err)
		}
	}
	r := c.NewReader(4*bs, true)
	buffers := map[*byte]bool{}
	read := func(from, to int64) {
		buf := make([]byte, 256<<10)
		for off := from; off < to; off += int64(len(buf)) {
			if _, err := r.ReadAt(ctx, v, buf, off); err != nil {
				t.Fatal(err)
			}
			c.mu.Lock()
			for _, blk := range c.lru.Values() {
				buffers[&blk.data[0]] = true
			}
			c.mu.Unlock()
		}
	}
	read(0, 30*bs)
	read(50*bs, 64*bs) // a seek past the other reader's blocks, then on
	// Per run, the window (4 blocks), the block being read and 3 behind
	// it (a block and the reordering slack); the first run's last ones
	// stay at the seek, and the other reader's 4 stay too: about 20, where
	// a cache that keeps everything uses all 32 (and evicts the other
	// reader's blocks).
	if len(buffers) > 24 {
		t.Errorf("a sequential read of %d blocks used %d distinct buffers, want at most 24", 44, len(buffers))
	}
	// A fetch whose reader already has its data may not have finished
	// yet: a dropped block still shows as arriving until it has.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		c.mu.Lock()
		n := len(c.inflight)
		c.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			break
		}
	}
	for idx := int64(40); idx < 44; idx++ {
		if blk := c.cached(v, idx); blk == nil {
			t.Errorf("block %d, cached by another reader and skipped over, was dropped", idx)
		} else {
			c.unref(blk)
		}
	}
	for idx := int64(0); idx < 20; idx++ {
		if blk := c.cached(v, idx); blk != nil {
			c.unref(blk)
			t.Errorf("block %d, read through long ago, is still cached", idx)
		}
	}
}

// A reader's window is bounded by half the cache and by what the cache's
// fetches can have in flight, whichever is smaller, and is at least a block.
func TestReadaheadWindowBounds(t *testing.T) {
	const bs = 8 << 20
	for _, tc := range []struct {
		limit, ask, want int64
		fetches          int
	}{
		{limit: 256 << 20, ask: 128 << 20, fetches: 8, want: 64 << 20}, // the fetches bind
		{limit: 256 << 20, ask: 32 << 20, fetches: 8, want: 32 << 20},  // the ask binds
		{limit: 64 << 20, ask: 128 << 20, fetches: 8, want: 32 << 20},  // half the cache binds
		{limit: 256 << 20, ask: 1 << 20, fetches: 8, want: bs},         // at least a block
		{limit: 1 << 30, ask: 256 << 20, fetches: 32, want: 256 << 20}, // more fetches, larger window
	} {
		c, err := NewBlockCache(zeroObjects{}, bs, tc.limit, tc.fetches)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.NewReader(tc.ask, true).maxWindow; got != tc.want {
			t.Errorf("cache %d MiB, %d fetches, asked %d MiB: window %d MiB, want %d MiB", tc.limit>>20, tc.fetches, tc.ask>>20, got>>20, tc.want>>20)
		}
	}
}

// Upload part buffers are the cache's: after a read, a write fills the
// buffers the read left (free or holding blocks) instead of new memory.
// What is lent counts in the bound and takes at most half of it: past
// that, a writer gets a buffer of its own at once, so writers idle with a
// part never starve readers. A taker within the half waits while buffers
// in use hold all the memory, until one comes back.
func TestPartBuffersAreLentByTheCache(t *testing.T) {
	const bs, limitBlocks = 1 << 20, 4
	v := Version{Key: "o", ETag: `"1"`, Size: 16 * bs}
	c, err := NewBlockCache(zeroObjects{}, bs, limitBlocks*bs, 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	buf := make([]byte, bs)
	for idx := range int64(limitBlocks) {
		if _, err := c.ReadAt(ctx, v, buf, idx*bs); err != nil {
			t.Fatal(err)
		}
	}
	read := map[*byte]bool{}
	c.mu.Lock()
	for _, blk := range c.lru.Values() {
		read[&blk.data[0]] = true
	}
	c.mu.Unlock()

	take := func() ([]byte, bool) {
		b, counted, err := c.TakeBuffer(ctx, bs)
		if err != nil {
			t.Fatal(err)
		}
		return b, counted
	}
	var lent [][]byte
	for range limitBlocks / 2 {
		b, counted := take()
		if !counted || !read[&b[0]] {
			t.Errorf("part buffer: counted %v, one of the read's %v; want both while the cache's buffers are there to take", counted, read[&b[0]])
		}
		lent = append(lent, b)
	}
	own, counted := take()
	if counted || read[&own[0]] {
		t.Errorf("with half the cache lent, a part buffer is counted %v, one of the read's %v; want a buffer of its own", counted, read[&own[0]])
	}
	if c.Used() > c.Limit() {
		t.Fatalf("%d bytes used, limit %d", c.Used(), c.Limit())
	}
	// Readers still have the other half while the lent buffers sit idle.
	for idx := int64(4); idx < 16; idx++ {
		if _, err := c.ReadAt(ctx, v, buf, idx*bs); err != nil {
			t.Fatalf("reading block %d with half the cache lent: %v", idx, err)
		}
	}
	c.GiveBuffer(own, false)

	// One lent buffer back, then both remaining blocks held by readers:
	// a taker within the half waits for one of them.
	c.GiveBuffer(lent[1], true)
	var held []*block
	for idx := int64(0); len(held) < 3; idx++ {
		blk, err := c.lookup(ctx, v, idx, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := blk.wait(ctx, bs); err != nil {
			t.Fatal(err)
		}
		held = append(held, blk)
	}
	got := make(chan []byte)
	go func() {
		b, _, err := c.TakeBuffer(ctx, bs)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	select {
	case <-got:
		t.Fatal("TakeBuffer went over the bound instead of waiting")
	case <-time.After(100 * time.Millisecond):
	}
	c.unref(held[0]) // its block was evicted for the taker: the buffer frees
	select {
	case b := <-got:
		if &b[0] != &held[0].data[0] {
			t.Error("the waiting taker did not get the buffer that came back")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("TakeBuffer still waits after a buffer came back")
	}
	if c.Used() > c.Limit() {
		t.Fatalf("%d bytes used, limit %d", c.Used(), c.Limit())
	}
}
