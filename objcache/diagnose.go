package objcache

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/ssekeys"
)

// This file holds the probes of `ssefs doctor`: what the server does with
// the configured encryption, found out with short-lived probe objects.

// Endpoint is the S3 endpoint the client talks to, as messages show it.
func (c *Client) Endpoint() string { return c.cfg.endpointName() }

// SSEDiagnosis is what DiagnoseSSE found out about the server.
type SSEDiagnosis struct {
	// RoundTrip is nil when a probe object was written with the client's
	// write encryption (echo checked), HEAD with it (echo checked), read
	// back intact and deleted.
	RoundTrip error
	// CopyTested is set when the encrypted-copy probe ran (only with an
	// encryption configured and a good round trip).
	CopyTested bool
	// CopyRefused: CopyObject of an encrypted source answered 501 (Ceph
	// RGW before 2025).
	CopyRefused bool
	// CopyErr is any other failure of that copy.
	CopyErr error
	// PlainCopyTested is set when the plain-to-encrypted copy probe ran.
	PlainCopyTested bool
	// PlainCopyUnencrypted: a CopyObject of a plain source asking for the
	// write encryption answered without its echo (Ceph RGW stores such
	// copies unencrypted).
	PlainCopyUnencrypted bool
	// PlainCopyErr is any other failure of that copy.
	PlainCopyErr error
}

// DiagnoseSSE runs the SSE probes: a round trip of a probe object under
// the prefix (".ssefs-probe-<random>"), then, with an encryption
// configured, a CopyObject of it onto a second probe key, and a CopyObject
// of a plain probe object asking for the encryption. Every probe object is
// deleted afterwards.
func (c *Client) DiagnoseSSE(ctx context.Context) SSEDiagnosis {
	var d SSEDiagnosis
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	base := ".ssefs-probe-" + hex.EncodeToString(rnd[:])
	cleanup := []string{}
	defer func() {
		for _, k := range cleanup {
			_ = c.Delete(context.WithoutCancel(ctx), k)
		}
	}()

	data := []byte("ssefs doctor probe " + base + "\n")
	info, err := c.Put(ctx, base, bytes.NewReader(data), int64(len(data)), PutOptions{})
	if err != nil {
		d.RoundTrip = err
		return d
	}
	if d.RoundTrip = c.readBack(ctx, base, data); d.RoundTrip != nil {
		cleanup = append(cleanup, base)
		return d
	}
	if c.write.Kind == ssekeys.None {
		d.RoundTrip = c.Delete(ctx, base)
		return d
	}

	d.CopyTested = true
	cleanup = append(cleanup, base+"-copy")
	_, err = c.copyObject(ctx, base, base+"-copy", ObjectInfo{Size: info.Size}, c.write, PutOptions{})
	switch {
	case err == nil:
	case isNotImplemented(err):
		d.CopyRefused = true
	default:
		d.CopyErr = mapErr("copy", base+"-copy", err)
	}

	d.PlainCopyTested = true
	plain := base + "-plain"
	cleanup = append(cleanup, plain, plain+"-copy")
	if d.PlainCopyErr = c.putPlain(ctx, plain, data); d.PlainCopyErr == nil {
		_, err = c.copyObject(ctx, plain, plain+"-copy", ObjectInfo{Size: int64(len(data))}, ssekeys.SSE{}, PutOptions{})
		switch {
		case err == nil:
		case errors.Is(err, errCopyNotEncrypted):
			d.PlainCopyUnencrypted = true
		default:
			d.PlainCopyErr = mapErr("copy", plain+"-copy", err)
		}
	}
	d.RoundTrip = c.Delete(ctx, base)
	return d
}

// readBack checks a probe object's stored encryption and content.
func (c *Client) readBack(ctx context.Context, key string, data []byte) error {
	if _, err := c.verifyStored(ctx, key, c.write); err != nil {
		return err
	}
	body, err := c.GetRange(ctx, key, "", 0, -1)
	if err != nil {
		return err
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil {
		return mapErr("get", key, err)
	}
	if !bytes.Equal(got, data) {
		return &RequestError{Op: "get", Key: key, Err: errors.New("read back other bytes than written")}
	}
	return nil
}

// putPlain stores data at key without any encryption, whatever the client's
// write encryption.
func (c *Client) putPlain(ctx context.Context, key string, data []byte) error {
	_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(c.cfg.Bucket),
		Key:           aws.String(c.fullKey(key)),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	})
	return mapErr("put", key, err)
}

// BucketReplication reports whether the bucket has a replication
// configuration, and how many rules it holds.
func (c *Client) BucketReplication(ctx context.Context) (configured bool, rules int, err error) {
	out, err := c.s3.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(c.cfg.Bucket)})
	if err != nil {
		if _, code, _ := statusOf(err); strings.Contains(code, "ReplicationConfigurationNotFound") {
			return false, 0, nil
		}
		return false, 0, mapErr("get replication", "", err)
	}
	if out.ReplicationConfiguration != nil {
		rules = len(out.ReplicationConfiguration.Rules)
	}
	return true, rules, nil
}
