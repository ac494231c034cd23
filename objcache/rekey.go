package objcache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/ssekeys"
)

// RekeyOutcome is what Rekey did with one object.
type RekeyOutcome int

// The outcomes of Rekey.
const (
	// Rekeyed: the object was re-encrypted with the target and verified.
	Rekeyed RekeyOutcome = iota
	// RekeySkipped: the object is already under the target encryption.
	RekeySkipped
	// RekeyNotFrom: the object is under none of the FROM encryptions and
	// was left alone.
	RekeyNotFrom
	// RekeyGone: the object was deleted since it was listed.
	RekeyGone
	// RekeyWouldChange: a dry run found the object under a FROM encryption.
	RekeyWouldChange
)

// RekeyResult describes one object handled by Rekey.
type RekeyResult struct {
	Outcome RekeyOutcome
	// Was is what the object was encrypted with, when WasKnown.
	Was ssekeys.SSE
	// WasKnown is false for an SSE-C object under a key that was not given.
	WasKnown bool
	// Size is the object's plaintext size.
	Size int64
	// Method says how a rekeyed object was rewritten: "copy" (CopyObject
	// onto itself), "part copy" (UploadPartCopy parts) or "get+put".
	Method string
}

// Target is the encryption the client writes, and so the target of Rekey.
func (c *Client) Target() ssekeys.SSE { return c.write }

// CheckKeyTransport refuses, like NewClient does for the write key, a
// configuration that would send any of the SSE-C keys in sses (say the
// FROM keys of a rekey) in clear text to another machine.
func (c *Client) CheckKeyTransport(sses []ssekeys.SSE) error {
	var keys []*ssekeys.Key
	for _, s := range sses {
		if s.Kind == ssekeys.SSEC {
			keys = append(keys, s.Key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	ring, err := ssekeys.NewKeyring(keys...)
	if err != nil {
		return err
	}
	cfg := c.cfg
	cfg.Encryption = ssekeys.Config{Keys: ring}
	return cfg.checkKeyTransport()
}

// Rekey re-encrypts one object (key relative to the prefix) with the
// client's write encryption (Target) if it is under one of from. It finds
// what the object is under with HEADs: the target's parameters first, so an
// object already under the target costs one HEAD and is skipped (on Ceph
// RGW a HEAD with an SSE-C key on a plain object answers 200 without an
// echo: that is a plain object, not one under the key). An object under
// none of from is left alone.
//
// The object is replaced in one step: a CopyObject onto itself, else one
// multipart upload of UploadPartCopy parts, else a GET streamed into one PUT
// or multipart upload; every step is pinned to the ETag seen by the HEAD,
// so a concurrent change fails the rekey instead of being overwritten by a
// copy. Then a HEAD with the target checks the echo, size, content type and
// user metadata. On error the old version is in place unless the error says
// otherwise (a failed verification after the replacement).
//
// With dryRun nothing is written; an object that would change is reported
// as RekeyWouldChange.
func (c *Client) Rekey(ctx context.Context, key string, from []ssekeys.SSE, dryRun bool) (RekeyResult, error) {
	info, was, known, err := c.classify(ctx, key, from)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return RekeyResult{Outcome: RekeyGone}, nil
		}
		return RekeyResult{}, err
	}
	res := RekeyResult{Was: was, WasKnown: known, Size: info.Size}
	switch {
	case known && sameSSE(was, c.write):
		res.Outcome = RekeySkipped
		return res, nil
	case !known || !underAny(was, from):
		res.Outcome = RekeyNotFrom
		return res, nil
	case dryRun:
		res.Outcome = RekeyWouldChange
		return res, nil
	}
	res.Method, err = c.rekeyCopy(ctx, key, info, was)
	if err != nil {
		return res, err
	}
	if err := c.verifyRekeyed(ctx, key, info); err != nil {
		return res, err
	}
	c.remember(key, c.write)
	res.Outcome = Rekeyed
	return res, nil
}

// classify finds what key is encrypted with. It HEADs with the target's
// parameters, then each of from's, then without a key, stopping at the
// first 200; HEADs that would send the same parameters are sent once.
// known is false when every SSE-C key was refused and a HEAD without a key
// answered 400: an SSE-C object under a key not given.
func (c *Client) classify(ctx context.Context, key string, from []ssekeys.SSE) (info ObjectInfo, was ssekeys.SSE, known bool, err error) {
	probes := append(append([]ssekeys.SSE{c.write}, from...), ssekeys.SSE{})
	var tried []ssekeys.SSE
	var noKeyErr error // what the HEAD without a key answered
	for _, p := range probes {
		if triedAlready(tried, p) {
			continue
		}
		tried = append(tried, p)
		in := &s3.HeadObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.fullKey(key))}
		headSSE(in).set(p.For(ssekeys.OpHead))
		out, herr := c.s3.HeadObject(ctx, in)
		if herr != nil {
			if status, code, _ := statusOf(herr); status == http.StatusNotFound || code == "NoSuchKey" || !isKeyRefusal(herr) {
				return ObjectInfo{}, ssekeys.SSE{}, false, mapErr("head", key, herr)
			}
			if p.Kind != ssekeys.SSEC {
				noKeyErr = herr
			}
			continue
		}
		echo := echoOf(out.ResultMetadata)
		if p.Kind == ssekeys.SSEC && echo.CustomerAlgorithm != "" && echo.CustomerKeyMD5 != p.Key.MD5Base64() {
			continue // another key's echo: not this key
		}
		return headInfo(key, out), actualSSE(p, echo), true, nil
	}
	// Every SSE-C key was refused. A 400 to the HEAD without a key: SSE-C
	// under a key we do not have. A 403: a real denial (or, on RGW, an
	// SSE-KMS key the server cannot fetch), an error rather than a class.
	if isBadRequest(noKeyErr) {
		return ObjectInfo{}, ssekeys.SSE{}, false, nil
	}
	return ObjectInfo{}, ssekeys.SSE{}, false, mapErr("head", key, noKeyErr)
}

// sameSSE reports whether an object found under got is under want.
func sameSSE(got, want ssekeys.SSE) bool {
	if got.Kind != want.Kind {
		return false
	}
	switch want.Kind {
	case ssekeys.SSEC:
		return got.Key.MD5Base64() == want.Key.MD5Base64()
	case ssekeys.KMS:
		return want.CheckEcho(ssekeys.Echo{ServerSideEncryption: ssekeys.SSEKMSHeaderValue, KMSKeyID: got.KMSKeyID}) == nil
	}
	return true
}

// underAny reports whether got is one of list.
func underAny(got ssekeys.SSE, list []ssekeys.SSE) bool {
	for _, s := range list {
		if sameSSE(got, s) {
			return true
		}
	}
	return false
}

// rekeyCopy rewrites key (described by info, encrypted with src) under the
// target, as Copy does for src == dst, and says which way it went.
func (c *Client) rekeyCopy(ctx context.Context, key string, info ObjectInfo, src ssekeys.SSE) (string, error) {
	po := PutOptions{Metadata: info.Metadata, ContentType: info.ContentType}
	c.forget(key)
	if info.Size == 0 {
		// Nothing to copy: one PUT, pinned like the copies are not, but
		// an empty object holds no data to lose.
		_, err := c.put(ctx, key, strings.NewReader(""), 0, po)
		return "put", err
	}
	if info.Size <= maxCopyPartSize && !c.copyObjectRefused.Load() {
		_, err := c.copyObject(ctx, key, key, info, src, po)
		switch {
		case err == nil:
			return "copy", nil
		case isNotImplemented(err):
			c.copyObjectRefused.Store(true)
			c.copyRefusedLog.Do(func() {
				c.log.Info("server refuses CopyObject of encrypted objects (501); rekeying by part copies or GET + PUT", "endpoint", c.cfg.endpointName())
			})
		case errors.Is(err, errCopyNotEncrypted):
			// RGW rewrote a plain source in place, unencrypted, with the
			// same bytes: copy what is there now by parts.
			c.log.Info("server stored a self-copy without the requested encryption (as Ceph RGW does); redoing it by part copies", "object", key)
			var known bool
			if info, src, known, err = c.classify(ctx, key, nil); err != nil {
				return "", err
			}
			if !known {
				return "", &RequestError{Op: "rekey", Key: key, Err: errors.New("object changed during the rekey")}
			}
		default:
			return "", mapErr("copy", key, err)
		}
	}
	_, err := c.copyByParts(ctx, key, key, info, src, po)
	if errors.Is(err, errPartCopyRefused) {
		c.log.Debug("part copy refused; rekeying through the client", "object", key, "err", err.Error())
		_, err = c.copyByStreaming(ctx, key, key, info, src, po)
		return "get+put", err
	}
	return "part copy", err
}

// verifyRekeyed HEADs key with the target's parameters and checks that the
// server says it is under the target (for "no encryption": that it shows no
// encryption at all), with before's size, content type and user metadata.
func (c *Client) verifyRekeyed(ctx context.Context, key string, before ObjectInfo) error {
	in := &s3.HeadObjectInput{Bucket: aws.String(c.cfg.Bucket), Key: aws.String(c.fullKey(key))}
	headSSE(in).set(c.write.For(ssekeys.OpHead))
	out, err := c.s3.HeadObject(ctx, in)
	if err != nil {
		return &RequestError{Op: "verify", Key: key, Err: fmt.Errorf("HEAD with %s after the rekey: %w", c.write, mapErr("head", key, err))}
	}
	echo := echoOf(out.ResultMetadata)
	if !sameSSE(actualSSE(c.write, echo), c.write) || (c.write.Kind == ssekeys.SSEC && echo.CustomerKeyMD5 != c.write.Key.MD5Base64()) {
		return &RequestError{Op: "verify", Key: key, Err: fmt.Errorf("%w: %w", ErrEncryptionNotHonoured, &ssekeys.EchoError{Want: c.write, Got: echo})}
	}
	after := headInfo(key, out)
	switch {
	case after.Size != before.Size:
		return &RequestError{Op: "verify", Key: key, Err: fmt.Errorf("size is %d after the rekey, was %d", after.Size, before.Size)}
	case after.ContentType != before.ContentType:
		return &RequestError{Op: "verify", Key: key, Err: fmt.Errorf("content type is %q after the rekey, was %q", after.ContentType, before.ContentType)}
	case !maps.Equal(after.Metadata, before.Metadata):
		return &RequestError{Op: "verify", Key: key, Err: errors.New("user metadata differs after the rekey")}
	}
	return nil
}
