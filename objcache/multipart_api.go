package objcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/ssekeys"
)

// Multipart is implemented by buckets that take an object in parts, which
// streaming uploads need. Parts are numbered from 1; every part but the
// last must be at least 5 MiB.
type Multipart interface {
	// StartUpload begins an upload of key carrying opts, encrypted with the
	// mount's write key, and returns its id.
	StartUpload(ctx context.Context, key string, opts PutOptions) (string, error)
	// UploadPart stores one part and returns its ETag. It must not keep
	// data: the buffer is reused once it returns.
	UploadPart(ctx context.Context, key, id string, num int32, data []byte) (string, error)
	// CompleteUpload commits the parts (in order) as the object of size
	// bytes. On failure the upload is aborted.
	CompleteUpload(ctx context.Context, key, id string, parts []CompletedPart, size int64, opts PutOptions) (ObjectInfo, error)
	// AbortUpload drops an upload and its parts, even when ctx is done.
	AbortUpload(ctx context.Context, key, id string)
}

// CompletedPart is one uploaded part.
type CompletedPart struct {
	Num  int32
	ETag string
}

var _ Multipart = (*Client)(nil)

// StartUpload implements Multipart.
func (c *Client) StartUpload(ctx context.Context, key string, opts PutOptions) (string, error) {
	c.forget(key)
	return c.createUpload(ctx, "put", key, opts)
}

// UploadPart implements Multipart. Once it returns, data is not read any
// more and may be reused.
func (c *Client) UploadPart(ctx context.Context, key, id string, num int32, data []byte) (string, error) {
	in := &s3.UploadPartInput{
		Bucket:        aws.String(c.cfg.Bucket),
		Key:           aws.String(c.fullKey(key)),
		UploadId:      aws.String(id),
		PartNumber:    aws.Int32(num),
		ContentLength: aws.Int64(int64(len(data))),
	}
	body := &fencedReader{r: bytes.NewReader(data)}
	defer body.fence()
	in.Body = body
	uploadPartSSE(in).set(c.write.For(ssekeys.OpUploadPart))
	out, err := c.s3.UploadPart(ctx, in)
	if err != nil {
		return "", mapErr("put", key, fmt.Errorf("part %d: %w", num, err))
	}
	return aws.ToString(out.ETag), nil
}

// CompleteUpload implements Multipart; the encryption echo is checked as
// for Put.
func (c *Client) CompleteUpload(ctx context.Context, key, id string, parts []CompletedPart, size int64, opts PutOptions) (ObjectInfo, error) {
	cp := make([]types.CompletedPart, len(parts))
	for i, p := range parts {
		cp[i] = types.CompletedPart{PartNumber: aws.Int32(p.Num), ETag: aws.String(p.ETag)}
	}
	etag, err := c.completeUpload(ctx, "put", key, id, cp)
	if err != nil {
		return ObjectInfo{}, err
	}
	c.remember(key, c.write)
	return c.writtenInfo(key, size, etag, opts), nil
}

// AbortUpload implements Multipart.
func (c *Client) AbortUpload(ctx context.Context, key, id string) { c.abortUpload(ctx, key, id) }

// errFenced is what a request body read after its call returned gets.
var errFenced = errors.New("request body read after its call returned")

// fencedReader is a request body that stops reading its bytes once fenced.
// net/http may still read a request body in a goroutine after RoundTrip
// has returned (after an early answer, say); fencing orders every read
// before the caller's next use of the buffer, so part buffers can be
// reused safely.
type fencedReader struct {
	mu sync.Mutex
	r  *bytes.Reader // nil once fenced
}

// Read implements io.Reader.
func (f *fencedReader) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		return 0, errFenced
	}
	return f.r.Read(p)
}

// Seek implements io.Seeker (the SDK rewinds bodies to sign and to retry).
func (f *fencedReader) Seek(off int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.r == nil {
		return 0, errFenced
	}
	return f.r.Seek(off, whence)
}

func (f *fencedReader) fence() {
	f.mu.Lock()
	f.r = nil
	f.mu.Unlock()
}
