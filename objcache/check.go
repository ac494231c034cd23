package objcache

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/ssekeys"
)

// Time limits of Check: the mount command waits for it before detaching.
const (
	checkReachTimeout = 5 * time.Second
	checkProbeTimeout = 30 * time.Second
)

// CheckError is a failed Check: one line naming the problem.
type CheckError struct {
	Msg string
	Err error // the underlying error (a *RequestError, a transport error, ...)
}

// Error is the one-line message.
func (e *CheckError) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *CheckError) Unwrap() error { return e.Err }

// Check verifies, before a mount detaches, what CheckAccess does and that
// the configured encryption survives a round trip: a small probe object
// under the prefix (".ssefs-probe-<random>") is written, HEAD (echo
// checked), read back and deleted. Each failure is a *CheckError of one line.
func (c *Client) Check(ctx context.Context) error {
	if err := c.CheckAccess(ctx); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, checkProbeTimeout)
	defer cancel()
	if err := c.probe(pctx); err != nil {
		return &CheckError{Msg: fmt.Sprintf("server refused %s round trip: %s%s", kindName(c.write), oneLine(err), c.probeHint(err)), Err: err}
	}
	return nil
}

// probeHint suggests the usual cause of a failed round trip.
func (c *Client) probeHint(err error) string {
	var re *RequestError
	if !errors.As(err, &re) {
		return ""
	}
	switch {
	case c.write.Kind == ssekeys.KMS && (re.Status == http.StatusForbidden || re.Status == http.StatusNotFound):
		return " (check that the key id exists and that the object store's service user is on the secret's read ACL)"
	case c.write.Kind != ssekeys.None && re.Status == http.StatusBadRequest && strings.HasPrefix(c.cfg.Endpoint, "http:"):
		return " (the server requires HTTPS for SSE requests: use an https:// endpoint)"
	}
	return ""
}

// CheckAccess verifies that credentials are found, the endpoint answers,
// accepts them, and the bucket exists, writing nothing (for read-only
// mounts). The request is tried once with a short timeout, so an
// unreachable endpoint fails in seconds.
func (c *Client) CheckAccess(ctx context.Context) error {
	if creds := c.s3.Options().Credentials; creds != nil {
		rctx, cancel := context.WithTimeout(ctx, checkReachTimeout)
		_, err := creds.Retrieve(rctx)
		cancel()
		if err != nil {
			return &CheckError{Msg: "no S3 credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, or a passwd file): " + oneLine(err), Err: err}
		}
	}
	rctx, cancel := context.WithTimeout(ctx, checkReachTimeout)
	defer cancel()
	_, err := c.s3.ListObjectsV2(rctx, &s3.ListObjectsV2Input{
		Bucket:  aws.String(c.cfg.Bucket),
		Prefix:  optional(c.cfg.Prefix),
		MaxKeys: aws.Int32(1),
	}, func(o *s3.Options) { o.Retryer = retry.AddWithMaxAttempts(o.Retryer, 1) })
	if err != nil {
		return c.reachError(c.cfg.endpointName(), err)
	}
	return nil
}

// reachError turns the first request's failure into one line.
func (c *Client) reachError(ep string, err error) error {
	status, code, msg := statusOf(err)
	line := ""
	switch {
	case status == 0:
		line = fmt.Sprintf("endpoint %s unreachable: %s", ep, transportReason(err))
	case code == "SignatureDoesNotMatch":
		line = fmt.Sprintf("credentials refused by %s: SignatureDoesNotMatch (check the secret key)", ep)
	case code == "InvalidAccessKeyId":
		line = fmt.Sprintf("credentials refused by %s: InvalidAccessKeyId (check the access key)", ep)
	case code == "NoSuchBucket" || status == http.StatusNotFound:
		line = fmt.Sprintf("bucket %q does not exist at %s", c.cfg.Bucket, ep)
	case status == http.StatusForbidden:
		line = fmt.Sprintf("access to bucket %q denied by %s: %s", c.cfg.Bucket, ep, codeAndMessage(status, code, msg))
	default:
		line = fmt.Sprintf("endpoint %s answered %s", ep, codeAndMessage(status, code, msg))
	}
	return &CheckError{Msg: line, Err: mapErr("list", "", err)}
}

func codeAndMessage(status int, code, msg string) string {
	s := fmt.Sprint(status)
	if code != "" {
		s += " " + code
	}
	if msg != "" {
		s += ": " + msg
	}
	return s
}

// transportReason is the short cause of a request that got no response.
func transportReason(err error) string {
	var errno syscall.Errno
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &errno):
		return errno.Error()
	case errors.As(err, &dnsErr):
		return "cannot resolve " + dnsErr.Name
	case errors.As(err, &unknownCA):
		return "TLS certificate signed by an unknown authority (trust it with --ca-file)"
	case errors.As(err, &hostErr):
		return "TLS certificate does not match the host: " + hostErr.Error()
	case errors.As(err, &certErr):
		return "TLS certificate not accepted: " + oneLine(certErr.Err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %s", checkReachTimeout)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no answer within %s", checkReachTimeout)
	}
	return oneLine(transportCause(err))
}

// probe writes, reads back and deletes a small object with the mount's
// write SSE.
func (c *Client) probe(ctx context.Context) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := ".ssefs-probe-" + hex.EncodeToString(rnd[:])
	data := []byte("ssefs probe " + key + "\n")
	if _, err := c.Put(ctx, key, bytes.NewReader(data), int64(len(data)), PutOptions{}); err != nil {
		return err
	}
	defer c.Delete(context.WithoutCancel(ctx), key)
	return c.readBack(ctx, key, data)
}

func kindName(s ssekeys.SSE) string {
	if s.Kind == ssekeys.None {
		return "unencrypted write"
	}
	return s.Kind.String()
}

// oneLine keeps a message to one line.
func oneLine(err error) string {
	b := []byte(err.Error())
	for i, ch := range b {
		if ch == '\n' || ch == '\r' {
			b[i] = ' '
		}
	}
	return string(b)
}
