package e2e

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/testenv"
)

func putObject(t *testing.T, b *testenv.Backend, bucket, key string, body []byte, k *ssekeys.Key) {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(string(body))}
	if k != nil {
		in.SSECustomerAlgorithm = aws.String("AES256")
		in.SSECustomerKey = aws.String(k.Base64())
		in.SSECustomerKeyMD5 = aws.String(k.MD5Base64())
	}
	if _, err := b.S3().PutObject(context.Background(), in); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// TestMixedBucketAndRotation: in a bucket holding an unencrypted object, an
// object under an old key and one under a key nobody gave, a mount with a
// two-line key file reads the first two, answers Permission denied for the
// third with a log line that names it (and no key), and writes new files
// with the first key.
func TestMixedBucketAndRotation(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			b := testenv.StartBackend(t, profile)
			b.CreateBucket(t, "mixed")
			newKey, _ := ssekeys.GenerateKey()
			oldKey, _ := ssekeys.GenerateKey()
			foreign, _ := ssekeys.GenerateKey()
			putObject(t, b, "mixed", "plain.txt", []byte("not encrypted\n"), nil)
			putObject(t, b, "mixed", "old.txt", []byte("under the old key\n"), oldKey)
			putObject(t, b, "mixed", "foreign.txt", []byte("under a key nobody gave\n"), foreign)

			keyFile := filepath.Join(t.TempDir(), "ring.key")
			ring := newKey.Base64() + "\n" + hex.EncodeToString(oldKey.Bytes()) + "\n"
			if err := os.WriteFile(keyFile, []byte(ring), 0o600); err != nil {
				t.Fatal(err)
			}
			m := testenv.MountBucket(t, b, "mixed", "--sse-c-key-file", keyFile)

			assertFileContent(t, m.Path("plain.txt"), []byte("not encrypted\n"))
			assertFileContent(t, m.Path("old.txt"), []byte("under the old key\n"))
			_, err := os.ReadFile(m.Path("foreign.txt"))
			if !os.IsPermission(err) {
				t.Fatalf("reading an object under an unknown key: %v, want permission denied", err)
			}
			log := m.Log()
			if !strings.Contains(log, "no configured key opens the object") || !strings.Contains(log, "foreign.txt") || !strings.Contains(log, newKey.Fingerprint()) || !strings.Contains(log, oldKey.Fingerprint()) {
				t.Errorf("the log should name foreign.txt and the fingerprints tried:\n%s", log)
			}
			for _, k := range []*ssekeys.Key{newKey, oldKey, foreign} {
				for _, form := range []string{k.Base64(), hex.EncodeToString(k.Bytes()), string(k.Bytes())} {
					if strings.Contains(log, form) {
						t.Fatalf("the log contains key material (%s)", k.Fingerprint())
					}
				}
			}

			writeLocal(t, m.Path("new.txt"), []byte("written after rotation\n"))
			assertEncrypted(t, b, "mixed", "new.txt", encryption{key: newKey})
		})
	}
}
