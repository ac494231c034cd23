package objcache

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
)

// Defaults of CacheConfig.
const (
	// DefaultCacheSize bounds the memory of cached blocks and in-flight
	// buffers: enough for a full readahead window plus recently read
	// blocks, small enough for a laptop.
	DefaultCacheSize = 256 << 20
	// DefaultBlockSize: the per-request cost of a ranged GET (signing,
	// the SSE-C key check, seeking into the server's encrypted chunks, a
	// round trip, TCP ramping up again on a connection that sat idle) has
	// to be small next to its transfer. On the reference backend 4 MiB
	// blocks reached only 50-70% of the throughput of 8 MiB ones, and 16
	// MiB blocks read 1 GiB in 1.04 s where 8 MiB took 1.20 s (median of
	// 5 alternating runs; both ends spent less CPU per GiB). A 256 MiB
	// cache still holds 16 blocks, and random reads do not fetch whole
	// blocks, so the size does not amplify them.
	DefaultBlockSize = 16 << 20
	// DefaultReadahead caps a sequential reader's window (the fetches in
	// flight cap it too: 128 MiB with the default blocks). Every block of
	// the window is a buffer, and the first blocks of a mount's reads are
	// fresh memory, which a VM whose host takes freed pages back (virtio
	// free page reporting) faults in at a fraction of its usual speed. On
	// the reference backend with 2 shared cores, a 64 MiB window read 1 GiB
	// cold as fast as 128 MiB did, or faster with --direct-io (median
	// ratio to the SDK over 9 alternating mounts 0.87x against 0.83x; the
	// daemon's CPU per GiB 0.53-0.69 s against 0.53-0.94 s), at 134 instead
	// of 200 MiB of peak RSS. A server far away, whose GETs are each slow
	// but not slowed by each other, wants the 8 in flight: --readahead 128M.
	DefaultReadahead = 64 << 20
	// DefaultFetches is the number of block GETs in flight, all readers
	// together.
	DefaultFetches = 8
	// DefaultUploadConcurrency is the number of parts in flight per
	// streaming upload.
	DefaultUploadConcurrency = 4
)

// CacheConfig tunes Cached. Zero values take the defaults.
type CacheConfig struct {
	CacheSize int64 // bytes of blocks and in-flight buffers
	BlockSize int64 // 1 to 16 MiB; 0: DefaultBlockSize, or less for a cache under 4 of them
	Readahead int64 // largest readahead window per reader (at most CacheSize/2)
	Fetches   int   // block GETs in flight
	// PartSize is the part size of streaming uploads and the largest
	// object sent as one PutObject (at least 5 MiB).
	PartSize          int64
	UploadConcurrency int
}

// Validate checks cfg without building anything.
func (cfg CacheConfig) Validate() error {
	_, err := cfg.withDefaults()
	return err
}

func (cfg CacheConfig) withDefaults() (CacheConfig, error) {
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = DefaultCacheSize
	}
	if cfg.BlockSize <= 0 {
		// The default, halved down to 1 MiB until the cache holds 4.
		cfg.BlockSize = DefaultBlockSize
		for cfg.BlockSize > 1<<20 && cfg.CacheSize < 4*cfg.BlockSize {
			cfg.BlockSize /= 2
		}
	}
	if cfg.BlockSize < 1<<20 || cfg.BlockSize > 16<<20 {
		return cfg, fmt.Errorf("block size %d: want 1 MiB to 16 MiB", cfg.BlockSize)
	}
	if cfg.CacheSize < 4*cfg.BlockSize {
		return cfg, fmt.Errorf("cache size %d: want at least 4 blocks of %d bytes", cfg.CacheSize, cfg.BlockSize)
	}
	if cfg.Readahead <= 0 {
		cfg.Readahead = DefaultReadahead
	}
	if cfg.Fetches <= 0 {
		cfg.Fetches = DefaultFetches
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize {
		return cfg, fmt.Errorf("part size %d is below S3's minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.UploadConcurrency <= 0 {
		cfg.UploadConcurrency = DefaultUploadConcurrency
	}
	return cfg, nil
}

// Cached decorates a Bucket with the fast data paths: a block cache with
// readahead for reads, streaming uploads for sequential writes, and
// pending objects: files created on the mount but not uploaded yet, which
// Head and List report as if they were stored, so that a create needs no
// request of its own.
type Cached struct {
	Bucket
	cfg    CacheConfig
	blocks *BlockCache
	mp     Multipart // nil: the bucket cannot stream uploads

	mu      sync.Mutex
	pending map[string]*pendingObject
}

type pendingObject struct {
	info ObjectInfo
	size func() int64
}

// NewCached wraps b.
func NewCached(b Bucket, cfg CacheConfig) (*Cached, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	blocks, err := NewBlockCache(b, cfg.BlockSize, cfg.CacheSize, cfg.Fetches)
	if err != nil {
		return nil, err
	}
	mp, _ := b.(Multipart)
	return &Cached{Bucket: b, cfg: cfg, blocks: blocks, mp: mp, pending: map[string]*pendingObject{}}, nil
}

// Blocks returns the block cache.
func (c *Cached) Blocks() *BlockCache { return c.blocks }

// NewReader returns a reader with readahead for one open file; pageCached
// says whether the kernel's page cache keeps what it reads (see
// BlockCache.NewReader).
func (c *Cached) NewReader(pageCached bool) *Reader {
	return c.blocks.NewReader(c.cfg.Readahead, pageCached)
}

// NewUpload prepares a streaming upload of key; nil when the bucket cannot
// take multipart uploads.
func (c *Cached) NewUpload(key string, opts PutOptions) *Upload {
	if c.mp == nil {
		return nil
	}
	return newUpload(c.Bucket, c.mp, c.blocks, key, opts, c.cfg.PartSize, c.cfg.UploadConcurrency)
}

// AddPending makes key visible to Head and List with info (its Size taken
// from size()) until RemovePending, or until the returned end is called.
// end removes only this entry: once another AddPending of key replaced
// it (the name was created again), end leaves the new one alone.
func (c *Cached) AddPending(key string, info ObjectInfo, size func() int64) (end func()) {
	info.Key = key
	p := &pendingObject{info: info, size: size}
	c.mu.Lock()
	c.pending[key] = p
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		if c.pending[key] == p {
			delete(c.pending, key)
		}
		c.mu.Unlock()
	}
}

// RemovePending stops reporting key as pending, whoever added it.
func (c *Cached) RemovePending(key string) {
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
}

func (c *Cached) pendingInfo(key string) (ObjectInfo, bool) {
	c.mu.Lock()
	p, ok := c.pending[key]
	c.mu.Unlock()
	if !ok {
		return ObjectInfo{}, false
	}
	info := p.info
	info.Size = p.size()
	info.Metadata = maps.Clone(info.Metadata)
	return info, true
}

// Head implements Bucket, answering for pending objects.
func (c *Cached) Head(ctx context.Context, key string) (ObjectInfo, error) {
	if info, ok := c.pendingInfo(key); ok {
		return info, nil
	}
	return c.Bucket.Head(ctx, key)
}

// Delete implements Bucket; a pending object stops being reported.
func (c *Cached) Delete(ctx context.Context, key string) error {
	c.RemovePending(key)
	return c.Bucket.Delete(ctx, key)
}

// List implements Bucket. Pending objects the server does not list yet
// come in one more page after the server's.
func (c *Cached) List(ctx context.Context, prefix, delimiter string, fn func(ListPage) error) error {
	return c.withPending(prefix, delimiter, fn, func(fn func(ListPage) error) error {
		return c.Bucket.List(ctx, prefix, delimiter, fn)
	})
}

// ListFirst implements SplitLister. Pending objects come with the page
// when it is the whole listing, else after the rest (ListSplit). Over a
// bucket that cannot split, the first page is the whole listing.
func (c *Cached) ListFirst(ctx context.Context, prefix, delimiter string, max int) (ListPage, bool, error) {
	list := func(fn func(ListPage) error) error { return c.Bucket.List(ctx, prefix, delimiter, fn) }
	if sl, ok := c.Bucket.(SplitLister); ok {
		pg, more, err := sl.ListFirst(ctx, prefix, delimiter, max)
		if err != nil || more {
			return pg, more, err
		}
		list = func(fn func(ListPage) error) error { return fn(pg) }
	}
	var page ListPage
	err := c.withPending(prefix, delimiter, func(pg ListPage) error {
		page.Objects = append(page.Objects, pg.Objects...)
		page.Prefixes = append(page.Prefixes, pg.Prefixes...)
		return nil
	}, list)
	return page, false, err
}

// ListSplit implements SplitLister; pending objects come as in List.
func (c *Cached) ListSplit(ctx context.Context, prefix, delimiter, after string, splits []string, fn func(ListPage) error) error {
	return c.withPending(prefix, delimiter, fn, func(fn func(ListPage) error) error {
		if sl, ok := c.Bucket.(SplitLister); ok {
			return sl.ListSplit(ctx, prefix, delimiter, after, splits, fn)
		}
		return listSplitSequential(ctx, c.Bucket, prefix, delimiter, after, fn)
	})
}

// withPending runs list, then gives fn one more page with the pending
// objects under prefix that list did not show.
func (c *Cached) withPending(prefix, delimiter string, fn func(ListPage) error, list func(func(ListPage) error) error) error {
	c.mu.Lock()
	var extra []string
	for k := range c.pending {
		if strings.HasPrefix(k, prefix) {
			extra = append(extra, k)
		}
	}
	c.mu.Unlock()
	if len(extra) == 0 {
		return list(fn)
	}
	seen := map[string]bool{}
	err := list(func(pg ListPage) error {
		for _, o := range pg.Objects {
			seen[o.Key] = true
		}
		for _, p := range pg.Prefixes {
			seen[p] = true
		}
		return fn(pg)
	})
	if err != nil {
		return err
	}
	var pg ListPage
	slices.Sort(extra)
	for _, k := range extra {
		rest := k[len(prefix):]
		if i := strings.Index(rest, delimiter); delimiter != "" && i >= 0 {
			if p := prefix + rest[:i+len(delimiter)]; !seen[p] {
				seen[p] = true
				pg.Prefixes = append(pg.Prefixes, p)
			}
			continue
		}
		if info, ok := c.pendingInfo(k); ok && !seen[k] {
			info.Metadata = nil // as listings carry
			pg.Objects = append(pg.Objects, info)
		}
	}
	if len(pg.Objects)+len(pg.Prefixes) == 0 {
		return nil
	}
	return fn(pg)
}
