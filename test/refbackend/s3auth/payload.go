package s3auth

import (
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Values of x-amz-content-sha256 besides a hex digest.
const (
	UnsignedPayload               = "UNSIGNED-PAYLOAD"
	StreamingSignedPayload        = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	StreamingUnsignedTrailer      = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	StreamingSignedPayloadTrailer = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
)

// buildBody wraps r.Body according to the payload mode and the digest
// headers. signer carries the seed signature for signed aws-chunked bodies.
func buildBody(r *http.Request, in *sigInput, signer *chainSigner) (io.ReadCloser, int64, error) {
	body := &verifyingBody{src: r.Body, closer: r.Body, length: -1}
	if r.Body == nil {
		body.src, body.closer = http.NoBody, nil
	}
	declared := int64(-1)
	ph := in.payloadHash
	switch {
	case ph == UnsignedPayload:
	case len(ph) == 64 && isHex(ph):
		want, _ := hex.DecodeString(ph)
		body.checks = append(body.checks, &bodyCheck{h: newSHA256(), want: want, sha256Of: true})
	case ph == StreamingSignedPayload || ph == StreamingUnsignedTrailer || ph == StreamingSignedPayloadTrailer:
		if in.presigned {
			return nil, 0, errInvalidRequest("aws-chunked payloads cannot be used with a presigned URL.")
		}
		v := r.Header.Get("X-Amz-Decoded-Content-Length")
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, 0, newErr(http.StatusLengthRequired, CodeMissingContentLength,
				"You must provide a valid x-amz-decoded-content-length header with an aws-chunked payload.")
		}
		declared = n
		var trailers []string
		if ph != StreamingSignedPayload {
			trailers = []string{}
			for _, t := range strings.Split(r.Header.Get("X-Amz-Trailer"), ",") {
				t = strings.ToLower(strings.TrimSpace(t))
				if t == "" {
					continue
				}
				algo, ok := checksumByHeader(t)
				if !ok || contains(trailers, t) {
					return nil, 0, errInvalidRequest("The value %q in the x-amz-trailer header is not supported.", truncate(t, 64))
				}
				trailers = append(trailers, t)
				body.checks = append(body.checks, &bodyCheck{h: algo.newH(), algo: algo, trailer: true})
			}
		}
		if ph == StreamingUnsignedTrailer {
			signer = nil
		}
		body.chunks = newChunkedReader(body.src, signer, trailers, n)
		body.src = body.chunks
	default:
		return nil, 0, errPayloadMode()
	}
	if body.chunks == nil && r.ContentLength >= 0 {
		body.length = r.ContentLength
		declared = r.ContentLength
	}

	if !isCompleteMultipart(r) {
		c, err := headerChecksum(r)
		if err != nil {
			return nil, 0, err
		}
		if c != nil {
			body.checks = append(body.checks, c)
		}
	}
	md5c, err := contentMD5Check(r.Header.Values("Content-Md5"))
	if err != nil {
		return nil, 0, err
	}
	if md5c != nil {
		body.checks = append(body.checks, md5c)
	}
	return body, declared, nil
}

// checkPayloadMode validates x-amz-content-sha256 before the signature is checked.
func checkPayloadMode(ph string) error {
	switch {
	case ph == UnsignedPayload, ph == StreamingSignedPayload, ph == StreamingUnsignedTrailer,
		ph == StreamingSignedPayloadTrailer, len(ph) == 64 && isHex(ph):
		return nil
	}
	return errPayloadMode()
}

func errPayloadMode() *Error {
	return newErr(http.StatusBadRequest, CodeInvalidArgument,
		"x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.")
}

// isCompleteMultipart reports a CompleteMultipartUpload request, whose
// x-amz-checksum-* header is the checksum of the object, not of the body.
func isCompleteMultipart(r *http.Request) bool {
	return r.Method == http.MethodPost && r.URL.Query().Has("uploadId")
}

// headerChecksum returns the check for an x-amz-checksum-* request header.
func headerChecksum(r *http.Request) (*bodyCheck, error) {
	var found *bodyCheck
	for i := range checksumAlgos {
		a := &checksumAlgos[i]
		vals := r.Header.Values(a.header)
		if len(vals) == 0 {
			continue
		}
		if found != nil || len(vals) > 1 {
			return nil, errInvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
		}
		want, ok := a.decode(vals[0])
		if !ok {
			return nil, errInvalidRequest("Value for %s header is invalid.", a.header)
		}
		found = &bodyCheck{h: a.newH(), want: want, algo: a}
	}
	return found, nil
}
