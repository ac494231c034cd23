package objcache

import (
	"bytes"
	"context"
	"fmt"

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
	// UploadPart stores one part and returns its ETag.
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

// UploadPart implements Multipart.
func (c *Client) UploadPart(ctx context.Context, key, id string, num int32, data []byte) (string, error) {
	in := &s3.UploadPartInput{
		Bucket:        aws.String(c.cfg.Bucket),
		Key:           aws.String(c.fullKey(key)),
		UploadId:      aws.String(id),
		PartNumber:    aws.Int32(num),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}
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
