package objcache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/ssekeys"
)

// copyPartSize is the UploadPartCopy part size for large objects (S3
// allows up to 5 GiB; smaller parts go in parallel and fail smaller).
const copyPartSize = 1 << 30

var (
	// errCopyNotEncrypted: CopyObject answered 200 without the echo (RGW
	// stores a plain source copied with SSE requested unencrypted).
	errCopyNotEncrypted = errors.New("copy response did not echo the requested encryption")
	// errPartCopyRefused: the server refused UploadPartCopy for this
	// source and target encryption (RGW: SSE-C source under another key).
	errPartCopyRefused = errors.New("part copy refused")
)

// Copy makes dst a copy of src encrypted with the mount's write SSE,
// keeping src's metadata and content type when opts is nil. The source is
// opened with the SSE that opens it (its copy-source triple comes from
// there). The ways tried, in order:
//  1. CopyObject, unless the server refused it before (501) or src is over
//     5 GiB;
//  2. a multipart upload of UploadPartCopy parts (RGW encrypts those);
//  3. GET + PUT streaming through memory-bounded parts.
//
// A 200 without the encryption echo (RGW, plain source) is redone by 2 or
// 3 at once. Copies are pinned to src's ETag and commit atomically, so
// src == dst never loses the object.
func (c *Client) Copy(ctx context.Context, src, dst string, opts *PutOptions) (ObjectInfo, error) {
	srcInfo, srcSSE, err := c.open(ctx, src)
	if err != nil {
		return ObjectInfo{}, err
	}
	po := PutOptions{Metadata: srcInfo.Metadata, ContentType: srcInfo.ContentType}
	if opts != nil {
		po = *opts
	}
	c.forget(dst)
	if srcInfo.Size == 0 {
		if src == dst {
			ctx = withInPlace(ctx)
		}
		return c.put(ctx, dst, strings.NewReader(""), 0, po)
	}

	plainLeftAt := "" // dst key holding a plaintext copy that must be fixed
	if srcInfo.Size <= maxCopyPartSize && !c.copyObjectRefused.Load() {
		info, err := c.copyObject(ctx, src, dst, srcInfo, srcSSE, po)
		switch {
		case err == nil:
			c.remember(dst, c.write)
			return info, nil
		case isNotImplemented(err):
			c.copyObjectRefused.Store(true)
			c.copyRefusedLog.Do(func() {
				c.log.Info("server refuses CopyObject of encrypted objects (501); copying by part copies from now on", "endpoint", c.cfg.endpointName())
			})
		case errors.Is(err, errCopyNotEncrypted):
			c.log.Warn("server stored a copy without the requested encryption; redoing it", "object", dst, "err", err.Error())
			plainLeftAt = dst
			// src == dst: the object was just rewritten; copy what is there now.
			c.forget(src)
			if srcInfo, srcSSE, err = c.open(ctx, src); err != nil {
				return ObjectInfo{}, err
			}
		default:
			return ObjectInfo{}, mapErr("copy", dst, err)
		}
	}

	info, err := c.copyByParts(ctx, src, dst, srcInfo, srcSSE, po)
	if errors.Is(err, errPartCopyRefused) {
		c.log.Debug("part copy refused; copying through the client", "src", src, "dst", dst, "err", err.Error())
		info, err = c.copyByStreaming(ctx, src, dst, srcInfo, srcSSE, po)
	}
	if err == nil && plainLeftAt != "" {
		_, err = c.verifyStored(ctx, dst, c.write)
	}
	if err != nil {
		if plainLeftAt != "" && src != dst {
			// Never leave the plaintext copy behind.
			return ObjectInfo{}, c.removeUnhonoured(ctx, "copy", dst, err)
		}
		return ObjectInfo{}, err
	}
	c.remember(dst, c.write)
	return info, nil
}

// copySource is the x-amz-copy-source value for key: bucket/key, with
// everything but unreserved characters and '/' percent-encoded.
func (c *Client) copySource(key string) string {
	s := c.cfg.Bucket + "/" + c.fullKey(key)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || strings.IndexByte("-._~/", ch) >= 0 {
			b.WriteByte(ch)
		} else {
			fmt.Fprintf(&b, "%%%02X", ch)
		}
	}
	return b.String()
}

// copyObject is one CopyObject with metadata REPLACE (so src == dst is a
// legal self-copy), pinned to the source's ETag. It returns the raw SDK
// error, or errCopyNotEncrypted when the echo is missing or wrong.
func (c *Client) copyObject(ctx context.Context, src, dst string, srcInfo ObjectInfo, srcSSE ssekeys.SSE, po PutOptions) (ObjectInfo, error) {
	in := &s3.CopyObjectInput{
		Bucket:            aws.String(c.cfg.Bucket),
		Key:               aws.String(c.fullKey(dst)),
		CopySource:        aws.String(c.copySource(src)),
		CopySourceIfMatch: optional(srcInfo.ETag),
		MetadataDirective: types.MetadataDirectiveReplace,
		Metadata:          po.Metadata,
		ContentType:       optional(po.ContentType),
	}
	copySSE(in).set(c.write.For(ssekeys.OpCopy))
	copySourceSSE(in).set(srcSSE.CopySource())
	out, err := c.s3.CopyObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, err
	}
	if err := c.write.CheckEcho(echoOf(out.ResultMetadata)); err != nil {
		return ObjectInfo{}, fmt.Errorf("%w: %w", errCopyNotEncrypted, err)
	}
	info := c.writtenInfo(dst, srcInfo.Size, "", po)
	if r := out.CopyObjectResult; r != nil {
		info.ETag = aws.ToString(r.ETag)
		if r.LastModified != nil {
			info.LastModified = *r.LastModified
		}
	}
	return info, nil
}

// copyByParts copies src into a new multipart upload of dst with
// UploadPartCopy parts, Concurrency at a time. A refusal of the part copy
// itself (400, or a part answered without the echo) is reported as
// errPartCopyRefused so the caller can stream instead.
func (c *Client) copyByParts(ctx context.Context, src, dst string, srcInfo ObjectInfo, srcSSE ssekeys.SSE, po PutOptions) (ObjectInfo, error) {
	id, err := c.createUpload(ctx, "copy", dst, po)
	if err != nil {
		return ObjectInfo{}, err
	}
	size := srcInfo.Size
	nparts := int((size + copyPartSize - 1) / copyPartSize)
	parts := make([]types.CompletedPart, nparts)

	pctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	slots := make(chan struct{}, c.cfg.Concurrency)
	for i := 0; i < nparts && pctx.Err() == nil; i++ {
		select {
		case slots <- struct{}{}:
		case <-pctx.Done():
			continue
		}
		wg.Add(1)
		go func(num int32, first, last int64) {
			defer wg.Done()
			defer func() { <-slots }()
			etag, err := c.partCopy(pctx, src, dst, id, num, first, last, srcInfo.ETag, srcSSE)
			if err != nil {
				cancel(err)
				return
			}
			parts[num-1] = types.CompletedPart{PartNumber: aws.Int32(num), ETag: aws.String(etag)}
		}(int32(i+1), int64(i)*copyPartSize, min(int64(i+1)*copyPartSize, size)-1)
	}
	wg.Wait()
	err = context.Cause(pctx)
	cancel(nil)
	if err != nil {
		c.abortUpload(ctx, dst, id)
		return ObjectInfo{}, err
	}
	etag, err := c.completeUpload(ctx, "copy", dst, id, parts)
	if err != nil {
		return ObjectInfo{}, err
	}
	return c.writtenInfo(dst, size, etag, po), nil
}

// partCopy copies bytes [first, last] of src as part num of upload id.
func (c *Client) partCopy(ctx context.Context, src, dst, id string, num int32, first, last int64, srcETag string, srcSSE ssekeys.SSE) (string, error) {
	in := &s3.UploadPartCopyInput{
		Bucket:            aws.String(c.cfg.Bucket),
		Key:               aws.String(c.fullKey(dst)),
		UploadId:          aws.String(id),
		PartNumber:        aws.Int32(num),
		CopySource:        aws.String(c.copySource(src)),
		CopySourceRange:   aws.String(fmt.Sprintf("bytes=%d-%d", first, last)),
		CopySourceIfMatch: optional(srcETag),
	}
	uploadPartCopySSE(in).set(c.write.For(ssekeys.OpUploadPartCopy))
	uploadPartCopySourceSSE(in).set(srcSSE.CopySource())
	out, err := c.s3.UploadPartCopy(ctx, in)
	if err != nil {
		if isBadRequest(err) || isNotImplemented(err) {
			return "", fmt.Errorf("%w: %w", errPartCopyRefused, mapErr("copy", dst, err))
		}
		return "", mapErr("copy", dst, err)
	}
	// Ceph RGW 16 answers UploadPartCopy (and CompleteMultipartUpload)
	// without any SSE echo, yet encrypts the part with the upload's key
	// (observed at rest with rados get). So only an echo that is there
	// and wrong refuses the part; a missing one is settled, like a
	// completion without echo, by completeUpload's HEAD of the result.
	if echo := echoOf(out.ResultMetadata); ssekeys.ChecksEcho(ssekeys.OpUploadPartCopy) && echo != (ssekeys.Echo{}) {
		if err := c.write.CheckEcho(echo); err != nil {
			return "", fmt.Errorf("%w: %w", errPartCopyRefused, err)
		}
	}
	if out.CopyPartResult == nil {
		return "", &RequestError{Op: "copy", Key: dst, Err: errors.New("part copy answered without a result")}
	}
	return aws.ToString(out.CopyPartResult.ETag), nil
}

// copyByStreaming reads src with its own SSE and writes dst with the
// mount's, through Put's memory-bounded parts. The read is pinned to src's
// ETag; dst changes only when the upload commits.
func (c *Client) copyByStreaming(ctx context.Context, src, dst string, srcInfo ObjectInfo, srcSSE ssekeys.SSE, po PutOptions) (ObjectInfo, error) {
	c.remember(src, srcSSE)
	body, err := c.GetRange(ctx, src, srcInfo.ETag, 0, -1)
	if err != nil {
		return ObjectInfo{}, err
	}
	defer body.Close()
	if src == dst {
		ctx = withInPlace(ctx)
	}
	return c.put(ctx, dst, body, srcInfo.Size, po)
}
