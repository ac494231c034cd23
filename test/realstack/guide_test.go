//go:build realstack

package realstack

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/ssefs/ssefs/test/testenv"
)

// lab is the running stack, loaded once by TestMain.
var lab *Lab

func TestMain(m *testing.M) {
	envFile := os.Getenv("REALSTACK_ENV")
	if envFile == "" {
		envFile = "/tmp/ssefs-realstack/env.sh"
	}
	var err error
	if lab, err = loadLab(envFile); err != nil {
		fmt.Fprintln(os.Stderr, "realstack:", err)
		os.Exit(1)
	}
	if _, err := os.Stat(awsCLI); err != nil {
		fmt.Fprintln(os.Stderr, "realstack: Debian's aws CLI is missing (apt-get install awscli):", err)
		os.Exit(1)
	}
	os.Exit(testenv.RunTests(m))
}

// TestGuide runs the user guide's steps verbatim with Debian's aws CLI
// against real RGW (SSE-C, then SSE-KMS with a Barbican secret), checks
// that RGW refuses SSE-C over plain HTTP, and ends with the at-rest check:
// none of the plaintext written encrypted is in RADOS.
//
// The steps share one bucket and run in order; the at-rest check runs even
// when an earlier step failed.
func TestGuide(t *testing.T) {
	dir := t.TempDir()
	https := lab.Env["AWS_ENDPOINT_URL"]
	bucket := "ssefs-guide-" + hex.EncodeToString(randomBytes(t, 4))
	var markers Markers

	lab.MustAWS(t, dir, https, "s3", "mb", "s3://"+bucket)

	t.Run("SSE-C", func(t *testing.T) {
		run(t, dir, "openssl", "rand", "-out", "ssec.key", "32")
		writeFile(t, dir, "text.txt", []byte("hello from ssefs "+markers.New(t, "ssec-text")+"\n"))
		sseC := []string{"--sse-c", "AES256", "--sse-c-key", "fileb://ssec.key"}

		lab.MustAWS(t, dir, https, append([]string{"s3", "cp", "text.txt", "s3://" + bucket + "/text.txt"}, sseC...)...)
		lab.MustAWS(t, dir, https, append([]string{"s3", "cp", "s3://" + bucket + "/text.txt", "back.txt"}, sseC...)...)
		sameFile(t, dir, "text.txt", "back.txt")

		if out, err := lab.AWS(t, dir, https, "s3", "cp", "s3://"+bucket+"/text.txt", "nokey.txt"); err == nil {
			t.Errorf("download of an SSE-C object without the key succeeded: %s", out)
		}
		run(t, dir, "openssl", "rand", "-out", "other.key", "32")
		if out, err := lab.AWS(t, dir, https, "s3", "cp", "s3://"+bucket+"/text.txt", "otherkey.txt",
			"--sse-c", "AES256", "--sse-c-key", "fileb://other.key"); err == nil {
			t.Errorf("download of an SSE-C object with another key succeeded: %s", out)
		}
		for _, f := range []string{"nokey.txt", "otherkey.txt"} {
			if b, err := os.ReadFile(filepath.Join(dir, f)); err == nil && len(b) > 0 {
				t.Errorf("a refused download still wrote %d bytes to %s", len(b), f)
			}
		}
	})

	t.Run("SSE-C 40MiB", func(t *testing.T) {
		// Big enough for the CLI's multipart upload (8 MiB parts, each
		// UploadPart carrying the key) and for RGW to stripe it over
		// several RADOS objects; a marker in every MiB for the at-rest
		// check.
		var big bytes.Buffer
		marker := markers.New(t, "ssec-big")
		for big.Len() < 40<<20 {
			big.Write(randomBytes(t, 1<<20-len(marker)))
			big.WriteString(marker)
		}
		writeFile(t, dir, "big.bin", big.Bytes())
		if _, err := os.Stat(filepath.Join(dir, "ssec.key")); err != nil {
			run(t, dir, "openssl", "rand", "-out", "ssec.key", "32")
		}
		sseC := []string{"--sse-c", "AES256", "--sse-c-key", "fileb://ssec.key"}
		lab.MustAWS(t, dir, https, append([]string{"s3", "cp", "big.bin", "s3://" + bucket + "/big.bin"}, sseC...)...)
		lab.MustAWS(t, dir, https, append([]string{"s3", "cp", "s3://" + bucket + "/big.bin", "big.back"}, sseC...)...)
		sameFile(t, dir, "big.bin", "big.back")
	})

	t.Run("SSE-KMS", func(t *testing.T) {
		km := lab.KeyManager(t)
		id, _ := CreateSecret(t, km, "ssefs-guide")
		t.Cleanup(func() { _ = secrets.Delete(context.Background(), km, id).ExtractErr() })
		GrantRead(t, km, id, lab.Env["SSEFS_KMS_SERVICE_USER_ID"])

		writeFile(t, dir, "test.txt", []byte("hello from ssefs "+markers.New(t, "ssekms-text")+"\n"))
		lab.MustAWS(t, dir, https, "s3", "cp", "test.txt", "s3://"+bucket+"/test.txt", "--sse", "aws:kms", "--sse-kms-key-id", id)

		out := lab.MustAWS(t, dir, https, "s3api", "head-object", "--bucket", bucket, "--key", "test.txt")
		var head struct {
			ServerSideEncryption string
			SSEKMSKeyId          string
			ContentLength        int64
		}
		if err := json.Unmarshal([]byte(out), &head); err != nil {
			t.Fatalf("head-object output: %v\n%s", err, out)
		}
		if head.ServerSideEncryption != "aws:kms" || head.SSEKMSKeyId != id {
			t.Errorf("head-object says ServerSideEncryption %q SSEKMSKeyId %q, want aws:kms and %s\n%s",
				head.ServerSideEncryption, head.SSEKMSKeyId, id, out)
		}
		lab.MustAWS(t, dir, https, "s3", "cp", "s3://"+bucket+"/test.txt", "test.back")
		sameFile(t, dir, "test.txt", "test.back")
	})

	t.Run("SSE over plain HTTP refused", func(t *testing.T) {
		testSSEOverHTTP(t, dir, bucket)
	})

	t.Run("at rest", func(t *testing.T) {
		all := markers.All()
		if len(all) == 0 {
			t.Fatal("no markers: the steps above wrote nothing")
		}
		if found, out := lab.RadosScan(t, all...); found {
			t.Errorf("plaintext of an encrypted object is at rest in RADOS:\n%s", out)
		} else {
			t.Logf("%s", strings.TrimSpace(out))
		}

		// The scan must be able to fail: an object stored without SSE
		// holds its plaintext in RADOS, and the scan finds it.
		plain := "SSEFS-PLAINTEXT-control-" + hex.EncodeToString(randomBytes(t, 8))
		writeFile(t, dir, "plain.txt", []byte(plain+"\n"))
		lab.MustAWS(t, dir, https, "s3", "cp", "plain.txt", "s3://"+bucket+"/plain.txt")
		if found, out := lab.RadosScan(t, plain); !found {
			t.Errorf("the at-rest scan did not find the marker of an unencrypted object:\n%s", out)
		}
		// Deleted objects leave RADOS at the next RGW garbage collection.
		lab.MustAWS(t, dir, https, "s3", "rm", "s3://"+bucket+"/plain.txt")
	})
}

// testSSEOverHTTP checks that RGW (rgw crypt require ssl = true, its
// default) refuses SSE-C and SSE-KMS on the plain-HTTP endpoint with 400
// InvalidRequest, stores nothing, and still serves plain requests there.
func testSSEOverHTTP(t *testing.T, dir, bucket string) {
	httpURL := lab.Env["SSEFS_RGW_HTTP_ENDPOINT"]
	ctx := context.Background()

	// The guide's command, pointed at the plain endpoint.
	if _, err := os.Stat(filepath.Join(dir, "text.txt")); err != nil {
		writeFile(t, dir, "text.txt", []byte("hello\n"))
	}
	if _, err := os.Stat(filepath.Join(dir, "ssec.key")); err != nil {
		run(t, dir, "openssl", "rand", "-out", "ssec.key", "32")
	}
	if out, err := lab.AWS(t, dir, httpURL, "s3", "cp", "text.txt", "s3://"+bucket+"/http-cli.txt",
		"--sse-c", "AES256", "--sse-c-key", "fileb://ssec.key"); err == nil {
		t.Errorf("aws s3 cp --sse-c over plain HTTP succeeded: %s", out)
	}

	// The same with the SDK, to see the status and error code.
	plain := lab.S3(t, httpURL)
	key := randomBytes(t, 32)
	sum := md5.Sum(key)
	_, err := plain.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               aws.String(bucket),
		Key:                  aws.String("http-ssec.txt"),
		Body:                 strings.NewReader("secret over http\n"),
		SSECustomerAlgorithm: aws.String("AES256"),
		SSECustomerKey:       aws.String(base64.StdEncoding.EncodeToString(key)),
		SSECustomerKeyMD5:    aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	wantRefused(t, "SSE-C PutObject over HTTP", err, 400, "InvalidRequest")

	_, err = plain.PutObject(ctx, &s3.PutObjectInput{
		Bucket:               aws.String(bucket),
		Key:                  aws.String("http-ssekms.txt"),
		Body:                 strings.NewReader("secret over http\n"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms,
		// RGW refuses before it looks the key up: any id will do.
		SSEKMSKeyId: aws.String("00000000-0000-0000-0000-000000000000"),
	})
	wantRefused(t, "SSE-KMS PutObject over HTTP", err, 400, "InvalidRequest")

	tls := lab.S3(t, lab.Env["AWS_ENDPOINT_URL"])
	for _, k := range []string{"http-cli.txt", "http-ssec.txt", "http-ssekms.txt"} {
		if _, err := tls.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)}); err == nil {
			t.Errorf("the refused upload %s exists", k)
		} else if status(err) != 404 {
			t.Errorf("HEAD %s: %v, want 404", k, err)
		}
	}

	// The endpoint itself works: only SSE is refused there.
	if _, err := plain.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("http-plain.txt"), Body: strings.NewReader("public\n"),
	}); err != nil {
		t.Errorf("plain PutObject over HTTP: %v", err)
	}
	if _, err := plain.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("http-plain.txt")}); err != nil {
		t.Errorf("DeleteObject over HTTP: %v", err)
	}
}

// TestBarbicanACLPatchReplacesUsers pins down the Barbican behaviour that
// GrantRead works around: PATCH of a secret's ACL replaces the operation's
// user list (it merges only across operations and project-access), so
// granting with PATCH would drop whoever was on it; GET + PUT keeps them.
func TestBarbicanACLPatchReplacesUsers(t *testing.T) {
	km := lab.KeyManager(t)
	ctx := context.Background()
	id, _ := CreateSecret(t, km, "ssefs-acl-patch")
	t.Cleanup(func() { _ = secrets.Delete(ctx, km, id).ExtractErr() })
	rgw := lab.Env["SSEFS_KMS_SERVICE_USER_ID"]
	const someone = "0123456789abcdef0123456789abcdef"

	for _, u := range []string{someone, rgw} {
		users := []string{u}
		if _, err := acls.UpdateSecretACL(ctx, km, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
			t.Fatalf("PATCH ACL: %v", err)
		}
	}
	if got := ReadUsers(t, km, id); !slices.Equal(got, []string{rgw}) {
		t.Errorf("after PATCH [%s] then PATCH [%s] the read ACL is %v: PATCH merged user lists", someone, rgw, got)
	}

	GrantRead(t, km, id, someone)
	want := []string{rgw, someone}
	slices.Sort(want)
	if got := ReadUsers(t, km, id); !slices.Equal(got, want) {
		t.Errorf("after GrantRead the read ACL is %v, want %v", got, want)
	}
}

// TestBarbicanOtherProject checks the second project's user the ACL tests
// rely on: it cannot read a demo secret (403, not 404) until it is on the
// secret's read ACL, and then reads the very bytes.
func TestBarbicanOtherProject(t *testing.T) {
	km := lab.KeyManager(t)
	ctx := context.Background()
	id, raw := CreateSecret(t, km, "ssefs-acl-other")
	t.Cleanup(func() { _ = secrets.Delete(ctx, km, id).ExtractErr() })
	other := lab.keyManagerAs(t, lab.Env["SSEFS_OTHER_USER"], lab.Env["SSEFS_OTHER_PASSWORD"], lab.Env["SSEFS_OTHER_PROJECT"])
	octet := secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}

	_, err := secrets.GetPayload(ctx, other, id, octet).Extract()
	if err == nil || status(err) != 403 {
		t.Fatalf("another project's user reading the secret: %v, want 403", err)
	}
	GrantRead(t, km, id, userIDOf(t, other))
	got, err := secrets.GetPayload(ctx, other, id, octet).Extract()
	if err != nil {
		t.Fatalf("reading the secret once on its ACL: %v", err)
	}
	if !bytes.Equal(got, raw) {
		t.Fatalf("the payload read back differs from the one stored")
	}
}

// userIDOf returns the Keystone id of the user c logged in as.
func userIDOf(t *testing.T, c *gophercloud.ServiceClient) string {
	t.Helper()
	r, ok := c.ProviderClient.GetAuthResult().(tokens.CreateResult)
	if !ok {
		t.Fatalf("unexpected auth result %T", c.ProviderClient.GetAuthResult())
	}
	u, err := r.ExtractUser()
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// wantRefused fails the test unless err is an HTTP status with S3 error
// code from the server.
func wantRefused(t *testing.T, what string, err error, wantStatus int, wantCode string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s succeeded, want %d %s", what, wantStatus, wantCode)
		return
	}
	var api smithy.APIError
	code := ""
	if errors.As(err, &api) {
		code = api.ErrorCode()
	}
	if got := status(err); got != wantStatus || code != wantCode {
		t.Errorf("%s: status %d code %q, want %d %s (%v)", what, got, code, wantStatus, wantCode, err)
	}
}

// status returns the HTTP status of an SDK or gophercloud error, 0 if none.
func status(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	var sc interface{ GetStatusCode() int }
	if errors.As(err, &sc) {
		return sc.GetStatusCode()
	}
	return 0
}

// run runs a command in dir and fails the test if it fails.
func run(t *testing.T, dir, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}
