package objcache_test

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/refbackend"
	"github.com/ssefs/ssefs/test/refbackend/keymanager"
)

const (
	accessKey = "AKIDOBJCACHETEST"
	secretKey = "objcache-test-secret-0123456789abcdef"
	bucket    = "mnt"
)

// stack is a reference backend for one test: S3 over HTTPS (SSE over plain
// HTTP refused, as RGW and AWS do) with a Barbican-like key manager.
type stack struct {
	t       *testing.T
	profile refbackend.Profile
	srv     *refbackend.Server
	https   *httptest.Server
	plain   *httptest.Server // the same server over plain HTTP
	caFile  string
	heads   atomic.Int64 // HEAD requests served
	km      *httptest.Server
	accts   keymanager.Accounts
	raw     *s3.Client // an outside client: no retries, no ssefs logic
}

func newStack(t *testing.T, profile refbackend.Profile) *stack {
	t.Helper()
	dir := t.TempDir()
	st := &stack{t: t, profile: profile}
	km, err := keymanager.Open(filepath.Join(dir, "kms"))
	if err != nil {
		t.Fatal(err)
	}
	st.accts = km.Accounts()
	st.km = httptest.NewUnstartedServer(nil)
	st.km.Config.Handler = km.Handler("http://" + st.km.Listener.Addr().String())
	st.km.Start()
	srv, err := refbackend.New(refbackend.Config{
		DataDir: filepath.Join(dir, "s3"), Profile: profile, AccessKey: accessKey, SecretKey: secretKey,
		KMS: keymanager.NewSecretClient(st.km.URL+"/v3", st.accts.Service, nil), TLS: true, RequireSSL: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	st.srv = srv
	inner := srv.Handler()
	st.https = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			st.heads.Add(1)
		}
		inner.ServeHTTP(w, r)
	}))
	st.https.StartTLS()
	st.plain = httptest.NewServer(inner)
	t.Cleanup(func() {
		st.https.Close()
		st.plain.Close()
		st.km.Close()
		srv.Close()
		km.Close()
	})
	st.caFile = filepath.Join(dir, "ca.pem")
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: st.https.Certificate().Raw})
	if err := os.WriteFile(st.caFile, cert, 0o644); err != nil {
		t.Fatal(err)
	}
	st.raw = s3.NewFromConfig(aws.Config{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		HTTPClient:                 st.https.Client(),
		Retryer:                    func() aws.Retryer { return aws.NopRetryer{} },
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(st.https.URL)
		o.UsePathStyle = true
	})
	if _, err := st.raw.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	return st
}

// passwd writes an s3fs-style passwd file with the stack's credentials (or
// a wrong secret).
func (st *stack) passwd(secret string) string {
	p := filepath.Join(st.t.TempDir(), "passwd")
	if err := os.WriteFile(p, []byte(accessKey+":"+secret+"\n"), 0o600); err != nil {
		st.t.Fatal(err)
	}
	return p
}

// config is a client config for the stack with enc; log receives the
// client's log.
func (st *stack) config(enc ssekeys.Config, log io.Writer) objcache.ClientConfig {
	if log == nil {
		log = io.Discard
	}
	return objcache.ClientConfig{
		Endpoint:   st.https.URL,
		Bucket:     bucket,
		CAFile:     st.caFile,
		PasswdFile: st.passwd(secretKey),
		Encryption: enc,
		Logger:     slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func (st *stack) client(enc ssekeys.Config, log io.Writer, mod ...func(*objcache.ClientConfig)) *objcache.Client {
	st.t.Helper()
	cfg := st.config(enc, log)
	for _, m := range mod {
		m(&cfg)
	}
	c, err := objcache.NewClient(context.Background(), cfg)
	if err != nil {
		st.t.Fatal(err)
	}
	return c
}

// kmsSecret creates a 32-byte secret as the demo user with gophercloud and
// adds the object store's service user to its read ACL; it returns the
// bare secret id.
func (st *stack) kmsSecret() string {
	st.t.Helper()
	ctx := context.Background()
	demo := st.accts.Demo
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: st.km.URL + "/v3", Username: demo.UserName, Password: demo.Password,
		DomainName: demo.DomainName, TenantName: demo.ProjectName,
	})
	if err != nil {
		st.t.Fatal(err)
	}
	kmc, err := openstack.NewKeyManagerV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		st.t.Fatal(err)
	}
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 13)
	}
	ref, err := secrets.Create(ctx, kmc, secrets.CreateOpts{Name: "objcache-test", Payload: base64.StdEncoding.EncodeToString(key),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64",
		Algorithm: "aes", BitLength: 256, Mode: "cbc", SecretType: secrets.SymmetricSecret}).Extract()
	if err != nil {
		st.t.Fatal(err)
	}
	id := path.Base(ref.SecretRef)
	users := []string{st.accts.Service.UserID}
	if _, err := acls.UpdateSecretACL(ctx, kmc, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		st.t.Fatal(err)
	}
	return id
}

// rawPut stores an object from outside ssefs, with SSE-C key k (nil: plain).
func (st *stack) rawPut(key string, body string, k *ssekeys.Key) {
	st.t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}
	if k != nil {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.Base64()), aws.String(k.MD5Base64())
	}
	if _, err := st.raw.PutObject(context.Background(), in); err != nil {
		st.t.Fatal(err)
	}
}

// assertSSEC checks from outside that key is encrypted with k: HEAD with k
// succeeds and echoes it, HEAD and GET without a key fail, and the store
// holds it as SSE-C under k.
func (st *stack) assertSSEC(key string, k *ssekeys.Key) {
	st.t.Helper()
	ctx := context.Background()
	out, err := st.raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.Base64()), SSECustomerKeyMD5: aws.String(k.MD5Base64())})
	if err != nil {
		st.t.Errorf("%s: HEAD with the key: %v", key, err)
	} else if aws.ToString(out.SSECustomerKeyMD5) != k.MD5Base64() {
		st.t.Errorf("%s: HEAD with the key did not echo it (object not SSE-C under it)", key)
	}
	if _, err := st.raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
		st.t.Errorf("%s: HEAD without a key succeeded", key)
	}
	if _, err := st.raw.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err == nil {
		st.t.Errorf("%s: GET without a key succeeded", key)
	}
	if m, err := st.srv.Store().Stat(bucket, key); err != nil || m.SSECKeyMD5 != k.MD5Base64() {
		st.t.Errorf("%s: stored as %v (key md5 %q), err %v", key, m.SSE, m.SSECKeyMD5, err)
	}
}

// assertKMS checks from outside that key is SSE-KMS under id.
func (st *stack) assertKMS(key, id string) {
	st.t.Helper()
	out, err := st.raw.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		st.t.Errorf("%s: HEAD: %v", key, err)
		return
	}
	if string(out.ServerSideEncryption) != "aws:kms" {
		st.t.Errorf("%s: HEAD says encryption %q, want aws:kms", key, out.ServerSideEncryption)
	}
	if m, err := st.srv.Store().Stat(bucket, key); err != nil || m.KMSKeyID != id {
		st.t.Errorf("%s: stored as %v (kms id %q), err %v", key, m.SSE, m.KMSKeyID, err)
	}
}
