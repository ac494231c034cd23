package objcache

import (
	"context"
	"io"
	"slices"
	"sync"
)

// seqSlack is how far a read may land from where the last one ended and
// still count as continuing a sequential pattern: the kernel sends its
// async readahead in parallel, so sequential reads arrive slightly out of
// order.
const seqSlack = 2 << 20

// Reader reads one open file through a BlockCache with readahead. A
// sequential pattern grows a window of blocks fetched in parallel ahead of
// the reader, doubling from one block up to the cache's readahead cap; a
// seek shrinks it, and random reads bypass the cache with ranged GETs of
// just what was asked, so they neither fetch whole blocks nor evict the
// blocks of sequential readers. Nothing past the end is fetched. It is
// safe for concurrent use.
type Reader struct {
	c          *BlockCache
	maxWindow  int64
	pageCached bool // the kernel's page cache keeps what it hands out

	mu     sync.Mutex
	ver    Version
	next   int64    // where the last read ended
	window int64    // bytes to keep in flight ahead; 0 in random mode
	last   int64    // block of the last readahead decision
	ends   [4]int64 // where the last reads ended
	nends  int
	behind int64 // the first block this sequential run has not dropped
}

// NewReader makes a Reader whose readahead window grows up to maxWindow
// bytes, but never beyond half the cache, nor beyond the blocks the
// cache's fetches can have in flight: the blocks past those would only
// hold fresh buffers while they wait for a fetch (with 8 MiB blocks on the
// reference backend, a 1 GiB cold read ran as fast with a 64 MiB window as
// with 128, at 115 instead of 178 MiB of peak RSS).
//
// pageCached says whether the kernel's page cache keeps what the reader
// hands out (a file opened without direct I/O). Then a sequential run
// drops the blocks it has read through (DropBehind), as a re-read finds
// them in the page cache. Otherwise the block cache is the only cache a
// re-read can hit, and a run keeps them (see keepsBehind): with
// --direct-io, every re-read of a 64 MiB file fetched half of it again.
func (c *BlockCache) NewReader(maxWindow int64, pageCached bool) *Reader {
	maxWindow = max(min(maxWindow, c.limit/2, int64(cap(c.fetches))*c.blockSize), c.blockSize)
	return &Reader{c: c, maxWindow: maxWindow, pageCached: pageCached, last: -1}
}

// plan updates the access pattern with a read of n bytes at off and
// returns whether it is sequential, the window to prefetch and the blocks
// [from, to) that the sequential run has left behind.
func (r *Reader) plan(v Version, off, n int64) (seq bool, window, from, to int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v != r.ver {
		r.ver, r.next, r.window, r.last = v, 0, 0, -1
		r.ends, r.nends = [4]int64{}, 0
	}
	starting := r.window == 0
	// A read turns the pattern sequential by starting the file or by
	// continuing exactly where one of the last few reads stopped (parallel
	// kernel reads arrive out of order); a sequential pattern stays so
	// within the slack.
	seq = off == 0 || slices.Contains(r.ends[:], off) ||
		r.window > 0 && off >= r.next-seqSlack && off <= r.next+seqSlack
	r.ends[r.nends%len(r.ends)] = off + n
	r.nends++
	switch {
	case !seq:
		r.window = 0
	case r.window == 0:
		r.window = r.c.blockSize
	case off/r.c.blockSize > r.last:
		r.window = min(r.window*2, r.maxWindow)
	}
	if seq {
		r.last = max(r.last, off/r.c.blockSize)
	}
	r.next = off + n
	// A run drops only blocks it has read through itself, and only once
	// it is a block and the reordering slack past them.
	if !seq || starting {
		r.behind = off / r.c.blockSize
	} else if t := (off-seqSlack)/r.c.blockSize - 1; t > r.behind {
		from, to, r.behind = r.behind, t, t
	}
	return seq, r.window, from, to
}

// ReadAt fills p from off of the object version v; it is short only at
// the end of the object. ErrPreconditionFailed means v is no longer the
// object's current version.
func (r *Reader) ReadAt(ctx context.Context, v Version, p []byte, off int64) (int, error) {
	if off >= v.Size || len(p) == 0 {
		return 0, nil
	}
	p = p[:min(int64(len(p)), v.Size-off)]
	end := off + int64(len(p))
	if r.sequential(v, off, end) {
		return r.c.ReadAt(ctx, v, p, off)
	}
	// Random: serve cached blocks, fetch the rest directly.
	bs := r.c.blockSize
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		idx := pos / bs
		if blk := r.c.cached(v, idx); blk != nil {
			start := pos - idx*bs
			need := min(start+int64(len(p)-done), r.c.blockLen(v, idx))
			data, err := blk.wait(ctx, need)
			if err == nil {
				done += copy(p[done:], data[start:need])
			}
			r.c.unref(blk)
			if err != nil {
				return done, err
			}
			continue
		}
		// Up to the next cached block, or the end of the request.
		stop := end
		for i := idx + 1; i*bs < end; i++ {
			if blk := r.c.cached(v, i); blk != nil {
				r.c.unref(blk)
				stop = i * bs
				break
			}
		}
		k, err := r.direct(ctx, v, p[done:done+int(stop-pos)], pos)
		done += k
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// sequential records a read of [off, end) and, when it continues a
// sequential pattern, starts the readahead it calls for and reports true:
// the read is then served from the cache.
func (r *Reader) sequential(v Version, off, end int64) bool {
	seq, window, from, to := r.plan(v, off, end-off)
	if !seq || v.ETag == "" {
		return false
	}
	for idx := from; idx < to && !r.keepsBehind(v); idx++ {
		r.c.DropBehind(v, idx)
	}
	bs := r.c.blockSize
	last := min(end+window, v.Size) - 1
	for idx := end / bs; idx <= last/bs; idx++ {
		r.c.Prefetch(v, idx)
	}
	return true
}

// keepsBehind reports whether a sequential run over v keeps the blocks it
// has read through: only without the page cache, and only when v fits in
// the cache beside the reader's window. A longer object's blocks go all
// the same: a re-read would find its start evicted by its end (LRU), and
// keeping them would only push out other files' blocks and, in a fresh
// process, fault in the whole cache (a cold 1 GiB read with --direct-io
// ran at 1.15 instead of 1.56 GB/s).
func (r *Reader) keepsBehind(v Version) bool {
	return !r.pageCached && v.Size <= r.c.limit-r.maxWindow
}

// View is ReadAt without a copy where possible: when the bytes asked for
// lie in one cached block of a sequential read, it returns them in place,
// with a release function to call once they are no longer used (until
// then the buffer is not reused); the caller must not modify them.
// Otherwise it reads into p and returns what it read and a nil release.
// Either way the result is short only at the end.
func (r *Reader) View(ctx context.Context, v Version, p []byte, off int64) ([]byte, func(), error) {
	if off >= v.Size || len(p) == 0 {
		return nil, nil, nil
	}
	end := min(off+int64(len(p)), v.Size)
	bs := r.c.blockSize
	if off/bs != (end-1)/bs || !r.sequential(v, off, end) {
		k, err := r.ReadAt(ctx, v, p, off)
		return p[:k], nil, err
	}
	idx := off / bs
	blk, err := r.c.lookup(ctx, v, idx, true)
	if err != nil {
		return nil, nil, err
	}
	data, err := blk.wait(ctx, end-idx*bs)
	if err != nil {
		r.c.unref(blk)
		return nil, nil, err
	}
	return data[off-idx*bs : end-idx*bs], func() { r.c.unref(blk) }, nil
}

// direct reads p at off with one ranged GET, bypassing the cache.
func (r *Reader) direct(ctx context.Context, v Version, p []byte, off int64) (int, error) {
	rc, err := r.c.b.GetRange(ctx, v.Key, v.ETag, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	k, err := io.ReadFull(rc, p)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = ErrPreconditionFailed // shorter than the size we know: changed
	}
	return k, err
}
