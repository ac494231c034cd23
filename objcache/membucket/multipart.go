package membucket

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/ssefs/ssefs/objcache"
)

// Multipart operations, for counters and fault hooks.
const (
	OpStartUpload    Op = "StartUpload"
	OpUploadPart     Op = "UploadPart"
	OpCompleteUpload Op = "CompleteUpload"
	OpAbortUpload    Op = "AbortUpload"
)

var _ objcache.Multipart = (*Bucket)(nil)

// uploads holds the multipart uploads in progress of every Bucket, by
// bucket and upload id.
var uploads = struct {
	sync.Mutex
	m map[*Bucket]map[string]*upload
}{m: map[*Bucket]map[string]*upload{}}

type upload struct {
	key   string
	opts  objcache.PutOptions
	parts map[int32][]byte
}

func (b *Bucket) upload(id string) (*upload, bool) {
	uploads.Lock()
	defer uploads.Unlock()
	u, ok := uploads.m[b][id]
	return u, ok
}

// OpenUploads returns the number of multipart uploads neither completed
// nor aborted.
func (b *Bucket) OpenUploads() int {
	uploads.Lock()
	defer uploads.Unlock()
	return len(uploads.m[b])
}

func (b *Bucket) beginOp(op Op, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.begin(op, key)
}

// StartUpload implements objcache.Multipart.
func (b *Bucket) StartUpload(ctx context.Context, key string, opts objcache.PutOptions) (string, error) {
	if err := b.beginOp(OpStartUpload, key); err != nil {
		return "", err
	}
	uploads.Lock()
	defer uploads.Unlock()
	if uploads.m[b] == nil {
		uploads.m[b] = map[string]*upload{}
	}
	id := fmt.Sprintf("upload-%d", len(uploads.m[b])+1)
	for uploads.m[b][id] != nil {
		id += "+"
	}
	uploads.m[b][id] = &upload{key: key, opts: opts, parts: map[int32][]byte{}}
	return id, nil
}

// UploadPart implements objcache.Multipart.
func (b *Bucket) UploadPart(ctx context.Context, key, id string, num int32, data []byte) (string, error) {
	if err := b.beginOp(OpUploadPart, key); err != nil {
		return "", err
	}
	uploads.Lock()
	defer uploads.Unlock()
	u, ok := uploads.m[b][id]
	if !ok || u.key != key {
		return "", fmt.Errorf("membucket: no upload %s of %q: %w", id, key, objcache.ErrNotFound)
	}
	u.parts[num] = bytes.Clone(data)
	return fmt.Sprintf("\"part-%d-%d\"", num, len(data)), nil
}

// CompleteUpload implements objcache.Multipart.
func (b *Bucket) CompleteUpload(ctx context.Context, key, id string, parts []objcache.CompletedPart, size int64, opts objcache.PutOptions) (objcache.ObjectInfo, error) {
	if err := b.beginOp(OpCompleteUpload, key); err != nil {
		b.AbortUpload(ctx, key, id)
		return objcache.ObjectInfo{}, err
	}
	u, ok := b.upload(id)
	if !ok || u.key != key {
		return objcache.ObjectInfo{}, fmt.Errorf("membucket: no upload %s of %q: %w", id, key, objcache.ErrNotFound)
	}
	var data []byte
	for i, p := range parts {
		if p.Num != int32(i+1) || u.parts[p.Num] == nil {
			b.AbortUpload(ctx, key, id)
			return objcache.ObjectInfo{}, fmt.Errorf("membucket: upload %s: part %d missing", id, i+1)
		}
		data = append(data, u.parts[p.Num]...)
	}
	b.AbortUpload(ctx, key, id)
	if int64(len(data)) != size {
		return objcache.ObjectInfo{}, fmt.Errorf("membucket: upload %s: %d bytes, size says %d", id, len(data), size)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.store(key, data, u.opts), nil
}

// AbortUpload implements objcache.Multipart.
func (b *Bucket) AbortUpload(ctx context.Context, key, id string) {
	uploads.Lock()
	defer uploads.Unlock()
	delete(uploads.m[b], id)
}
