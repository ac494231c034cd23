package objcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
)

// partsPerStep is how many parts a streaming upload sends before its part
// size doubles: the total size is unknown up front, and S3 allows 10,000
// parts.
const partsPerStep = 2000

// maxStreamPart caps the doubling part size.
const maxStreamPart = 512 << 20

// firstPartGrowth is how far the first part's buffer grows by append
// before a full part buffer is taken: small files never take one.
const firstPartGrowth = 1 << 20

// partMemory lends the buffers of whole parts: the block cache's, so that
// reads and writes share one memory bound and one set of buffers.
type partMemory interface {
	TakeBuffer(ctx context.Context, n int64) (buf []byte, counted bool, err error)
	GiveBuffer(buf []byte, counted bool)
}

// Upload writes one object from sequential writes. Data collects in memory
// up to one part; a small object is stored with one PutObject on Commit,
// a larger one becomes a multipart upload whose parts go up in parallel
// while the writer goes on, at most `concurrency` in flight: Write blocks
// when they are all busy (backpressure). An Upload that is not committed
// must be aborted. Calls must be serialized by the caller.
type Upload struct {
	b           Bucket
	mp          Multipart
	mem         partMemory
	key         string
	opts        PutOptions
	partSize    int64
	concurrency int

	size    int64  // bytes accepted by Write
	buf     []byte // the part being filled
	taken   bool   // buf is a whole part's buffer from mem, to give back
	counted bool   // with the counted it came with
	id      string // multipart upload id; "" until the first part is sent
	sent    int32  // parts handed to senders
	slots   chan struct{}
	wg      sync.WaitGroup

	mu    sync.Mutex
	parts []CompletedPart
	err   error // first part failure
	ended bool  // committed or aborted
}

// newUpload starts nothing on the server: that waits for the first full
// part, or for Commit.
func newUpload(b Bucket, mp Multipart, mem partMemory, key string, opts PutOptions, partSize int64, concurrency int) *Upload {
	return &Upload{b: b, mp: mp, mem: mem, key: key, opts: opts, partSize: partSize,
		concurrency: concurrency, slots: make(chan struct{}, concurrency)}
}

// Size returns the bytes written so far.
func (u *Upload) Size() int64 { return u.size }

// Started reports whether parts have gone to the server (the data is no
// longer all in memory).
func (u *Upload) Started() bool { return u.id != "" }

// Buffered returns all the data written so far when none has been sent.
func (u *Upload) Buffered() ([]byte, bool) {
	if u.Started() {
		return nil, false
	}
	return u.buf, true
}

// curPartSize is the size of the next part to send.
func (u *Upload) curPartSize() int64 {
	ps := u.partSize << (u.sent / partsPerStep)
	return min(ps, max(maxStreamPart, u.partSize))
}

// failure returns the first part failure.
func (u *Upload) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// Write appends p. It returns once p is buffered, blocking while all part
// slots are busy. After a failure every call returns the error and the
// upload must be aborted.
func (u *Upload) Write(ctx context.Context, p []byte) error {
	if err := u.failure(); err != nil {
		return err
	}
	for len(p) > 0 {
		ps := u.curPartSize()
		if int64(len(u.buf)) == ps {
			// Send a full part only when more data follows, so that an
			// object of exactly one part is a single PutObject.
			if err := u.sendPart(ctx); err != nil {
				return err
			}
			continue
		}
		k := min(int64(len(p)), ps-int64(len(u.buf)))
		if need := int64(len(u.buf)) + k; need > int64(cap(u.buf)) && (u.Started() || need > firstPartGrowth) {
			// A whole part's buffer, counted in the memory bound; the
			// first part of a small file grows by append instead.
			nb, counted, err := u.mem.TakeBuffer(ctx, ps)
			if err != nil {
				return err
			}
			nb = nb[:len(u.buf)]
			copy(nb, u.buf)
			u.dropBuf()
			u.buf, u.taken, u.counted = nb, true, counted
		}
		u.buf = append(u.buf, p[:k]...)
		p = p[k:]
		u.size += k
	}
	return nil
}

// sendPart hands the filled buffer to a sender goroutine, starting the
// multipart upload first if needed.
func (u *Upload) sendPart(ctx context.Context) error {
	if u.id == "" {
		id, err := u.mp.StartUpload(ctx, u.key, u.opts)
		if err != nil {
			return err
		}
		u.id = id
	}
	select {
	case u.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	u.sent++
	num, data, taken, counted := u.sent, u.buf, u.taken, u.counted
	u.buf, u.taken = nil, false
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		defer func() { <-u.slots }()
		// Detached from the write that filled it: the part outlives it.
		etag, err := u.mp.UploadPart(context.WithoutCancel(ctx), u.key, u.id, num, data)
		if taken {
			u.mem.GiveBuffer(data[:cap(data)], counted)
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if err != nil {
			if u.err == nil {
				u.err = err
			}
			return
		}
		u.parts = append(u.parts, CompletedPart{Num: num, ETag: etag})
	}()
	return u.failure()
}

// Commit stores everything written as the object and returns its info;
// opts replaces the options the upload started with when the data still
// goes as one PutObject (a multipart upload carries the metadata it was
// started with). On failure the server keeps nothing of this upload, and
// a retry is possible only while nothing was sent.
func (u *Upload) Commit(ctx context.Context, opts PutOptions) (ObjectInfo, error) {
	if u.ended {
		return ObjectInfo{}, errors.New("upload already finished")
	}
	if !u.Started() {
		info, err := u.b.Put(ctx, u.key, bytes.NewReader(u.buf), int64(len(u.buf)), opts)
		if err == nil {
			u.ended = true
			u.dropBuf()
		}
		return info, err
	}
	err := u.failure()
	if err == nil && len(u.buf) > 0 {
		err = u.sendPart(ctx)
	}
	u.wg.Wait()
	if err == nil {
		err = u.failure()
	}
	if err != nil {
		u.Abort()
		return ObjectInfo{}, err
	}
	parts, err := u.sortedParts()
	if err != nil {
		u.Abort()
		return ObjectInfo{}, err
	}
	u.ended = true // CompleteUpload aborts by itself on failure
	return u.mp.CompleteUpload(ctx, u.key, u.id, parts, u.size, u.opts)
}

// dropBuf lets go of the part being filled, giving its buffer back if it
// was taken from mem.
func (u *Upload) dropBuf() {
	if u.taken {
		u.mem.GiveBuffer(u.buf[:cap(u.buf)], u.counted)
	}
	u.buf, u.taken = nil, false
}

// sortedParts returns the parts in order, checking that none is missing.
func (u *Upload) sortedParts() ([]CompletedPart, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	parts := make([]CompletedPart, u.sent)
	for _, p := range u.parts {
		parts[p.Num-1] = p
	}
	for i, p := range parts {
		if p.ETag == "" {
			return nil, fmt.Errorf("upload of %q: part %d was not stored", u.key, i+1)
		}
	}
	return parts, nil
}

// Abort drops the upload: buffered data, parts in flight and, once they
// are done, the multipart upload on the server.
func (u *Upload) Abort() {
	if u.ended {
		return
	}
	u.ended = true
	u.dropBuf()
	if u.id == "" {
		return
	}
	u.wg.Wait()
	u.mp.AbortUpload(context.Background(), u.key, u.id)
}
