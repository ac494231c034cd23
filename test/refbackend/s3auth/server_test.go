package s3auth

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

const (
	testAK = "AKIDREFBACKEND"
	testSK = "refbackend/secret+key"
)

func testLookup(ak string) (string, bool) {
	if ak == testAK {
		return testSK, true
	}
	return "", false
}

// seen is what the test server recorded about the last request.
type seen struct {
	method, path, contentSHA, trailer string
	checksumHeader                    string // name of an x-amz-checksum-* header sent
	accessKey                         string
	body                              []byte
	decodedLen                        int64
	err                               *Error
}

// authServer is an httptest server whose handler authenticates every
// request with a Verifier and reads the whole body, as the S3 layer will.
type authServer struct {
	*httptest.Server
	v      *Verifier
	mu     sync.Mutex
	last   seen
	tamper func(r *http.Request) // optional, changes the request before Verify
}

func newAuthServer(t *testing.T, useTLS bool) *authServer {
	t.Helper()
	s := &authServer{v: &Verifier{Lookup: testLookup}}
	h := http.HandlerFunc(s.serve)
	if useTLS {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *authServer) lastSeen() seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func writeS3Error(w http.ResponseWriter, e *Error) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	_ = xml.NewEncoder(w).Encode(struct {
		XMLName xml.Name `xml:"Error"`
		Code    string   `xml:"Code"`
		Message string   `xml:"Message"`
	}{Code: e.Code, Message: e.Message})
}

func (s *authServer) serve(w http.ResponseWriter, r *http.Request) {
	if s.tamper != nil {
		s.tamper(r)
	}
	rec := seen{method: r.Method, path: r.URL.Path, contentSHA: r.Header.Get("X-Amz-Content-Sha256"), trailer: r.Header.Get("X-Amz-Trailer")}
	for _, a := range checksumAlgos {
		if r.Header.Get(a.header) != "" {
			rec.checksumHeader = a.header
		}
	}
	defer func() {
		s.mu.Lock()
		s.last = rec
		s.mu.Unlock()
	}()
	res, err := s.v.Verify(r)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Status: 500, Code: "InternalError", Message: err.Error()}
		}
		rec.err = e
		writeS3Error(w, e)
		return
	}
	rec.accessKey, rec.decodedLen = res.AccessKey, res.DecodedLength
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	rec.body = body
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Status: 500, Code: "InternalError", Message: "body error is not an *Error: " + err.Error()}
		}
		rec.err = e
		writeS3Error(w, e)
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Has("list-type"):
		w.Header().Set("Content-Type", "application/xml")
		io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bucket</Name><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated><Contents><Key>k</Key><Size>5</Size></Contents></ListBucketResult>`)
	case r.Method == http.MethodGet:
		w.Header().Set("Content-Length", "5")
		io.WriteString(w, "hello")
	default:
		w.Header().Set("ETag", `"x"`)
	}
}

// client returns an aws-sdk-go-v2 S3 client for the server (path style,
// static credentials, no retries).
func (s *authServer) client(ak, sk string, opts ...func(*s3.Options)) *s3.Client {
	cfg := aws.Config{
		Region:      "eu-central-1",
		Credentials: credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:  s.Client(),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} },
	}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.BaseEndpoint = aws.String(s.URL)
		o.UsePathStyle = true
	}}, opts...)...)
}

// apiCode returns the S3 error code of an SDK error ("" for nil).
func apiCode(err error) string {
	if err == nil {
		return ""
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return "non-API error: " + err.Error()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}
