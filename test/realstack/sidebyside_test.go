//go:build realstack

package realstack

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/ssefs/ssefs/test/testenv"
)

// The reference backend's rgw-profile conformance cases (DESIGN.md section
// 3, the RGW 16 column; test/refbackend/sse_rules_test.go) replayed by the
// same code against two servers: the real RGW + Barbican of the lab, and
// `ssefs-refbackend --profile rgw --tls --require-ssl`. TestRGWProfileSideBySide
// prints every case where the two answer differently and fails if there is
// one: the real RGW is the judge of the profile.

// SSE header names.
const (
	hSSE      = "x-amz-server-side-encryption"
	hKMSKeyID = "x-amz-server-side-encryption-aws-kms-key-id"
	hSSECAlg  = "x-amz-server-side-encryption-customer-algorithm"
	hSSECMD5  = "x-amz-server-side-encryption-customer-key-MD5"
)

// exchange is the last HTTP request and answer a recorder saw.
type exchange struct {
	status  int
	header  http.Header
	body    []byte
	payload string // the request's x-amz-content-sha256
}

// recorder is an http.RoundTripper that keeps the last exchange.
type recorder struct {
	next http.RoundTripper
	mu   sync.Mutex
	last exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	ex := exchange{payload: req.Header.Get("x-amz-content-sha256")}
	if err == nil {
		ex.status, ex.header = resp.StatusCode, resp.Header.Clone()
		if resp.StatusCode >= 300 {
			ex.body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			resp.Body = io.NopCloser(bytes.NewReader(ex.body))
		}
	}
	r.mu.Lock()
	r.last = ex
	r.mu.Unlock()
	return resp, err
}

func (r *recorder) get() exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// server is one S3 server the cases run against, with its key manager and
// a way to look at what it stores.
type server struct {
	name   string
	https  string // HTTPS endpoint
	http   string // plain HTTP endpoint (SSE must be refused there)
	access string
	secret string
	// httpAccess and httpSecret sign requests to http; separateHTTP says
	// that http is another server with its own buckets.
	httpAccess, httpSecret string
	separateHTTP           bool
	caFile                 string
	km                     *gophercloud.ServiceClient // the demo user's Barbican client
	service                string                     // the object store's Keystone user id
	// atRest returns the markers stored in plaintext.
	atRest func(t testing.TB, markers []string) []string
}

// client is an aws-sdk-go-v2 client for endpoint that records into rec,
// never retries (the first answer is the one observed) and computes
// checksums as calc says.
func (sv *server) client(t testing.TB, endpoint, access, secret string, rec *recorder, calc aws.RequestChecksumCalculation) *s3.Client {
	t.Helper()
	ca, err := os.ReadFile(sv.caFile)
	if err != nil {
		t.Fatal(err)
	}
	if rec.next == nil {
		rec.next = httpClientWithCA(t, ca).Transport
	}
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(endpoint),
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(access, secret, ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: calc,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		Retryer:                    aws.NopRetryer{},
		HTTPClient:                 &http.Client{Transport: rec, Timeout: 2 * time.Minute},
	})
}

// sbsKey is an SSE-C key with its symbolic name.
type sbsKey struct{ name, b64, md5 string }

func newSBSKey(t testing.TB, name string, n int) sbsKey {
	raw := randomBytes(t, n)
	sum := md5.Sum(raw)
	return sbsKey{name, base64.StdEncoding.EncodeToString(raw), base64.StdEncoding.EncodeToString(sum[:])}
}

// triple returns the three SSE-C values for an SDK input.
func (k sbsKey) triple() (*string, *string, *string) {
	return aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

// world is one server's state for the cases: clients, keys, secrets, the
// bucket with a plain, an SSE-C and an SSE-KMS object.
type world struct {
	t       *testing.T
	sv      *server
	ctx     context.Context
	rec     *recorder
	s3      *s3.Client
	plain   *s3.Client
	chunky  *s3.Client // the SDK's default checksums (aws-chunked with trailers)
	bucket  string
	k1, k2  sbsKey
	kms     map[string]string // symbolic name -> secret UUID
	n       int
	markers []string
	// sources are plain copy sources to delete before the at-rest scan,
	// so only the copies can hold their markers.
	sources []string
}

// result is what a case observed.
type result struct {
	status   int
	code     string // S3 error code ("" on success and for HEAD)
	emptyMsg bool   // the error has no message
	echo     string // "-", "sse-c:k1", "kms:good", "AES256", ...
	key      string // an object whose storage is compared ("" none)
	viaPlain bool   // key was written through the plain HTTP endpoint
	marker   string // the plaintext marker in key's body
	stored   string // "absent", "plain", "encrypted(HEAD without key: ...)"
	note     string
}

// sbsCase is one conformance case.
type sbsCase struct {
	name string
	do   func(w *world) result
}

const sbsBody = "side-by-side body "

func newWorld(t *testing.T, sv *server, bucket string) *world {
	w := &world{t: t, sv: sv, ctx: context.Background(), rec: &recorder{}, bucket: bucket, kms: map[string]string{}}
	w.s3 = sv.client(t, sv.https, sv.access, sv.secret, w.rec, aws.RequestChecksumCalculationWhenRequired)
	w.plain = sv.client(t, sv.http, sv.httpAccess, sv.httpSecret, w.rec, aws.RequestChecksumCalculationWhenRequired)
	w.chunky = s3.New(w.s3.Options(), func(o *s3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenSupported })
	w.k1, w.k2 = newSBSKey(t, "k1", 32), newSBSKey(t, "k2", 32)
	w.kms["good"] = w.secret("good", 32, true)
	w.kms["noacl"] = w.secret("noacl", 32, false)
	w.kms["short"] = w.secret("short", 16, true)
	clients := []*s3.Client{w.s3}
	if sv.separateHTTP {
		clients = append(clients, w.plain)
	}
	for _, c := range clients {
		if _, err := c.CreateBucket(w.ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
			t.Fatalf("%s: create bucket: %v", sv.name, err)
		}
	}
	w.mustPut("plain", nil)
	w.mustPut("ssec-k1", func(in *s3.PutObjectInput) {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = w.k1.triple()
	})
	w.mustPut("kms-good", func(in *s3.PutObjectInput) { w.kmsOnPut(in, w.kms["good"]) })
	return w
}

// secret makes a Barbican secret of n random bytes, with the object
// store's user on its ACL if grant, deleted when the test ends.
func (w *world) secret(name string, n int, grant bool) string {
	w.t.Helper()
	raw := randomBytes(w.t, n)
	ref, err := secrets.Create(w.ctx, w.sv.km, secrets.CreateOpts{
		Name: "ssefs-sbs-" + name, Payload: base64.StdEncoding.EncodeToString(raw),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64",
		Algorithm: "aes", BitLength: n * 8, Mode: "cbc", SecretType: secrets.SymmetricSecret,
	}).Extract()
	if err != nil {
		w.t.Fatalf("%s: create secret: %v", w.sv.name, err)
	}
	id := path.Base(ref.SecretRef)
	w.t.Cleanup(func() { _ = secrets.Delete(context.Background(), w.sv.km, id).ExtractErr() })
	if grant {
		GrantRead(w.t, w.sv.km, id, w.sv.service)
	}
	return id
}

func (w *world) deleteSecret(id string) {
	w.t.Helper()
	if err := secrets.Delete(w.ctx, w.sv.km, id).ExtractErr(); err != nil {
		w.t.Fatalf("%s: delete secret: %v", w.sv.name, err)
	}
}

// revoke empties the secret's read ACL user list.
func (w *world) revoke(id string) {
	w.t.Helper()
	users, pa := []string{}, true
	if _, err := acls.SetSecretACL(w.ctx, w.sv.km, id, acls.SetOpts{{Type: "read", Users: &users, ProjectAccess: &pa}}).Extract(); err != nil {
		w.t.Fatalf("%s: set ACL: %v", w.sv.name, err)
	}
}

// name returns a fresh object key and a fresh marker for its body.
func (w *world) name(p string) (string, string) {
	w.n++
	m := fmt.Sprintf("SSEFS-SBS-PLAINTEXT-%s", hex.EncodeToString(randomBytes(w.t, 8)))
	w.markers = append(w.markers, m)
	return fmt.Sprintf("%s-%d", p, w.n), m
}

func (w *world) kmsOnPut(in *s3.PutObjectInput, id string) {
	in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(id)
}

// observe turns the recorded exchange into a result.
func (w *world) observe(key, marker string) result {
	ex := w.rec.get()
	r := result{status: ex.status, echo: w.echo(ex.header), key: key, marker: marker}
	if len(ex.body) > 0 {
		var e struct {
			Code    string
			Message string
		}
		if xml.Unmarshal(ex.body, &e) == nil {
			r.code, r.emptyMsg = e.Code, e.Message == ""
		}
	}
	return r
}

func (w *world) echo(h http.Header) string {
	if h == nil {
		return "-"
	}
	if h.Get(hSSECAlg) != "" {
		switch h.Get(hSSECMD5) {
		case w.k1.md5:
			return "sse-c:k1"
		case w.k2.md5:
			return "sse-c:k2"
		}
		return "sse-c:?"
	}
	switch v := h.Get(hSSE); v {
	case "aws:kms":
		id := h.Get(hKMSKeyID)
		for n, k := range w.kms {
			if k == id {
				return "kms:" + n
			}
		}
		return "kms:?"
	case "":
		return "-"
	default:
		return v
	}
}

// putWith stores a marked body under key with the SSE mod sets.
func (w *world) putWith(c *s3.Client, key, marker string, mod func(*s3.PutObjectInput), opts ...func(*s3.Options)) error {
	in := &s3.PutObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key), Body: strings.NewReader(sbsBody + marker + "\n")}
	if mod != nil {
		mod(in)
	}
	_, err := c.PutObject(w.ctx, in, opts...)
	return err
}

// put stores a fresh object and returns what was observed.
func (w *world) put(mod func(*s3.PutObjectInput), opts ...func(*s3.Options)) result {
	key, m := w.name("put")
	w.putWith(w.s3, key, m, mod, opts...)
	return w.observe(key, m)
}

// mustPut stores key (a fixed object or a copy source) and fails on error.
func (w *world) mustPut(key string, mod func(*s3.PutObjectInput)) string {
	w.t.Helper()
	_, m := w.name(key)
	if err := w.putWith(w.s3, key, m, mod); err != nil {
		w.t.Fatalf("%s: PUT %s: %v", w.sv.name, key, err)
	}
	return m
}

// plainSource stores a fresh plain object to copy from, deleted before the
// at-rest scan.
func (w *world) plainSource() string {
	key, _ := w.name("src")
	w.mustPut(key, nil)
	w.sources = append(w.sources, key)
	return key
}

func (w *world) get(key string, k *sbsKey, opts ...func(*s3.Options)) result {
	in := &s3.GetObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)}
	if k != nil {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.triple()
	}
	out, err := w.s3.GetObject(w.ctx, in, opts...)
	r := w.observe("", "")
	if err == nil {
		b, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err != nil || !bytes.HasPrefix(b, []byte(sbsBody)) {
			r.note = "wrong content"
		}
	}
	return r
}

func (w *world) head(key string, k *sbsKey) result {
	in := &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)}
	if k != nil {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.triple()
	}
	w.s3.HeadObject(w.ctx, in)
	return w.observe("", "")
}

// copy copies src to a fresh key; a plain src is a fresh plain source.
func (w *world) copy(src string, mod func(*s3.CopyObjectInput)) result {
	if src == "plain" {
		src = w.plainSource()
	}
	dst, _ := w.name("copy")
	return w.copyTo(src, dst, mod)
}

func (w *world) copyTo(src, dst string, mod func(*s3.CopyObjectInput)) result {
	in := &s3.CopyObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(dst), CopySource: aws.String(w.bucket + "/" + src)}
	if mod != nil {
		mod(in)
	}
	w.s3.CopyObject(w.ctx, in)
	r := w.observe(dst, "")
	r.marker = w.markerOf(src)
	return r
}

// markerOf is the marker in a copy source's body (the copy carries it).
func (w *world) markerOf(src string) string {
	out, err := w.s3.GetObject(w.ctx, &s3.GetObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(src)})
	if err != nil {
		return "" // encrypted sources: the copy rows that use them store nothing
	}
	defer out.Body.Close()
	b, _ := io.ReadAll(out.Body)
	return strings.TrimSpace(strings.TrimPrefix(string(b), sbsBody))
}

func (w *world) create(mod func(*s3.CreateMultipartUploadInput)) (key, id, marker string) {
	w.t.Helper()
	key, marker = w.name("mpu")
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(w.bucket), Key: aws.String(key)}
	if mod != nil {
		mod(in)
	}
	out, err := w.s3.CreateMultipartUpload(w.ctx, in)
	if err != nil {
		w.t.Fatalf("%s: CreateMultipartUpload: %v", w.sv.name, err)
	}
	return key, aws.ToString(out.UploadId), marker
}

func (w *world) part(key, id, marker string, mod func(*s3.UploadPartInput), opts ...func(*s3.Options)) (result, string) {
	in := &s3.UploadPartInput{Bucket: aws.String(w.bucket), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(1),
		Body: strings.NewReader(sbsBody + marker + "\n")}
	if mod != nil {
		mod(in)
	}
	out, err := w.s3.UploadPart(w.ctx, in, opts...)
	r := w.observe("", "")
	if err != nil {
		return r, ""
	}
	return r, aws.ToString(out.ETag)
}

// partCopy copies src as part 1; a plain src is a fresh plain source whose
// marker becomes the upload's.
func (w *world) partCopy(key, id, src string, mod func(*s3.UploadPartCopyInput)) (result, string, string) {
	if src == "plain" {
		src = w.plainSource()
	}
	in := &s3.UploadPartCopyInput{Bucket: aws.String(w.bucket), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(1),
		CopySource: aws.String(w.bucket + "/" + src)}
	if mod != nil {
		mod(in)
	}
	out, err := w.s3.UploadPartCopy(w.ctx, in)
	r := w.observe("", "")
	if err != nil || out.CopyPartResult == nil {
		return r, "", ""
	}
	return r, aws.ToString(out.CopyPartResult.ETag), w.markerOf(src)
}

func (w *world) complete(key, id, etag, marker string, k *sbsKey) result {
	in := &s3.CompleteMultipartUploadInput{Bucket: aws.String(w.bucket), Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(etag)}}}}
	if k != nil {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.triple()
	}
	w.s3.CompleteMultipartUpload(w.ctx, in)
	return w.observe(key, marker)
}

func (w *world) kmsOnCreate(name string) func(*s3.CreateMultipartUploadInput) {
	return func(in *s3.CreateMultipartUploadInput) {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(w.kms[name])
	}
}

func (w *world) ssecOnCreate(k sbsKey) func(*s3.CreateMultipartUploadInput) {
	return func(in *s3.CreateMultipartUploadInput) {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.triple()
	}
}

func ssecOnPart(k sbsKey) func(*s3.UploadPartInput) {
	return func(in *s3.UploadPartInput) {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.triple()
	}
}

func ssecOnPartCopy(k sbsKey) func(*s3.UploadPartCopyInput) {
	return func(in *s3.UploadPartCopyInput) {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.triple()
	}
}

func ssecOnPartCopySource(k sbsKey) func(*s3.UploadPartCopyInput) {
	return func(in *s3.UploadPartCopyInput) {
		in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = k.triple()
	}
}

func both[T any](a, b func(T)) func(T) { return func(in T) { a(in); b(in) } }

func ssecOnPut(k sbsKey) func(*s3.PutObjectInput) {
	return func(in *s3.PutObjectInput) {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.triple()
	}
}

func ssecOnCopy(k sbsKey) func(*s3.CopyObjectInput) {
	return func(in *s3.CopyObjectInput) {
		in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.triple()
	}
}

func ssecOnCopySource(k sbsKey) func(*s3.CopyObjectInput) {
	return func(in *s3.CopyObjectInput) {
		in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = k.triple()
	}
}

// withHeaders sets (or, for "", removes) raw request headers before signing.
func withHeaders(kv map[string]string) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Build.Add(middleware.BuildMiddlewareFunc("sbsHeaders", func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
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

// kmsObjectWithDeletedSecret stores an SSE-KMS object, then deletes its
// secret.
func (w *world) kmsObjectWithDeletedSecret() string {
	id := w.secret("doomed", 32, true)
	key, _ := w.name("doomed")
	w.mustPut(key, func(in *s3.PutObjectInput) { w.kmsOnPut(in, id) })
	w.deleteSecret(id)
	return key
}

// sbsCases are the rgw-profile conformance cases, plus the SSE echo of
// every multipart step (UploadPart, UploadPartCopy, CompleteMultipartUpload)
// for SSE-C and SSE-KMS.
var sbsCases = []sbsCase{
	{"PutObject with the SSE-C triple", func(w *world) result { return w.put(ssecOnPut(w.k1)) }},
	{"PutObject with SSE-KMS headers", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { w.kmsOnPut(in, w.kms["good"]) })
	}},
	{"CreateMultipartUpload with the SSE-C triple", func(w *world) result {
		w.create(w.ssecOnCreate(w.k1))
		return w.observe("", "")
	}},
	{"CreateMultipartUpload with SSE-KMS headers", func(w *world) result {
		w.create(w.kmsOnCreate("good"))
		return w.observe("", "")
	}},
	{"UploadPart with the same SSE-C key as at create", func(w *world) result {
		key, id, m := w.create(w.ssecOnCreate(w.k1))
		r, _ := w.part(key, id, m, ssecOnPart(w.k1))
		return r
	}},
	{"UploadPart into an SSE-KMS upload, no SSE headers", func(w *world) result {
		key, id, m := w.create(w.kmsOnCreate("good"))
		r, _ := w.part(key, id, m, nil)
		return r
	}},
	{"UploadPart with SSE-KMS headers (ignored)", func(w *world) result {
		key, id, m := w.create(w.kmsOnCreate("good"))
		r, _ := w.part(key, id, m, nil, withHeaders(map[string]string{hSSE: "aws:kms", hKMSKeyID: w.kms["good"]}))
		return r
	}},
	{"UploadPartCopy with the upload's SSE-C key (plain source)", func(w *world) result {
		key, id, _ := w.create(w.ssecOnCreate(w.k1))
		r, _, _ := w.partCopy(key, id, "plain", ssecOnPartCopy(w.k1))
		return r
	}},
	{"CompleteMultipartUpload with the SSE-C triple", func(w *world) result {
		key, id, m := w.create(w.ssecOnCreate(w.k1))
		_, etag := w.part(key, id, m, ssecOnPart(w.k1))
		return w.complete(key, id, etag, m, &w.k1)
	}},
	{"CompleteMultipartUpload without the SSE-C triple", func(w *world) result {
		key, id, m := w.create(w.ssecOnCreate(w.k1))
		_, etag := w.part(key, id, m, ssecOnPart(w.k1))
		return w.complete(key, id, etag, m, nil)
	}},
	{"CompleteMultipartUpload of an SSE-KMS upload", func(w *world) result {
		key, id, m := w.create(w.kmsOnCreate("good"))
		_, etag := w.part(key, id, m, nil)
		return w.complete(key, id, etag, m, nil)
	}},
	{"CompleteMultipartUpload of an SSE-C upload of UploadPartCopy parts (plain source)", func(w *world) result {
		key, id, _ := w.create(w.ssecOnCreate(w.k1))
		_, etag, m := w.partCopy(key, id, "plain", ssecOnPartCopy(w.k1))
		return w.complete(key, id, etag, m, &w.k1)
	}},
	{"CompleteMultipartUpload of an SSE-KMS upload of UploadPartCopy parts (plain source)", func(w *world) result {
		key, id, _ := w.create(w.kmsOnCreate("good"))
		_, etag, m := w.partCopy(key, id, "plain", nil)
		return w.complete(key, id, etag, m, nil)
	}},
	{"ListParts with the SSE-C triple", func(w *world) result {
		key, id, m := w.create(w.ssecOnCreate(w.k1))
		w.part(key, id, m, ssecOnPart(w.k1))
		a, k, s := w.k1.triple()
		w.s3.ListParts(w.ctx, &s3.ListPartsInput{Bucket: aws.String(w.bucket), Key: aws.String(key), UploadId: aws.String(id),
			SSECustomerAlgorithm: a, SSECustomerKey: k, SSECustomerKeyMD5: s})
		return w.observe("", "")
	}},
	{"GetObject of an SSE-C object with its key", func(w *world) result { return w.get("ssec-k1", &w.k1) }},
	{"HeadObject of an SSE-C object with its key", func(w *world) result { return w.head("ssec-k1", &w.k1) }},
	{"GetObject of an SSE-KMS object", func(w *world) result { return w.get("kms-good", nil) }},
	{"HeadObject of an SSE-KMS object", func(w *world) result { return w.head("kms-good", nil) }},
	{"GetObject with x-amz-server-side-encryption: aws:kms", func(w *world) result {
		return w.get("kms-good", nil, withHeaders(map[string]string{hSSE: "aws:kms"}))
	}},
	{"HeadObject with x-amz-server-side-encryption: aws:kms", func(w *world) result {
		w.s3.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String("kms-good")},
			withHeaders(map[string]string{hSSE: "aws:kms"}))
		return w.observe("", "")
	}},
	{"CopyObject with the SSE-C triple for the target (plain source)", func(w *world) result { return w.copy("plain", ssecOnCopy(w.k1)) }},
	{"CopyObject of an SSE-C source with the copy-source triple, no target SSE", func(w *world) result {
		return w.copy("ssec-k1", ssecOnCopySource(w.k1))
	}},
	{"CopyObject onto itself with the key on both sides (chmod), metadata REPLACE", func(w *world) result {
		key, _ := w.name("self")
		w.mustPut(key, ssecOnPut(w.k1))
		return w.copyTo(key, key, func(in *s3.CopyObjectInput) {
			ssecOnCopySource(w.k1)(in)
			ssecOnCopy(w.k1)(in)
			in.MetadataDirective = types.MetadataDirectiveReplace
			in.Metadata = map[string]string{"mode": "33188"}
		})
	}},
	{"CopyObject with SSE-KMS headers for the target (plain source)", func(w *world) result {
		return w.copy("plain", func(in *s3.CopyObjectInput) {
			in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(w.kms["good"])
		})
	}},
	{"ListObjectsV2", func(w *world) result {
		w.s3.ListObjectsV2(w.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(w.bucket)})
		return w.observe("", "")
	}},
	{"DeleteObject of an SSE-C object, no key", func(w *world) result {
		key, _ := w.name("del")
		w.mustPut(key, ssecOnPut(w.k1))
		w.s3.DeleteObject(w.ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
		return w.observe(key, "")
	}},
	{"GET of an SSE-C object without key", func(w *world) result { return w.get("ssec-k1", nil) }},
	{"HEAD of an SSE-C object without key", func(w *world) result { return w.head("ssec-k1", nil) }},
	{"GET with a well-formed but wrong key", func(w *world) result { return w.get("ssec-k1", &w.k2) }},
	{"HEAD with a well-formed but wrong key", func(w *world) result { return w.head("ssec-k1", &w.k2) }},
	{"PUT with a 16-byte SSE-C key", func(w *world) result { return w.put(ssecOnPut(newSBSKey(w.t, "short", 16))) }},
	{"PUT with an SSE-C key that is not base64", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { ssecOnPut(w.k1)(in); in.SSECustomerKey = aws.String("!!not base64!!") })
	}},
	{"PUT with the SSE-C key MD5 missing", func(w *world) result {
		return w.put(ssecOnPut(w.k1), withHeaders(map[string]string{hSSECMD5: ""}))
	}},
	{"PUT with an SSE-C key MD5 not matching", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { ssecOnPut(w.k1)(in); in.SSECustomerKeyMD5 = aws.String(w.k2.md5) })
	}},
	{"PUT with SSE-C algorithm AES128", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { ssecOnPut(w.k1)(in); in.SSECustomerAlgorithm = aws.String("AES128") })
	}},
	{"GET of an unencrypted object with an SSE-C triple", func(w *world) result { return w.get("plain", &w.k1) }},
	{"GET of an SSE-KMS object with an SSE-C triple", func(w *world) result { return w.get("kms-good", &w.k1) }},
	{"PUT with SSE-C and SSE-KMS headers", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { ssecOnPut(w.k1)(in); w.kmsOnPut(in, w.kms["good"]) })
	}},
	{"UploadPart without the key", func(w *world) result {
		key, id, m := w.create(w.ssecOnCreate(w.k1))
		r, _ := w.part(key, id, m, nil)
		return r
	}},
	{"UploadPart with another key", func(w *world) result {
		key, id, m := w.create(w.ssecOnCreate(w.k1))
		r, _ := w.part(key, id, m, ssecOnPart(w.k2))
		return r
	}},
	{"SSE-C PUT over plain HTTP", func(w *world) result {
		key, m := w.name("http")
		w.putWith(w.plain, key, m, ssecOnPut(w.k1))
		r := w.observe(key, m)
		r.viaPlain = true
		return r
	}},
	{"SSE-KMS PUT over plain HTTP", func(w *world) result {
		key, m := w.name("http")
		w.putWith(w.plain, key, m, func(in *s3.PutObjectInput) { w.kmsOnPut(in, w.kms["good"]) })
		r := w.observe(key, m)
		r.viaPlain = true
		return r
	}},
	{"SSE-KMS PUT without key id", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAwsKms })
	}},
	{"SSE-KMS PUT with a key id unknown to Barbican", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { w.kmsOnPut(in, "0b5e5d1c-4d1a-4c3f-9a53-000000000000") })
	}},
	{"SSE-KMS PUT, service user not on the secret's ACL", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { w.kmsOnPut(in, w.kms["noacl"]) })
	}},
	{"SSE-KMS PUT, secret not 32 bytes", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { w.kmsOnPut(in, w.kms["short"]) })
	}},
	{"GET after the service user was removed from the secret's ACL", func(w *world) result {
		id := w.secret("revoked", 32, true)
		key, _ := w.name("revoked")
		w.mustPut(key, func(in *s3.PutObjectInput) { w.kmsOnPut(in, id) })
		w.revoke(id)
		return w.get(key, nil)
	}},
	{"GET of a KMS object whose secret was deleted", func(w *world) result { return w.get(w.kmsObjectWithDeletedSecret(), nil) }},
	{"HEAD of a KMS object whose secret was deleted", func(w *world) result { return w.head(w.kmsObjectWithDeletedSecret(), nil) }},
	{"DELETE of a KMS object whose secret was deleted", func(w *world) result {
		key := w.kmsObjectWithDeletedSecret()
		w.s3.DeleteObject(w.ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key)})
		return w.observe(key, "")
	}},
	{"SSE-KMS PUT with the key id as a full href", func(w *world) result {
		href := w.sv.km.ResourceBaseURL() + "secrets/" + w.kms["good"]
		return w.put(func(in *s3.PutObjectInput) { w.kmsOnPut(in, href) })
	}},
	{"SSE-KMS PUT with the key id in upper case", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { w.kmsOnPut(in, strings.ToUpper(w.kms["good"])) })
	}},
	{"CopyObject of an SSE-C source under another key (rekey)", func(w *world) result {
		return w.copy("ssec-k1", both(ssecOnCopySource(w.k1), ssecOnCopy(w.k2)))
	}},
	{"CopyObject of an SSE-C source without the copy-source key", func(w *world) result { return w.copy("ssec-k1", ssecOnCopy(w.k1)) }},
	{"CopyObject of an SSE-KMS source", func(w *world) result { return w.copy("kms-good", nil) }},
	{"CopyObject of a plain source asking for SSE-C", func(w *world) result { return w.copy("plain", ssecOnCopy(w.k2)) }},
	{"CopyObject of a plain source asking for SSE-KMS", func(w *world) result {
		return w.copy("plain", func(in *s3.CopyObjectInput) {
			in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(w.kms["good"])
		})
	}},
	{"UploadPartCopy, SSE-C source into an upload with the same key", func(w *world) result {
		key, id, _ := w.create(w.ssecOnCreate(w.k1))
		r, _, _ := w.partCopy(key, id, "ssec-k1", both(ssecOnPartCopy(w.k1), ssecOnPartCopySource(w.k1)))
		return r
	}},
	{"UploadPartCopy, SSE-C source into an upload with another key", func(w *world) result {
		key, id, _ := w.create(w.ssecOnCreate(w.k2))
		r, _, _ := w.partCopy(key, id, "ssec-k1", both(ssecOnPartCopy(w.k2), ssecOnPartCopySource(w.k1)))
		return r
	}},
	{"UploadPartCopy, SSE-C source into an upload without SSE", func(w *world) result {
		key, id, _ := w.create(nil)
		r, _, _ := w.partCopy(key, id, "ssec-k1", ssecOnPartCopySource(w.k1))
		return r
	}},
	{"UploadPartCopy, SSE-KMS source into an SSE-C upload", func(w *world) result {
		key, id, _ := w.create(w.ssecOnCreate(w.k1))
		r, _, _ := w.partCopy(key, id, "kms-good", ssecOnPartCopy(w.k1))
		return r
	}},
	{"UploadPartCopy, SSE-KMS source into an SSE-KMS upload", func(w *world) result {
		key, id, _ := w.create(w.kmsOnCreate("good"))
		r, _, _ := w.partCopy(key, id, "kms-good", nil)
		return r
	}},
	{"UploadPartCopy, plain source into an SSE-KMS upload", func(w *world) result {
		key, id, _ := w.create(w.kmsOnCreate("good"))
		r, _, _ := w.partCopy(key, id, "plain", nil)
		return r
	}},
	{"PUT with x-amz-server-side-encryption: AES256 (SSE-S3)", func(w *world) result {
		return w.put(func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 })
	}},
	{"SSE-C ETag is the MD5 of the plaintext", func(w *world) result {
		key, m := w.name("etag")
		if err := w.putWith(w.s3, key, m, ssecOnPut(w.k1)); err != nil {
			w.t.Fatalf("%s: PUT: %v", w.sv.name, err)
		}
		a, k, s := w.k1.triple()
		out, err := w.s3.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(key),
			SSECustomerAlgorithm: a, SSECustomerKey: k, SSECustomerKeyMD5: s})
		r := w.observe("", "")
		if err == nil {
			sum := md5.Sum([]byte(sbsBody + m + "\n"))
			r.note = fmt.Sprintf("etag=md5: %v", strings.Trim(aws.ToString(out.ETag), `"`) == hex.EncodeToString(sum[:]))
		}
		return r
	}},
	{"upload with the SDK's default checksums over HTTPS (aws-chunked with a trailer)", func(w *world) result {
		key, m := w.name("trailer")
		w.putWith(w.chunky, key, m, nil)
		r := w.observe(key, m)
		r.note = w.rec.get().payload
		return r
	}},
}

// resolveStored fills in how each result's object rests: absent (not
// listed), plain (its marker is in what the server stores), or encrypted,
// with what a HEAD without key answers. Copy sources are deleted first so
// that only copies can hold their markers.
func (w *world) resolveStored(results []result) {
	w.t.Helper()
	for _, src := range w.sources {
		if _, err := w.s3.DeleteObject(w.ctx, &s3.DeleteObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(src)}); err != nil {
			w.t.Fatalf("%s: delete copy source: %v", w.sv.name, err)
		}
	}
	var markers []string
	for _, r := range results {
		if r.key != "" && r.marker != "" {
			markers = append(markers, r.marker)
		}
	}
	found := map[string]bool{}
	for _, m := range w.sv.atRest(w.t, markers) {
		found[m] = true
	}
	for i := range results {
		r := &results[i]
		if r.key == "" {
			continue
		}
		c := w.s3
		if r.viaPlain {
			c = w.plain
		}
		out, err := c.ListObjectsV2(w.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(w.bucket), Prefix: aws.String(r.key)})
		if err != nil {
			w.t.Fatalf("%s: list: %v", w.sv.name, err)
		}
		listed := slices.ContainsFunc(out.Contents, func(o types.Object) bool { return aws.ToString(o.Key) == r.key })
		switch {
		case !listed:
			r.stored = "absent"
		case r.marker != "" && found[r.marker]:
			r.stored = "plain"
		default:
			h, err := c.HeadObject(w.ctx, &s3.HeadObjectInput{Bucket: aws.String(w.bucket), Key: aws.String(r.key)})
			switch {
			case err == nil && h.ServerSideEncryption == types.ServerSideEncryptionAwsKms:
				r.stored = "encrypted (HEAD: aws:kms)"
			case err == nil:
				r.stored = "encrypted? (HEAD: no SSE)"
			default:
				r.stored = fmt.Sprintf("encrypted (HEAD: %d)", status(err))
			}
		}
	}
}

// String is the comparable form of a result.
func (r result) fields() [][2]string {
	f := [][2]string{{"status", fmt.Sprint(r.status)}, {"code", r.code}, {"echo", r.echo}}
	if r.code != "" {
		f = append(f, [2]string{"message", map[bool]string{true: "empty", false: "text"}[r.emptyMsg]})
	}
	if r.key != "" {
		f = append(f, [2]string{"stored", r.stored})
	}
	if r.note != "" {
		f = append(f, [2]string{"note", r.note})
	}
	return f
}

// TestRGWProfileSideBySide runs sbsCases against the lab's RGW and against
// ssefs-refbackend --profile rgw --tls --require-ssl (plus, for the plain
// HTTP cases, a second one without --tls), prints both columns, and fails
// listing every case where they differ.
func TestRGWProfileSideBySide(t *testing.T) {
	bucket := "ssefs-sbs-" + hex.EncodeToString(randomBytes(t, 4))
	rgw := &server{
		name: "real RGW", https: lab.Env["AWS_ENDPOINT_URL"], http: lab.Env["SSEFS_RGW_HTTP_ENDPOINT"],
		access: lab.Env["AWS_ACCESS_KEY_ID"], secret: lab.Env["AWS_SECRET_ACCESS_KEY"], caFile: lab.Env["AWS_CA_BUNDLE"],
		httpAccess: lab.Env["AWS_ACCESS_KEY_ID"], httpSecret: lab.Env["AWS_SECRET_ACCESS_KEY"],
		km: lab.KeyManager(t), service: lab.Env["SSEFS_KMS_SERVICE_USER_ID"],
		atRest: func(t testing.TB, markers []string) []string {
			_, out := lab.RadosScan(t, markers...)
			return testenv.ScanFindings(out)
		},
	}
	// The refbackend serves HTTPS or HTTP, not both: the plain HTTP cases
	// go to a second one, also --require-ssl.
	tlsRef := testenv.StartLocalBackend(t, "rgw", "--tls", "--require-ssl")
	plainRef := testenv.StartLocalBackend(t, "rgw", "--require-ssl")
	ours := &server{
		name: "refbackend rgw", https: tlsRef.Endpoint(), http: plainRef.Endpoint(),
		access: tlsRef.Env["AWS_ACCESS_KEY_ID"], secret: tlsRef.Env["AWS_SECRET_ACCESS_KEY"], caFile: tlsRef.Env["AWS_CA_BUNDLE"],
		httpAccess: plainRef.Env["AWS_ACCESS_KEY_ID"], httpSecret: plainRef.Env["AWS_SECRET_ACCESS_KEY"], separateHTTP: true,
		km: tlsRef.KeyManager(t), service: tlsRef.Env["SSEFS_KMS_SERVICE_USER_ID"],
		atRest: func(t testing.TB, markers []string) []string {
			return append(tlsRef.AtRest(t, markers...), plainRef.AtRest(t, markers...)...)
		},
	}

	type column struct {
		sv      *server
		results []result
	}
	cols := []*column{{sv: rgw}, {sv: ours}}
	for _, col := range cols {
		start := time.Now()
		sv := col.sv
		w := newWorld(t, sv, bucket)
		for _, c := range sbsCases {
			col.results = append(col.results, c.do(w))
		}
		w.resolveStored(col.results)
		t.Logf("%s: %d cases in %.1fs", sv.name, len(sbsCases), time.Since(start).Seconds())
		if sv == rgw {
			t.Cleanup(func() {
				if err := emptyAndDelete(context.Background(), w.s3, bucket); err != nil {
					t.Logf("clean up bucket %s: %v", bucket, err)
				}
			})
		}
	}

	var all, diff strings.Builder
	fmt.Fprintf(&all, "%-88s %-8s %-40s %s\n", "case", "field", "real RGW 16 + Barbican", "refbackend --profile rgw")
	fmt.Fprintf(&diff, "%-88s %-8s %-40s %s\n", "case", "field", "real RGW 16 + Barbican", "refbackend --profile rgw")
	differences := 0
	for i, c := range sbsCases {
		a, b := cols[0].results[i].fields(), cols[1].results[i].fields()
		names := []string{}
		va, vb := map[string]string{}, map[string]string{}
		for _, f := range a {
			names = append(names, f[0])
			va[f[0]] = f[1]
		}
		for _, f := range b {
			if !slices.Contains(names, f[0]) {
				names = append(names, f[0])
			}
			vb[f[0]] = f[1]
		}
		for _, n := range names {
			mark := "  "
			if va[n] != vb[n] {
				mark = "!!"
				differences++
				fmt.Fprintf(&diff, "%-88s %-8s %-40q %q\n", c.name, n, va[n], vb[n])
			}
			fmt.Fprintf(&all, "%s %-85s %-8s %-40q %q\n", mark, c.name, n, va[n], vb[n])
		}
	}
	t.Logf("every case, both servers:\n%s", all.String())
	if differences > 0 {
		t.Errorf("%d differences between real RGW and the refbackend's rgw profile (fix the profile in test/refbackend/rules.go, or the case):\n%s", differences, diff.String())
	} else {
		t.Logf("difference table: empty (%d cases, both servers agree)", len(sbsCases))
	}
}

// emptyAndDelete removes every object and upload of bucket, then bucket.
func emptyAndDelete(ctx context.Context, c *s3.Client, bucket string) error {
	ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		return err
	}
	for _, u := range ups.Uploads {
		c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId})
	}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				return err
			}
		}
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
	return err
}
