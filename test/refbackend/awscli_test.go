package refbackend

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

// debianAWS is Debian's aws CLI (package awscli). Another aws on PATH may be
// a different major version.
const debianAWS = "/usr/bin/aws"

// TestGuideAWSCLICommands runs the guide's own aws CLI commands against
// ssefs-refbackend, as a user would after sourcing env.sh.
func TestGuideAWSCLICommands(t *testing.T) {
	if _, err := os.Stat(debianAWS); err != nil {
		if os.Getenv("SSEFS_REQUIRE_AWSCLI") == "1" {
			t.Fatalf("%s is required (apt-get install awscli): %v", debianAWS, err)
		}
		t.Skipf("%s not installed (apt-get install awscli); set SSEFS_REQUIRE_AWSCLI=1 to make this a failure", debianAWS)
	}
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			guideCommands(t, profile)
		})
	}
}

func guideCommands(t *testing.T, profile string) {
	p := startBinary(t, filepath.Join(t.TempDir(), "data"), "--profile", profile)
	work := t.TempDir()
	must(t, os.WriteFile(filepath.Join(work, "config"), []byte("[default]\nregion = us-east-1\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(work, "credentials"), []byte("[default]\naws_access_key_id = "+p.env["AWS_ACCESS_KEY_ID"]+
		"\naws_secret_access_key = "+p.env["AWS_SECRET_ACCESS_KEY"]+"\n"), 0o600))
	env := []string{"HOME=" + work, "PATH=/usr/bin:/bin", "AWS_CONFIG_FILE=" + filepath.Join(work, "config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(work, "credentials"), "AWS_PAGER=", "LC_ALL=C.UTF-8"}
	run := func(name string, args ...string) ([]byte, error) {
		cmd := exec.Command(name, args...)
		cmd.Dir, cmd.Env = work, env
		return cmd.CombinedOutput()
	}
	aws := func(args ...string) ([]byte, error) {
		return run(debianAWS, append([]string{"--endpoint-url", p.env["AWS_ENDPOINT_URL"]}, args...)...)
	}
	mustRun := func(out []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return out
	}
	file := func(name string, data []byte) { must(t, os.WriteFile(filepath.Join(work, name), data, 0o600)) }
	same := func(a, b string) bool {
		x, err1 := os.ReadFile(filepath.Join(work, a))
		y, err2 := os.ReadFile(filepath.Join(work, b))
		return err1 == nil && err2 == nil && bytes.Equal(x, y)
	}

	mustRun(aws("s3", "mb", "s3://demo"))
	mustRun(run("openssl", "rand", "-out", "ssec.key", "32"))
	mustRun(run("openssl", "rand", "-out", "other.key", "32"))
	file("text.txt", []byte("hello from the guide\n"))
	mustRun(aws("s3", "cp", "text.txt", "s3://demo/text.txt", "--sse-c", "AES256", "--sse-c-key", "fileb://ssec.key"))
	mustRun(aws("s3", "cp", "s3://demo/text.txt", "back.txt", "--sse-c", "AES256", "--sse-c-key", "fileb://ssec.key"))
	if !same("text.txt", "back.txt") {
		t.Errorf("SSE-C round trip differs")
	}
	if out, err := aws("s3", "cp", "s3://demo/text.txt", "nokey.txt"); err == nil {
		t.Errorf("download without the key succeeded: %s", out)
	}
	if out, err := aws("s3", "cp", "s3://demo/text.txt", "otherkey.txt", "--sse-c", "AES256", "--sse-c-key", "fileb://other.key"); err == nil {
		t.Errorf("download with another key succeeded: %s", out)
	}

	file("big.bin", randBytes(t, 40<<20)) // multipart in the CLI
	mustRun(aws("s3", "cp", "big.bin", "s3://demo/big.bin", "--sse-c", "AES256", "--sse-c-key", "fileb://ssec.key"))
	mustRun(aws("s3", "cp", "s3://demo/big.bin", "big.back", "--sse-c", "AES256", "--sse-c-key", "fileb://ssec.key"))
	if !same("big.bin", "big.back") {
		t.Errorf("40 MiB SSE-C round trip differs")
	}

	id := guideSecret(t, p)
	file("test.txt", []byte("kms test\n"))
	mustRun(aws("s3", "cp", "test.txt", "s3://demo/test.txt", "--sse", "aws:kms", "--sse-kms-key-id", id))
	var head struct {
		ServerSideEncryption string
		SSEKMSKeyId          string
		ContentLength        int
	}
	must(t, json.Unmarshal(mustRun(aws("s3api", "head-object", "--bucket", "demo", "--key", "test.txt")), &head))
	if head.ServerSideEncryption != "aws:kms" || head.SSEKMSKeyId != id || head.ContentLength != 9 {
		t.Errorf("head-object: %+v; want aws:kms %s", head, id)
	}
	mustRun(aws("s3", "cp", "s3://demo/test.txt", "test.back"))
	if !same("test.txt", "test.back") {
		t.Errorf("SSE-KMS round trip differs")
	}
}

// guideSecret creates a 32-byte secret in the key manager with gophercloud,
// as the guide's user (OS_* of env.sh), and puts objectstore on its ACL.
func guideSecret(t *testing.T, p *proc) string {
	ctx := context.Background()
	pc, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: p.env["OS_AUTH_URL"], Username: p.env["OS_USERNAME"], Password: p.env["OS_PASSWORD"],
		DomainName: p.env["OS_USER_DOMAIN_NAME"], TenantName: p.env["OS_PROJECT_NAME"],
	})
	must(t, err)
	km, err := openstack.NewKeyManagerV1(pc, gophercloud.EndpointOpts{})
	must(t, err)
	ref, err := secrets.Create(ctx, km, secrets.CreateOpts{Name: "guide", Payload: base64.StdEncoding.EncodeToString(randBytes(t, 32)),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64",
		Algorithm: "aes", BitLength: 256, Mode: "cbc", SecretType: secrets.SymmetricSecret}).Extract()
	must(t, err)
	id := path.Base(ref.SecretRef)
	users := []string{p.env["SSEFS_KMS_SERVICE_USER_ID"]}
	_, err = acls.UpdateSecretACL(ctx, km, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract()
	must(t, err)
	return id
}
