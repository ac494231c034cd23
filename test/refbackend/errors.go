package refbackend

import (
	"encoding/xml"
	"errors"
	"io"
	"net/http"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
	"github.com/ssefs/ssefs/test/refbackend/s3auth"
)

// Error is an S3 error answer: an HTTP status, an S3 error code and a
// message. The message may be empty (Ceph RGW leaves it out in several
// answers, and the rgw profile reproduces that).
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// errorBody is the XML document S3 sends with an error.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message,omitempty"`
	Resource  string   `xml:"Resource,omitempty"`
	RequestID string   `xml:"RequestId"`
}

func newErr(status int, code, msg string) *Error {
	return &Error{Status: status, Code: code, Message: msg}
}

// Common S3 errors.
func errNoSuchBucket() *Error {
	return newErr(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
}
func errNoSuchKey() *Error {
	return newErr(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
}
func errNoSuchUpload() *Error {
	return newErr(http.StatusNotFound, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.")
}
func errMalformedXML() *Error {
	return newErr(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
}
func errInvalidArgument(msg string) *Error {
	return newErr(http.StatusBadRequest, "InvalidArgument", msg)
}
func errInvalidRequest(msg string) *Error {
	return newErr(http.StatusBadRequest, "InvalidRequest", msg)
}
func errNotImplemented(msg string) *Error {
	return newErr(http.StatusNotImplemented, "NotImplemented", msg)
}
func errInternal() *Error {
	return newErr(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
}
func errPreconditionFailed() *Error {
	return newErr(http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
}
func errAccessDenied() *Error {
	return newErr(http.StatusForbidden, "AccessDenied", "Access Denied")
}

// toS3Error maps an error from the storage engine, the authenticator or this
// package to the S3 error to answer with.
func toS3Error(err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	var ae *s3auth.Error
	if errors.As(err, &ae) {
		return &Error{Status: ae.Status, Code: ae.Code, Message: ae.Message}
	}
	switch {
	case errors.Is(err, objstore.ErrNoSuchBucket):
		return errNoSuchBucket()
	case errors.Is(err, objstore.ErrNoSuchKey):
		return errNoSuchKey()
	case errors.Is(err, objstore.ErrNoSuchUpload):
		return errNoSuchUpload()
	case errors.Is(err, objstore.ErrBucketExists):
		return newErr(http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
	case errors.Is(err, objstore.ErrBucketNotEmpty):
		return newErr(http.StatusConflict, "BucketNotEmpty", "The bucket you tried to delete is not empty")
	case errors.Is(err, objstore.ErrInvalidPart):
		return newErr(http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.")
	case errors.Is(err, objstore.ErrInvalidPartOrder):
		return newErr(http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
	case errors.Is(err, objstore.ErrEntityTooSmall):
		return newErr(http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
	case errors.Is(err, objstore.ErrInvalidArgument):
		return errInvalidArgument("Invalid argument.")
	case errors.Is(err, objstore.ErrObjectChanged):
		return newErr(http.StatusServiceUnavailable, "SlowDown", "The object changed while it was read; please retry.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return newErr(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	return errInternal()
}
