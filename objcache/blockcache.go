package objcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Version names one version of an object: its key, its ETag and its
// plaintext size. Cached blocks are keyed by it, so a changed object (new
// ETag) never reads another version's bytes.
type Version struct {
	Key  string
	ETag string
	Size int64
}

// blockKey names one block of one object version.
type blockKey struct {
	key, etag string
	idx       int64
}

// fetchTimeout bounds one block GET: fetches run detached from the request
// that started them, since other readers may be waiting on the same block.
const fetchTimeout = 5 * time.Minute

// fetchChunk is how much of a block body is read before waiting readers
// are told: a reader needing the block's first bytes need not wait for
// the whole block.
const fetchChunk = 1 << 20

// block is one cached (or arriving) block. data is allocated at full size;
// data[:have] is filled. have and err are guarded by mu. refs counts the
// users of data: one for the cache while the block is cached or arriving,
// one for each reader copying from it or handing it to the kernel; the
// last one gives the buffer back for reuse.
type block struct {
	data     []byte
	refs     atomic.Int32
	mu       sync.Mutex
	have     int64
	err      error
	progress chan struct{} // closed and replaced whenever have or err changes
	dropped  bool          // DropBehind came while in flight: not to be cached (BlockCache.mu)
	fresh    bool          // data is a new buffer, not faulted in yet: fill populates it as it goes
}

// wait returns the block's filled bytes once at least need of them have
// arrived, or the fetch's error.
func (blk *block) wait(ctx context.Context, need int64) ([]byte, error) {
	for {
		blk.mu.Lock()
		have, err, ch := blk.have, blk.err, blk.progress
		blk.mu.Unlock()
		if have >= need {
			return blk.data[:have], nil
		}
		if err != nil {
			return nil, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (blk *block) update(have int64, err error) {
	blk.mu.Lock()
	blk.have, blk.err = have, err
	close(blk.progress)
	blk.progress = make(chan struct{})
	blk.mu.Unlock()
}

// BlockCache holds fixed-size blocks of object plaintext in memory, and in
// memory only: nothing it holds is ever written to local disk. It is
// bounded in bytes, counting the buffers of fetches in flight, blocks
// evicted but still being read, free buffers and the buffers it lends to
// uploads (TakeBuffer) as well as cached blocks; the least recently used
// blocks make room for new ones. Block buffers are reused rather than left
// to the garbage collector, so a stream of reads or writes does not fault
// in fresh memory for every block or part.
// Concurrent misses for one block share one ranged GET. It is safe for
// concurrent use.
type BlockCache struct {
	b         Bucket
	blockSize int64
	limit     int64
	fetches   chan struct{} // bounds GETs in flight

	mu       sync.Mutex
	used     int64    // bytes of all block buffers plus reservations
	free     [][]byte // full-size buffers no block uses
	lru      *simplelru.LRU[blockKey, *block]
	inflight map[blockKey]*block
	freed    chan struct{} // closed and replaced when bytes may have become free

	lent int64 // bytes of the buffers TakeBuffer lent from the bound

	// ownBufs pools, per size, the buffers TakeBuffer handed out that are
	// not block buffers: past the lending limit, or of another size than
	// a block's (the doubled parts of an upload past 2000 parts).
	ownBufs sync.Map // int64 -> *sync.Pool of *[]byte
}

// NewBlockCache makes a cache of blocks of blockSize bytes over b, holding
// at most limit bytes, with at most fetches GETs in flight.
func NewBlockCache(b Bucket, blockSize, limit int64, fetches int) (*BlockCache, error) {
	if blockSize <= 0 || limit < blockSize {
		return nil, fmt.Errorf("block cache: %d bytes cannot hold a block of %d", limit, blockSize)
	}
	c := &BlockCache{
		b:         b,
		blockSize: blockSize,
		limit:     limit,
		fetches:   make(chan struct{}, max(fetches, 1)),
		inflight:  map[blockKey]*block{},
		freed:     make(chan struct{}),
	}
	// The entry count never binds before the byte bound does, except for
	// many tiny tail blocks, whose eviction is accounted the same way.
	c.lru, _ = simplelru.NewLRU(int(limit/4096)+16, func(_ blockKey, blk *block) {
		c.unrefLocked(blk)
	})
	return c, nil
}

// unrefLocked drops one use of blk's buffer; c.mu is held.
func (c *BlockCache) unrefLocked(blk *block) {
	if blk.refs.Add(-1) == 0 {
		c.recycleLocked(blk.data)
	}
}

// unref drops a reader's use of blk's buffer.
func (c *BlockCache) unref(blk *block) {
	if blk.refs.Add(-1) == 0 {
		c.mu.Lock()
		c.recycleLocked(blk.data)
		c.mu.Unlock()
	}
}

// recycleLocked takes back a buffer no block uses any more: full-size ones
// are kept for reuse (still counted as used), others freed.
func (c *BlockCache) recycleLocked(buf []byte) {
	if int64(len(buf)) == c.blockSize {
		c.free = append(c.free, buf)
	} else {
		c.used -= int64(len(buf))
	}
	c.signalLocked()
}

// BlockSize returns the size of a block.
func (c *BlockCache) BlockSize() int64 { return c.blockSize }

// Limit returns the byte bound.
func (c *BlockCache) Limit() int64 { return c.limit }

// Used returns the bytes held now (cached blocks and in-flight buffers).
func (c *BlockCache) Used() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// signalLocked wakes whoever waits for memory; c.mu is held.
func (c *BlockCache) signalLocked() {
	close(c.freed)
	c.freed = make(chan struct{})
}

// reuseLocked returns a free full-size buffer, evicting the least recently
// used blocks until one frees up when the cache is full, or nil when a new
// buffer is needed (room left, or every evicted buffer still being read).
// Reusing a buffer spares faulting in and zeroing fresh memory, which on a
// cold sequential read cost more CPU than copying the data.
func (c *BlockCache) reuseLocked() []byte {
	for {
		if k := len(c.free); k > 0 {
			buf := c.free[k-1]
			c.free[k-1] = nil
			c.free = c.free[:k-1]
			return buf
		}
		if c.used+c.blockSize <= c.limit || c.lru.Len() == 0 {
			return nil
		}
		c.lru.RemoveOldest()
	}
}

// reserveLocked accounts n more bytes, dropping free buffers and evicting
// cached blocks as needed. With wait it blocks (dropping c.mu meanwhile)
// until buffers in use give memory back; without it it reports false when
// that would be needed.
func (c *BlockCache) reserveLocked(ctx context.Context, n int64, wait bool) (bool, error) {
	for c.used+n > c.limit {
		if k := len(c.free); k > 0 {
			c.used -= int64(len(c.free[k-1]))
			c.free[k-1] = nil
			c.free = c.free[:k-1]
			continue
		}
		if c.lru.Len() > 0 {
			c.lru.RemoveOldest()
			continue
		}
		if !wait {
			return false, nil
		}
		ch := c.freed
		c.mu.Unlock()
		select {
		case <-ch:
			c.mu.Lock()
		case <-ctx.Done():
			c.mu.Lock()
			return false, ctx.Err()
		}
	}
	c.used += n
	return true, nil
}

// TakeBuffer returns a buffer of n bytes for data held outside the cache
// (an upload part), with counted true when it is lent from the cache's
// bound (until GiveBuffer takes it back): a free block buffer, or the
// buffer of the least recently used block, and new memory only while the
// cache has room to spare; it waits while buffers in use hold all the
// memory. So a write after a read fills the buffers the read left rather
// than faulting in fresh memory beside them (reading then writing 1 GiB
// peaked at 150 instead of 242 MiB of RSS). Lent buffers take at most half
// the bound, so that writers idle with a part's buffer never starve
// readers; past that, the buffer is the process's own (counted false),
// outside the bound as any other memory, reused through a pool.
func (c *BlockCache) TakeBuffer(ctx context.Context, n int64) (buf []byte, counted bool, err error) {
	c.mu.Lock()
	if c.lent+n > c.limit/2 {
		c.mu.Unlock()
		return c.ownBuffer(n), false, nil
	}
	if n != c.blockSize {
		if _, err := c.reserveLocked(ctx, n, true); err != nil {
			c.mu.Unlock()
			return nil, false, err
		}
		c.lent += n
		c.mu.Unlock()
		return c.ownBuffer(n), true, nil
	}
	for {
		if buf := c.reuseLocked(); buf != nil {
			c.lent += n
			c.mu.Unlock()
			return buf, true, nil
		}
		if c.used+n <= c.limit {
			break
		}
		ch := c.freed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		c.mu.Lock()
	}
	c.used += n
	c.lent += n
	c.mu.Unlock()
	return newDataBuffer(n), true, nil
}

// ownBuffer returns a pooled or new buffer of n bytes, outside the bound.
func (c *BlockCache) ownBuffer(n int64) []byte {
	if p, ok := c.ownBufs.Load(n); ok {
		if b, ok := p.(*sync.Pool).Get().(*[]byte); ok {
			return *b
		}
	}
	return newDataBuffer(n)
}

// GiveBuffer takes back a buffer from TakeBuffer, at its full length and
// with the counted it came with; nothing may use it any more.
func (c *BlockCache) GiveBuffer(buf []byte, counted bool) {
	n := int64(len(buf))
	if !counted || n != c.blockSize {
		p, _ := c.ownBufs.LoadOrStore(n, &sync.Pool{})
		p.(*sync.Pool).Put(&buf)
	}
	if !counted {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lent -= n
	if n == c.blockSize {
		c.free = append(c.free, buf)
	} else {
		c.used -= n
	}
	c.signalLocked()
}

// DropBehind forgets block idx of v if it is cached, keeping its buffer
// for the blocks ahead. A sequential reader calls it for blocks it has
// read through (unless it keeps them, see Reader.keepsBehind): those went
// to the kernel's page cache, which serves a re-read of them, so keeping
// them too would only make the stream fault in
// and zero fresh memory for every block until the cache is full, on the
// path of the read (a cold read of 1 GiB spent a fifth of the daemon's CPU
// zeroing pages).
func (c *BlockCache) DropBehind(v Version, idx int64) {
	bk := blockKey{v.Key, v.ETag, idx}
	c.mu.Lock()
	defer c.mu.Unlock()
	if blk := c.inflight[bk]; blk != nil {
		// Its reader has what it needed; the rest may still be arriving.
		blk.dropped = true
		return
	}
	c.lru.Remove(bk)
}

// blockLen is the length of block idx of v.
func (c *BlockCache) blockLen(v Version, idx int64) int64 {
	return max(min(c.blockSize, v.Size-idx*c.blockSize), 0)
}

// lookup returns the cached or arriving block idx of v, starting its fetch
// when it is neither, with a use taken for the caller (give it back with
// unref). With wait false it gives up (nil, nil) rather than wait for
// memory; that is how readahead asks.
func (c *BlockCache) lookup(ctx context.Context, v Version, idx int64, wait bool) (*block, error) {
	bk := blockKey{v.Key, v.ETag, idx}
	c.mu.Lock()
	defer c.mu.Unlock()
	if blk := c.presentLocked(bk); blk != nil {
		return blk, nil
	}
	n := c.blockLen(v, idx)
	var buf []byte
	if n == c.blockSize {
		buf = c.reuseLocked()
	}
	reused := buf != nil
	if buf == nil {
		ok, err := c.reserveLocked(ctx, n, wait)
		if err != nil || !ok {
			return nil, err
		}
		// Another reader may have started it while c.mu was dropped.
		if blk := c.presentLocked(bk); blk != nil {
			c.used -= n
			return blk, nil
		}
		buf = newLazyBuffer(n)
	}
	blk := &block{data: buf, progress: make(chan struct{}), fresh: !reused && n >= bigBufferMin}
	blk.refs.Store(2) // the cache's and the caller's
	c.inflight[bk] = blk
	go c.fetch(bk, blk)
	return blk, nil
}

// presentLocked returns the cached or arriving block bk with a use taken
// for the caller, or nil.
func (c *BlockCache) presentLocked(bk blockKey) *block {
	blk, ok := c.lru.Get(bk)
	if !ok {
		blk = c.inflight[bk]
	}
	if blk != nil {
		blk.refs.Add(1)
	}
	return blk
}

// cached returns block idx of v, with a use taken, if it is cached or
// arriving; it fetches nothing.
func (c *BlockCache) cached(v Version, idx int64) *block {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.presentLocked(blockKey{v.Key, v.ETag, idx})
}

// fetch fills blk with one ranged GET pinned to the block's ETag, telling
// waiters as data arrives, then caches it (or drops it on failure).
func (c *BlockCache) fetch(bk blockKey, blk *block) {
	c.fetches <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	err := c.fill(ctx, bk, blk)
	cancel()
	<-c.fetches

	if err != nil {
		blk.update(blk.have, err) // before the buffer can be reused
	}
	c.mu.Lock()
	delete(c.inflight, bk)
	if err == nil && !blk.dropped {
		c.lru.Add(bk, blk)
	} else {
		c.unrefLocked(blk)
	}
	c.signalLocked()
	c.mu.Unlock()
}

func (c *BlockCache) fill(ctx context.Context, bk blockKey, blk *block) error {
	n := int64(len(blk.data))
	rc, err := c.b.GetRange(ctx, bk.key, bk.etag, bk.idx*c.blockSize, n)
	if err != nil {
		return err
	}
	defer rc.Close()
	var have int64
	for have < n {
		chunk := blk.data[have:min(have+fetchChunk, n)]
		if blk.fresh {
			populate(chunk)
		}
		k, err := io.ReadFull(rc, chunk)
		have += int64(k)
		blk.update(have, nil)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("get %q: object ended at %d, before the %d bytes of its block %d: %w",
				bk.key, bk.idx*c.blockSize+have, n, bk.idx, ErrPreconditionFailed)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Prefetch starts fetching block idx of v unless it is cached, arriving,
// or memory is short. It never blocks on the network.
func (c *BlockCache) Prefetch(v Version, idx int64) {
	if idx < 0 || idx*c.blockSize >= v.Size || v.ETag == "" {
		return
	}
	if blk, _ := c.lookup(context.Background(), v, idx, false); blk != nil {
		c.unref(blk)
	}
}

// ReadAt fills p with v's bytes from off through the cache, fetching
// missing blocks; it is short only at the end of the object. An object
// that no longer has v.ETag fails with ErrPreconditionFailed.
func (c *BlockCache) ReadAt(ctx context.Context, v Version, p []byte, off int64) (int, error) {
	if v.ETag == "" {
		return 0, errors.New("block cache: object version has no ETag")
	}
	done := 0
	for done < len(p) && off+int64(done) < v.Size {
		pos := off + int64(done)
		idx := pos / c.blockSize
		blk, err := c.lookup(ctx, v, idx, true)
		if err != nil {
			return done, err
		}
		start := pos - idx*c.blockSize
		need := min(start+int64(len(p)-done), c.blockLen(v, idx))
		data, err := blk.wait(ctx, need)
		if err == nil {
			done += copy(p[done:], data[start:need])
		}
		c.unref(blk)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
