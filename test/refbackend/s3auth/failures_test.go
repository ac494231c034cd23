package s3auth

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func put(t *testing.T, cl *s3.Client, data []byte, stream bool, mod func(*s3.PutObjectInput)) error {
	in := &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("k"), Body: bytes.NewReader(data)}
	if stream {
		in.Body = onlyReader{bytes.NewReader(data)}
		in.ContentLength = aws.Int64(int64(len(data)))
	}
	if mod != nil {
		mod(in)
	}
	_, err := cl.PutObject(ctx(t), in)
	return err
}

// TestSDKAuthFailures: wrong secret, unknown key, clock skew, no auth.
func TestSDKAuthFailures(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		srv := newAuthServer(t, useTLS)
		get := func(cl *s3.Client) error {
			_, err := cl.GetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("k")})
			return err
		}
		if c := apiCode(put(t, srv.client(testAK, "wrong"), payload(100), useTLS, nil)); c != CodeSignatureDoesNotMatch {
			t.Errorf("wrong secret, PUT: %q", c)
		}
		if c := apiCode(get(srv.client(testAK, "wrong"))); c != CodeSignatureDoesNotMatch {
			t.Errorf("wrong secret, GET: %q", c)
		}
		if c := apiCode(get(srv.client("AKIDUNKNOWN", testSK))); c != CodeInvalidAccessKeyID {
			t.Errorf("unknown access key: %q", c)
		}
		for _, skew := range []time.Duration{20 * time.Minute, -20 * time.Minute} {
			srv.v.Now = func() time.Time { return time.Now().Add(skew) }
			if c := apiCode(get(srv.client(testAK, testSK))); c != CodeRequestTimeTooSkewed {
				t.Errorf("skew %v: %q", skew, c)
			}
		}
		srv.v.Now = func() time.Time { return time.Now().Add(10 * time.Minute) }
		if c := apiCode(get(srv.client(testAK, testSK))); c != "" {
			t.Errorf("skew 10m (tolerated): %q", c)
		}
		srv.v.Now = nil
		resp, err := srv.Client().Get(srv.URL + "/bucket/k")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 403 || srv.lastSeen().err.Code != CodeAccessDenied {
			t.Errorf("anonymous: %d %+v", resp.StatusCode, srv.lastSeen().err)
		}
	}
}

// flipReader changes one byte of a body at offset off as it is read.
type flipReader struct {
	io.ReadCloser
	off, pos int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.off >= f.pos && f.off < f.pos+int64(n) {
		p[f.off-f.pos] ^= 0x20
	}
	f.pos += int64(n)
	return n, err
}

// TestSDKTamperedBody changes one byte of SDK uploads in flight (between the
// client and Verify) and checks the error that Body.Read reports.
func TestSDKTamperedBody(t *testing.T) {
	cases := []struct {
		name   string
		tls    bool
		stream bool
		calc   aws.RequestChecksumCalculation
		want   string
	}{
		{"http signed payload", false, false, aws.RequestChecksumCalculationWhenRequired, CodeXAmzContentSHA256Mismatch},
		{"http signed payload + crc32 header", false, false, aws.RequestChecksumCalculationWhenSupported, CodeXAmzContentSHA256Mismatch},
		{"tls unsigned payload + crc32 header", true, false, aws.RequestChecksumCalculationWhenSupported, CodeBadDigest},
		{"tls aws-chunked + crc32 trailer", true, true, aws.RequestChecksumCalculationWhenSupported, CodeBadDigest},
	}
	for _, c := range cases {
		srv := newAuthServer(t, c.tls)
		srv.tamper = func(r *http.Request) { r.Body = &flipReader{ReadCloser: r.Body, off: 70000} }
		cl := srv.client(testAK, testSK, func(o *s3.Options) { o.RequestChecksumCalculation = c.calc })
		err := put(t, cl, payload(100000), c.stream, nil)
		if got := apiCode(err); got != c.want {
			t.Errorf("%s: %q, want %q (mode %s)", c.name, got, c.want, srv.lastSeen().contentSHA)
		}
	}
}

// TestSDKDigests sends wrong and malformed Content-MD5 and checksum values.
func TestSDKDigests(t *testing.T) {
	srv := newAuthServer(t, true)
	data := payload(5000)
	sum := md5.Sum(data)
	other := md5.Sum([]byte("other"))
	cl := srv.client(testAK, testSK, func(o *s3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired })
	cases := []struct {
		name string
		mod  func(*s3.PutObjectInput)
		want string
	}{
		{"good Content-MD5", func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:])) }, ""},
		{"wrong Content-MD5", func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(other[:])) }, CodeBadDigest},
		{"malformed Content-MD5", func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String("abc") }, CodeInvalidDigest},
		{"wrong crc32 header", func(in *s3.PutObjectInput) { in.ChecksumCRC32 = aws.String("AAAAAA==") }, CodeBadDigest},
		{"malformed crc32c header", func(in *s3.PutObjectInput) { in.ChecksumCRC32C = aws.String("AAAA") }, CodeInvalidRequest},
		{"wrong sha256 header", func(in *s3.PutObjectInput) {
			in.ChecksumSHA256 = aws.String("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
		}, CodeBadDigest},
	}
	for _, c := range cases {
		for _, stream := range []bool{false, true} {
			if got := apiCode(put(t, cl, data, stream, c.mod)); got != c.want {
				t.Errorf("%s (stream %v): %q, want %q", c.name, stream, got, c.want)
			}
		}
	}
	// Wrong Content-MD5 with an SDK-computed CRC32 trailer.
	cl2 := srv.client(testAK, testSK)
	err := put(t, cl2, data, true, func(in *s3.PutObjectInput) {
		in.ContentMD5 = aws.String(base64.StdEncoding.EncodeToString(other[:]))
		in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	})
	if got := apiCode(err); got != CodeBadDigest {
		t.Errorf("wrong Content-MD5 with trailer: %q (mode %s)", got, srv.lastSeen().contentSHA)
	}
}

// signGet signs a GET with the SDK signer.
func signGet(t *testing.T, url string, when time.Time, hdr map[string]string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK},
		req, emptySHA256, "s3", "us-east-1", when, func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestHeaderAuthErrors checks malformed Authorization headers and requests
// that a valid signature must not cover.
func TestHeaderAuthErrors(t *testing.T) {
	v := &Verifier{Lookup: testLookup}
	const url = "http://example.com/bucket/key?list-type=2&prefix=a%20b"
	now := time.Now()
	if code, _ := verifyDirect(t, v, signGet(t, url, now, nil)); code != "" {
		t.Fatalf("baseline: %q", code)
	}
	mutate := func(f func(r *http.Request)) string {
		r := signGet(t, url, now, nil)
		f(r)
		code, _ := verifyDirect(t, v, r)
		return code
	}
	setAuth := func(old, new string) func(r *http.Request) {
		return func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), old, new, 1))
		}
	}
	cases := []struct {
		name string
		f    func(r *http.Request)
		want string
	}{
		{"unsigned x-amz header added", func(r *http.Request) { r.Header.Set("X-Amz-Meta-Evil", "1") }, CodeAccessDenied},
		{"query changed", func(r *http.Request) { r.URL.RawQuery = "list-type=2&prefix=a%20c" }, CodeSignatureDoesNotMatch},
		{"path changed", func(r *http.Request) { r.URL.Path = "/bucket/kez" }, CodeSignatureDoesNotMatch},
		{"method changed", func(r *http.Request) { r.Method = http.MethodDelete }, CodeSignatureDoesNotMatch},
		{"host changed", func(r *http.Request) { r.Host = "example.org" }, CodeSignatureDoesNotMatch},
		{"payload hash changed", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", UnsignedPayload) }, CodeSignatureDoesNotMatch},
		{"bad payload mode", func(r *http.Request) { r.Header.Set("X-Amz-Content-Sha256", "STREAMING-FOO") }, CodeInvalidArgument},
		{"no payload hash", func(r *http.Request) { r.Header.Del("X-Amz-Content-Sha256") }, CodeInvalidRequest},
		{"wrong service", setAuth("/s3/", "/ec2/"), CodeAuthorizationHeaderMalformed},
		{"wrong terminal", setAuth("aws4_request", "aws5_request"), CodeAuthorizationHeaderMalformed},
		{"short credential", setAuth("/us-east-1/s3/aws4_request", "/s3/aws4_request"), CodeAuthorizationHeaderMalformed},
		{"credential date differs", setAuth("Credential="+testAK+"/", "Credential="+testAK+"/1"), CodeAuthorizationHeaderMalformed},
		{"host not signed", setAuth("SignedHeaders=host;", "SignedHeaders="), CodeAuthorizationHeaderMalformed},
		{"missing Signature", setAuth(", Signature=", ", Sig="), CodeAuthorizationHeaderMalformed},
		{"short Signature", func(r *http.Request) { r.Header.Set("Authorization", r.Header.Get("Authorization")[:200]) }, CodeAuthorizationHeaderMalformed},
		{"signature V2", func(r *http.Request) { r.Header.Set("Authorization", "AWS "+testAK+":abc") }, CodeInvalidRequest},
		{"other scheme", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, CodeInvalidArgument},
		{"bad x-amz-date", func(r *http.Request) { r.Header.Set("X-Amz-Date", "yesterday") }, CodeAccessDenied},
		{"no date", func(r *http.Request) { r.Header.Del("X-Amz-Date") }, CodeAccessDenied},
		{"header and query auth", func(r *http.Request) { r.URL.RawQuery += "&X-Amz-Algorithm=AWS4-HMAC-SHA256" }, CodeInvalidArgument},
	}
	for _, c := range cases {
		if got := mutate(c.f); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// A tampered GET body (sha256 of the empty payload was signed).
	r := signGet(t, url, now, nil)
	r.Body = io.NopCloser(strings.NewReader("x"))
	r.ContentLength = -1
	if code, _ := verifyDirect(t, v, r); code != CodeXAmzContentSHA256Mismatch {
		t.Errorf("body added to a GET: %q", code)
	}
}

// TestDateHeader signs a request by hand (canonical request written out
// literally) using the Date header instead of x-amz-date.
func TestDateHeader(t *testing.T) {
	when := time.Now().UTC().Truncate(time.Second)
	date := when.Format(http.TimeFormat)
	creq := "GET\n/bucket/a%20b%2Bc\nmax-keys=2&prefix=x%2By\n" +
		"date:" + date + "\nhost:example.com\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\n" +
		"date;host;x-amz-content-sha256\nUNSIGNED-PAYLOAD"
	scope := when.Format("20060102") + "/auto/s3/aws4_request"
	sts := "AWS4-HMAC-SHA256\n" + when.Format("20060102T150405Z") + "\n" + scope + "\n" + tSHA([]byte(creq))
	key := tHMAC([]byte("AWS4"+testSK), when.Format("20060102"))
	for _, s := range []string{"auto", "s3", "aws4_request"} {
		key = tHMAC(key, s)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://example.com/bucket/a%20b+c?prefix=x%2By&max-keys=2", nil)
	req.Header.Set("Date", date)
	req.Header.Set("X-Amz-Content-Sha256", UnsignedPayload)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAK+"/"+scope+", SignedHeaders=date;host;x-amz-content-sha256, Signature="+tHex(tHMAC(key, sts)))
	if code, _ := verifyDirect(t, &Verifier{Lookup: testLookup}, req); code != "" {
		t.Fatalf("Date header: %q", code)
	}
}

// TestPresignedErrors checks malformed presigned query parameters.
func TestPresignedErrors(t *testing.T) {
	srv := newAuthServer(t, false)
	pc := s3.NewPresignClient(srv.client(testAK, testSK))
	get, err := pc.PresignGetObject(ctx(t), &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Lookup: testLookup}
	try := func(url string) string {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		code, _ := verifyDirect(t, v, req)
		return code
	}
	if c := try(get.URL); c != "" {
		t.Fatalf("baseline: %q", c)
	}
	drop := func(name string) string {
		i := strings.Index(get.URL, name+"=")
		j := strings.IndexByte(get.URL[i:], '&')
		if j < 0 {
			return get.URL[:i-1]
		}
		return get.URL[:i] + get.URL[i+j+1:]
	}
	for _, p := range []string{"X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"} {
		if c := try(drop(p)); c != CodeAuthorizationQueryParametersError {
			t.Errorf("without %s: %q", p, c)
		}
	}
	if c := try(strings.Replace(get.URL, "X-Amz-Expires=900", "X-Amz-Expires=604801", 1)); c != CodeAuthorizationQueryParametersError {
		t.Errorf("expires > 7 days: %q", c)
	}
	if c := try(strings.Replace(get.URL, "X-Amz-Expires=900", "X-Amz-Expires=901", 1)); c != CodeSignatureDoesNotMatch {
		t.Errorf("expires changed: %q", c)
	}
	if c := try(drop("X-Amz-Algorithm")); c != CodeAuthorizationQueryParametersError {
		t.Errorf("without X-Amz-Algorithm: %q", c)
	}
	if c := try(get.URL + "&extra=1"); c != CodeSignatureDoesNotMatch {
		t.Errorf("parameter added: %q", c)
	}
	req, _ := http.NewRequest(http.MethodGet, get.URL, nil)
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 x")
	if c, _ := verifyDirect(t, v, req); c != CodeInvalidArgument {
		t.Errorf("presigned + Authorization: %q", c)
	}
}
