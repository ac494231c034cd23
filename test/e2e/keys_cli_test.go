package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/test/testenv"
)

// keysCLI runs `ssefs keys ...` as a user would, with the backend's export
// lines as the whole OpenStack and AWS environment.
type keysCLI struct {
	t   *testing.T
	bin string
	env []string
}

func newKeysCLI(t *testing.T, b *testenv.Backend) *keysCLI {
	bin, _ := testenv.MustBinaries(t)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") && !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	for k, v := range b.Env {
		env = append(env, k+"="+v)
	}
	return &keysCLI{t: t, bin: bin, env: env}
}

// run runs ssefs with args and stdin from /dev/null (not a terminal); it
// returns stdout, stderr and the exit error.
func (c *keysCLI) run(args ...string) (string, string, error) {
	c.t.Helper()
	return c.runEnv(c.env, args...)
}

func (c *keysCLI) runEnv(env []string, args ...string) (string, string, error) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// ok runs ssefs and fails the test unless it succeeds; it returns stdout.
func (c *keysCLI) ok(args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	if err != nil {
		c.t.Fatalf("ssefs %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// fails runs ssefs, fails the test unless it exits non-zero with a message
// containing want, and returns stderr.
func (c *keysCLI) fails(want string, args ...string) string {
	c.t.Helper()
	out, errOut, err := c.run(args...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		c.t.Fatalf("ssefs %s: %v, want a non-zero exit\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	if !strings.Contains(errOut, want) {
		c.t.Errorf("ssefs %s: stderr does not say %q:\n%s", strings.Join(args, " "), want, errOut)
	}
	return errOut
}

// onTerminal runs ssefs under script(1), so that its stdin is a terminal,
// types answer once it asks "Type yes", and returns what the terminal showed.
func (c *keysCLI) onTerminal(answer string, args ...string) (string, error) {
	c.t.Helper()
	line := shellQuote(c.bin)
	for _, a := range args {
		line += " " + shellQuote(a)
	}
	cmd := exec.Command("script", "-qec", line, "/dev/null")
	cmd.Env = c.env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	var mu sync.Mutex
	var shown bytes.Buffer
	cmd.Stdout = writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return shown.Write(p)
	})
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for asked := false; ; {
		select {
		case err := <-done:
			stdin.Close()
			mu.Lock()
			defer mu.Unlock()
			return shown.String(), err
		case <-deadline:
			cmd.Process.Kill()
			c.t.Fatalf("ssefs %s on a terminal did not finish", strings.Join(args, " "))
		case <-time.After(50 * time.Millisecond):
			mu.Lock()
			prompt := strings.Contains(shown.String(), "Type yes")
			mu.Unlock()
			if prompt && !asked {
				asked = true
				io.WriteString(stdin, answer+"\n")
			}
		}
	}
}

// writerFunc adapts a function to io.Writer.
type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

var keyIDLine = regexp.MustCompile(`(?m)^\s*key id:\s+(\S+)\s*$`)

// keyIDOf extracts the "key id:" line ssefs keys create/restore print.
func keyIDOf(t *testing.T, out string) string {
	t.Helper()
	m := keyIDLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no key id in:\n%s", out)
	}
	return m[1]
}

// httpStatus is the HTTP status of an aws-sdk-go-v2 error, or 0.
func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// TestKeysCLI: the guide's SSE-KMS walkthrough with ssefs alone. `ssefs keys
// create --grant <object store user> --backup FILE` makes a key the object
// store can use at once (a PUT with it succeeds, HEAD shows aws:kms and the
// id); show lists the ACL; backup and restore give the same bytes; delete
// refuses without --yes off a terminal and while a scanned bucket still
// uses the key, and with --yes makes the object unreadable. Bad input fails
// with a clear message and changes nothing.
func TestKeysCLI(t *testing.T) {
	b := testenv.StartBackend(t, testenv.DefaultProfile())
	c := newKeysCLI(t, b)
	ctx := context.Background()
	s3c := b.S3()
	service := b.Env["SSEFS_KMS_SERVICE_USER_ID"]
	if service == "" {
		t.Fatal("the backend printed no SSEFS_KMS_SERVICE_USER_ID")
	}
	dir := t.TempDir()

	// create
	backup := filepath.Join(dir, "photos-kms.key")
	out := c.ok("keys", "create", "--name", "photos", "--grant", service, "--backup", backup)
	id := keyIDOf(t, out)
	if !regexp.MustCompile(`(?m)^\s*href:\s+https?://\S+/v1/secrets/` + id + `$`).MatchString(out) {
		t.Errorf("create does not print the secret's href:\n%s", out)
	}
	st, err := os.Stat(backup)
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("backup file: %v %v", st, err)
	}
	_, errOut, _ := c.run("keys", "create", "--name", "warn-check", "--backup", filepath.Join(dir, "w.key"))
	if !strings.Contains(errOut, "unrecoverable") || !strings.Contains(errOut, "backup") {
		t.Errorf("create does not warn that deleting the secret loses the objects:\n%s", errOut)
	}

	// The object store can use the key right away.
	b.CreateBucket(t, "photos")
	body := []byte("a photo, encrypted with a key in Barbican\n")
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("2024/cat.jpg"),
		Body: bytes.NewReader(body), ServerSideEncryption: s3types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String(id)}); err != nil {
		t.Fatalf("PUT with SSE-KMS key %s: %v", id, err)
	}
	head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("2024/cat.jpg")})
	if err != nil {
		t.Fatal(err)
	}
	if head.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms || aws.ToString(head.SSEKMSKeyId) != id {
		t.Errorf("HEAD: sse %q key id %q, want aws:kms %s", head.ServerSideEncryption, aws.ToString(head.SSEKMSKeyId), id)
	}
	readBack := func() ([]byte, error) {
		g, err := s3c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("2024/cat.jpg")})
		if err != nil {
			return nil, err
		}
		defer g.Body.Close()
		return io.ReadAll(g.Body)
	}
	if got, err := readBack(); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("GET: %v", err)
	}

	// show and list
	out = c.ok("keys", "show", id)
	if !regexp.MustCompile(`(?m)^read ACL users:\s+`+service+`$`).MatchString(out) || !strings.Contains(out, "photos") {
		t.Errorf("show does not list the service user on the ACL:\n%s", out)
	}
	href := regexp.MustCompile(`(?m)^href:\s+(\S+)$`).FindStringSubmatch(out)
	if href == nil {
		t.Fatalf("show prints no href:\n%s", out)
	}
	if again := c.ok("keys", "show", href[1]); again != out {
		t.Errorf("show by href differs from show by id:\n%s\n%s", again, out)
	}
	if out := c.ok("keys", "list"); !strings.Contains(out, id) || !strings.Contains(out, "photos") {
		t.Errorf("list lacks the new key:\n%s", out)
	}

	// grant merges, revoke keeps the others
	other := "0123456789abcdef0123456789abcdef"
	if out := c.ok("keys", "grant", id, other); !strings.Contains(out, service+", "+other) {
		t.Errorf("grant dropped a user:\n%s", out)
	}
	if out := c.ok("keys", "revoke", id, other); !regexp.MustCompile(`(?m)^read ACL users: ` + service + `$`).MatchString(out) {
		t.Errorf("revoke:\n%s", out)
	}

	// backup and restore give the same 32 bytes under a new id
	backup2 := filepath.Join(dir, "backup2.key")
	c.ok("keys", "backup", id, backup2)
	b1, _ := os.ReadFile(backup)
	b2, _ := os.ReadFile(backup2)
	if !bytes.Equal(b1, b2) {
		t.Error("keys backup wrote other bytes than create --backup")
	}
	c.fails("already exists", "keys", "backup", id, backup2)
	restored := keyIDOf(t, c.ok("keys", "restore", backup2, "--name", "photos-restored"))
	backup3 := filepath.Join(dir, "backup3.key")
	c.ok("keys", "backup", restored, backup3)
	if b3, _ := os.ReadFile(backup3); restored == id || !bytes.Equal(b3, b1) {
		t.Errorf("restore: id %s (old %s), same bytes %v", restored, id, bytes.Equal(b3, b1))
	}

	// On a terminal, delete asks, and only "yes" deletes.
	if _, err := exec.LookPath("script"); err != nil {
		t.Log("script(1) is not installed: the terminal prompt is not tested")
	} else {
		out, err := c.onTerminal("no", "keys", "delete", restored)
		if err == nil || !strings.Contains(out, "unrecoverable") || !strings.Contains(out, "not deleted") {
			t.Errorf("answering no: %v\n%s", err, out)
		}
		c.ok("keys", "show", restored)
		if out, err := c.onTerminal("yes", "keys", "delete", restored); err != nil || !strings.Contains(out, "deleted secret "+restored) {
			t.Errorf("answering yes: %v\n%s", err, out)
		}
		c.fails("no secret "+restored, "keys", "show", restored)
	}

	// delete refuses without --yes off a terminal, and while the bucket uses it
	errOut = c.fails("not a terminal", "keys", "delete", id)
	if !strings.Contains(errOut, "--yes") {
		t.Errorf("the refusal does not say how to confirm:\n%s", errOut)
	}
	c.fails("1 object(s) in bucket photos are encrypted with it", "keys", "delete", id, "--yes", "--bucket", "photos", "--endpoint", b.Endpoint())
	c.ok("keys", "show", id)
	if _, err := readBack(); err != nil {
		t.Fatalf("a refused delete broke the object: %v", err)
	}

	// delete --yes: the object is lost.
	c.ok("keys", "delete", id, "--yes")
	c.fails("no secret "+id, "keys", "show", id)
	_, err = readBack()
	if s := httpStatus(err); s != http.StatusForbidden && s != http.StatusNotFound {
		t.Errorf("GET after the key was deleted: %v (status %d), want 403 or 404", err, s)
	}
}

// TestKeysCLIBadInput: missing OS_* variables, an unknown id, a malformed
// href and an existing backup file each fail with a
// clear message, a non-zero exit, and no new secret.
func TestKeysCLIBadInput(t *testing.T) {
	b := testenv.StartBackend(t, testenv.DefaultProfile())
	c := newKeysCLI(t, b)
	before := c.ok("keys", "list")

	without := func(name string) []string {
		var env []string
		for _, kv := range c.env {
			if !strings.HasPrefix(kv, name+"=") {
				env = append(env, kv)
			}
		}
		return env
	}
	for _, v := range []string{"OS_AUTH_URL", "OS_PASSWORD", "OS_USERNAME", "OS_PROJECT_NAME"} {
		_, errOut, err := c.runEnv(without(v), "keys", "create", "--name", "x")
		if err == nil || !strings.Contains(errOut, v) {
			t.Errorf("create without %s: %v\n%s", v, err, errOut)
		}
	}
	_, errOut, err := c.runEnv(append(slices.Clone(c.env), "OS_PASSWORD=wrong"), "keys", "list")
	if err == nil || !strings.Contains(errOut, "Keystone refused the credentials for user "+b.Env["OS_USERNAME"]) || strings.Contains(errOut, b.Env["OS_PASSWORD"]) {
		t.Errorf("wrong password: %v\n%s", err, errOut)
	}

	unknown := "00000000-0000-4000-8000-000000000000"
	c.fails("no secret "+unknown, "keys", "show", unknown)
	c.fails("no secret "+unknown, "keys", "delete", unknown, "--yes")
	c.fails("expected a Barbican secret href", "keys", "show", "https://kms.example/v1/containers/"+unknown)
	c.fails("not a Barbican secret id", "keys", "grant", "photos", "0123456789abcdef0123456789abcdef")

	exists := filepath.Join(t.TempDir(), "exists.key")
	os.WriteFile(exists, []byte("precious"), 0o600)
	c.fails("already exists", "keys", "create", "--name", "x", "--backup", exists)
	if got, _ := os.ReadFile(exists); string(got) != "precious" {
		t.Error("create overwrote an existing backup file")
	}
	c.fails("--name is required", "keys", "create")

	if after := c.ok("keys", "list"); after != before {
		t.Errorf("bad input changed the secrets:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// keys gen still works.
	c.ok("keys", "gen", filepath.Join(t.TempDir(), "ssec.key"))
}
