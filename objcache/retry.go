package objcache

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
)

// Backoff between attempts: exponential with full jitter.
const (
	retryBaseDelay = 200 * time.Millisecond
	retryMaxDelay  = 10 * time.Second
)

// newRetryer is the SDK retryer every request goes through: 5xx (503
// SlowDown included), connection resets, refused connections and timeouts
// are retried with exponential backoff and jitter; 4xx answers are final,
// except S3's RequestTimeout (400: the server gave up waiting for our body,
// a transport failure) and 429 (throttling). No client-wide retry quota:
// a flaky hour must not turn every later request into a failure.
func newRetryer(maxAttempts int) aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = maxAttempts
		o.BaseDelay = retryBaseDelay
		o.MaxBackoff = retryMaxDelay
		o.RateLimiter = ratelimit.None
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(final4xx), retry.IsErrorRetryableFunc(truncatedAnswer)}, o.Retryables...)
	})
}

// final4xx vetoes retries of client errors.
func final4xx(err error) aws.Ternary {
	status, code, _ := statusOf(err)
	if status < 400 || status >= 500 {
		return aws.UnknownTernary
	}
	if code == "RequestTimeout" || status == http.StatusTooManyRequests {
		return aws.UnknownTernary
	}
	return aws.FalseTernary
}

// truncatedAnswer retries an answer whose body broke off mid-way: the
// status line came, the XML did not (CreateMultipartUpload, a listing,
// CompleteMultipartUpload). The SDK reports it as a deserialization error,
// which its own retryables leave alone, so a single dropped connection
// failed a write with EIO.
func truncatedAnswer(err error) aws.Ternary {
	var de *smithy.DeserializationError
	if errors.As(err, &de) && isTransient(de.Err) {
		return aws.TrueTernary
	}
	return aws.UnknownTernary
}

// isTransient reports an error worth retrying on a response body being
// read (the SDK's retryer only covers getting the response): connection
// resets, unexpected EOFs and timeouts.
func isTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// backoff sleeps before attempt n (1-based retry count), or returns early
// with the context's error.
func backoff(ctx context.Context, n int) error {
	d := retryBaseDelay << min(n, 10)
	d = min(d, retryMaxDelay)
	d = time.Duration(rand.Int64N(int64(d) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// resumingReader reads a ranged GET body; when the connection breaks mid
// body it reopens the rest of the range (pinned to the first response's
// ETag, so a changed object fails with ErrPreconditionFailed rather than
// splicing two versions) up to maxAttempts times.
type resumingReader struct {
	ctx         context.Context
	body        io.ReadCloser
	off         int64 // next offset to read
	end         int64 // one past the last byte wanted, -1 for the object's end
	etag        string
	reopen      func(ctx context.Context, etag string, off, end int64) (io.ReadCloser, error)
	maxAttempts int
	failures    int
}

func (r *resumingReader) Read(p []byte) (int, error) {
	for {
		if r.body == nil {
			return 0, errReaderClosed
		}
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == io.EOF && r.end >= 0 && r.off < r.end {
			err = io.ErrUnexpectedEOF // cut short: a broken connection
		}
		if err == nil || err == io.EOF || !isTransient(err) || r.failures+1 >= r.maxAttempts {
			return n, err
		}
		r.failures++
		r.body.Close()
		r.body = nil
		if err := backoff(r.ctx, r.failures); err != nil {
			return n, err
		}
		body, err := r.reopen(r.ctx, r.etag, r.off, r.end)
		if err != nil {
			return n, err
		}
		r.body = body
		if n > 0 {
			return n, nil
		}
	}
}

func (r *resumingReader) Close() error {
	if r.body == nil {
		return nil
	}
	err := r.body.Close()
	r.body = nil
	return err
}

var errReaderClosed = errors.New("read after close or failed reopen")
