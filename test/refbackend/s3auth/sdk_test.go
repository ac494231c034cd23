package s3auth

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// An awkward key: spaces, reserved and non-ASCII characters, empty segment.
const oddKey = "dir/a b+c=d&e~f!'()*@$,;:#ü%2F//x.txt"

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// TestSDKPutObject drives PutObject from the real SDK over HTTP and TLS with
// every checksum setting and checks that the server verified the request
// and read back exactly the bytes sent, in the payload mode expected.
func TestSDKPutObject(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		srv := newAuthServer(t, useTLS)
		type tc struct {
			name string
			calc aws.RequestChecksumCalculation
			algo types.ChecksumAlgorithm
		}
		cases := []tc{
			{"default", 0, ""},
			{"WhenSupported", aws.RequestChecksumCalculationWhenSupported, ""},
			{"WhenRequired", aws.RequestChecksumCalculationWhenRequired, ""},
		}
		for _, a := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c,
			types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
			cases = append(cases, tc{"algo-" + string(a), aws.RequestChecksumCalculationWhenSupported, a},
				tc{"required-algo-" + string(a), aws.RequestChecksumCalculationWhenRequired, a})
		}
		for _, c := range cases {
			for _, stream := range []bool{false, true} {
				for _, size := range []int{0, 1, 70000, 200 << 10} {
					name := c.name + "/" + map[bool]string{false: "http", true: "tls"}[useTLS] + map[bool]string{false: "/seekable", true: "/stream"}[stream]
					t.Run(name, func(t *testing.T) {
						sdkPut(t, srv, c.calc, c.algo, stream, useTLS, size)
					})
				}
			}
		}
	}
}

// onlyReader hides Seek so the SDK sees a non-seekable stream.
type onlyReader struct{ io.Reader }

func sdkPut(t *testing.T, srv *authServer, calc aws.RequestChecksumCalculation, algo types.ChecksumAlgorithm, stream, useTLS bool, size int) {
	cl := srv.client(testAK, testSK, func(o *s3.Options) {
		if calc != 0 {
			o.RequestChecksumCalculation = calc
		}
	})
	data := payload(size)
	in := &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(oddKey), Body: bytes.NewReader(data)}
	if stream {
		in.Body = onlyReader{bytes.NewReader(data)}
		in.ContentLength = aws.Int64(int64(size))
	}
	if algo != "" {
		in.ChecksumAlgorithm = algo
	}
	srv.mu.Lock()
	srv.last = seen{}
	srv.mu.Unlock()
	_, err := cl.PutObject(ctx(t), in)
	got := srv.lastSeen()
	if err != nil && got.method == "" && stream && !useTLS {
		t.Logf("size %d: the SDK refuses a non-seekable body over plain HTTP: %v", size, err)
		return
	}
	if err != nil {
		t.Fatalf("size %d: PutObject: %v (server: %+v, mode %s)", size, err, got.err, got.contentSHA)
	}
	if !bytes.Equal(got.body, data) || got.decodedLen != int64(size) || got.accessKey != testAK {
		t.Fatalf("size %d: server read %d bytes (decoded length %d, key %q)", size, len(got.body), got.decodedLen, got.accessKey)
	}
	if got.path != "/bucket/"+oddKey {
		t.Fatalf("path %q", got.path)
	}
	// The SDK computes a checksum when asked to (WhenSupported, or an
	// algorithm); it sends it in a trailer of an aws-chunked body when it
	// cannot read the body twice (TLS, non-seekable, not empty), in a header
	// otherwise.
	wantChecksum := calc == aws.RequestChecksumCalculationWhenSupported || algo != ""
	switch {
	case !wantChecksum:
	case useTLS && stream && size > 0:
		if got.contentSHA != StreamingUnsignedTrailer || !strings.HasPrefix(got.trailer, "x-amz-checksum-") {
			t.Fatalf("expected an aws-chunked body with a trailer, got %q trailer %q", got.contentSHA, got.trailer)
		}
	default:
		if got.checksumHeader == "" && got.trailer == "" {
			t.Fatalf("expected a checksum, got mode %q", got.contentSHA)
		}
	}
	if algo != "" && got.trailer != "x-amz-checksum-"+strings.ToLower(string(algo)) && got.checksumHeader != "x-amz-checksum-"+strings.ToLower(string(algo)) {
		t.Fatalf("checksum %s not sent (trailer %q header %q)", algo, got.trailer, got.checksumHeader)
	}
	t.Logf("size %d: mode %s trailer %q header %q", size, got.contentSHA, got.trailer, got.checksumHeader)
}

// TestSDKReads checks GetObject and ListObjectsV2 (query parameters that
// need encoding) over HTTP and TLS.
func TestSDKReads(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		srv := newAuthServer(t, useTLS)
		cl := srv.client(testAK, testSK)
		out, err := cl.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(oddKey), Range: aws.String("bytes=0-4")})
		if err != nil {
			t.Fatalf("GetObject: %v (%+v)", err, srv.lastSeen().err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(b) != "hello" {
			t.Fatalf("GetObject body %q", b)
		}
		lo, err := cl.ListObjectsV2(ctx(t), &s3.ListObjectsV2Input{Bucket: aws.String("bucket"),
			Prefix: aws.String("a b+c/ü~*'"), Delimiter: aws.String("/"), StartAfter: aws.String("x=y&z"), MaxKeys: aws.Int32(7)})
		if err != nil {
			t.Fatalf("ListObjectsV2: %v (%+v)", err, srv.lastSeen().err)
		}
		if len(lo.Contents) != 1 {
			t.Fatalf("ListObjectsV2: %d objects", len(lo.Contents))
		}
	}
}

// TestPresigned checks presigned GET and PUT URLs from s3.NewPresignClient
// used with a plain http.Client, and an expired presigned URL.
func TestPresigned(t *testing.T) {
	srv := newAuthServer(t, true)
	pc := s3.NewPresignClient(srv.client(testAK, testSK))

	get, err := pc.PresignGetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String(oddKey)},
		s3.WithPresignExpires(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if code := doPresigned(t, srv, get.Method, get.URL, get.SignedHeader, nil); code != "" {
		t.Fatalf("presigned GET: %s", code)
	}

	data := payload(3000)
	put, err := pc.PresignPutObject(ctx(t), &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String(oddKey),
		ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	if code := doPresigned(t, srv, put.Method, put.URL, put.SignedHeader, data); code != "" {
		t.Fatalf("presigned PUT: %s", code)
	}
	if got := srv.lastSeen(); !bytes.Equal(got.body, data) {
		t.Fatalf("presigned PUT body: %d bytes", len(got.body))
	}

	// Tampering with the URL breaks the signature.
	if code := doPresigned(t, srv, get.Method, strings.Replace(get.URL, "x.txt", "y.txt", 1), get.SignedHeader, nil); code != CodeSignatureDoesNotMatch {
		t.Fatalf("tampered presigned GET: %q", code)
	}

	// Expired: the server's clock is 11 minutes ahead.
	srv.v.Now = func() time.Time { return time.Now().Add(11 * time.Minute) }
	defer func() { srv.v.Now = nil }()
	if code := doPresigned(t, srv, get.Method, get.URL, get.SignedHeader, nil); code != CodeAccessDenied ||
		srv.lastSeen().err.Message != "Request has expired" {
		t.Fatalf("expired presigned GET: %q %+v", code, srv.lastSeen().err)
	}
}

// doPresigned sends a presigned request and returns the server's error code.
func doPresigned(t *testing.T, srv *authServer, method, url string, hdr http.Header, body []byte) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if !strings.EqualFold(k, "Host") {
			req.Header[k] = v
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if e := srv.lastSeen().err; e != nil {
		if resp.StatusCode != e.Status {
			t.Fatalf("status %d for %+v", resp.StatusCode, e)
		}
		return e.Code
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return ""
}

// TestSDKLargePut sends a 5 MiB object (many aws-chunked chunks, and
// "Expect: 100-continue" from the SDK) over HTTP and TLS.
func TestSDKLargePut(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		srv := newAuthServer(t, useTLS)
		for _, stream := range []bool{false, true} {
			sdkPut(t, srv, aws.RequestChecksumCalculationWhenSupported, "", stream, useTLS, 5<<20)
		}
	}
}
