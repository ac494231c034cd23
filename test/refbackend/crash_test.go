package refbackend

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// getSSEC reads bucket/key with SSE-C key k through client c.
func getSSEC(t *testing.T, c *s3.Client, key string, k ssec) []byte {
	t.Helper()
	g := &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String(key)}
	k.onGet(g)
	out, err := c.GetObject(context.Background(), g)
	return readAll(t, out, err)
}

// checkNoLeftovers fails if temporary files remain under dir, or if the
// stored data is much larger than live data of size bytes.
func checkNoLeftovers(t *testing.T, dir string, live int64) {
	t.Helper()
	var total int64
	err := filepath.WalkDir(filepath.Join(dir, "s3"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), "tmp") || strings.HasPrefix(d.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		if fi, err := d.Info(); err == nil && !d.IsDir() && d.Name() != "meta.db" {
			total += fi.Size()
		}
		return nil
	})
	must(t, err)
	if total > live+live/10+(1<<20) {
		t.Errorf("%d bytes of data stored for %d live bytes: an interrupted write was kept", total, live)
	}
}

// TestCrashDuringPut kills the server with SIGKILL in the middle of a large
// PUT: after a restart the key holds the old object, whole.
func TestCrashDuringPut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startBinary(t, dir)
	ctx := context.Background()
	c := p.client(t)
	k := newSSEC(randBytes(t, 32))
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bk)})
	must(t, err)
	old := randBytes(t, 4<<20)
	in := &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("obj"), Body: bytes.NewReader(old)}
	k.onPut(in)
	_, err = c.PutObject(ctx, in)
	must(t, err)

	// A 64 MiB PUT streamed slowly, killed after 24 MiB.
	const size = 64 << 20
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PUT", p.env["AWS_ENDPOINT_URL"]+"/"+bk+"/obj", pr)
	must(t, err)
	req.ContentLength = size
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	req.Header.Set(hSSECAlg, "AES256")
	req.Header.Set(hSSECKey, k.b64)
	req.Header.Set(hSSECMD5, k.md5)
	must(t, v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: p.env["AWS_ACCESS_KEY_ID"], SecretAccessKey: p.env["AWS_SECRET_ACCESS_KEY"]},
		req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()))
	sent := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		sent <- err
	}()
	chunk := randBytes(t, 1<<20)
	for range 24 {
		_, err := pw.Write(chunk)
		must(t, err)
	}
	time.Sleep(100 * time.Millisecond)
	p.kill9(t)
	pw.CloseWithError(io.ErrClosedPipe)
	<-sent

	p2 := startBinary(t, dir)
	if got := getSSEC(t, p2.client(t), "obj", k); !bytes.Equal(got, old) {
		t.Errorf("after a crash mid-PUT the object is %d bytes, not the old %d", len(got), len(old))
	}
	checkNoLeftovers(t, dir, int64(len(old)))
}

// TestCrashDuringComplete kills the server at several moments of a
// CompleteMultipartUpload: after each restart the key holds the old object
// or the new one, whole.
func TestCrashDuringComplete(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	ctx := context.Background()
	k := newSSEC(randBytes(t, 32))
	p := startBinary(t, dir)
	c := p.client(t)
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bk)})
	must(t, err)
	current := randBytes(t, 1<<20)
	in := &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("obj"), Body: bytes.NewReader(current)}
	k.onPut(in)
	_, err = c.PutObject(ctx, in)
	must(t, err)
	outcomes := map[string]int{}
	for _, delay := range []time.Duration{0, 200 * time.Microsecond, time.Millisecond, 3 * time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond} {
		cr := &s3.CreateMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("obj")}
		k.onCreate(cr)
		up, err := c.CreateMultipartUpload(ctx, cr)
		must(t, err)
		next := randBytes(t, 6<<20)
		parts := uploadParts(t, c, "obj", aws.ToString(up.UploadId), &k, next[:5<<20], next[5<<20:])
		done := make(chan error, 1)
		go func() {
			in := &s3.CompleteMultipartUploadInput{Bucket: aws.String(bk), Key: aws.String("obj"), UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}}
			k.onComplete(in)
			_, err := c.CompleteMultipartUpload(ctx, in)
			done <- err
		}()
		time.Sleep(delay)
		p.kill9(t)
		<-done
		p = startBinary(t, dir)
		c = p.client(t)
		got := getSSEC(t, c, "obj", k)
		switch {
		case bytes.Equal(got, current):
			outcomes["old"]++
		case bytes.Equal(got, next):
			outcomes["new"]++
			current = next
		default:
			t.Fatalf("kill after %v: the object is neither the old nor the new one (%d bytes)", delay, len(got))
		}
		// An interrupted Complete leaves the upload, which may be retried:
		// abort it, then nothing but the object may remain.
		lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bk)})
		must(t, err)
		for _, u := range lu.Uploads {
			_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bk), Key: u.Key, UploadId: u.UploadId})
			must(t, err)
		}
		checkNoLeftovers(t, dir, int64(len(current)))
	}
	t.Logf("outcomes: %v", outcomes)
}
