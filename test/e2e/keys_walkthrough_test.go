package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// awsCLIWithCA runs the aws CLI like awsCLI, passing --ca-bundle when the
// backend serves TLS with a private CA (the real-stack lab).
func awsCLIWithCA(t *testing.T, b *testenv.Backend, args ...string) (string, error) {
	t.Helper()
	if ca := b.Env["AWS_CA_BUNDLE"]; ca != "" {
		args = append([]string{"--ca-bundle", ca}, args...)
	}
	return awsCLI(t, b, args...)
}

// headObjectSSE runs `aws s3api head-object` and returns its
// ServerSideEncryption and SSEKMSKeyId.
func headObjectSSE(t *testing.T, b *testenv.Backend, bucket, key string) (sse, kmsKeyID string) {
	t.Helper()
	out, err := awsCLIWithCA(t, b, "s3api", "head-object", "--bucket", bucket, "--key", key, "--output", "json")
	if err != nil {
		t.Fatalf("aws s3api head-object %s/%s: %v\n%s", bucket, key, err, out)
	}
	var head struct {
		ServerSideEncryption string
		SSEKMSKeyId          string
	}
	// The CLI may print warnings before the JSON document.
	if i := strings.Index(out, "{"); i >= 0 {
		out = out[i:]
	}
	if err := json.Unmarshal([]byte(out), &head); err != nil {
		t.Fatalf("aws s3api head-object output: %v\n%s", err, out)
	}
	return head.ServerSideEncryption, head.SSEKMSKeyId
}

// forEachKMSProfile runs test on the reference backend's aws and rgw
// profiles (on the real-stack lab the aws subtest skips itself and rgw is
// the lab's RGW).
func forEachKMSProfile(t *testing.T, test func(t *testing.T, profile string)) {
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) { test(t, profile) })
	}
}

// createGrantedKey runs `ssefs keys create --name NAME --grant SERVICE` and
// returns the printed key id; the key is deleted when the test ends.
func createGrantedKey(t *testing.T, b *testenv.Backend, c *keysCLI, name string) (id, service string) {
	t.Helper()
	service = b.Env["SSEFS_KMS_SERVICE_USER_ID"]
	if service == "" {
		t.Fatal("the backend printed no SSEFS_KMS_SERVICE_USER_ID")
	}
	id = keyIDOf(t, c.ok("keys", "create", "--name", name, "--grant", service))
	t.Cleanup(func() { c.run("keys", "delete", id, "--yes") })
	return id, service
}

// TestKeysCLIWalkthroughMountAndHeadObject: the guide's SSE-KMS walkthrough
// with ssefs alone. `ssefs keys create --grant <object store user>` prints a
// key id; a mount with --sse-kms-key-id set to it round-trips files copied
// in with cp; `aws s3api head-object` shows aws:kms and that id.
func TestKeysCLIWalkthroughMountAndHeadObject(t *testing.T) {
	forEachKMSProfile(t, keysWalkthrough)
}

func keysWalkthrough(t *testing.T, profile string) {
	b := testenv.StartBackend(t, profile)
	c := newKeysCLI(t, b)
	id, _ := createGrantedKey(t, b, c, "walkthrough")

	const bucket = "kms-walkthrough"
	b.CreateBucket(t, bucket)
	m := testenv.MountBucket(t, b, bucket, "--sse-kms-key-id", id)

	local := t.TempDir()
	files := map[string][]byte{
		"notes.txt":          []byte("encrypted with a key made by ssefs keys create\n"),
		"photos/2024/ca.bin": randomBytes(t, 7<<20),
	}
	for name, data := range files {
		src := filepath.Join(local, strings.ReplaceAll(name, "/", "_"))
		writeLocal(t, src, data)
		if err := os.MkdirAll(filepath.Dir(m.Path(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("cp", src, m.Path(name)).CombinedOutput(); err != nil {
			t.Fatalf("cp %s into the mount: %v\n%s\nlog:\n%s", name, err, out, m.Log())
		}
	}
	for name, data := range files {
		assertFileContent(t, m.Path(name), data)
	}
	// A fresh mount reads them back too (not from the first mount's cache).
	m.Unmount()
	fresh := testenv.MountBucket(t, b, bucket, "--sse-kms-key-id", id)
	for name, data := range files {
		assertFileContent(t, fresh.Path(name), data)
		sse, kmsID := headObjectSSE(t, b, bucket, name)
		if sse != "aws:kms" || kmsID != id {
			t.Errorf("aws s3api head-object %s: ServerSideEncryption %q SSEKMSKeyId %q, want aws:kms %s", name, sse, kmsID, id)
		}
	}
}

// TestKeysCLIRevokeMakesReadsFailWithACLHint: after `ssefs keys revoke ID
// <object store user>`, a fresh writable mount with the key refuses to start
// (its write probe is refused) naming the ACL; reads through a fresh
// read-only mount fail with EACCES and the mount's log names the key id and
// its ACL as the likely cause; granting the user again makes the objects
// readable again.
func TestKeysCLIRevokeMakesReadsFailWithACLHint(t *testing.T) {
	forEachKMSProfile(t, keysRevoke)
}

func keysRevoke(t *testing.T, profile string) {
	b := testenv.StartBackend(t, profile)
	c := newKeysCLI(t, b)
	id, service := createGrantedKey(t, b, c, "revoke-check")

	const bucket = "kms-revoked"
	b.CreateBucket(t, bucket)
	var got []byte
	body := []byte("readable only while the object store may fetch the key\n")
	m := testenv.MountBucket(t, b, bucket, "--sse-kms-key-id", id)
	writeLocal(t, m.Path("secret.txt"), body)
	assertFileContent(t, m.Path("secret.txt"), body)
	m.Unmount()

	c.ok("keys", "revoke", id, service)
	// A writable mount probes a write with the key first and refuses to
	// start, saying why; a read-only mount writes nothing and comes up.
	rw := filepath.Join(t.TempDir(), "rw")
	if err := os.Mkdir(rw, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := testenv.TryMount(t, b, bucket, rw, "--sse-kms-key-id", id)
	if err == nil || !strings.Contains(out, "read ACL") {
		t.Errorf("a writable mount with the revoked key: %v, want a refusal naming the ACL:\n%s", err, out)
	}
	revoked := testenv.MountBucket(t, b, bucket, "--sse-kms-key-id", id, "--read-only")
	got, err = os.ReadFile(revoked.Path("secret.txt"))
	if err == nil {
		t.Fatalf("read after revoking %s from key %s succeeded: %q", service, id, got)
	}
	if !os.IsPermission(err) {
		t.Errorf("read after revoke: %v, want EACCES", err)
	}
	var hint string
	for _, line := range strings.Split(revoked.Log(), "\n") {
		if strings.Contains(line, id) && strings.Contains(line, "read ACL") {
			hint = line
			break
		}
	}
	if hint == "" {
		t.Errorf("the mount's log has no line naming key %s and its read ACL:\n%s", id, revoked.Log())
	} else if !strings.Contains(hint, "ssefs keys grant "+id) {
		t.Errorf("the hint does not say how to fix it: %s", hint)
	}
	revoked.Unmount()

	// Granting again makes the object readable through a fresh mount.
	c.ok("keys", "grant", id, service)
	again := testenv.MountBucket(t, b, bucket, "--sse-kms-key-id", id)
	assertFileContent(t, again.Path("secret.txt"), body)
}
