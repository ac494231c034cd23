package refbackend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// signedRequest builds a request to the stack signed with SigV4 in the
// Authorization header; payloadHash is the x-amz-content-sha256 value
// ("" = the SHA-256 of body).
func (st *stack) signedRequest(t *testing.T, method, path, body, payloadHash string, hdr map[string]string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, st.tls.URL+path, strings.NewReader(body))
	must(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if payloadHash == "" {
		sum := sha256.Sum256([]byte(body))
		payloadHash = hex.EncodeToString(sum[:])
	}
	req.Header.Set("X-Amz-Content-Sha256", payloadHash)
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: testSecretKey},
		req, payloadHash, "s3", "us-east-1", time.Now())
	must(t, err)
	return req
}

// do sends a raw request and returns status, S3 error code and body.
func (st *stack) do(t *testing.T, req *http.Request) (int, string, string) {
	t.Helper()
	resp, err := st.tls.Client().Do(req)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	code, _ := s3Error(b)
	return resp.StatusCode, code, string(b)
}

// stillServing checks that the server answers an ordinary request.
func (st *stack) stillServing(t *testing.T) {
	t.Helper()
	if _, err := st.s3.ListBuckets(context.Background(), &s3.ListBucketsInput{}); err != nil {
		t.Fatalf("server stopped serving: %v", err)
	}
}

func TestBadInputGetsS3Errors(t *testing.T) {
	st, c, ctx := newAPI(t, ProfileAWS)
	putString(t, c, "obj", "0123456789")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("mp")})
	must(t, err)
	upID := aws.ToString(up.UploadId)

	const chunkedHdr = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	chunked := map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Trailer": "x-amz-checksum-crc32"}
	for _, tc := range []struct {
		name    string
		req     func() *http.Request
		status  int
		code    string
		anyCode bool // the code is s3auth's choice; only an XML error is required
	}{
		{"malformed XML in CompleteMultipartUpload", func() *http.Request {
			return st.signedRequest(t, "POST", "/"+bk+"/mp?uploadId="+upID, "<CompleteMultipartUpload><Part>", "", nil)
		}, 400, "MalformedXML", false},
		{"malformed XML in DeleteObjects", func() *http.Request {
			return st.signedRequest(t, "POST", "/"+bk+"?delete", "not xml at all", "", nil)
		}, 400, "MalformedXML", false},
		{"empty DeleteObjects", func() *http.Request {
			return st.signedRequest(t, "POST", "/"+bk+"?delete", "<Delete></Delete>", "", nil)
		}, 400, "MalformedXML", false},
		{"bad Range", func() *http.Request {
			return st.signedRequest(t, "GET", "/"+bk+"/obj", "", "", map[string]string{"Range": "bytes=10-"})
		}, 416, "InvalidRange", false},
		{"unknown bucket", func() *http.Request { return st.signedRequest(t, "GET", "/nobucket/obj", "", "", nil) }, 404, "NoSuchBucket", false},
		{"unknown key", func() *http.Request { return st.signedRequest(t, "GET", "/"+bk+"/nokey", "", "", nil) }, 404, "NoSuchKey", false},
		{"part number out of range", func() *http.Request {
			return st.signedRequest(t, "PUT", "/"+bk+"/mp?partNumber=10001&uploadId="+upID, "x", "", nil)
		}, 400, "InvalidArgument", false},
		{"part number not a number", func() *http.Request {
			return st.signedRequest(t, "PUT", "/"+bk+"/mp?partNumber=one&uploadId="+upID, "x", "", nil)
		}, 400, "InvalidArgument", false},
		{"truncated aws-chunked body", func() *http.Request {
			return st.signedRequest(t, "PUT", "/"+bk+"/chunked", "400\r\nonly a few bytes", chunkedHdr,
				merge(chunked, map[string]string{"X-Amz-Decoded-Content-Length": "1024"}))
		}, 400, "", true},
		{"bad checksum trailer", func() *http.Request {
			return st.signedRequest(t, "PUT", "/"+bk+"/chunked", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", chunkedHdr,
				merge(chunked, map[string]string{"X-Amz-Decoded-Content-Length": "5"}))
		}, 400, "BadDigest", false},
		{"wrong chunk signature", func() *http.Request {
			body := "5;chunk-signature=" + strings.Repeat("0", 64) + "\r\nhello\r\n0;chunk-signature=" + strings.Repeat("0", 64) + "\r\n\r\n"
			return st.signedRequest(t, "PUT", "/"+bk+"/chunked", body, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
				map[string]string{"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": "5"})
		}, 403, "SignatureDoesNotMatch", false},
		{"wrong secret", func() *http.Request {
			req, _ := http.NewRequest("GET", st.tls.URL+"/"+bk+"/obj", nil)
			req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
			_ = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAccessKey, SecretAccessKey: "wrong"},
				req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now())
			return req
		}, 403, "SignatureDoesNotMatch", false},
		{"oversized header", func() *http.Request {
			return st.signedRequest(t, "GET", "/"+bk+"/obj", "", "", map[string]string{"X-Junk": strings.Repeat("j", 64<<10)})
		}, 400, "RequestHeaderSectionTooLarge", false},
		{"unsupported sub-resource", func() *http.Request { return st.signedRequest(t, "GET", "/"+bk+"?acl", "", "", nil) }, 501, "NotImplemented", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, body := st.do(t, tc.req())
			if status != tc.status || (!tc.anyCode && code != tc.code) || code == "" || !strings.Contains(body, "<RequestId>") {
				t.Errorf("got %d %q: %s; want %d %s", status, code, body, tc.status, tc.code)
			}
			if strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
				t.Errorf("a trace leaked: %s", body)
			}
			st.stillServing(t)
		})
	}
	if _, err := st.stat(bk, "chunked"); err == nil {
		t.Errorf("a refused body was stored")
	}
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestPanicAnswersInternalError: a handler panic is an S3 InternalError,
// never a trace, and the server keeps serving.
func TestPanicAnswersInternalError(t *testing.T) {
	st := newStack(t, ProfileAWS, stackOpts{})
	broken := *st.srv
	broken.store = nil // any storage call panics
	broken.log = log.New(io.Discard, "", 0)
	ts := httptest.NewServer(broken.Handler())
	defer ts.Close()
	req := st.signedRequest(t, "GET", "/", "", "", nil)
	req.URL.Scheme, req.URL.Host = "http", ts.Listener.Addr().String()
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if code, _ := s3Error(b); resp.StatusCode != 500 || code != "InternalError" || strings.Contains(string(b), "goroutine") {
		t.Errorf("panic answered %d %s", resp.StatusCode, b)
	}
	st.stillServing(t)
}
