package s3auth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fixed signing parameters for the decoder fuzz target.
const (
	fuzzTS    = "20260101T000000Z"
	fuzzScope = "20260101/us-east-1/s3/aws4_request"
)

var fuzzSeedSig = strings.Repeat("ab", 32)

func fuzzKey() []byte {
	k := tHMAC([]byte("AWS4"+testSK), "20260101")
	for _, s := range []string{"us-east-1", "s3", "aws4_request"} {
		k = tHMAC(k, s)
	}
	return k
}

// fuzzModes: bit 0 signed chunks, bit 1 a crc32 trailer, bit 2 a sha256 trailer.
func fuzzOpts(mode uint8) chunkOpts {
	o := chunkOpts{chunkSize: 7, signed: mode&1 != 0}
	switch {
	case mode&2 != 0:
		o.trailer = "x-amz-checksum-crc32"
	case mode&4 != 0:
		o.trailer = "x-amz-checksum-sha256"
	}
	return o
}

// decodeAll runs the aws-chunked decoder (with trailer checks) over data.
func decodeAll(data []byte, mode uint8, declared int64) ([]byte, error) {
	o := fuzzOpts(mode)
	var signer *chainSigner
	if o.signed {
		signer = &chainSigner{key: fuzzKey(), timestamp: fuzzTS, scope: fuzzScope, prev: fuzzSeedSig}
	}
	body := &verifyingBody{length: -1}
	var trailers []string
	if o.trailer != "" || !o.signed {
		trailers = []string{}
	}
	if o.trailer != "" {
		a, _ := checksumByHeader(o.trailer)
		trailers = append(trailers, o.trailer)
		body.checks = append(body.checks, &bodyCheck{h: a.newH(), algo: a, trailer: true})
	}
	body.chunks = newChunkedReader(bytes.NewReader(data), signer, trailers, declared)
	body.src = body.chunks
	var out bytes.Buffer
	buf := make([]byte, 3)
	for {
		n, err := body.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			if err == io.EOF {
				return out.Bytes(), nil
			}
			return out.Bytes(), err
		}
		if out.Len() > len(data) {
			return out.Bytes(), fmt.Errorf("decoder returned more bytes than it was given")
		}
	}
}

func chunkSeeds() [][3]any {
	var seeds [][3]any
	for _, mode := range []uint8{0, 1, 2, 3, 4, 5} {
		for _, data := range []string{"", "hello", "hello, aws-chunked world"} {
			enc := encodeChunks([]byte(data), fuzzOpts(mode), fuzzSeedSig, fuzzKey(), fuzzTS, fuzzScope)
			seeds = append(seeds, [3]any{enc, mode, int64(len(data))})
		}
	}
	seeds = append(seeds,
		[3]any{[]byte("5\r\nhello\r\n0\r\n\r\n"), uint8(0), int64(-1)},
		[3]any{[]byte("ffffffffffffffff\r\n"), uint8(0), int64(-1)},
		[3]any{[]byte("5;chunk-signature=zz\r\nhello\r\n"), uint8(1), int64(5)},
		[3]any{[]byte("0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"), uint8(2), int64(0)})
	return seeds
}

// FuzzChunkedDecoder: the aws-chunked decoder never panics, only fails with
// *Error, never returns more bytes than the body framed (nor more than
// declared), and on success returns exactly the framed payload.
func FuzzChunkedDecoder(f *testing.F) {
	for _, s := range chunkSeeds() {
		f.Add(s[0].([]byte), s[1].(uint8), s[2].(int64))
	}
	f.Fuzz(func(t *testing.T, data []byte, mode uint8, declared int64) {
		out, err := decodeAll(data, mode%8, declared)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e == nil || e.Code == "" || e.Status < 400 {
				t.Fatalf("error %T %v is not an S3 *Error", err, err)
			}
		}
		if len(out) > len(data) {
			t.Fatalf("%d bytes out of %d in", len(out), len(data))
		}
		if declared >= 0 && int64(len(out)) > declared {
			t.Fatalf("%d bytes out, %d declared", len(out), declared)
		}
		if err == nil {
			if len(data) < len(out)+5 {
				t.Fatalf("success with %d bytes out of %d: framing missing", len(out), len(data))
			}
			// Every byte returned is a byte of the input, in order.
			i := 0
			for _, c := range data {
				if i < len(out) && out[i] == c {
					i++
				}
			}
			if i != len(out) {
				t.Fatal("output is not a subsequence of the input")
			}
		}
	})
}

// buildFuzzRequest makes a request from fuzzed parts (nil if unusable).
func buildFuzzRequest(method, path, rawQuery, hname, hvalue, auth string) *http.Request {
	r := &http.Request{
		Method: method,
		URL:    &url.URL{Path: path, RawQuery: rawQuery},
		Host:   "example.com:9000",
		Header: http.Header{},
		Body:   http.NoBody,
	}
	r.Header.Add(hname, hvalue)
	r.Header.Add(hname, hvalue+" ")
	r.Header.Set("X-Amz-Date", "20260101T000000Z")
	r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func canonicalOf(r *http.Request, signed string) []string {
	params, err := parseQuery(r.URL.RawQuery)
	q := "<bad query>"
	if err == nil {
		q = canonicalQuery(params, "X-Amz-Signature")
	}
	var out []string
	for _, u := range canonicalURIs(r.URL) {
		out = append(out, canonicalRequest(r, u, q, signed, UnsignedPayload))
	}
	return out
}

var canonicalSeeds = [][6]string{
	{"GET", "/bucket/a b+c/ü", "prefix=a%20b&list-type=2&acl", "X-Amz-Meta-A", "  x   y ", ""},
	{"PUT", "", "a=1&a=0&b&=c&%zz", "Content-Type", "text/plain", "AWS4-HMAC-SHA256 Credential=AKIDREFBACKEND/20260101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("0", 64)},
	{"POST", "//x/./../%2F", "uploads&X-Amz-Signature=x", "host", "other", "AWS4-HMAC-SHA256 ,,==,"},
	{"DELETE", "/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20260101%2Fr%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00", "Range", "bytes=0-1", ""},
	{"HEAD", "/b/k~!*'();:@&=+$,?#[]", "uploadId=1&partNumber=2", "Transfer-Encoding", "chunked", "AWS x:y"},
}

// FuzzCanonicalRequest: building the canonical request from arbitrary
// paths, queries and headers never panics, is deterministic, does not
// change the request, and yields only canonical characters in URI and
// query; Verify on such requests fails only with an *Error.
func FuzzCanonicalRequest(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add(s[0], s[1], s[2], s[3], s[4], s[5])
	}
	v := &Verifier{Lookup: testLookup}
	f.Fuzz(func(t *testing.T, method, path, rawQuery, hname, hvalue, auth string) {
		r := buildFuzzRequest(method, path, rawQuery, hname, hvalue, auth)
		signed := "host;" + strings.ToLower(hname) + ";x-amz-date"
		before := r.Header.Clone()
		a, b := canonicalOf(r, signed), canonicalOf(r, signed)
		if strings.Join(a, "\x00") != strings.Join(b, "\x00") {
			t.Fatal("canonical request is not deterministic")
		}
		if fmt.Sprint(before) != fmt.Sprint(r.Header) {
			t.Fatal("canonical request building changed the headers")
		}
		for _, c := range canonicalPath(path) {
			if !(c == '/' || c == '%' || c == '-' || c == '.' || c == '_' || c == '~' ||
				'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				t.Fatalf("canonical path has %q", c)
			}
		}
		if params, err := parseQuery(rawQuery); err == nil {
			for _, c := range canonicalQuery(params, "") {
				if !(c == '&' || c == '=' || c == '%' || c == '-' || c == '.' || c == '_' || c == '~' ||
					'0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
					t.Fatalf("canonical query has %q", c)
				}
			}
		}
		if _, err := v.Verify(r); err != nil {
			var e *Error
			if !errors.As(err, &e) || e == nil || e.Code == "" {
				t.Fatalf("Verify error %T %v is not an *Error", err, err)
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzChunkedDecoder from the
// seeds above when SSEFS_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("SSEFS_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set SSEFS_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzChunkedDecoder")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range chunkSeeds() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nuint8(%d)\nint64(%d)\n", s[0], s[1], s[2])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join("testdata", "fuzz", "FuzzCanonicalRequest")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range canonicalSeeds {
		content := "go test fuzz v1\n"
		for _, v := range s {
			content += fmt.Sprintf("string(%q)\n", v)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFuzzSeedsDecode checks that the well-formed decoder seeds decode to
// their payload, so the fuzzer starts from valid signed framing.
func TestFuzzSeedsDecode(t *testing.T) {
	for i, s := range chunkSeeds()[:18] {
		out, err := decodeAll(s[0].([]byte), s[1].(uint8), s[2].(int64))
		if err != nil || int64(len(out)) != s[2].(int64) {
			t.Errorf("seed %d (mode %d): %v, %d bytes", i, s[1], err, len(out))
		}
	}
}
