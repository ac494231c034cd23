package objcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/ssekeys"
)

// Put stores size bytes of body as the object, encrypted with the mount's
// write SSE: one PutObject up to PartSize, else a multipart upload with
// Concurrency parts in flight. Each part is buffered in memory so a retry
// can resend it. The encryption echo is checked; an object the server
// stored otherwise is removed and ErrEncryptionNotHonoured returned.
// The returned LastModified is the local time of the commit.
func (c *Client) Put(ctx context.Context, key string, body io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	if size < 0 {
		return ObjectInfo{}, &RequestError{Op: "put", Key: key, Err: fmt.Errorf("negative size %d", size)}
	}
	return c.put(ctx, key, body, size, opts)
}

func (c *Client) put(ctx context.Context, key string, body io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	c.forget(key)
	var info ObjectInfo
	var err error
	if size <= c.cfg.PartSize {
		info, err = c.putSingle(ctx, key, body, size, opts)
	} else {
		info, err = c.putMultipart(ctx, key, body, size, opts)
	}
	if err == nil {
		c.remember(key, c.write)
	}
	return info, err
}

func (c *Client) putSingle(ctx context.Context, key string, body io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	buf := make([]byte, size)
	if _, err := io.ReadFull(body, buf); err != nil {
		return ObjectInfo{}, &RequestError{Op: "put", Key: key, Err: fmt.Errorf("reading the data: %w", err)}
	}
	in := &s3.PutObjectInput{
		Bucket:        aws.String(c.cfg.Bucket),
		Key:           aws.String(c.fullKey(key)),
		Body:          bytes.NewReader(buf),
		ContentLength: aws.Int64(size),
		Metadata:      opts.Metadata,
		ContentType:   optional(opts.ContentType),
	}
	putSSE(in).set(c.write.For(ssekeys.OpPut))
	out, err := c.s3.PutObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, mapErr("put", key, err)
	}
	if err := c.write.CheckEcho(echoOf(out.ResultMetadata)); err != nil {
		return ObjectInfo{}, c.removeUnhonoured(ctx, "put", key, err)
	}
	return c.writtenInfo(key, size, aws.ToString(out.ETag), opts), nil
}

// writtenInfo describes an object this client just stored.
func (c *Client) writtenInfo(key string, size int64, etag string, opts PutOptions) ObjectInfo {
	md := Metadata{}
	maps.Copy(md, opts.Metadata)
	return ObjectInfo{Key: key, Size: size, ETag: etag, LastModified: time.Now().UTC(), ContentType: opts.ContentType, Metadata: md}
}

// inPlaceKey marks a write that replaces the very object its data comes
// from (a GET + PUT self-copy for chmod, touch or rekey). If the server
// stores such a write without the requested encryption, deleting it would
// delete the only copy of the data, so it is kept and reported instead.
type inPlaceKey struct{}

func withInPlace(ctx context.Context) context.Context {
	return context.WithValue(ctx, inPlaceKey{}, true)
}

func isInPlace(ctx context.Context) bool { v, _ := ctx.Value(inPlaceKey{}).(bool); return v }

// removeUnhonoured deletes an object the server stored with other
// encryption than asked (a plaintext copy must not stay) and returns the
// error for op.
func (c *Client) removeUnhonoured(ctx context.Context, op, key string, echoErr error) error {
	if isInPlace(ctx) {
		c.forget(key)
		c.log.Error("server stored an in-place rewrite without the requested encryption; keeping it, since it holds the only copy of the data",
			"op", op, "object", key, "err", echoErr.Error())
		return notHonoured(op, key, echoErr)
	}
	c.log.Error("server did not apply the requested encryption; removing what it stored", "op", op, "object", key, "err", echoErr.Error())
	c.forget(key)
	if err := c.deleteObject(context.WithoutCancel(ctx), key); err != nil {
		c.log.Error("could not remove the object stored without the requested encryption", "object", key, "err", err.Error())
	}
	return notHonoured(op, key, echoErr)
}

// notHonoured is the error of a write whose echo check failed.
func notHonoured(op, key string, echoErr error) error {
	if errors.Is(echoErr, ErrEncryptionNotHonoured) {
		return echoErr
	}
	return &RequestError{Op: op, Key: key, Err: fmt.Errorf("%w: %w", ErrEncryptionNotHonoured, echoErr)}
}
