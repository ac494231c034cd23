package refbackend

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func uploadParts(t *testing.T, c *s3.Client, key, id string, k *ssec, parts ...[]byte) []types.CompletedPart {
	t.Helper()
	var done []types.CompletedPart
	for i, p := range parts {
		in := &s3.UploadPartInput{Bucket: aws.String(bk), Key: aws.String(key), UploadId: aws.String(id), PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p)}
		if k != nil {
			k.onPart(in)
		}
		out, err := c.UploadPart(context.Background(), in)
		must(t, err)
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	return done
}

func TestMultipartUpload(t *testing.T) {
	for _, p := range []Profile{ProfileAWS, ProfileRGW} {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			st, c, ctx := newAPI(t, p)
			k := newSSEC(randBytes(t, 32))
			p1, p2, p3 := randBytes(t, 5<<20), randBytes(t, 5<<20), randBytes(t, 1000)
			cr := &s3.CreateMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("mp"), ContentType: aws.String("text/x-mp"),
				Metadata: map[string]string{"mode": "33188"}}
			k.onCreate(cr)
			up, err := c.CreateMultipartUpload(ctx, cr)
			must(t, err)
			id := aws.ToString(up.UploadId)
			parts := uploadParts(t, c, "mp", id, &k, p1, p2, p3)

			lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bk)})
			must(t, err)
			if len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != id || aws.ToString(lu.Uploads[0].Key) != "mp" {
				t.Errorf("ListMultipartUploads: %+v", lu.Uploads)
			}
			lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bk), Key: aws.String("mp"), UploadId: aws.String(id), MaxParts: aws.Int32(2)})
			must(t, err)
			if len(lp.Parts) != 2 || !aws.ToBool(lp.IsTruncated) || aws.ToInt64(lp.Parts[0].Size) != 5<<20 || aws.ToString(lp.Parts[1].ETag) != aws.ToString(parts[1].ETag) {
				t.Errorf("ListParts: %+v", lp)
			}
			lp, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bk), Key: aws.String("mp"), UploadId: aws.String(id), PartNumberMarker: lp.NextPartNumberMarker})
			must(t, err)
			if len(lp.Parts) != 1 || aws.ToInt32(lp.Parts[0].PartNumber) != 3 {
				t.Errorf("ListParts page 2: %+v", lp.Parts)
			}

			// Bad completions leave the upload in place.
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("mp"), UploadId: aws.String(id),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{parts[1], parts[0]}}})
			wantCode(t, "parts out of order", err, 400, "InvalidPartOrder")
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("mp"), UploadId: aws.String(id),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(`"00000000000000000000000000000000"`)}}}})
			wantCode(t, "wrong part ETag", err, 400, "InvalidPart")
			_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("mp"), UploadId: aws.String(id),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{parts[2], {PartNumber: aws.Int32(4), ETag: parts[2].ETag}}}})
			wantCode(t, "a missing part", err, 400, "InvalidPart")

			in := &s3.CompleteMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("mp"), UploadId: aws.String(id),
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
			k.onComplete(in)
			out, err := c.CompleteMultipartUpload(ctx, in)
			must(t, err)
			wantEcho := "" // AWS does not echo SSE-C here, RGW 16 no SSE at all
			if echo := st.rec.get().header.Get(hSSECMD5); !strings.HasSuffix(aws.ToString(out.ETag), `-3"`) || echo != wantEcho {
				t.Errorf("Complete: ETag %s key MD5 %s", aws.ToString(out.ETag), echo)
			}
			g := &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("mp")}
			k.onGet(g)
			gout, err := c.GetObject(ctx, g)
			got := readAll(t, gout, err)
			if !bytes.Equal(got, append(append(append([]byte{}, p1...), p2...), p3...)) || aws.ToString(gout.ContentType) != "text/x-mp" || gout.Metadata["mode"] != "33188" {
				t.Errorf("GET after Complete: %d bytes, %+v", len(got), gout.Metadata)
			}
			_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String(bk), Key: aws.String("mp"), UploadId: aws.String(id)})
			wantCode(t, "ListParts after Complete", err, 404, "NoSuchUpload")
		})
	}
}

func TestMultipartErrors(t *testing.T) {
	_, c, ctx := newAPI(t, ProfileAWS)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("m")})
	must(t, err)
	id := up.UploadId
	for _, n := range []int32{0, 10001, -1} {
		_, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bk), Key: aws.String("m"), UploadId: id, PartNumber: aws.Int32(n), Body: strings.NewReader("x")})
		wantCode(t, "part number "+itoa(int(n)), err, 400, "InvalidArgument")
	}
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bk), Key: aws.String("m"), UploadId: aws.String("nope"), PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantCode(t, "unknown upload", err, 404, "NoSuchUpload")
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bk), Key: aws.String("other"), UploadId: id, PartNumber: aws.Int32(1), Body: strings.NewReader("x")})
	wantCode(t, "upload of another key", err, 404, "NoSuchUpload")
	parts := uploadParts(t, c, "m", *id, nil, []byte("small"), []byte("last"))
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("m"), UploadId: id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	wantCode(t, "a small part before the last", err, 400, "EntityTooSmall")
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("m"), UploadId: id})
	must(t, err)
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("m"), UploadId: id})
	wantCode(t, "abort twice", err, 404, "NoSuchUpload")
}

func TestUploadPartCopyRange(t *testing.T) {
	_, c, ctx := newAPI(t, ProfileAWS)
	src := randBytes(t, 6<<20)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("src"), Body: bytes.NewReader(src)})
	must(t, err)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("dst")})
	must(t, err)
	var parts []types.CompletedPart
	for i, r := range []string{"bytes=0-5242879", "bytes=5242880-6291455"} {
		out, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(bk), Key: aws.String("dst"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(bk + "/src"), CopySourceRange: aws.String(r)})
		must(t, err)
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag})
	}
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String(bk), Key: aws.String("dst"), UploadId: up.UploadId,
		PartNumber: aws.Int32(3), CopySource: aws.String(bk + "/src"), CopySourceRange: aws.String("bytes=0-99999999")})
	wantCode(t, "copy range beyond the source", err, 400, "InvalidArgument")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("dst"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	must(t, err)
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("dst")})
	if got := readAll(t, g, err); !bytes.Equal(got, src) {
		t.Errorf("assembled copy differs (%d bytes)", len(got))
	}
}

func TestCopyObject(t *testing.T) {
	_, c, ctx := newAPI(t, ProfileAWS)
	key := "dir/a b+c%d.txt"
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String(key), Body: strings.NewReader("source"),
		ContentType: aws.String("text/src"), Metadata: map[string]string{"mode": "1", "uid": "7"}})
	must(t, err)
	src := aws.String(bk + "/" + urlPathEscape(key))

	out, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bk), Key: aws.String("copy"), CopySource: src})
	must(t, err)
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bk), Key: aws.String("copy")})
	must(t, err)
	if h.Metadata["mode"] != "1" || aws.ToString(h.ContentType) != "text/src" || aws.ToString(h.ETag) != aws.ToString(out.CopyObjectResult.ETag) {
		t.Errorf("COPY directive: %+v", h)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bk), Key: aws.String(key), CopySource: src,
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"mode": "2"}, ContentType: aws.String("text/new")})
	must(t, err)
	h, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bk), Key: aws.String(key)})
	must(t, err)
	if h.Metadata["mode"] != "2" || h.Metadata["uid"] != "" || aws.ToString(h.ContentType) != "text/new" {
		t.Errorf("REPLACE directive onto itself: %+v", h)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bk), Key: aws.String(key), CopySource: src})
	wantCode(t, "copy onto itself changing nothing", err, 400, "InvalidRequest")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bk), Key: aws.String("c2"), CopySource: src, CopySourceIfMatch: aws.String(`"nope"`)})
	wantCode(t, "x-amz-copy-source-if-match other", err, 412, "PreconditionFailed")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bk), Key: aws.String("c2"), CopySource: src, CopySourceIfNoneMatch: h.ETag})
	wantCode(t, "x-amz-copy-source-if-none-match same", err, 412, "PreconditionFailed")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bk), Key: aws.String("c2"), CopySource: src, CopySourceIfMatch: h.ETag})
	must(t, err)
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(bk), Key: aws.String("c3"), CopySource: aws.String(bk + "/missing")})
	wantCode(t, "copy of a missing source", err, 404, "NoSuchKey")
}

// urlPathEscape escapes a key for x-amz-copy-source, keeping slashes.
func urlPathEscape(k string) string {
	var b strings.Builder
	for _, seg := range strings.Split(k, "/") {
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strings.ReplaceAll(pathEscape(seg), "+", "%2B"))
	}
	return b.String()
}
