package testenv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// The end-to-end tests run against the real-stack lab (test/realstack:
// Keystone, Barbican and Ceph RGW on loopback) instead of a reference
// backend when SSEFS_E2E_BACKEND=realstack and REALSTACK_ENV names the
// lab's env.sh:
//
//	SSEFS_E2E_BACKEND=realstack REALSTACK_ENV=/tmp/ssefs-realstack/env.sh \
//		go test ./test/e2e/
//
// StartBackend(t, "rgw") then returns the lab, StartBackend(t, "aws") skips
// the test (the lab has no AWS counterpart), and the tests that need to stop
// or restart the server fail with a message saying so.
const (
	envBackend    = "SSEFS_E2E_BACKEND"
	envRealstack  = "REALSTACK_ENV"
	externalValue = "realstack"
)

// External reports whether the end-to-end tests run against the real-stack
// lab rather than reference backends.
func External() bool { return os.Getenv(envBackend) == externalValue }

// DefaultProfile is the profile for tests that do not depend on one: the
// reference backend's "aws" profile, or "rgw" when the tests run against
// the real-stack lab (whose RGW is the only server there is).
func DefaultProfile() string {
	if External() {
		return "rgw"
	}
	return "aws"
}

// labEnv caches the lab's variables: env.sh is read once per test process.
var labEnv struct {
	once sync.Once
	env  map[string]string
	err  error
}

// loadEnvFile reads the variables an env.sh exports by letting bash source
// it in an empty environment, so the quoting is whatever a shell user gets.
func loadEnvFile(path string) (map[string]string, error) {
	out, err := exec.Command("env", "-i", "bash", "-c", `set -a; . "$1" >/dev/null; env -0`, "_", path).Output()
	if err != nil {
		return nil, fmt.Errorf("source %s (start the lab with test/realstack/start.sh): %w", path, err)
	}
	env := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "PWD" || k == "SHLVL" || k == "_" || k == "OLDPWD" {
			continue
		}
		env[k] = v
	}
	for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CA_BUNDLE",
		"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME", "SSEFS_KMS_SERVICE_USER_ID"} {
		if env[k] == "" {
			return nil, fmt.Errorf("%s does not set %s", path, k)
		}
	}
	return env, nil
}

// startExternal is StartBackend against the real-stack lab.
func startExternal(t testing.TB, profile string, extraArgs ...string) *Backend {
	t.Helper()
	if profile != "rgw" {
		t.Skipf("%s=%s: the %q profile has no real counterpart in the lab (only Ceph RGW)", envBackend, externalValue, profile)
	}
	for _, a := range extraArgs {
		// The lab always serves HTTPS with its own CA and refuses SSE over
		// plain HTTP: these two are what it is anyway.
		if a != "--tls" && a != "--require-ssl" {
			t.Skipf("%s=%s: the lab cannot be started with %s", envBackend, externalValue, a)
		}
	}
	path := os.Getenv(envRealstack)
	if path == "" {
		t.Fatalf("%s=%s needs %s=path/to/env.sh (test/realstack/start.sh writes it)", envBackend, externalValue, envRealstack)
	}
	labEnv.once.Do(func() { labEnv.env, labEnv.err = loadEnvFile(path) })
	if labEnv.err != nil {
		t.Fatal(labEnv.err)
	}
	env := make(map[string]string, len(labEnv.env))
	for k, v := range labEnv.env {
		env[k] = v
	}
	return &Backend{Dir: filepath.Dir(path), Profile: profile, Env: env, Args: extraArgs, external: true, t: t}
}

// IsExternal reports whether b is the real-stack lab rather than a
// reference backend process.
func (b *Backend) IsExternal() bool { return b.external }

// noProcess fails the test that wanted to stop, kill or restart the server.
func (b *Backend) noProcess(what string) {
	b.t.Helper()
	b.t.Fatalf("%s=%s: this test needs to %s the S3 server, which the shared real-stack lab cannot do per test", envBackend, externalValue, what)
}

// errNoRestart is what Start answers on the lab.
var errNoRestart = errors.New(envBackend + "=" + externalValue + ": the shared real-stack lab cannot be (re)started per test")

// createExternalBucket makes bucket on the lab, or empties it when an
// earlier run left it behind, and empties it again when the test ends
// unless KeepObjects was called for it.
func (b *Backend) createExternalBucket(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	c := b.S3()
	// RGW answers 200 to a CreateBucket of a bucket one owns already (the
	// us-east-1 habit), so emptying cannot depend on an error.
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "BucketAlreadyOwnedByYou" {
			t.Fatalf("create bucket %s: %v", name, err)
		}
	}
	if err := emptyBucket(ctx, c, name); err != nil {
		t.Fatalf("empty bucket %s left by an earlier run: %v", name, err)
	}
	t.Cleanup(func() {
		b.mu.Lock()
		keep := b.kept[name]
		b.mu.Unlock()
		if keep {
			return
		}
		if err := emptyBucket(context.Background(), c, name); err != nil {
			t.Errorf("clean up bucket %s: %v", name, err)
		}
	})
}

// KeepObjects leaves bucket's objects in place when the test ends (on the
// lab, where buckets are otherwise emptied), for the at-rest check that
// runs after the whole suite.
func (b *Backend) KeepObjects(bucket string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.kept == nil {
		b.kept = map[string]bool{}
	}
	b.kept[bucket] = true
}

// emptyBucket aborts bucket's multipart uploads and deletes its objects.
func emptyBucket(ctx context.Context, c *s3.Client, bucket string) error {
	ups := s3.NewListMultipartUploadsPaginator(c, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	for ups.HasMorePages() {
		page, err := ups.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, u := range page.Uploads {
			if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket), Key: u.Key, UploadId: u.UploadId}); err != nil {
				return err
			}
		}
	}
	objs := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for objs.HasMorePages() {
		page, err := objs.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		if err != nil {
			return err
		}
		if len(out.Errors) > 0 {
			return fmt.Errorf("delete %s: %s", aws.ToString(out.Errors[0].Key), aws.ToString(out.Errors[0].Message))
		}
	}
	return nil
}

// markersFile is where, on the lab, the plaintext markers written through
// mounts are recorded for the at-rest check after the suite
// (test/realstack's TestAtRestAfterSuite): one "encrypted MARKER" or
// "plain MARKER" per line.
func (b *Backend) markersFile() string { return filepath.Join(b.Dir, "e2e-markers.txt") }

// RecordMarker notes a plaintext marker the test wrote and whether it must
// rest encrypted (never be found in RGW's data pool) or plain (a control
// that must be found): on the lab, for the at-rest check after the suite.
// An encrypted marker is also registered for the suite-wide hygiene scan
// (RegisterMarker), on any backend.
func (b *Backend) RecordMarker(t testing.TB, marker string, encrypted bool) {
	t.Helper()
	if encrypted {
		RegisterMarker(marker)
	}
	if !b.external {
		return
	}
	kind := "plain"
	if encrypted {
		kind = "encrypted"
	}
	f, err := os.OpenFile(b.markersFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err == nil {
		_, err = fmt.Fprintf(f, "%s %s\n", kind, marker)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Fatalf("record marker: %v", err)
	}
}

// AtRest returns the markers that are stored as plaintext by the server:
// on the lab, what test/realstack/rados-scan.sh finds in RGW's data pool
// (every RADOS object read with rados get); on a reference backend, what a
// byte search of its data directory finds.
func (b *Backend) AtRest(t testing.TB, markers ...string) []string {
	t.Helper()
	if b.external {
		return radosScan(t, b.Dir, markers)
	}
	found := map[string]bool{}
	err := filepath.WalkDir(b.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, m := range markers {
			if bytes.Contains(data, []byte(m)) {
				found[m] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan %s: %v", b.Dir, err)
	}
	var out []string
	for _, m := range markers {
		if found[m] {
			out = append(out, m)
		}
	}
	return out
}

// radosScan runs rados-scan.sh on the lab in labDir and returns the markers
// it reports at rest; a scan that cannot run fails the test.
func radosScan(t testing.TB, labDir string, markers []string) []string {
	t.Helper()
	cmd := exec.Command(filepath.Join(RepoRoot(), "test", "realstack", "rados-scan.sh"), markers...)
	cmd.Env = append(os.Environ(), "REALSTACK_DIR="+labDir)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("rados-scan.sh: %v\n%s", err, out)
	}
	return ScanFindings(string(out))
}

// ScanFindings parses rados-scan.sh's output into the markers it found.
func ScanFindings(out string) []string {
	var found []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		_, rest, ok := strings.Cut(sc.Text(), "plaintext marker '")
		if !ok {
			continue
		}
		m, _, ok := strings.Cut(rest, "'")
		if ok && !seen[m] {
			seen[m] = true
			found = append(found, m)
		}
	}
	return found
}
