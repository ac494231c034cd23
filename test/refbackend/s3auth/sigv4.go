// Package s3auth authenticates requests to the reference S3 backend: AWS
// Signature Version 4 in the Authorization header or in presigned query
// parameters, with every payload mode S3 accepts (signed hash, unsigned,
// aws-chunked with chunk signatures and/or trailing checksums). Checks that
// need the whole payload run while the caller reads Result.Body.
//
// Use: call Verifier.Verify; on error answer with the *Error. Otherwise read
// Result.Body to io.EOF before committing anything: a Read error (always an
// *Error) means the payload is not what was signed or announced and the
// request must be answered with that error. A Verifier is safe for
// concurrent use.
package s3auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"time"
)

const (
	// Algorithm is the only signing algorithm accepted.
	Algorithm = "AWS4-HMAC-SHA256"
	// DefaultMaxSkew is the clock skew tolerated when Verifier.MaxSkew is 0.
	DefaultMaxSkew = 15 * time.Minute
	// MaxPresignExpires is the longest X-Amz-Expires accepted (7 days), in seconds.
	MaxPresignExpires = 7 * 24 * 3600

	iso8601Basic = "20060102T150405Z"
	scopeDate    = "20060102"
)

// SecretLookup returns the secret key for an access key id.
type SecretLookup func(accessKey string) (secret string, ok bool)

// Verifier authenticates S3 requests signed with SigV4.
type Verifier struct {
	Lookup  SecretLookup
	Now     func() time.Time // nil = time.Now
	MaxSkew time.Duration    // 0 = 15 minutes
}

// Result is an authenticated request.
type Result struct {
	AccessKey string
	// Body yields the decoded payload (aws-chunked framing removed). Verification that needs the whole
	// payload (x-amz-content-sha256 of a signed body, chunk signatures, trailing/unsigned x-amz-checksum-*, Content-MD5,
	// decoded length) happens as it is read: on a mismatch Read returns an *Error (e.g. SignatureDoesNotMatch,
	// XAmzContentSHA256Mismatch, BadDigest, InvalidChunkSizeError, IncompleteBody) instead of io.EOF.
	Body io.ReadCloser
	// DecodedLength is the payload length when known (Content-Length, or x-amz-decoded-content-length for aws-chunked), else -1.
	DecodedLength int64
}

// sigInput is what a request claims about its signature.
type sigInput struct {
	presigned     bool
	accessKey     string
	date          string // scope date, YYYYMMDD
	region        string
	signedHeaders string
	signature     string
	when          time.Time
	expires       int64 // presigned only, seconds
	payloadHash   string
	params        []queryParam
}

func (s *sigInput) scope() string {
	return s.date + "/" + s.region + "/s3/aws4_request"
}

// malformed returns the 400 error of the request's auth style.
func (s *sigInput) malformed(format string, args ...any) *Error {
	if s.presigned {
		return errQueryMalformed(format, args...)
	}
	return errHeaderMalformed(format, args...)
}

// Verify authenticates r (SigV4 in the Authorization header, or presigned query parameters X-Amz-Algorithm ... X-Amz-Signature
// with X-Amz-Expires). Errors: AccessDenied (no auth / anonymous), InvalidAccessKeyId, SignatureDoesNotMatch (403),
// RequestTimeTooSkewed (403), AuthorizationHeaderMalformed / AuthorizationQueryParametersError (400), expired presigned URL (403 AccessDenied "Request has expired").
func (v *Verifier) Verify(r *http.Request) (*Result, error) {
	in, err := parseAuth(r)
	if err != nil {
		return nil, err
	}
	if err := in.checkScope(); err != nil {
		return nil, err
	}
	if err := checkPayloadMode(in.payloadHash); err != nil {
		return nil, err
	}
	if v.Lookup == nil {
		return nil, errAccessDenied("No credentials are configured.")
	}
	secret, ok := v.Lookup(in.accessKey)
	if !ok {
		return nil, newErr(http.StatusForbidden, CodeInvalidAccessKeyID,
			"The AWS Access Key Id you provided does not exist in our records.")
	}
	if err := v.checkTime(in); err != nil {
		return nil, err
	}
	key := signingKey(secret, in.date, in.region)
	timestamp := in.when.UTC().Format(iso8601Basic)
	query := canonicalQuery(in.params, skipParam(in))
	matched := false
	for _, uri := range canonicalURIs(r.URL) {
		creq := canonicalRequest(r, uri, query, in.signedHeaders, in.payloadHash)
		if hmac.Equal([]byte(signString(key, timestamp, in.scope(), creq)), []byte(in.signature)) {
			matched = true
			break
		}
	}
	if !matched {
		return nil, errSignature()
	}
	body, declared, err := buildBody(r, in, &chainSigner{key: key, timestamp: timestamp, scope: in.scope(), prev: in.signature})
	if err != nil {
		return nil, err
	}
	return &Result{AccessKey: in.accessKey, Body: body, DecodedLength: declared}, nil
}

func skipParam(in *sigInput) string {
	if in.presigned {
		return "X-Amz-Signature"
	}
	return ""
}

// checkScope validates the credential scope: any region, service s3.
func (in *sigInput) checkScope() error {
	if in.accessKey == "" {
		return in.malformed("the access key id is empty.")
	}
	if _, err := time.Parse(scopeDate, in.date); err != nil || len(in.date) != 8 {
		return in.malformed("invalid credential date %q.", truncate(in.date, 32))
	}
	if in.date != in.when.UTC().Format(scopeDate) {
		return in.malformed("Invalid credential date. Date is not the same as X-Amz-Date.")
	}
	if len(in.signature) != 64 || !isHex(in.signature) {
		return in.malformed("the signature is not 64 hexadecimal characters.")
	}
	for _, h := range strings.Split(in.signedHeaders, ";") {
		if h == "" || h != strings.ToLower(h) {
			return in.malformed("invalid SignedHeaders %q.", truncate(in.signedHeaders, 128))
		}
	}
	if !contains(strings.Split(in.signedHeaders, ";"), "host") {
		return in.malformed("the host header must be signed.")
	}
	return nil
}

func (v *Verifier) checkTime(in *sigInput) error {
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	skew := v.MaxSkew
	if skew == 0 {
		skew = DefaultMaxSkew
	}
	if in.presigned {
		if in.when.After(now.Add(skew)) {
			return errAccessDenied("Request is not valid yet")
		}
		if now.After(in.when.Add(time.Duration(in.expires) * time.Second)) {
			return errAccessDenied("Request has expired")
		}
		return nil
	}
	if d := now.Sub(in.when); d > skew || d < -skew {
		return newErr(http.StatusForbidden, CodeRequestTimeTooSkewed,
			"The difference between the request time and the server's time is too large.")
	}
	return nil
}

// signingKey derives the SigV4 signing key for service s3.
func signingKey(secret, date, region string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, "s3")
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// signString signs the string to sign built from a canonical request.
func signString(key []byte, timestamp, scope, creq string) string {
	sum := sha256.Sum256([]byte(creq))
	sts := Algorithm + "\n" + timestamp + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
	return hex.EncodeToString(hmacSHA256(key, sts))
}
