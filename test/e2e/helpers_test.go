// Package e2e holds ssefs's end-to-end tests: real FUSE mounts made by the
// real ssefs binary against the reference backend, driven by ordinary file
// tools, with every object checked from outside with aws-sdk-go-v2.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/testenv"
)

// encryption is how a test mount encrypts, and how to check it from outside.
type encryption struct {
	name    string
	keyFile string       // SSE-C key file (first key writes)
	key     *ssekeys.Key // SSE-C write key
	kmsID   string       // SSE-KMS key id
}

func (e encryption) mountArgs() []string {
	if e.key != nil {
		return []string{"--sse-c-key-file", e.keyFile}
	}
	return []string{"--sse-kms-key-id", e.kmsID}
}

// newSSECKey writes a fresh key file (0600) and returns it.
func newSSECKey(t *testing.T) encryption {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ssec.key")
	k, err := ssekeys.GenerateKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return encryption{name: "SSE-C", keyFile: p, key: k}
}

func newKMSKey(t *testing.T, b *testenv.Backend) encryption {
	t.Helper()
	return encryption{name: "SSE-KMS", kmsID: b.CreateKMSKey(t, "e2e-"+t.Name())}
}

// withSSEC puts the SSE-C triple of k on a HEAD or GET.
func headWithKey(k *ssekeys.Key, in *s3.HeadObjectInput) *s3.HeadObjectInput {
	in.SSECustomerAlgorithm = aws.String("AES256")
	in.SSECustomerKey = aws.String(k.Base64())
	in.SSECustomerKeyMD5 = aws.String(k.MD5Base64())
	return in
}

// assertEncrypted checks from outside, with a plain aws-sdk-go-v2 client,
// that object key of bucket rests encrypted as e says: for SSE-C a HEAD with
// the key succeeds and echoes it while HEAD and GET without it fail; for
// SSE-KMS the HEAD reports aws:kms with e's key id.
func assertEncrypted(t *testing.T, b *testenv.Backend, bucket, key string, e encryption) {
	t.Helper()
	ctx := context.Background()
	c := b.S3()
	if e.key != nil {
		out, err := c.HeadObject(ctx, headWithKey(e.key, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}))
		if err != nil {
			t.Errorf("%s: HEAD with the SSE-C key: %v", key, err)
			return
		}
		if aws.ToString(out.SSECustomerAlgorithm) != "AES256" || aws.ToString(out.SSECustomerKeyMD5) != e.key.MD5Base64() {
			t.Errorf("%s: HEAD with the key does not echo it (stored otherwise): alg=%q md5=%q", key,
				aws.ToString(out.SSECustomerAlgorithm), aws.ToString(out.SSECustomerKeyMD5))
		}
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}); err == nil {
			t.Errorf("%s: HEAD without the key succeeded: the object is not SSE-C encrypted", key)
		}
		if r, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key}); err == nil {
			r.Body.Close()
			t.Errorf("%s: GET without the key succeeded: the object is not SSE-C encrypted", key)
		}
		return
	}
	out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Errorf("%s: HEAD: %v", key, err)
		return
	}
	if string(out.ServerSideEncryption) != "aws:kms" || aws.ToString(out.SSEKMSKeyId) != e.kmsID {
		t.Errorf("%s: stored with sse=%q kms key=%q, want aws:kms %s", key, out.ServerSideEncryption, aws.ToString(out.SSEKMSKeyId), e.kmsID)
	}
}

// assertAllEncrypted checks every object in the bucket.
func assertAllEncrypted(t *testing.T, b *testenv.Backend, bucket string, e encryption) int {
	t.Helper()
	keys := listKeys(t, b, bucket, "")
	for _, k := range keys {
		assertEncrypted(t, b, bucket, k, e)
	}
	return len(keys)
}

func listKeys(t *testing.T, b *testenv.Backend, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(b.S3(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// getObject reads an object from outside with e's key.
func getObject(t *testing.T, b *testenv.Backend, bucket, key string, e encryption) []byte {
	t.Helper()
	in := &s3.GetObjectInput{Bucket: &bucket, Key: &key}
	if e.key != nil {
		in.SSECustomerAlgorithm = aws.String("AES256")
		in.SSECustomerKey = aws.String(e.key.Base64())
		in.SSECustomerKeyMD5 = aws.String(e.key.MD5Base64())
	}
	out, err := b.S3().GetObject(context.Background(), in)
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return data
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeLocal(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sh runs a shell command line and fails the test on a non-zero exit.
func sh(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s", script, err, out)
	}
	return string(out)
}

// shFails runs a command line that must fail, and returns its output.
func shFails(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err == nil || !errors.As(err, &ee) {
		t.Fatalf("sh -c %q: want a failure, got %v\n%s", script, err, out)
	}
	return string(out)
}

func assertFileContent(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d expected", path, len(got), len(want))
	}
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s is not installed (make test installs it: test/deps.sh)", name)
	}
}

func oneLine(s string) bool { return strings.Count(strings.TrimSpace(s), "\n") == 0 }
