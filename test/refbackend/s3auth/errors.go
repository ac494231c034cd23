package s3auth

import (
	"fmt"
	"net/http"
)

// Error is an S3 error to answer with (the HTTP layer renders it as S3 XML).
type Error struct {
	Status  int
	Code    string
	Message string
}

// Error returns "Code: Message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func newErr(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Error codes produced by this package.
const (
	CodeAccessDenied                      = "AccessDenied"
	CodeInvalidAccessKeyID                = "InvalidAccessKeyId"
	CodeSignatureDoesNotMatch             = "SignatureDoesNotMatch"
	CodeRequestTimeTooSkewed              = "RequestTimeTooSkewed"
	CodeAuthorizationHeaderMalformed      = "AuthorizationHeaderMalformed"
	CodeAuthorizationQueryParametersError = "AuthorizationQueryParametersError"
	CodeInvalidRequest                    = "InvalidRequest"
	CodeInvalidArgument                   = "InvalidArgument"
	CodeXAmzContentSHA256Mismatch         = "XAmzContentSHA256Mismatch"
	CodeBadDigest                         = "BadDigest"
	CodeInvalidDigest                     = "InvalidDigest"
	CodeInvalidChunkSizeError             = "InvalidChunkSizeError"
	CodeIncompleteBody                    = "IncompleteBody"
	CodeMalformedTrailerError             = "MalformedTrailerError"
	CodeMissingContentLength              = "MissingContentLength"
)

func errAccessDenied(format string, args ...any) *Error {
	return newErr(http.StatusForbidden, CodeAccessDenied, format, args...)
}

func errSignature() *Error {
	return newErr(http.StatusForbidden, CodeSignatureDoesNotMatch,
		"The request signature we calculated does not match the signature you provided. Check your key and signing method.")
}

func errHeaderMalformed(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeAuthorizationHeaderMalformed,
		"The authorization header is malformed; "+format, args...)
}

func errQueryMalformed(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeAuthorizationQueryParametersError, format, args...)
}

func errInvalidRequest(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeInvalidRequest, format, args...)
}

func errChunkSize(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeInvalidChunkSizeError, format, args...)
}

func errIncomplete(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeIncompleteBody, format, args...)
}

func errTrailer(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeMalformedTrailerError, format, args...)
}

func errBadDigest(format string, args ...any) *Error {
	return newErr(http.StatusBadRequest, CodeBadDigest, format, args...)
}
