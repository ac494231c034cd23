package s3auth

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// TestAWSDocChunkedExample verifies the example of AWS's "Transferring
// Payload in Multiple Chunks" page: seed and chunk signatures as published.
func TestAWSDocChunkedExample(t *testing.T) {
	var body bytes.Buffer
	body.WriteString("10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n")
	body.Write(bytes.Repeat([]byte("a"), 65536))
	body.WriteString("\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n")
	body.Write(bytes.Repeat([]byte("a"), 1024))
	body.WriteString("\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")
	build := func(b []byte) *http.Request {
		req, _ := http.NewRequest(http.MethodPut, "http://s3.amazonaws.com/examplebucket/chunkObject.txt", bytes.NewReader(b))
		req.Header.Set("X-Amz-Date", "20130524T000000Z")
		req.Header.Set("X-Amz-Storage-Class", "REDUCED_REDUNDANCY")
		req.Header.Set("X-Amz-Content-Sha256", StreamingSignedPayload)
		req.Header.Set("Content-Encoding", "aws-chunked")
		req.Header.Set("X-Amz-Decoded-Content-Length", "66560")
		req.ContentLength = 66824
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"+
			"SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,"+
			"Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9")
		return req
	}
	v := &Verifier{
		Lookup: func(ak string) (string, bool) {
			return "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ak == "AKIAIOSFODNN7EXAMPLE"
		},
		Now: func() time.Time { return time.Date(2013, 5, 24, 0, 5, 0, 0, time.UTC) },
	}
	if body.Len() != 66824 {
		t.Fatalf("example body is %d bytes", body.Len())
	}
	code, got := verifyDirect(t, v, build(body.Bytes()))
	if code != "" || len(got) != 66560 || got[66559] != 'a' {
		t.Fatalf("AWS example: %q, %d bytes", code, len(got))
	}
	// The same body with one data byte changed fails the first chunk signature.
	bad := bytes.Clone(body.Bytes())
	bad[1000] = 'b'
	if code, _ := verifyDirect(t, v, build(bad)); code != CodeSignatureDoesNotMatch {
		t.Fatalf("tampered AWS example: %q", code)
	}
}

// TestHandBuiltChunkedOverHTTP sends every aws-chunked mode, built from the
// documented format, through the test server.
func TestHandBuiltChunkedOverHTTP(t *testing.T) {
	srv := newAuthServer(t, false)
	modes := []chunkOpts{
		{signed: true},
		{signed: true, trailer: "x-amz-checksum-crc32c"},
		{signed: true, trailer: "x-amz-checksum-sha256"},
		{trailer: "x-amz-checksum-crc32"},
		{trailer: "x-amz-checksum-crc32c"},
	}
	for _, o := range modes {
		for _, size := range []int{0, 1, 8192, 100000} {
			for _, cs := range []int{8192, 65536} {
				o.chunkSize = cs
				req := buildChunked(t, srv.URL+"/bucket/"+strings.ReplaceAll(oddKey, "%", "%25"), payload(size), o, time.Now())
				resp, err := srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := srv.lastSeen()
				if resp.StatusCode != 200 || got.err != nil || !bytes.Equal(got.body, payload(size)) || got.decodedLen != int64(size) {
					t.Fatalf("%s %s size %d chunk %d: status %d, %+v, %d bytes", o.mode(), o.trailer, size, cs, resp.StatusCode, got.err, len(got.body))
				}
			}
		}
	}
}

// TestChunkedFailures checks that tampering with a signed or unsigned
// aws-chunked body is reported by Body.Read with the right code.
func TestChunkedFailures(t *testing.T) {
	v := &Verifier{Lookup: testLookup}
	const url = "http://example.com/bucket/key"
	data := payload(30000)
	cases := []struct {
		name string
		o    chunkOpts
		want string
	}{
		{"first chunk signature", chunkOpts{signed: true, badChunk: 1}, CodeSignatureDoesNotMatch},
		{"middle chunk signature", chunkOpts{signed: true, badChunk: 2}, CodeSignatureDoesNotMatch},
		{"final chunk signature", chunkOpts{signed: true, badChunk: 5}, CodeSignatureDoesNotMatch},
		{"trailer signature", chunkOpts{signed: true, trailer: "x-amz-checksum-crc32c", badTrailer: true}, CodeSignatureDoesNotMatch},
		{"signed trailer, wrong checksum", chunkOpts{signed: true, trailer: "x-amz-checksum-crc32c", trailerValue: "AAAAAA=="}, CodeBadDigest},
		{"unsigned trailer checksum", chunkOpts{trailer: "x-amz-checksum-crc32", trailerValue: "AAAAAA=="}, CodeBadDigest},
		{"unsigned sha256 trailer", chunkOpts{trailer: "x-amz-checksum-sha256", trailerValue: "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}, CodeBadDigest},
		{"malformed trailer value", chunkOpts{trailer: "x-amz-checksum-crc32", trailerValue: "not base64!"}, CodeInvalidRequest},
	}
	for _, c := range cases {
		c.o.chunkSize = 8192
		code, _ := verifyDirect(t, v, buildChunked(t, url, data, c.o, time.Now()))
		if code != c.want {
			t.Errorf("%s: got %q, want %q", c.name, code, c.want)
		}
	}

	// A byte changed in flight: in the first chunk's data, and in its size.
	for _, mode := range []chunkOpts{{signed: true}, {trailer: "x-amz-checksum-crc32"}} {
		mode.chunkSize = 8192
		for off, want := range map[int]string{200: map[bool]string{true: CodeSignatureDoesNotMatch, false: CodeBadDigest}[mode.signed], 0: CodeInvalidChunkSizeError} {
			req := buildChunked(t, url, data, mode, time.Now())
			b := readAll(t, req)
			b[off] = 'x'
			req.Body = readCloser{bytes.NewReader(b)}
			if code, _ := verifyDirect(t, v, req); code != want {
				t.Errorf("%s: byte %d changed: got %q, want %q", mode.mode(), off, code, want)
			}
		}
	}

	// Truncated anywhere: never success, never a panic.
	for _, mode := range []chunkOpts{{signed: true}, {signed: true, trailer: "x-amz-checksum-sha256"}, {trailer: "x-amz-checksum-crc32"}} {
		mode.chunkSize = 8192
		// One signing time for the body and the request that carries it:
		// signatures are per second, and under load the clock could tick
		// between two calls of time.Now (a CI run failed so).
		now := time.Now()
		full := readAll(t, buildChunked(t, url, data, mode, now))
		for _, cut := range []int{0, 1, 50, 90, 8000, 8300, len(full) - 200, len(full) - 3, len(full) - 1} {
			req := buildChunked(t, url, data, mode, now)
			req.Body = readCloser{bytes.NewReader(full[:cut])}
			code, got := verifyDirect(t, v, req)
			if code != CodeIncompleteBody {
				t.Errorf("%s cut at %d/%d: got %q, want IncompleteBody", mode.mode(), cut, len(full), code)
			}
			if len(got) > len(data) || !bytes.Equal(got, data[:len(got)]) {
				t.Errorf("%s cut at %d: returned bytes that were not sent", mode.mode(), cut)
			}
		}
	}
}

func readAll(t *testing.T, req *http.Request) []byte {
	var b bytes.Buffer
	if _, err := b.ReadFrom(req.Body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawUnsigned signs (with the SDK signer) an unsigned-trailer aws-chunked
// request whose framing is raw, for framing tests.
func rawUnsigned(t *testing.T, raw string, decoded int, trailer string) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, "http://example.com/bucket/key", strings.NewReader(raw))
	req.Header.Set("X-Amz-Content-Sha256", StreamingUnsignedTrailer)
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(decoded))
	if trailer != "" {
		req.Header.Set("X-Amz-Trailer", trailer)
	}
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK},
		req, StreamingUnsignedTrailer, "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestChunkFraming feeds malformed framing to the decoder.
func TestChunkFraming(t *testing.T) {
	v := &Verifier{Lookup: testLookup}
	crc := "x-amz-checksum-crc32:" + trailerValue("x-amz-checksum-crc32", []byte("hello")) + "\r\n"
	cases := []struct {
		name, raw string
		decoded   int
		trailer   string
		want      string
	}{
		{"good", "5\r\nhello\r\n0\r\n" + crc + "\r\n", 5, "x-amz-checksum-crc32", ""},
		{"good, no trailer", "5\r\nhello\r\n0\r\n\r\n", 5, "", ""},
		{"upper-case hex", "A\r\nhellohello\r\n0\r\n\r\n", 10, "", ""},
		{"non-hex size", "5x\r\nhello\r\n0\r\n\r\n", 5, "", CodeInvalidChunkSizeError},
		{"empty size", "\r\nhello\r\n0\r\n\r\n", 5, "", CodeInvalidChunkSizeError},
		{"negative size", "-5\r\nhello\r\n0\r\n\r\n", 5, "", CodeInvalidChunkSizeError},
		{"huge size", "ffffffffffffffff\r\nhello\r\n", 5, "", CodeInvalidChunkSizeError},
		{"size over 64 MiB", fmt.Sprintf("%x\r\nhello\r\n", MaxChunkSize+1), MaxChunkSize + 1, "", CodeInvalidChunkSizeError},
		{"long size line", strings.Repeat("0", 10000) + "5\r\nhello\r\n0\r\n\r\n", 5, "", CodeInvalidChunkSizeError},
		{"LF only", "5\nhello\r\n0\r\n\r\n", 5, "", CodeInvalidChunkSizeError},
		{"missing CRLF after data", "5\r\nhello0\r\n\r\n", 5, "", CodeInvalidChunkSizeError},
		{"data longer than size", "3\r\nhello\r\n0\r\n\r\n", 5, "", CodeInvalidChunkSizeError},
		{"no final chunk", "5\r\nhello\r\n", 5, "", CodeIncompleteBody},
		{"no final CRLF", "5\r\nhello\r\n0\r\n", 5, "", CodeIncompleteBody},
		{"decoded length short", "5\r\nhello\r\n0\r\n\r\n", 6, "", CodeIncompleteBody},
		{"decoded length long", "5\r\nhello\r\n0\r\n\r\n", 4, "", CodeIncompleteBody},
		{"data after end", "5\r\nhello\r\n0\r\n\r\nX", 5, "", CodeInvalidRequest},
		{"missing trailer", "5\r\nhello\r\n0\r\n\r\n", 5, "x-amz-checksum-crc32", CodeMalformedTrailerError},
		{"unannounced trailer", "5\r\nhello\r\n0\r\n" + crc + "\r\n", 5, "", CodeMalformedTrailerError},
		{"other trailer", "5\r\nhello\r\n0\r\nx-amz-foo:1\r\n" + crc + "\r\n", 5, "x-amz-checksum-crc32", CodeMalformedTrailerError},
		{"repeated trailer", "5\r\nhello\r\n0\r\n" + crc + crc + "\r\n", 5, "x-amz-checksum-crc32", CodeMalformedTrailerError},
		{"trailer without colon", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32\r\n\r\n", 5, "x-amz-checksum-crc32", CodeMalformedTrailerError},
		{"many trailer lines", "5\r\nhello\r\n0\r\n" + strings.Repeat("a:b\r\n", 100), 5, "x-amz-checksum-crc32", CodeMalformedTrailerError},
		{"long trailer line", "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:" + strings.Repeat("A", 5000) + "\r\n\r\n", 5, "x-amz-checksum-crc32", CodeMalformedTrailerError},
	}
	for _, c := range cases {
		code, got := verifyDirect(t, v, rawUnsigned(t, c.raw, c.decoded, c.trailer))
		if code != c.want {
			t.Errorf("%s: got %q, want %q", c.name, code, c.want)
		}
		if c.want == "" && string(got) != "hello" && string(got) != "hellohello" {
			t.Errorf("%s: read %q", c.name, got)
		}
		if len(got) > c.decoded {
			t.Errorf("%s: %d bytes returned, %d declared", c.name, len(got), c.decoded)
		}
	}
	// An unsupported trailer name is refused before the body is read.
	if _, err := v.Verify(rawUnsigned(t, "0\r\n\r\n", 0, "x-amz-meta-foo")); err == nil || err.(*Error).Code != CodeInvalidRequest {
		t.Errorf("unsupported x-amz-trailer: %v", err)
	}
	// Missing x-amz-decoded-content-length.
	req := rawUnsigned(t, "0\r\n\r\n", 0, "")
	req.Header.Del("X-Amz-Decoded-Content-Length")
	if _, err := v.Verify(req); err == nil || err.(*Error).Code != CodeSignatureDoesNotMatch && err.(*Error).Code != CodeMissingContentLength {
		t.Errorf("missing decoded length: %v", err)
	}
}

// TestCRC64NVME checks the CRC-64/NVME table against the catalogued check
// value of "123456789".
func TestCRC64NVME(t *testing.T) {
	if got := crc64.Checksum([]byte("123456789"), crc64NVMETable); got != 0xAE8B14860A799888 {
		t.Fatalf("CRC-64/NVME check value %#x", got)
	}
}
