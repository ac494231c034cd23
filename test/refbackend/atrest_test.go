package refbackend

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// markedData is random data with a unique marker at several places,
// straddling 64 KiB chunk boundaries too.
func markedData(t *testing.T, n int, marker []byte) []byte {
	d := randBytes(t, n)
	for _, off := range []int{0, 1000, 65536 - len(marker)/2, n / 2, n - len(marker)} {
		copy(d[off:], marker)
	}
	return d
}

// TestAtRestNothingLeaks writes through every write path with SSE-C and
// SSE-KMS, then reads every file of the backend's state: no marker, no
// plaintext prefix and no key (raw, base64 or hex) may appear.
func TestAtRestNothingLeaks(t *testing.T) {
	st := newStack(t, ProfileAWS, stackOpts{})
	ctx := context.Background()
	c := st.s3
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bk)})
	must(t, err)
	marker := []byte("SSEFS-AT-REST-MARKER-" + hex.EncodeToString(randBytes(t, 8)))
	k1, k2 := newSSEC(randBytes(t, 32)), newSSEC(randBytes(t, 32))
	kmsSecret := randBytes(t, 32)
	kmsID := st.createSecret("at-rest", kmsSecret, true)
	var plaintexts [][]byte
	data := func(n int) []byte {
		d := markedData(t, n, marker)
		plaintexts = append(plaintexts, d)
		return d
	}
	kmsPut := func(in *s3.PutObjectInput) {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(kmsID)
	}

	// PUT
	put := func(key string, d []byte, mod func(*s3.PutObjectInput)) {
		in := &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String(key), Body: bytes.NewReader(d)}
		mod(in)
		_, err := c.PutObject(ctx, in)
		must(t, err)
	}
	put("put-ssec", data(300<<10), k1.onPut)
	put("put-kms", data(300<<10), kmsPut)

	// Multipart, and UploadPartCopy from SSE-C and SSE-KMS sources.
	multipart := func(key string, create func(*s3.CreateMultipartUploadInput), part func(*s3.UploadPartInput), pc func(*s3.UploadPartCopyInput), copyFrom string) {
		in := &s3.CreateMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String(key)}
		create(in)
		up, err := c.CreateMultipartUpload(ctx, in)
		must(t, err)
		var parts []types.CompletedPart
		if part != nil {
			for i, d := range [][]byte{data(5 << 20), data(200 << 10)} {
				pin := &s3.UploadPartInput{Bucket: aws.String(bk), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(d)}
				part(pin)
				out, err := c.UploadPart(ctx, pin)
				must(t, err)
				parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
			}
		} else {
			cin := &s3.UploadPartCopyInput{Bucket: aws.String(bk), Key: aws.String(key), UploadId: up.UploadId, PartNumber: aws.Int32(1), CopySource: aws.String(bk + "/" + copyFrom)}
			pc(cin)
			out, err := c.UploadPartCopy(ctx, cin)
			must(t, err)
			parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(1), ETag: out.CopyPartResult.ETag})
		}
		_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String(key), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		must(t, err)
	}
	kmsCreate := func(in *s3.CreateMultipartUploadInput) {
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(kmsID)
	}
	multipart("mp-ssec", k1.onCreate, k1.onPart, nil, "")
	multipart("mp-kms", kmsCreate, func(*s3.UploadPartInput) {}, nil, "")
	multipart("partcopy-ssec-to-ssec", k2.onCreate, nil, func(in *s3.UploadPartCopyInput) { k2.onPartCopy(in); k1.onPartCopySource(in) }, "put-ssec")
	multipart("partcopy-kms-to-ssec", k2.onCreate, nil, k2.onPartCopy, "put-kms")
	multipart("partcopy-ssec-to-kms", kmsCreate, nil, k1.onPartCopySource, "put-ssec")

	// CopyObject with re-encryption.
	cp := func(dst, src string, mod func(*s3.CopyObjectInput)) {
		in := &s3.CopyObjectInput{Bucket: aws.String(bk), Key: aws.String(dst), CopySource: aws.String(bk + "/" + src)}
		mod(in)
		_, err := c.CopyObject(ctx, in)
		must(t, err)
	}
	cp("copy-ssec-rekey", "put-ssec", func(in *s3.CopyObjectInput) { k1.onCopySource(in); k2.onCopy(in) })
	cp("copy-ssec-to-kms", "mp-ssec", func(in *s3.CopyObjectInput) {
		k1.onCopySource(in)
		in.ServerSideEncryption, in.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String(kmsID)
	})
	cp("copy-kms-to-ssec", "put-kms", k2.onCopy)

	for _, key := range []string{"put-ssec", "put-kms", "mp-ssec", "mp-kms", "partcopy-ssec-to-ssec", "partcopy-kms-to-ssec",
		"partcopy-ssec-to-kms", "copy-ssec-rekey", "copy-ssec-to-kms", "copy-kms-to-ssec"} {
		if m, err := st.stat(bk, key); err != nil || storedName(m) == "plain" {
			t.Errorf("%s rests %v (%v)", key, storedName(m), err)
		}
	}

	needles := map[string][]byte{"marker": marker}
	for i, p := range plaintexts {
		needles["plaintext prefix "+itoa(i)] = p[:64]
	}
	for name, key := range map[string][]byte{"SSE-C key 1": k1.raw, "SSE-C key 2": k2.raw, "KMS secret": kmsSecret} {
		needles[name+" raw"] = key
		needles[name+" base64"] = []byte(base64.StdEncoding.EncodeToString(key))
		needles[name+" hex"] = []byte(hex.EncodeToString(key))
	}
	files := 0
	err = filepath.WalkDir(st.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for name, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s found in %s", name, p)
			}
		}
		return nil
	})
	must(t, err)
	if files < 3 {
		t.Fatalf("only %d files under %s", files, st.dir)
	}

	// The KMS objects stay unreadable once the secret is gone.
	st.setACL(kmsID, []string{})
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("put-kms")})
	wantCode(t, "GET with objectstore off the ACL", err, 403, "AccessDenied")
	st.deleteSecret(kmsID)
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("mp-kms")})
	wantCode(t, "GET after the secret was deleted", err, 403, "AccessDenied")
}
