package refbackend

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/ssefs/ssefs/test/refbackend/keymanager"
	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// stack is a running reference backend for a test: the S3 server on HTTPS
// and on plain HTTP (same server), and the key manager on its own listener.
type stack struct {
	t       testing.TB
	srv     *Server
	tls     *httptest.Server // HTTPS listener of srv
	plain   *httptest.Server // plain HTTP listener of srv
	km      *keymanager.Manager
	kmsSrv  *httptest.Server
	accts   keymanager.Accounts
	dir     string // the whole stack's state (s3/ and kms/)
	rec     *recorder
	s3      *s3.Client // HTTPS, checksums only when required (what RGW needs)
	fetcher *switchFetcher
	demo    *gophercloud.ServiceClient
}

// stackOpts adjusts a stack.
type stackOpts struct {
	requireSSL    bool
	noDefaultKey  bool
	secretKey     string
	maxHeaderSize int
}

const (
	testAccessKey = "AKIDREFBACKENDTEST"
	testSecretKey = "refbackend-test-secret-key-0123456789"
)

// switchFetcher is the KMS fetcher of a test stack; down makes it use a
// client whose key manager address does not answer.
type switchFetcher struct {
	up, dead KeyFetcher
	down     atomic.Bool
}

func (f *switchFetcher) FetchKey(ctx context.Context, id string) ([]byte, error) {
	if f.down.Load() {
		return f.dead.FetchKey(ctx, id)
	}
	return f.up.FetchKey(ctx, id)
}

func newStack(t *testing.T, profile Profile, o stackOpts) *stack {
	return newStackOpts(t, profile, o)
}

// newStackTB is newStack for benchmarks.
func newStackTB(tb testing.TB, profile Profile) *stack {
	return newStackOpts(tb, profile, stackOpts{})
}

func newStackOpts(t testing.TB, profile Profile, o stackOpts) *stack {
	t.Helper()
	st := &stack{t: t, dir: t.TempDir()}
	km, err := keymanager.Open(path.Join(st.dir, "kms"))
	if err != nil {
		t.Fatal(err)
	}
	st.km = km
	st.accts = km.Accounts()
	st.kmsSrv = httptest.NewUnstartedServer(nil)
	st.kmsSrv.Config.Handler = km.Handler("http://" + st.kmsSrv.Listener.Addr().String())
	st.kmsSrv.Start()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	st.fetcher = &switchFetcher{
		up:   keymanager.NewSecretClient(st.kmsSrv.URL+"/v3", st.accts.Service, nil),
		dead: keymanager.NewSecretClient(deadURL+"/v3", st.accts.Service, &http.Client{}),
	}
	st.demo = st.keyManagerClient(st.accts.Demo)
	cfg := Config{DataDir: path.Join(st.dir, "s3"), Profile: profile, AccessKey: testAccessKey, SecretKey: testSecretKey,
		KMS: st.fetcher, RequireSSL: o.requireSSL, MaxHeaderBytes: o.maxHeaderSize, Logger: log.New(io.Discard, "", 0)}
	if profile == ProfileAWS && !o.noDefaultKey {
		cfg.DefaultKMSKeyID = st.createSecret("default", randBytes(t, 32), true)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.srv = srv
	st.tls = httptest.NewUnstartedServer(srv.Handler())
	st.tls.StartTLS()
	st.plain = httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		st.tls.Close()
		st.plain.Close()
		st.kmsSrv.Close()
		_ = srv.Close()
		_ = km.Close()
	})
	st.rec = &recorder{next: st.tls.Client().Transport}
	st.s3 = st.client(st.tls.URL, st.rec, aws.RequestChecksumCalculationWhenRequired)
	return st
}

// client returns an aws-sdk-go-v2 S3 client for url through rt, without
// retries.
func (st *stack) client(url string, rt http.RoundTripper, calc aws.RequestChecksumCalculation) *s3.Client {
	return newS3Client(url, testAccessKey, testSecretKey, rt, calc)
}

func newS3Client(url, ak, sk string, rt http.RoundTripper, calc aws.RequestChecksumCalculation) *s3.Client {
	cfg := aws.Config{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(ak, sk, ""),
		HTTPClient:                 &http.Client{Transport: rt},
		Retryer:                    func() aws.Retryer { return aws.NopRetryer{} },
		RequestChecksumCalculation: calc,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(url)
		o.UsePathStyle = true
	})
}

// keyManagerClient authenticates to the key manager with gophercloud as acct.
func (st *stack) keyManagerClient(acct keymanager.Account) *gophercloud.ServiceClient {
	st.t.Helper()
	pc, err := openstack.AuthenticatedClient(context.Background(), gophercloud.AuthOptions{
		IdentityEndpoint: st.kmsSrv.URL + "/v3", Username: acct.UserName, Password: acct.Password,
		DomainName: acct.DomainName, TenantName: acct.ProjectName,
	})
	if err != nil {
		st.t.Fatal(err)
	}
	c, err := openstack.NewKeyManagerV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		st.t.Fatal(err)
	}
	return c
}

// createSecret stores payload in the key manager as the demo user and,
// with grant, puts the object store's service user on its read ACL.
func (st *stack) createSecret(name string, payload []byte, grant bool) string {
	st.t.Helper()
	ctx := context.Background()
	ref, err := secrets.Create(ctx, st.demo, secrets.CreateOpts{Name: name, Payload: base64.StdEncoding.EncodeToString(payload),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64",
		Algorithm: "aes", BitLength: 256, Mode: "cbc", SecretType: secrets.SymmetricSecret}).Extract()
	if err != nil {
		st.t.Fatal(err)
	}
	id := path.Base(ref.SecretRef)
	if grant {
		st.setACL(id, []string{st.accts.Service.UserID})
	}
	return id
}

// setACL replaces a secret's read ACL with users.
func (st *stack) setACL(id string, users []string) {
	st.t.Helper()
	off := false
	if _, err := acls.SetSecretACL(context.Background(), st.demo, id, acls.SetOpts{{Type: "read", Users: &users, ProjectAccess: &off}}).Extract(); err != nil {
		st.t.Fatal(err)
	}
}

func (st *stack) deleteSecret(id string) {
	st.t.Helper()
	if err := secrets.Delete(context.Background(), st.demo, id).ExtractErr(); err != nil {
		st.t.Fatal(err)
	}
}

// stat returns how an object rests in the store.
func (st *stack) stat(bucket, key string) (objstore.ObjectMeta, error) {
	return st.srv.Store().Stat(bucket, key)
}

// recorder is an http.RoundTripper that keeps the last response's status,
// headers and body (the SDK hides some of them, e.g. HEAD errors).
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	last recorded
}

// recorded is one HTTP answer as the client saw it.
type recorded struct {
	status int
	header http.Header
	body   *bytes.Buffer
	mode   string // the request's x-amz-content-sha256 (payload mode)
}

type teeBody struct {
	io.Reader
	io.Closer
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	buf := &bytes.Buffer{}
	if resp.StatusCode >= 300 {
		resp.Body = teeBody{io.TeeReader(resp.Body, buf), resp.Body}
	}
	r.mu.Lock()
	r.last = recorded{status: resp.StatusCode, header: resp.Header.Clone(), body: buf, mode: req.Header.Get("X-Amz-Content-Sha256")}
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) get() recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// s3Error parses an S3 XML error body.
func s3Error(body []byte) (code, message string) {
	var e struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(body, &e) != nil {
		return "", ""
	}
	return e.Code, e.Message
}

func randBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// ssec is an SSE-C key in the form the SDK takes.
type ssec struct {
	raw      []byte
	b64, md5 string
}

func newSSEC(raw []byte) ssec {
	sum := md5.Sum(raw)
	return ssec{raw: raw, b64: base64.StdEncoding.EncodeToString(raw), md5: base64.StdEncoding.EncodeToString(sum[:])}
}

// withHeaders sets (or, with an empty value, removes) request headers after
// the SDK serialized the request and before it signs it.
func withHeaders(kv map[string]string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Build.Add(middleware.BuildMiddlewareFunc("testHeaders", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
				if req, ok := in.Request.(*smithyhttp.Request); ok {
					for k, v := range kv {
						if v == "" {
							req.Header.Del(k)
						} else {
							req.Header.Set(k, v)
						}
					}
				}
				return next.HandleBuild(ctx, in)
			}), middleware.After)
		})
	}
}

// must fails the test on err.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// body reads a GetObject output's body.
func readAll(t testing.TB, out *s3.GetObjectOutput, err error) []byte {
	t.Helper()
	must(t, err)
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	must(t, err)
	return b
}

func isCode(err error, code string) bool {
	var ae interface{ ErrorCode() string }
	return errors.As(err, &ae) && ae.ErrorCode() == code
}

// lastPayloadMode is the payload mode of the last request.
func (st *stack) lastPayloadMode() string { return st.rec.get().mode }

// pathEscape escapes one path segment.
func pathEscape(s string) string { return url.PathEscape(s) }
