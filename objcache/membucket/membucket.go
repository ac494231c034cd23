// Package membucket is an in-memory objcache.Bucket for tests: S3 semantics
// (changing ETags, If-Match, delimited and paged listings, copies with kept
// or replaced metadata), call counters, and fault hooks.
package membucket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ssefs/ssefs/objcache"
)

// Op names a Bucket method, for counters and fault hooks.
type Op string

// The Bucket operations.
const (
	OpHead     Op = "Head"
	OpGetRange Op = "GetRange"
	OpPut      Op = "Put"
	OpCopy     Op = "Copy"
	OpDelete   Op = "Delete"
	OpList     Op = "List"
)

type object struct {
	data []byte
	info objcache.ObjectInfo
}

// Bucket is an in-memory objcache.Bucket. The zero value is not usable;
// call New.
type Bucket struct {
	// PageSize is the number of entries (objects plus prefixes) per List
	// page; 0 means 1000.
	PageSize int

	mu    sync.Mutex
	objs  map[string]*object
	seq   int
	calls map[Op]int
	fault func(op Op, key string) error
}

var _ objcache.Bucket = (*Bucket)(nil)

// New returns an empty bucket.
func New() *Bucket {
	return &Bucket{objs: map[string]*object{}, calls: map[Op]int{}}
}

// SetFault installs a hook consulted at the start of every call (key is
// the object key, the copy destination, or the list prefix); a non-nil
// result fails the call with that error. nil removes the hook.
func (b *Bucket) SetFault(f func(op Op, key string) error) {
	b.mu.Lock()
	b.fault = f
	b.mu.Unlock()
}

// Calls returns how many times op was called.
func (b *Bucket) Calls(op Op) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[op]
}

// ResetCalls zeroes the call counters.
func (b *Bucket) ResetCalls() {
	b.mu.Lock()
	clear(b.calls)
	b.mu.Unlock()
}

// Object returns a copy of an object's content and info.
func (b *Bucket) Object(key string) ([]byte, objcache.ObjectInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[key]
	if !ok {
		return nil, objcache.ObjectInfo{}, false
	}
	return bytes.Clone(o.data), cloneInfo(o.info), true
}

// Keys returns every key, sorted.
func (b *Bucket) Keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.objs))
}

// SetObject stores an object directly, as another client would.
func (b *Bucket) SetObject(key string, data []byte, meta objcache.Metadata) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.store(key, bytes.Clone(data), objcache.PutOptions{Metadata: meta})
}

// begin counts the call and runs the fault hook; b.mu must be held.
func (b *Bucket) begin(op Op, key string) error {
	b.calls[op]++
	if b.fault != nil {
		if err := b.fault(op, key); err != nil {
			return err
		}
	}
	return nil
}

func cloneInfo(i objcache.ObjectInfo) objcache.ObjectInfo {
	if i.Metadata != nil {
		i.Metadata = maps.Clone(i.Metadata)
	}
	return i
}

// store writes an object with a new ETag; b.mu must be held.
func (b *Bucket) store(key string, data []byte, opts objcache.PutOptions) objcache.ObjectInfo {
	b.seq++
	meta := objcache.Metadata{}
	for k, v := range opts.Metadata {
		meta[strings.ToLower(k)] = v
	}
	info := objcache.ObjectInfo{
		Key:          key,
		Size:         int64(len(data)),
		ETag:         fmt.Sprintf("\"etag-%d\"", b.seq),
		LastModified: time.Now().UTC().Truncate(time.Second),
		ContentType:  opts.ContentType,
		Metadata:     meta,
	}
	b.objs[key] = &object{data: data, info: info}
	return cloneInfo(info)
}

func notFound(key string) error {
	return fmt.Errorf("membucket: %q: %w", key, objcache.ErrNotFound)
}

// Head implements objcache.Bucket.
func (b *Bucket) Head(ctx context.Context, key string) (objcache.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(OpHead, key); err != nil {
		return objcache.ObjectInfo{}, err
	}
	o, ok := b.objs[key]
	if !ok {
		return objcache.ObjectInfo{}, notFound(key)
	}
	info := cloneInfo(o.info)
	info.ServerTime = time.Now().UTC()
	return info, nil
}

// GetRange implements objcache.Bucket. A range starting past the end is an
// error, as S3's InvalidRange.
func (b *Bucket) GetRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(OpGetRange, key); err != nil {
		return nil, err
	}
	o, ok := b.objs[key]
	if !ok {
		return nil, notFound(key)
	}
	if etag != "" && etag != o.info.ETag {
		return nil, fmt.Errorf("membucket: %q: %w", key, objcache.ErrPreconditionFailed)
	}
	size := int64(len(o.data))
	if off < 0 || off > size {
		return nil, fmt.Errorf("membucket: %q: invalid range %d of %d bytes", key, off, size)
	}
	end := size
	if n >= 0 && off+n < size {
		end = off + n
	}
	return io.NopCloser(bytes.NewReader(bytes.Clone(o.data[off:end]))), nil
}

// Put implements objcache.Bucket. The body is read before the lock is
// taken, so a slow body does not block other calls.
func (b *Bucket) Put(ctx context.Context, key string, body io.Reader, size int64, opts objcache.PutOptions) (objcache.ObjectInfo, error) {
	b.mu.Lock()
	err := b.begin(OpPut, key)
	b.mu.Unlock()
	if err != nil {
		return objcache.ObjectInfo{}, err
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return objcache.ObjectInfo{}, fmt.Errorf("membucket: put %q: %w", key, err)
	}
	if int64(len(data)) != size {
		return objcache.ObjectInfo{}, fmt.Errorf("membucket: put %q: body has %d bytes, size says %d", key, len(data), size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.store(key, data, opts), nil
}

// Copy implements objcache.Bucket.
func (b *Bucket) Copy(ctx context.Context, src, dst string, opts *objcache.PutOptions) (objcache.ObjectInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(OpCopy, dst); err != nil {
		return objcache.ObjectInfo{}, err
	}
	o, ok := b.objs[src]
	if !ok {
		return objcache.ObjectInfo{}, notFound(src)
	}
	po := objcache.PutOptions{Metadata: o.info.Metadata, ContentType: o.info.ContentType}
	if opts != nil {
		po = *opts
	}
	return b.store(dst, o.data, po), nil
}

// Delete implements objcache.Bucket.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.begin(OpDelete, key); err != nil {
		return err
	}
	delete(b.objs, key)
	return nil
}

// List implements objcache.Bucket with S3's ordering: keys and common
// prefixes in lexical order, PageSize entries per page.
func (b *Bucket) List(ctx context.Context, prefix, delimiter string, fn func(objcache.ListPage) error) error {
	b.mu.Lock()
	if err := b.begin(OpList, prefix); err != nil {
		b.mu.Unlock()
		return err
	}
	type entry struct {
		name   string
		prefix bool
		info   objcache.ObjectInfo
	}
	var ents []entry
	seen := map[string]bool{}
	for k, o := range b.objs {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if delimiter != "" {
			if i := strings.Index(k[len(prefix):], delimiter); i >= 0 {
				p := k[:len(prefix)+i+len(delimiter)]
				if !seen[p] {
					seen[p] = true
					ents = append(ents, entry{name: p, prefix: true})
				}
				continue
			}
		}
		info := cloneInfo(o.info)
		info.Metadata = nil // listings carry no user metadata
		ents = append(ents, entry{name: k, info: info})
	}
	b.mu.Unlock()
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	ps := b.PageSize
	if ps <= 0 {
		ps = 1000
	}
	for { // one page even when empty, as S3 answers
		n := min(ps, len(ents))
		var page objcache.ListPage
		for _, e := range ents[:n] {
			if e.prefix {
				page.Prefixes = append(page.Prefixes, e.name)
			} else {
				page.Objects = append(page.Objects, e.info)
			}
		}
		ents = ents[n:]
		if err := fn(page); err != nil {
			return err
		}
		if len(ents) == 0 {
			break
		}
	}
	return nil
}
