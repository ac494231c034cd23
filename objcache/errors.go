package objcache

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// RequestError is a failed S3 request: which operation on which object, what
// the server answered, and the objcache sentinel it maps to (ErrNotFound,
// ErrAccessDenied, ErrPreconditionFailed, ...) or the underlying error.
// Its message never contains key material (the SDK's errors do not carry
// request headers).
type RequestError struct {
	Op      string // "head", "get", "put", "copy", ...
	Key     string // the object key, relative to the mount's prefix
	Status  int    // HTTP status, 0 when no response came
	Code    string // S3 error code, e.g. "NoSuchKey"
	Message string // S3 error message
	Err     error  // a sentinel of this package, the cause, or nil
}

// Error says what failed, on which object, and what the server answered.
func (e *RequestError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %q", e.Op, e.Key)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d", e.Status)
		if e.Code != "" {
			b.WriteString(" " + e.Code)
		}
		if e.Message != "" {
			b.WriteString(" (" + e.Message + ")")
		}
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the sentinel or cause.
func (e *RequestError) Unwrap() error { return e.Err }

// statusOf returns the HTTP status, S3 code and message of an SDK error;
// status 0 when no HTTP response was received.
func statusOf(err error) (status int, code, msg string) {
	var ours *RequestError
	if errors.As(err, &ours) && ours.Status != 0 {
		return ours.Status, ours.Code, ours.Message
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
	}
	// HEAD errors have no body: the SDK invents a code from the status.
	if code == http.StatusText(status) || code == strings.ReplaceAll(http.StatusText(status), " ", "") {
		code = ""
	}
	return status, code, msg
}

// mapErr wraps an SDK error for op on key with the matching sentinel.
func mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var already *RequestError
	if errors.As(err, &already) {
		return err
	}
	status, code, msg := statusOf(err)
	e := &RequestError{Op: op, Key: key, Status: status, Code: code, Message: msg}
	switch {
	case status == http.StatusNotFound || code == "NoSuchKey" || code == "NoSuchBucket" || code == "NoSuchUpload":
		e.Err = ErrNotFound
	case status == http.StatusForbidden:
		e.Err = ErrAccessDenied
	case status == http.StatusPreconditionFailed:
		e.Err = ErrPreconditionFailed
	case status != 0:
		// No sentinel: the status and code say it all.
	default:
		e.Err = transportCause(err)
	}
	return e
}

// transportCause strips the SDK's "operation error S3: X, https response
// error..." decoration from an error that got no HTTP response, keeping
// context errors recognisable by errors.Is.
func transportCause(err error) error {
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return context.DeadlineExceeded
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// isKeyRefusal reports whether a GET or HEAD error means the SSE parameters
// sent do not open the object: 400 (missing, malformed or, on RGW, wrong
// key; HEAD answers 400 without a body) or 403 (a wrong key on AWS; also a
// real access denial, which Head tells apart by trying every candidate).
func isKeyRefusal(err error) bool {
	status, _, _ := statusOf(err)
	return status == http.StatusBadRequest || status == http.StatusForbidden
}

// isNotImplemented reports a 501 (RGW refusing CopyObject of an encrypted
// source).
func isNotImplemented(err error) bool {
	status, code, _ := statusOf(err)
	return status == http.StatusNotImplemented || code == "NotImplemented"
}

// isBadRequest reports a 400 answer.
func isBadRequest(err error) bool {
	status, _, _ := statusOf(err)
	return status == http.StatusBadRequest
}
