package objcache

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/ssekeys"
)

// GetRange returns the plaintext bytes [off, off+n) of the object (to the
// end when n < 0), read with the encryption that opens it. A range starting
// at or past the end reads as empty. With etag set, a changed object fails
// with ErrPreconditionFailed. A connection that breaks mid-body is resumed
// from where it stopped, pinned to the same ETag.
func (c *Client) GetRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, &RequestError{Op: "get", Key: key, Err: fmt.Errorf("negative offset %d", off)}
	}
	if n == 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	end := int64(-1)
	if n > 0 {
		end = off + n
	}
	etag = quoteETag(etag)
	sse, known := c.remembered(key)
	if !known {
		// Not opened by this mount yet: GET with the first read candidate
		// (the key new writes use), as the HEAD that would find the
		// encryption tries first anyway, and HEAD the others only if it
		// is refused. The first read of an object found by a listing
		// (an attribute index, a file whose lookup the index answered)
		// then costs one request, not two.
		sse = c.cfg.Encryption.ReadCandidates()[0]
	}
	out, err := c.getWith(ctx, key, sse, etag, off, end)
	if err == nil && !known {
		var actual ssekeys.SSE
		if actual, err = openedWith(sse, out.ResultMetadata); err != nil {
			out.Body.Close()
		} else {
			sse = actual
			c.remember(key, sse)
		}
	}
	if err != nil && refusesKey(err) {
		// Another key, or the object was rewritten under another key
		// since it was opened.
		c.forget(key)
		if _, sse, err = c.open(ctx, key); err != nil {
			return nil, err
		}
		out, err = c.getWith(ctx, key, sse, etag, off, end)
	}
	if err != nil {
		if status, _, _ := statusOf(err); status == http.StatusRequestedRangeNotSatisfiable {
			return io.NopCloser(strings.NewReader("")), nil
		}
		if refusesKey(err) && isBadRequest(err) {
			status, code, msg := statusOf(err)
			return nil, &RequestError{Op: "get", Key: key, Status: status, Code: code, Message: msg, Err: ErrKeyRefused}
		}
		return nil, mapErr("get", key, err)
	}
	if etag == "" {
		etag = aws.ToString(out.ETag)
	}
	if out.ContentLength != nil {
		// The exact length served (a range past the end is cut short):
		// fewer bytes than this means a broken connection.
		end = off + *out.ContentLength
	}
	return &resumingReader{
		ctx:  ctx,
		body: out.Body,
		off:  off,
		end:  end,
		etag: etag,
		reopen: func(ctx context.Context, etag string, off, end int64) (io.ReadCloser, error) {
			out, err := c.getWith(ctx, key, sse, etag, off, end)
			if err != nil {
				return nil, mapErr("get", key, err)
			}
			return out.Body, nil
		},
		maxAttempts: c.cfg.MaxAttempts,
	}, nil
}

// getWith sends one ranged GET with sse's parameters; end is exclusive, -1
// for the object's end. It returns the raw SDK error.
func (c *Client) getWith(ctx context.Context, key string, sse ssekeys.SSE, etag string, off, end int64) (*s3.GetObjectOutput, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.fullKey(key))}
	if off > 0 || end >= 0 {
		r := fmt.Sprintf("bytes=%d-", off)
		if end >= 0 {
			r += fmt.Sprint(end - 1)
		}
		in.Range = aws.String(r)
	}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	getSSE(in).set(sse.For(ssekeys.OpGet))
	return c.s3.GetObject(ctx, in)
}

// quoteETag puts an ETag in the quoted form If-Match wants.
func quoteETag(etag string) string {
	if etag == "" || strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}
