package objcache

import (
	"context"
	"io"
	"testing"
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
