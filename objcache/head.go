package objcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"

	"github.com/ssefs/ssefs/ssekeys"
)

// errEchoMismatch: a HEAD answered 200 but echoed another SSE-C key than the
// one sent. Treated like a refusal of that key.
var errEchoMismatch = errors.New("server echoed another SSE-C key")

// Head returns the object's info. It tries the encryption that last opened
// the object, else each of the mount's read candidates in order (DESIGN.md,
// "Reading"), and remembers which one opened it.
func (c *Client) Head(ctx context.Context, key string) (ObjectInfo, error) {
	info, _, err := c.open(ctx, key)
	return info, err
}

// open finds the encryption that opens key and returns the object's info and
// what the object really is (none, SSE-C with a key, or SSE-KMS).
func (c *Client) open(ctx context.Context, key string) (ObjectInfo, ssekeys.SSE, error) {
	candidates := c.cfg.Encryption.ReadCandidates()
	if sse, ok := c.remembered(key); ok {
		candidates = append([]ssekeys.SSE{sse}, candidates...)
	}
	var tried []ssekeys.SSE
	keyRefused := false
	var lastErr error
	for _, cand := range candidates {
		if triedAlready(tried, cand) {
			continue
		}
		tried = append(tried, cand)
		info, actual, err := c.headWith(ctx, key, cand)
		if err == nil {
			c.remember(key, actual)
			return info, actual, nil
		}
		if !refusesKey(err) {
			return ObjectInfo{}, cand, mapErr("head", key, err)
		}
		c.forget(key)
		// A 400 (or a wrong echo) is about the key; 403s alone may be a
		// real access denial.
		if isBadRequest(err) || errors.Is(err, errEchoMismatch) {
			keyRefused = true
		}
		lastErr = err
	}
	if !keyRefused {
		c.hintKMSACL(key, lastErr)
		return ObjectInfo{}, ssekeys.SSE{}, mapErr("head", key, lastErr)
	}
	c.log.Warn("no configured key opens the object", "object", key, "tried", describeTried(tried))
	status, code, msg := statusOf(lastErr)
	return ObjectInfo{}, ssekeys.SSE{}, &RequestError{Op: "head", Key: key, Status: status, Code: code, Message: msg,
		Err: fmt.Errorf("%w (tried %s)", ErrKeyRefused, describeTried(tried))}
}

// hintKMSACL logs the likely cause of a HEAD refused with 403 on a mount
// with an SSE-KMS key: the object store's service user is not (or no
// longer) on the key's read ACL, so the object store cannot fetch the key.
func (c *Client) hintKMSACL(key string, err error) {
	id := c.cfg.Encryption.KMSKeyID
	if id == "" {
		return
	}
	if status, _, _ := statusOf(err); status != http.StatusForbidden {
		return
	}
	c.log.Warn(fmt.Sprintf("access denied to %s: if it is SSE-KMS encrypted, the object store's service user may not be on the read ACL of key %s (ssefs keys grant %s USER)", key, id, id),
		"object", key, "kms_key_id", id)
}

// refusesKey reports whether err means "these SSE parameters do not open
// the object", so the next candidate should be tried.
func refusesKey(err error) bool {
	return errors.Is(err, errEchoMismatch) || isKeyRefusal(err)
}

// triedAlready reports whether a HEAD with cand's parameters was sent
// already (an SSE-KMS object reads with no parameters, like a plain one).
func triedAlready(tried []ssekeys.SSE, cand ssekeys.SSE) bool {
	p := cand.For(ssekeys.OpHead)
	for _, t := range tried {
		if t.For(ssekeys.OpHead) == p {
			return true
		}
	}
	return false
}

// describeTried names the candidates for a log line: key fingerprints and
// "no key", never key material.
func describeTried(tried []ssekeys.SSE) string {
	names := make([]string, 0, len(tried))
	for _, t := range tried {
		if t.Kind == ssekeys.SSEC {
			names = append(names, "SSE-C "+t.Key.Fingerprint())
		} else {
			names = append(names, "no key")
		}
	}
	return strings.Join(names, ", ")
}

// headWith sends one HEAD with sse's parameters. It returns the raw SDK
// error (callers classify it) and what the object turned out to be.
func (c *Client) headWith(ctx context.Context, key string, sse ssekeys.SSE) (ObjectInfo, ssekeys.SSE, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.fullKey(key))}
	headSSE(in).set(sse.For(ssekeys.OpHead))
	out, err := c.s3.HeadObject(ctx, in)
	if err != nil {
		return ObjectInfo{}, sse, err
	}
	actual, err := openedWith(sse, out.ResultMetadata)
	if err != nil {
		return ObjectInfo{}, sse, err
	}
	return headInfo(key, out), actual, nil
}

func headInfo(key string, out *s3.HeadObjectOutput) ObjectInfo {
	return ObjectInfo{
		Key:          key,
		Size:         aws.ToInt64(out.ContentLength),
		ETag:         aws.ToString(out.ETag),
		LastModified: aws.ToTime(out.LastModified),
		ContentType:  aws.ToString(out.ContentType),
		Metadata:     metadataFrom(out.Metadata),
		ServerTime:   serverTime(out.ResultMetadata),
	}
}

// serverTime is the Date of the server's answer, or zero.
func serverTime(md middleware.Metadata) time.Time {
	t, _ := awsmiddleware.GetServerTime(md)
	return t
}

// metadataFrom returns user metadata with lower-case names, never nil.
func metadataFrom(m map[string]string) Metadata {
	md := make(Metadata, len(m))
	for k, v := range m {
		md[strings.ToLower(k)] = v
	}
	return md
}

// verifyStored HEADs key with want's parameters and checks that the object
// is stored with want: the last word when a write's own response did not
// echo the encryption.
func (c *Client) verifyStored(ctx context.Context, key string, want ssekeys.SSE) (ObjectInfo, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.fullKey(key))}
	headSSE(in).set(want.For(ssekeys.OpHead))
	out, err := c.s3.HeadObject(ctx, in)
	if err != nil {
		if isKeyRefusal(err) {
			return ObjectInfo{}, &RequestError{Op: "verify", Key: key, Err: fmt.Errorf("%w: HEAD with %s refused", ErrEncryptionNotHonoured, want)}
		}
		return ObjectInfo{}, mapErr("verify", key, err)
	}
	if err := want.CheckEcho(echoOf(out.ResultMetadata)); err != nil {
		return ObjectInfo{}, &RequestError{Op: "verify", Key: key, Err: fmt.Errorf("%w: %w", ErrEncryptionNotHonoured, err)}
	}
	return headInfo(key, out), nil
}
