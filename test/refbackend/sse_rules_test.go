package refbackend

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// want is one profile's expected answer to a row of DESIGN.md section 3.
type want struct {
	status   int
	code     string // S3 error code; "" for success and for HEAD (no body)
	echo     string // "-" for no SSE echo
	stored   string // "" when the row does not store anything
	note     string
	emptyMsg bool // the error has no message (RGW's habit)
}

// sseRow is one row of DESIGN.md section 3's tables, run in both profiles.
type sseRow struct {
	row      string
	do       func(f *fixture) outcome
	aws, rgw want
}

func ok(echo, stored string) want { return want{status: 200, echo: echo, stored: stored} }
func fail(status int, code string) want {
	return want{status: status, code: code, echo: "-"}
}
func failEmpty(status int, code string) want {
	return want{status: status, code: code, echo: "-", emptyMsg: true}
}
func same(w want) (want, want) { return w, w }

// sseRules are DESIGN.md section 3's two tables: which SSE headers go with
// which operation, and the errors, AWS and RGW 16 columns.
var sseRules = []sseRow{
	// Table 1: SSE headers per operation.
	{row: "PutObject with the SSE-C triple",
		do:  func(f *fixture) outcome { return f.put(f.k1.onPut) },
		aws: ok("sse-c:k1", "sse-c"), rgw: ok("sse-c:k1", "sse-c")},
	{row: "PutObject with SSE-KMS headers",
		do:  func(f *fixture) outcome { return f.put(func(in *s3.PutObjectInput) { f.kmsOnPut(in, f.kms["good"]) }) },
		aws: ok("kms:good", "kms"), rgw: ok("kms:good", "kms")},
	{row: "CreateMultipartUpload with the SSE-C triple",
		do: func(f *fixture) outcome {
			_, id := f.create(f.k1.onCreate)
			o := f.observe(nil, "")
			o.stored = f.uploadStored(id)
			return o
		},
		aws: ok("sse-c:k1", "sse-c"), rgw: ok("sse-c:k1", "sse-c")},
	{row: "CreateMultipartUpload with SSE-KMS headers",
		do: func(f *fixture) outcome {
			_, id := f.create(func(in *s3.CreateMultipartUploadInput) {
				in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(f.kms["good"])
			})
			o := f.observe(nil, "")
			o.stored = f.uploadStored(id)
			return o
		},
		aws: ok("kms:good", "kms"), rgw: ok("kms:good", "kms")},
	{row: "UploadPart with the same SSE-C key as at create",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			o, _ := f.part(key, id, f.k1.onPart)
			return o
		},
		aws: ok("sse-c:k1", ""), rgw: ok("sse-c:k1", "")},
	{row: "UploadPart into an SSE-KMS upload, no SSE headers",
		do: func(f *fixture) outcome {
			key, id := f.create(f.kmsOnCreate("good"))
			o, _ := f.part(key, id, nil)
			return o
		},
		aws: ok("kms:good", ""), rgw: ok("kms:good", "")},
	{row: "UploadPart never takes SSE-KMS headers",
		do: func(f *fixture) outcome {
			key, id := f.create(f.kmsOnCreate("good"))
			o, _ := f.part(key, id, nil, withHeaders(map[string]string{hSSE: "aws:kms", hKMSKeyID: f.kms["good"]}))
			return o
		},
		aws: fail(400, "InvalidArgument"), rgw: ok("kms:good", "")},
	{row: "UploadPartCopy takes the upload's SSE-C key (plain source)",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			o, _ := f.partCopy(key, id, plainObj, f.k1.onPartCopy)
			return o
		},
		// RGW 16 echoes nothing on UploadPartCopy, though it encrypts.
		aws: ok("sse-c:k1", ""), rgw: ok("-", "")},
	{row: "CompleteMultipartUpload with the SSE-C triple",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			_, etag := f.part(key, id, f.k1.onPart)
			return f.complete(key, id, etag, f.k1.onComplete)
		},
		// AWS's CompleteMultipartUpload answer has no SSE-C fields; RGW 16's
		// has no SSE fields at all.
		aws: ok("-", "sse-c"), rgw: ok("-", "sse-c")},
	{row: "CompleteMultipartUpload of an SSE-KMS upload (AWS echoes the key, RGW 16 nothing)",
		do: func(f *fixture) outcome {
			key, id := f.create(f.kmsOnCreate("good"))
			_, etag := f.part(key, id, nil)
			return f.complete(key, id, etag, nil)
		},
		aws: ok("kms:good", "kms"), rgw: ok("-", "kms")},
	{row: "CompleteMultipartUpload without the SSE-C triple (no checksums: optional, the aws CLI omits it)",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			_, etag := f.part(key, id, f.k1.onPart)
			return f.complete(key, id, etag, nil)
		},
		aws: ok("-", "sse-c"), rgw: ok("-", "sse-c")},
	{row: "ListParts with the SSE-C triple",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			f.part(key, id, f.k1.onPart)
			_, err := f.st.s3.ListParts(f.ctx, &s3.ListPartsInput{Bucket: aws.String(tb), Key: aws.String(key), UploadId: aws.String(id),
				SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(f.k1.b64), SSECustomerKeyMD5: aws.String(f.k1.md5)})
			return f.observe(err, "")
		},
		aws: ok("-", ""), rgw: ok("-", "")},
	{row: "GetObject of an SSE-C object with its key",
		do:  func(f *fixture) outcome { return f.get(ssecObj, f.k1.onGet) },
		aws: ok("sse-c:k1", ""), rgw: ok("sse-c:k1", "")},
	{row: "HeadObject of an SSE-C object with its key",
		do:  func(f *fixture) outcome { return f.head(ssecObj, f.k1.onHead) },
		aws: ok("sse-c:k1", ""), rgw: ok("sse-c:k1", "")},
	{row: "GetObject of an SSE-KMS object needs no SSE headers",
		do:  func(f *fixture) outcome { return f.get(kmsObj, nil) },
		aws: ok("kms:good", ""), rgw: ok("kms:good", "")},
	{row: "HeadObject of an SSE-KMS object needs no SSE headers",
		do:  func(f *fixture) outcome { return f.head(kmsObj, nil) },
		aws: ok("kms:good", ""), rgw: ok("kms:good", "")},
	{row: "GetObject never takes SSE-KMS headers (400)",
		do: func(f *fixture) outcome {
			return f.get(kmsObj, func(in *s3.GetObjectInput) {}, withHeaders(map[string]string{hSSE: "aws:kms"}))
		},
		aws: fail(400, "InvalidArgument"), rgw: failEmpty(400, "InvalidRequest")},
	{row: "CopyObject with the SSE-C triple for the target (plain source)",
		do:  func(f *fixture) outcome { return f.copy(plainObj, f.k1.onCopy) },
		aws: ok("sse-c:k1", "sse-c"), rgw: ok("-", "plain")},
	{row: "CopyObject of an SSE-C source with the copy-source triple, no target SSE: the copy does not inherit",
		do:  func(f *fixture) outcome { return f.copy(ssecObj, f.k1.onCopySource) },
		aws: ok("-", "plain"), rgw: failEmpty(501, "NotImplemented")},
	{row: "CopyObject onto itself with the key on both sides (chmod), metadata REPLACE",
		do: func(f *fixture) outcome {
			key := f.mustPut(f.k1.onPut)
			return f.copyTo(key, key, func(in *s3.CopyObjectInput) {
				f.k1.onCopySource(in)
				f.k1.onCopy(in)
				in.MetadataDirective = types.MetadataDirectiveReplace
				in.Metadata = map[string]string{"mode": "33188"}
			})
		},
		aws: ok("sse-c:k1", "sse-c"), rgw: failEmpty(501, "NotImplemented")},
	{row: "CopyObject with SSE-KMS headers for a KMS target",
		do: func(f *fixture) outcome {
			return f.copy(plainObj, func(in *s3.CopyObjectInput) {
				in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(f.kms["good"])
			})
		},
		aws: ok("kms:good", "kms"), rgw: ok("-", "plain")},
	{row: "ListObjectsV2 takes no SSE headers",
		do: func(f *fixture) outcome {
			_, err := f.st.s3.ListObjectsV2(f.ctx, &s3.ListObjectsV2Input{Bucket: aws.String(tb)})
			return f.observe(err, "")
		},
		aws: ok("-", ""), rgw: ok("-", "")},
	{row: "DeleteObject of an SSE-C object takes no key",
		do: func(f *fixture) outcome {
			key := f.mustPut(f.k1.onPut)
			_, err := f.st.s3.DeleteObject(f.ctx, &s3.DeleteObjectInput{Bucket: aws.String(tb), Key: aws.String(key)})
			return f.observe(err, key)
		},
		aws: want{status: 204, echo: "-", stored: "absent"}, rgw: want{status: 204, echo: "-", stored: "absent"}},

	// Table 2: errors.
	{row: "GET of SSE-C object without key",
		do:  func(f *fixture) outcome { return f.get(ssecObj, nil) },
		aws: fail(400, "InvalidRequest"), rgw: fail(400, "InvalidArgument")},
	{row: "HEAD of SSE-C object without key (no body)",
		do:  func(f *fixture) outcome { return f.head(ssecObj, nil) },
		aws: fail(400, ""), rgw: fail(400, "")},
	{row: "a well-formed but wrong key (GET)",
		do:  func(f *fixture) outcome { return f.get(ssecObj, f.k2.onGet) },
		aws: fail(403, "AccessDenied"), rgw: fail(400, "InvalidArgument")},
	{row: "a well-formed but wrong key (HEAD)",
		do:  func(f *fixture) outcome { return f.head(ssecObj, f.k2.onHead) },
		aws: fail(403, ""), rgw: fail(400, "")},
	{row: "key not 32 bytes",
		do: func(f *fixture) outcome {
			return f.put(newSSEC(randBytes(f.t, 16)).onPut)
		},
		aws: fail(400, "InvalidArgument"), rgw: fail(400, "InvalidArgument")},
	{row: "key not valid base64",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { f.k1.onPut(in); in.SSECustomerKey = aws.String("!!not base64!!") })
		},
		aws: fail(400, "InvalidArgument"), rgw: fail(400, "InvalidArgument")},
	{row: "key MD5 missing",
		do: func(f *fixture) outcome {
			return f.put(f.k1.onPut, withHeaders(map[string]string{hSSECMD5: ""}))
		},
		aws: fail(400, "InvalidArgument"), rgw: fail(400, "InvalidArgument")},
	{row: "key MD5 not matching",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { f.k1.onPut(in); in.SSECustomerKeyMD5 = aws.String(f.k2.md5) })
		},
		aws: fail(400, "InvalidArgument"), rgw: fail(400, "InvalidArgument")},
	{row: "algorithm other than AES256",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { f.k1.onPut(in); in.SSECustomerAlgorithm = aws.String("AES128") })
		},
		aws: fail(400, "InvalidEncryptionAlgorithmError"), rgw: fail(400, "InvalidEncryptionAlgorithmError")},
	{row: "SSE-C triple for an unencrypted object",
		do:  func(f *fixture) outcome { return f.get(plainObj, f.k1.onGet) },
		aws: fail(400, "InvalidRequest"), rgw: ok("-", "")},
	{row: "SSE-C triple for an SSE-KMS object",
		do:  func(f *fixture) outcome { return f.get(kmsObj, f.k1.onGet) },
		aws: fail(400, "InvalidRequest"), rgw: ok("kms:good", "")},
	{row: "SSE-C and SSE-KMS headers on one PUT",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { f.k1.onPut(in); f.kmsOnPut(in, f.kms["good"]) })
		},
		aws: fail(400, "InvalidArgument"), rgw: ok("sse-c:k1", "sse-c")},
	{row: "UploadPart without the key",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			o, _ := f.part(key, id, nil)
			return o
		},
		aws: fail(400, "InvalidRequest"), rgw: fail(400, "InvalidArgument")},
	{row: "UploadPart with another key",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			o, _ := f.part(key, id, f.k2.onPart)
			return o
		},
		aws: fail(400, "InvalidArgument"), rgw: fail(400, "InvalidArgument")},
	{row: "SSE-C over plain HTTP (require SSL)",
		do: func(f *fixture) outcome {
			key := f.name("http")
			_, err := f.plainClient().PutObject(f.ctx, &s3.PutObjectInput{Bucket: aws.String(tb), Key: aws.String(key),
				Body: strings.NewReader("x"), SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(f.k1.b64), SSECustomerKeyMD5: aws.String(f.k1.md5)})
			return f.observe(err, key)
		},
		aws: want{status: 400, code: "InvalidRequest", echo: "-", stored: "absent"},
		rgw: want{status: 400, code: "InvalidRequest", echo: "-", stored: "absent", emptyMsg: true}},
	{row: "SSE-KMS over plain HTTP (require SSL)",
		do: func(f *fixture) outcome {
			key := f.name("http")
			_, err := f.plainClient().PutObject(f.ctx, &s3.PutObjectInput{Bucket: aws.String(tb), Key: aws.String(key),
				Body: strings.NewReader("x"), ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(f.kms["good"])})
			return f.observe(err, key)
		},
		aws: want{status: 400, code: "InvalidRequest", echo: "-", stored: "absent"},
		rgw: want{status: 400, code: "InvalidRequest", echo: "-", stored: "absent", emptyMsg: true}},
	{row: "SSE-KMS PUT without key id",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAwsKms })
		},
		aws: ok("kms:default", "kms"), rgw: fail(400, "InvalidArgument")},
	{row: "KMS key unknown (PUT)",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { f.kmsOnPut(in, "0b5e5d1c-4d1a-4c3f-9a53-000000000000") })
		},
		// RGW with Barbican passes Barbican's 404 on (the InvalidAccessKeyId of
		// DESIGN's table comes from RGW's "testing" KMS backend).
		aws: fail(403, "AccessDenied"), rgw: fail(404, "NoSuchKey")},
	{row: "KMS service user not on the secret's ACL (PUT)",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { f.kmsOnPut(in, f.kms["noacl"]) })
		},
		aws: fail(403, "AccessDenied"), rgw: fail(403, "AccessDenied")},
	{row: "KMS secret not 32 bytes (PUT)",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { f.kmsOnPut(in, f.kms["short"]) })
		},
		aws: fail(403, "AccessDenied"), rgw: fail(403, "AccessDenied")},
	{row: "KMS service user removed from the ACL of an object's secret (GET)",
		do: func(f *fixture) outcome {
			id := f.st.createSecret("revoked", randBytes(f.t, 32), true)
			key := f.mustPut(func(in *s3.PutObjectInput) { f.kmsOnPut(in, id) })
			f.st.setACL(id, []string{})
			return f.get(key, nil)
		},
		aws: fail(403, "AccessDenied"), rgw: fail(403, "AccessDenied")},
	{row: "KMS secret deleted, object still listed (GET)",
		do: func(f *fixture) outcome {
			key := f.kmsObjectWithDeletedSecret()
			return f.get(key, nil)
		},
		aws: fail(403, "AccessDenied"), rgw: fail(404, "NoSuchKey")},
	{row: "KMS secret deleted, object still listed (HEAD)",
		do: func(f *fixture) outcome {
			key := f.kmsObjectWithDeletedSecret()
			return f.head(key, nil)
		},
		aws: fail(403, ""), rgw: fail(404, "")},
	{row: "KMS secret deleted, object still listed (DELETE works)",
		do: func(f *fixture) outcome {
			key := f.kmsObjectWithDeletedSecret()
			_, err := f.st.s3.DeleteObject(f.ctx, &s3.DeleteObjectInput{Bucket: aws.String(tb), Key: aws.String(key)})
			return f.observe(err, key)
		},
		aws: want{status: 204, echo: "-", stored: "absent"}, rgw: want{status: 204, echo: "-", stored: "absent"}},
	{row: "key manager down (GET of an SSE-KMS object)",
		do: func(f *fixture) outcome {
			f.st.fetcher.down.Store(true)
			defer f.st.fetcher.down.Store(false)
			return f.get(kmsObj, nil)
		},
		aws: fail(500, "InternalError"), rgw: failEmpty(500, "UnknownError")},
	{row: "key id given as a full href",
		do: func(f *fixture) outcome {
			href := f.st.kmsSrv.URL + "/v1/secrets/" + f.kms["good"]
			return f.put(func(in *s3.PutObjectInput) { f.kmsOnPut(in, href) })
		},
		aws: ok("kms:good", "kms"), rgw: want{status: 404, code: "NoSuchKey", echo: "-", stored: "absent"}},
	{row: "key id given in upper case",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { f.kmsOnPut(in, strings.ToUpper(f.kms["good"])) })
		},
		aws: want{status: 403, code: "AccessDenied", echo: "-", stored: "absent"}, rgw: want{status: 404, code: "NoSuchKey", echo: "-", stored: "absent"}},
	{row: "CopyObject with an SSE-C source, re-encrypted under another key (rekey)",
		do: func(f *fixture) outcome {
			return f.copy(ssecObj, func(in *s3.CopyObjectInput) { f.k1.onCopySource(in); f.k2.onCopy(in) })
		},
		aws: ok("sse-c:k2", "sse-c"), rgw: failEmpty(501, "NotImplemented")},
	{row: "CopyObject with an SSE-C source without the copy-source key",
		do:  func(f *fixture) outcome { return f.copy(ssecObj, f.k1.onCopy) },
		aws: fail(400, "InvalidRequest"), rgw: failEmpty(501, "NotImplemented")},
	{row: "CopyObject with an SSE-KMS source",
		do:  func(f *fixture) outcome { return f.copy(kmsObj, nil) },
		aws: ok("-", "plain"), rgw: failEmpty(501, "NotImplemented")},
	{row: "CopyObject of a plain source asking for SSE-C",
		do:  func(f *fixture) outcome { return f.copy(plainObj, f.k2.onCopy) },
		aws: ok("sse-c:k2", "sse-c"), rgw: ok("-", "plain")},
	{row: "CopyObject of a plain source asking for SSE-KMS",
		do: func(f *fixture) outcome {
			return f.copy(plainObj, func(in *s3.CopyObjectInput) {
				in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(f.kms["good"])
			})
		},
		aws: ok("kms:good", "kms"), rgw: ok("-", "plain")},
	{row: "UploadPartCopy, SSE-C source into an upload with the same key",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			o, _ := f.partCopy(key, id, ssecObj, func(in *s3.UploadPartCopyInput) { f.k1.onPartCopy(in); f.k1.onPartCopySource(in) })
			o.stored = f.uploadStored(id)
			return o
		},
		aws: ok("sse-c:k1", "sse-c"), rgw: ok("-", "sse-c")},
	{row: "UploadPartCopy, SSE-C source into an upload with another key",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k2.onCreate)
			o, _ := f.partCopy(key, id, ssecObj, func(in *s3.UploadPartCopyInput) { f.k2.onPartCopy(in); f.k1.onPartCopySource(in) })
			return o
		},
		aws: ok("sse-c:k2", ""), rgw: fail(400, "InvalidArgument")},
	{row: "UploadPartCopy, SSE-C source into an upload without SSE",
		do: func(f *fixture) outcome {
			key, id := f.create(nil)
			o, _ := f.partCopy(key, id, ssecObj, f.k1.onPartCopySource)
			return o
		},
		aws: ok("-", ""), rgw: fail(400, "InvalidArgument")},
	{row: "UploadPartCopy, SSE-KMS source into an SSE-C upload",
		do: func(f *fixture) outcome {
			key, id := f.create(f.k1.onCreate)
			o, etag := f.partCopy(key, id, kmsObj, f.k1.onPartCopy)
			c := f.complete(key, id, etag, f.k1.onComplete)
			o.stored = c.stored
			return o
		},
		aws: ok("sse-c:k1", "sse-c"), rgw: ok("-", "sse-c")},
	{row: "UploadPartCopy, plain source into an SSE-KMS upload",
		do: func(f *fixture) outcome {
			key, id := f.create(f.kmsOnCreate("good"))
			o, etag := f.partCopy(key, id, plainObj, nil)
			c := f.complete(key, id, etag, nil)
			o.stored = c.stored
			return o
		},
		aws: ok("kms:good", "kms"), rgw: ok("-", "kms")},
	{row: "x-amz-server-side-encryption: AES256 (SSE-S3)",
		do: func(f *fixture) outcome {
			return f.put(func(in *s3.PutObjectInput) { in.ServerSideEncryption = types.ServerSideEncryptionAes256 })
		},
		aws: ok("AES256", "sse-s3"), rgw: ok("-", "plain")},
	{row: "SSE-C ETag",
		do: func(f *fixture) outcome {
			key := f.mustPut(f.k1.onPut)
			o := f.get(key, f.k1.onGet)
			o.note = f.etagNote(key, f.k1.onHead)
			return o
		},
		aws: want{status: 200, echo: "sse-c:k1", note: "etag!=md5"}, rgw: want{status: 200, echo: "sse-c:k1", note: "etag=md5"}},
	{row: "upload body sent aws-chunked with a trailing checksum (SDK default over HTTPS)",
		do: func(f *fixture) outcome {
			c := f.st.client(f.st.tls.URL, f.st.rec, aws.RequestChecksumCalculationWhenSupported)
			key := f.name("trailer")
			_, err := c.PutObject(f.ctx, &s3.PutObjectInput{Bucket: aws.String(tb), Key: aws.String(key), Body: strings.NewReader("chunked body"),
				ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
			o := f.observe(err, key)
			o.note = f.st.lastPayloadMode()
			return o
		},
		aws: want{status: 200, echo: "-", stored: "plain", note: "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
		// aws-sdk-go-v2 sends a Content-Length: RGW 16 then hashes the framed
		// body (botocore's bodies, without one, get 411 MissingContentLength).
		rgw: want{status: 400, code: "XAmzContentSHA256Mismatch", echo: "-", stored: "absent", note: "STREAMING-UNSIGNED-PAYLOAD-TRAILER", emptyMsg: true}},
}

// TestSSERules runs every row of DESIGN.md section 3's tables against both
// profiles over real HTTPS with aws-sdk-go-v2, checking status, error code,
// the SSE echo and how the object rests.
func TestSSERules(t *testing.T) {
	for _, p := range []Profile{ProfileAWS, ProfileRGW} {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, p)
			for _, r := range sseRules {
				w := r.aws
				if p == ProfileRGW {
					w = r.rgw
				}
				t.Run(r.row, func(t *testing.T) {
					f.t, f.st.t = t, t
					o := r.do(f)
					if o.status != w.status || o.code != w.code || o.echo != w.echo {
						t.Errorf("got %d %q echo %s (%v); want %d %q echo %s", o.status, o.code, o.echo, o.err, w.status, w.code, w.echo)
					}
					if w.stored != "" && o.stored != w.stored {
						t.Errorf("stored %s; want %s", o.stored, w.stored)
					}
					if w.note != "" && o.note != w.note {
						t.Errorf("%s; want %s", o.note, w.note)
					}
					if w.code != "" && w.emptyMsg != (o.message == "") {
						t.Errorf("message %q; want empty: %v", o.message, w.emptyMsg)
					}
				})
			}
		})
	}
}

// uploadStored returns how an upload's parts are sealed.
func (f *fixture) uploadStored(id string) string {
	up, err := f.st.srv.Store().Upload(id)
	if err != nil {
		return "absent"
	}
	return storedName(objstore.ObjectMeta{SSE: up.Meta.SSE, KMSKeyID: up.Meta.KMSKeyID})
}

func (f *fixture) kmsOnCreate(name string) func(*s3.CreateMultipartUploadInput) {
	return func(in *s3.CreateMultipartUploadInput) {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(f.kms[name])
	}
}

// kmsObjectWithDeletedSecret stores an SSE-KMS object, then deletes its secret.
func (f *fixture) kmsObjectWithDeletedSecret() string {
	id := f.st.createSecret("doomed", randBytes(f.t, 32), true)
	key := f.mustPut(func(in *s3.PutObjectInput) { f.kmsOnPut(in, id) })
	f.st.deleteSecret(id)
	return key
}

// plainClient is an SDK client on the plain HTTP listener.
func (f *fixture) plainClient() *s3.Client {
	return f.st.client(f.st.plain.URL, &recorderOn{f.st.rec, http.DefaultTransport}, aws.RequestChecksumCalculationWhenRequired)
}

// recorderOn records into rec through another transport.
type recorderOn struct {
	rec  *recorder
	next http.RoundTripper
}

func (r *recorderOn) RoundTrip(req *http.Request) (*http.Response, error) {
	rr := &recorder{next: r.next}
	resp, err := rr.RoundTrip(req)
	r.rec.mu.Lock()
	r.rec.last = rr.last
	r.rec.mu.Unlock()
	return resp, err
}
