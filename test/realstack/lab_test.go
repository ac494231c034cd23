//go:build realstack

// Package realstack checks ssefs's assumptions against a real OpenStack
// Keystone + Barbican and a real Ceph RGW, the lab that start.sh in this
// directory runs on loopback. It reads the lab's export lines from
// $REALSTACK_ENV (default /tmp/ssefs-realstack/env.sh) and needs Debian's aws
// CLI at /usr/bin/aws. The build tag keeps plain `go test ./...` away from it:
//
//	test/realstack/start.sh
//	go test -tags realstack -count=1 ./test/realstack/
package realstack

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/ssefs/ssefs/test/testenv"
)

// awsCLI is Debian's aws CLI (2.9.19), the one the guide's steps use; a
// pip-installed aws earlier on PATH would behave differently.
const awsCLI = "/usr/bin/aws"

// Lab is the running real stack as its env.sh describes it.
type Lab struct {
	// Dir is the lab directory (where env.sh, the scripts' PID files and
	// Ceph's config live).
	Dir string
	// Env holds the variables env.sh exports.
	Env map[string]string
}

// loadLab reads the lab's env.sh by letting bash source it, so the quoting
// is whatever a shell user gets.
func loadLab(envFile string) (*Lab, error) {
	out, err := exec.Command("bash", "-c", `set -a; . "$1"; env -0`, "_", envFile).Output()
	if err != nil {
		return nil, fmt.Errorf("source %s (run test/realstack/start.sh first): %w", envFile, err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	for _, k := range []string{
		"AWS_ENDPOINT_URL", "SSEFS_RGW_HTTP_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
		"AWS_REGION", "AWS_CA_BUNDLE", "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME",
		"OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "SSEFS_KMS_SERVICE_USER_ID",
		"SSEFS_OTHER_USER", "SSEFS_OTHER_PASSWORD", "SSEFS_OTHER_PROJECT",
	} {
		if env[k] == "" {
			return nil, fmt.Errorf("%s does not set %s", envFile, k)
		}
	}
	return &Lab{Dir: filepath.Dir(envFile), Env: env}, nil
}

// AWS runs the aws CLI in dir against endpoint, the way the guide tells a
// user to (--endpoint-url, --ca-bundle: Debian's 2.9.19 ignores
// AWS_ENDPOINT_URL). It returns the combined output and an error for a
// non-zero exit: that CLI crashes ("argument of type 'NoneType' is not
// iterable") on RGW errors with an empty message, so the exit status is all
// a caller can rely on.
func (l *Lab) AWS(t testing.TB, dir, endpoint string, args ...string) (string, error) {
	t.Helper()
	argv := append([]string{"--endpoint-url", endpoint, "--ca-bundle", l.Env["AWS_CA_BUNDLE"]}, args...)
	cmd := exec.Command(awsCLI, argv...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=/usr/bin:/bin",
		// No ~/.aws of whoever runs the tests.
		"HOME=" + dir,
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_PAGER=",
		"AWS_ACCESS_KEY_ID=" + l.Env["AWS_ACCESS_KEY_ID"],
		"AWS_SECRET_ACCESS_KEY=" + l.Env["AWS_SECRET_ACCESS_KEY"],
		"AWS_DEFAULT_REGION=" + l.Env["AWS_REGION"],
		"AWS_REGION=" + l.Env["AWS_REGION"],
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("aws %s (%.1fs)", strings.Join(redact(args), " "), time.Since(start).Seconds())
	if err != nil {
		return string(out), fmt.Errorf("aws %s: %w\n%s", strings.Join(redact(args), " "), err, out)
	}
	return string(out), nil
}

// MustAWS is AWS that fails the test on a non-zero exit.
func (l *Lab) MustAWS(t testing.TB, dir, endpoint string, args ...string) string {
	t.Helper()
	out, err := l.AWS(t, dir, endpoint, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// redact hides inline keys in logged command lines (fileb:// names stay).
func redact(args []string) []string {
	out := slices.Clone(args)
	for i := 1; i < len(out); i++ {
		if (out[i-1] == "--sse-c-key" || out[i-1] == "--sse-c-copy-source-key") && !strings.Contains(out[i], "://") {
			out[i] = "<key>"
		}
	}
	return out
}

// S3 returns an aws-sdk-go-v2 client for endpoint (the lab's HTTPS or plain
// HTTP one), path-style, with checksums only where required: RGW 16 answers
// 411 to the aws-chunked bodies with trailers that the SDK sends otherwise.
func (l *Lab) S3(t testing.TB, endpoint string) *s3.Client {
	t.Helper()
	ca, err := os.ReadFile(l.Env["AWS_CA_BUNDLE"])
	if err != nil {
		t.Fatal(err)
	}
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(endpoint),
		Region:                     l.Env["AWS_REGION"],
		Credentials:                credentials.NewStaticCredentialsProvider(l.Env["AWS_ACCESS_KEY_ID"], l.Env["AWS_SECRET_ACCESS_KEY"], ""),
		UsePathStyle:               true,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		HTTPClient:                 httpClientWithCA(t, ca),
	})
}

// httpClientWithCA is an HTTP client that trusts only the lab's CA.
func httpClientWithCA(t testing.TB, caPEM []byte) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no certificate in the lab's CA bundle")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// KeyManager logs in to Keystone as the lab's demo user (the usual openrc
// variables: gophercloud's AuthOptionsFromEnv does not read the *_DOMAIN_NAME
// ones) and returns a Barbican client found through the catalog.
func (l *Lab) KeyManager(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	return l.keyManagerAs(t, l.Env["OS_USERNAME"], l.Env["OS_PASSWORD"], l.Env["OS_PROJECT_NAME"])
}

func (l *Lab) keyManagerAs(t testing.TB, user, password, project string) *gophercloud.ServiceClient {
	t.Helper()
	ctx := context.Background()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: l.Env["OS_AUTH_URL"],
		Username:         user,
		Password:         password,
		DomainName:       l.Env["OS_USER_DOMAIN_NAME"],
		Scope: &gophercloud.AuthScope{
			ProjectName: project,
			DomainName:  l.Env["OS_PROJECT_DOMAIN_NAME"],
		},
	})
	if err != nil {
		t.Fatalf("keystone auth as %s: %v", user, err)
	}
	km, err := openstack.NewKeyManagerV1(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatalf("key-manager client: %v", err)
	}
	return km
}

// CreateSecret stores 32 random bytes as a Barbican symmetric secret and
// returns its UUID (the last element of its href: the SSE-KMS key id RGW
// wants) and the raw key.
func CreateSecret(t testing.TB, km *gophercloud.ServiceClient, name string) (string, []byte) {
	t.Helper()
	raw := randomBytes(t, 32)
	ref, err := secrets.Create(context.Background(), km, secrets.CreateOpts{
		Name:                   name,
		Payload:                base64.StdEncoding.EncodeToString(raw),
		PayloadContentType:     "application/octet-stream",
		PayloadContentEncoding: "base64",
		Algorithm:              "aes",
		BitLength:              256,
		Mode:                   "cbc",
		SecretType:             secrets.SymmetricSecret,
	}).Extract()
	if err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	return path.Base(ref.SecretRef), raw
}

// GrantRead puts user on the secret's read ACL, keeping whoever is on it
// (GET + PUT of the merged list: Barbican's PATCH replaces an operation's
// user list with the one sent); testenv.GrantRead does it.
func GrantRead(t testing.TB, km *gophercloud.ServiceClient, id, user string) {
	t.Helper()
	testenv.GrantRead(t, km, id, user)
}

// ReadUsers returns the users on the secret's read ACL.
func ReadUsers(t testing.TB, km *gophercloud.ServiceClient, id string) []string {
	t.Helper()
	acl, err := acls.GetSecretACL(context.Background(), km, id).Extract()
	if err != nil {
		t.Fatalf("get ACL of secret %s: %v", id, err)
	}
	users := slices.Clone((*acl)["read"].Users)
	slices.Sort(users)
	return users
}

// RadosScan runs rados-scan.sh with markers: whether any of them is at rest
// in RGW's data pool (exit 1), and its output. Other failures fail the test.
func (l *Lab) RadosScan(t testing.TB, markers ...string) (found bool, out string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(scriptDir(t), "rados-scan.sh"), markers...)
	cmd.Env = append(os.Environ(), "REALSTACK_DIR="+l.Dir)
	b, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatalf("rados-scan.sh: %v", err)
	}
	switch code := cmd.ProcessState.ExitCode(); code {
	case 0:
		return false, string(b)
	case 1:
		return true, string(b)
	default:
		t.Fatalf("rados-scan.sh exited %d: %s", code, b)
		return false, ""
	}
}

// scriptDir is this package's directory, where the lab's scripts are.
func scriptDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd() // go test runs a package's tests in its directory
	if err != nil {
		t.Fatal(err)
	}
	return wd
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Markers are the plaintext markers written into encrypted objects during
// the run; the at-rest check looks for every one of them in RADOS.
type Markers struct {
	mu   sync.Mutex
	list []string
}

// New returns a fresh marker that names what it marks and registers it.
func (m *Markers) New(t testing.TB, what string) string {
	s := fmt.Sprintf("SSEFS-PLAINTEXT-%s-%s", what, hex.EncodeToString(randomBytes(t, 8)))
	m.mu.Lock()
	defer m.mu.Unlock()
	m.list = append(m.list, s)
	return s
}

// All returns every registered marker.
func (m *Markers) All() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.list)
}

// writeFile writes data to dir/name and fails the test on error.
func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// sameFile fails the test unless dir/a and dir/b hold the same bytes.
func sameFile(t testing.TB, dir, a, b string) {
	t.Helper()
	x, err := os.ReadFile(filepath.Join(dir, a))
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(filepath.Join(dir, b))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Fatalf("%s (%d bytes) and %s (%d bytes) differ", a, len(x), b, len(y))
	}
}
