package refbackend

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// fixture is the world the SSE rule table runs in: a stack, a bucket with a
// plain, an SSE-C and an SSE-KMS object, two SSE-C keys and KMS secrets in
// several states.
type fixture struct {
	t   *testing.T
	st  *stack
	ctx context.Context
	k1  ssec
	k2  ssec
	kms map[string]string // symbolic name -> secret id: good, noacl, short, default
	n   int
}

const (
	tb       = "table"
	plainObj = "plain"
	ssecObj  = "ssec-k1"
	kmsObj   = "kms-good"
)

var objBody = []byte("the SSE rule table's object body\n")

func newFixture(t *testing.T, profile Profile) *fixture {
	st := newStack(t, profile, stackOpts{requireSSL: true})
	f := &fixture{t: t, st: st, ctx: context.Background(), k1: newSSEC(randBytes(t, 32)), k2: newSSEC(randBytes(t, 32)), kms: map[string]string{}}
	f.kms["good"] = st.createSecret("good", randBytes(t, 32), true)
	f.kms["noacl"] = st.createSecret("noacl", randBytes(t, 32), false)
	f.kms["short"] = st.createSecret("short", randBytes(t, 16), true)
	if id := st.srv.cfg.DefaultKMSKeyID; id != "" {
		f.kms["default"] = id
	}
	_, err := st.s3.CreateBucket(f.ctx, &s3.CreateBucketInput{Bucket: aws.String(tb)})
	must(t, err)
	must(t, f.putErr(plainObj, nil))
	must(t, f.putErr(ssecObj, func(in *s3.PutObjectInput) { f.k1.onPut(in) }))
	must(t, f.putErr(kmsObj, func(in *s3.PutObjectInput) { f.kmsOnPut(in, f.kms["good"]) }))
	return f
}

// name returns a fresh object key.
func (f *fixture) name(p string) string {
	f.n++
	return p + "-" + itoa(f.n)
}

func (k ssec) onPut(in *s3.PutObjectInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onGet(in *s3.GetObjectInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onHead(in *s3.HeadObjectInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onCreate(in *s3.CreateMultipartUploadInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onPart(in *s3.UploadPartInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onPartCopy(in *s3.UploadPartCopyInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onPartCopySource(in *s3.UploadPartCopyInput) {
	in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onCopy(in *s3.CopyObjectInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onCopySource(in *s3.CopyObjectInput) {
	in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (k ssec) onComplete(in *s3.CompleteMultipartUploadInput) {
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.b64), aws.String(k.md5)
}

func (f *fixture) kmsOnPut(in *s3.PutObjectInput, id string) {
	in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(id)
}

// putErr stores objBody under key with the SSE that mod sets.
func (f *fixture) putErr(key string, mod func(*s3.PutObjectInput), opts ...func(*s3.Options)) error {
	in := &s3.PutObjectInput{Bucket: aws.String(tb), Key: aws.String(key), Body: bytes.NewReader(objBody)}
	if mod != nil {
		mod(in)
	}
	_, err := f.st.s3.PutObject(f.ctx, in, opts...)
	return err
}

// put stores objBody under a fresh key and returns the outcome.
func (f *fixture) put(mod func(*s3.PutObjectInput), opts ...func(*s3.Options)) outcome {
	key := f.name("put")
	err := f.putErr(key, mod, opts...)
	return f.observe(err, key)
}

// mustPut stores objBody under a fresh key and fails on error.
func (f *fixture) mustPut(mod func(*s3.PutObjectInput)) string {
	key := f.name("obj")
	must(f.t, f.putErr(key, mod))
	return key
}

func (f *fixture) get(key string, mod func(*s3.GetObjectInput), opts ...func(*s3.Options)) outcome {
	in := &s3.GetObjectInput{Bucket: aws.String(tb), Key: aws.String(key)}
	if mod != nil {
		mod(in)
	}
	out, err := f.st.s3.GetObject(f.ctx, in, opts...)
	if err == nil {
		var b bytes.Buffer
		_, err = b.ReadFrom(out.Body)
		out.Body.Close()
		if err == nil && !bytes.Equal(b.Bytes(), objBody) {
			f.t.Errorf("GET %s: wrong content", key)
		}
	}
	return f.observe(err, "")
}

func (f *fixture) head(key string, mod func(*s3.HeadObjectInput)) outcome {
	in := &s3.HeadObjectInput{Bucket: aws.String(tb), Key: aws.String(key)}
	if mod != nil {
		mod(in)
	}
	_, err := f.st.s3.HeadObject(f.ctx, in)
	return f.observe(err, "")
}

func (f *fixture) copy(src string, mod func(*s3.CopyObjectInput)) outcome {
	dst := f.name("copy")
	return f.copyTo(src, dst, mod)
}

func (f *fixture) copyTo(src, dst string, mod func(*s3.CopyObjectInput)) outcome {
	in := &s3.CopyObjectInput{Bucket: aws.String(tb), Key: aws.String(dst), CopySource: aws.String(tb + "/" + src)}
	if mod != nil {
		mod(in)
	}
	_, err := f.st.s3.CopyObject(f.ctx, in)
	return f.observe(err, dst)
}

// create starts a multipart upload of a fresh key and returns key and id.
func (f *fixture) create(mod func(*s3.CreateMultipartUploadInput)) (string, string) {
	key := f.name("mpu")
	in := &s3.CreateMultipartUploadInput{Bucket: aws.String(tb), Key: aws.String(key)}
	if mod != nil {
		mod(in)
	}
	out, err := f.st.s3.CreateMultipartUpload(f.ctx, in)
	must(f.t, err)
	return key, aws.ToString(out.UploadId)
}

func (f *fixture) part(key, id string, mod func(*s3.UploadPartInput), opts ...func(*s3.Options)) (outcome, string) {
	in := &s3.UploadPartInput{Bucket: aws.String(tb), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(1), Body: bytes.NewReader(objBody)}
	if mod != nil {
		mod(in)
	}
	out, err := f.st.s3.UploadPart(f.ctx, in, opts...)
	o := f.observe(err, "")
	o.upload = id
	if err != nil {
		return o, ""
	}
	return o, aws.ToString(out.ETag)
}

func (f *fixture) partCopy(key, id, src string, mod func(*s3.UploadPartCopyInput)) (outcome, string) {
	in := &s3.UploadPartCopyInput{Bucket: aws.String(tb), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(1), CopySource: aws.String(tb + "/" + src)}
	if mod != nil {
		mod(in)
	}
	out, err := f.st.s3.UploadPartCopy(f.ctx, in)
	o := f.observe(err, "")
	o.upload = id
	if err != nil {
		return o, ""
	}
	return o, aws.ToString(out.CopyPartResult.ETag)
}

func (f *fixture) complete(key, id, etag string, mod func(*s3.CompleteMultipartUploadInput)) outcome {
	in := &s3.CompleteMultipartUploadInput{Bucket: aws.String(tb), Key: aws.String(key), UploadId: aws.String(id),
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(etag)}}}}
	if mod != nil {
		mod(in)
	}
	_, err := f.st.s3.CompleteMultipartUpload(f.ctx, in)
	return f.observe(err, key)
}

// outcome is what one request of a row observed.
type outcome struct {
	status  int
	code    string // S3 error code from the XML body ("" on success, or for HEAD)
	message string
	echo    string // the SSE echo, symbolically: "-", "sse-c:k1", "kms:good", "AES256"
	stored  string // how the object rests: "plain", "sse-c", "kms", "sse-s3", "absent"; "" not checked
	upload  string // an upload id whose sealing replaces stored
	note    string // a row-specific observation
	err     error
}

// observe turns the last HTTP answer into an outcome; key, if set, is the
// object whose storage is checked.
func (f *fixture) observe(err error, key string) outcome {
	r := f.st.rec.get()
	o := outcome{status: r.status, echo: f.echo(r.header), err: err}
	if r.body != nil && r.body.Len() > 0 {
		o.code, o.message = s3Error(r.body.Bytes())
	}
	if key != "" {
		o.stored = f.stored(key)
	}
	return o
}

func (f *fixture) echo(h http.Header) string {
	if h.Get(hSSECAlg) != "" {
		switch h.Get(hSSECMD5) {
		case f.k1.md5:
			return "sse-c:k1"
		case f.k2.md5:
			return "sse-c:k2"
		}
		return "sse-c:?"
	}
	switch h.Get(hSSE) {
	case "aws:kms":
		id := h.Get(hKMSKeyID)
		for n, k := range f.kms {
			if k == id {
				return "kms:" + n
			}
		}
		return "kms:?" + id
	case "":
		return "-"
	default:
		return h.Get(hSSE)
	}
}

func storedName(m objstore.ObjectMeta) string {
	switch m.SSE {
	case objstore.SSENone:
		return "plain"
	case objstore.SSEC:
		return "sse-c"
	case objstore.SSEKMS:
		if m.KMSKeyID == sseS3KeyID {
			return "sse-s3"
		}
		return "kms"
	}
	return "?"
}

func (f *fixture) stored(key string) string {
	m, err := f.st.stat(tb, key)
	if err != nil {
		return "absent"
	}
	return storedName(m)
}

// etagNote reports whether an object's ETag is the MD5 of objBody.
func (f *fixture) etagNote(key string, mod func(*s3.HeadObjectInput)) string {
	in := &s3.HeadObjectInput{Bucket: aws.String(tb), Key: aws.String(key)}
	if mod != nil {
		mod(in)
	}
	out, err := f.st.s3.HeadObject(f.ctx, in)
	if err != nil {
		return "head failed: " + err.Error()
	}
	sum := md5.Sum(objBody)
	if strings.Trim(aws.ToString(out.ETag), `"`) == hex.EncodeToString(sum[:]) {
		return "etag=md5"
	}
	return "etag!=md5"
}
