package objcache

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/ssekeys"
)

// partSizeFor picks the part size for an upload of size bytes: PartSize,
// grown (in MiB steps) when S3's 10,000-part limit requires it.
func (c *Client) partSizeFor(size int64) int64 {
	ps := c.cfg.PartSize
	if need := (size + maxParts - 1) / maxParts; need > ps {
		ps = (need + 1<<20 - 1) &^ (1<<20 - 1)
	}
	return ps
}

// createUpload starts a multipart upload of key with the mount's write SSE
// and checks the echo.
func (c *Client) createUpload(ctx context.Context, op, key string, opts PutOptions) (string, error) {
	in := &s3.CreateMultipartUploadInput{
		Bucket:      aws.String(c.cfg.Bucket),
		Key:         aws.String(c.fullKey(key)),
		Metadata:    opts.Metadata,
		ContentType: optional(opts.ContentType),
	}
	createMultipartSSE(in).set(c.write.For(ssekeys.OpCreateMultipart))
	out, err := c.s3.CreateMultipartUpload(ctx, in)
	if err != nil {
		return "", mapErr(op, key, err)
	}
	id := aws.ToString(out.UploadId)
	if err := c.write.CheckEcho(echoOf(out.ResultMetadata)); err != nil {
		c.abortUpload(ctx, key, id)
		return "", notHonoured(op, key, err)
	}
	return id, nil
}

// abortUpload drops an upload's parts; it runs even when ctx is cancelled.
func (c *Client) abortUpload(ctx context.Context, key, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err := c.s3.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.fullKey(key)), UploadId: aws.String(id),
	})
	if err != nil {
		c.log.Warn("could not abort multipart upload (a lifecycle rule or a later abort frees its parts)", "object", key, "err", mapErr("abort", key, err).Error())
	}
}

// completeUpload commits an upload and checks the echo. Servers need not
// echo SSE-C on completion (AWS's response has no SSE-C fields), so a
// missing echo is settled by a HEAD; an object stored otherwise is removed.
func (c *Client) completeUpload(ctx context.Context, op, key, id string, parts []types.CompletedPart) (string, error) {
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(c.cfg.Bucket),
		Key:             aws.String(c.fullKey(key)),
		UploadId:        aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	completeSSE(in).set(c.write.For(ssekeys.OpCompleteMultipart))
	out, err := c.s3.CompleteMultipartUpload(ctx, in)
	if err != nil {
		if etag, ok := c.committedDespiteError(ctx, key, parts, err); ok {
			return etag, nil
		}
		c.abortUpload(ctx, key, id)
		return "", mapErr(op, key, err)
	}
	if err := c.write.CheckEcho(echoOf(out.ResultMetadata)); err != nil {
		if _, verr := c.verifyStored(ctx, key, c.write); verr != nil {
			return "", c.removeUnhonoured(ctx, op, key, err)
		}
	}
	return aws.ToString(out.ETag), nil
}

// putMultipart uploads body in parts of partSizeFor(size), at most
// Concurrency parts (and so buffers) in flight.
func (c *Client) putMultipart(ctx context.Context, key string, body io.Reader, size int64, opts PutOptions) (ObjectInfo, error) {
	id, err := c.createUpload(ctx, "put", key, opts)
	if err != nil {
		return ObjectInfo{}, err
	}
	parts, err := c.uploadParts(ctx, key, id, body, size)
	if err != nil {
		c.abortUpload(ctx, key, id)
		return ObjectInfo{}, err
	}
	etag, err := c.completeUpload(ctx, "put", key, id, parts)
	if err != nil {
		return ObjectInfo{}, err
	}
	return c.writtenInfo(key, size, etag, opts), nil
}

func (c *Client) uploadParts(ctx context.Context, key, id string, body io.Reader, size int64) ([]types.CompletedPart, error) {
	partSize := c.partSizeFor(size)
	nparts := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, nparts)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	slots := make(chan struct{}, c.cfg.Concurrency)
	for i := 0; i < nparts; i++ {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		n := min(partSize, size-int64(i)*partSize)
		buf := newDataBuffer(n)
		if _, err := io.ReadFull(body, buf); err != nil {
			cancel(&RequestError{Op: "put", Key: key, Err: fmt.Errorf("reading the data: %w", err)})
			<-slots
			break
		}
		wg.Add(1)
		go func(num int32, buf []byte) {
			defer wg.Done()
			defer func() { <-slots }()
			in := &s3.UploadPartInput{
				Bucket:        aws.String(c.cfg.Bucket),
				Key:           aws.String(c.fullKey(key)),
				UploadId:      aws.String(id),
				PartNumber:    aws.Int32(num),
				Body:          bytes.NewReader(buf),
				ContentLength: aws.Int64(int64(len(buf))),
			}
			uploadPartSSE(in).set(c.write.For(ssekeys.OpUploadPart))
			out, err := c.s3.UploadPart(ctx, in)
			if err != nil {
				cancel(mapErr("put", key, fmt.Errorf("part %d: %w", num, err)))
				return
			}
			parts[num-1] = types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag}
		}(int32(i+1), buf)
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return parts, nil
}

// committedDespiteError settles a completion whose answer was lost: the
// server committed the upload, the SDK's retry then found the upload gone
// (404 NoSuchUpload). The object counts as ours when a HEAD with our
// encryption shows the multipart ETag that exactly these parts make.
func (c *Client) committedDespiteError(ctx context.Context, key string, parts []types.CompletedPart, err error) (string, bool) {
	if _, code, _ := statusOf(err); code != "NoSuchUpload" {
		return "", false
	}
	want, ok := multipartETag(parts)
	if !ok {
		return "", false
	}
	info, verr := c.verifyStored(ctx, key, c.write)
	if verr != nil || strings.Trim(info.ETag, `"`) != want {
		return "", false
	}
	c.log.Info("completion answer was lost, but the server committed our upload", "object", key)
	return info.ETag, true
}

// multipartETag is S3's ETag of an object completed from parts: the hex MD5
// of the concatenated binary part ETags, a dash, and the part count.
func multipartETag(parts []types.CompletedPart) (string, bool) {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(aws.ToString(p.ETag), `"`))
		if err != nil {
			return "", false
		}
		h.Write(b)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts)), true
}
