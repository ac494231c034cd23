package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/test/testenv"
)

// Tests of `ssefs doctor`: the real binary against the reference backend.

// doctorRun runs ssefs doctor with env and returns stdout, stderr and
// whether it exited 0.
func doctorRun(t *testing.T, cli *keysCLI, env []string, args ...string) (string, bool) {
	t.Helper()
	out, errOut, err := cli.runEnv(env, append([]string{"doctor"}, args...)...)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("ssefs doctor: %v", err)
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("escape codes in the output of a doctor that is not on a terminal:\n%q", out)
	}
	if errOut != "" {
		t.Logf("stderr: %s", errOut)
	}
	return out, err == nil
}

// checkLines returns the check lines (all but the summary), failing the
// test when a line does not start with a known mark.
func checkLines(t *testing.T, out string) []string {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "✓ ") && !strings.HasPrefix(l, "✗ ") && !strings.HasPrefix(l, "! ") && !strings.HasPrefix(l, "i ") && !strings.HasPrefix(l, "- ") {
			t.Errorf("not a check line: %q", l)
		}
	}
	return lines[:len(lines)-1]
}

// wantLine fails the test unless a line starts with mark and contains each
// of parts.
func wantLine(t *testing.T, out, mark string, parts ...string) {
	t.Helper()
	for _, l := range checkLines(t, out) {
		if !strings.HasPrefix(l, mark+" ") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("no %q line with %q in:\n%s", mark, parts, out)
}

// assertNoProbesLeft checks that the doctor deleted its probe objects.
func assertNoProbesLeft(t *testing.T, b *testenv.Backend, bucket string) {
	t.Helper()
	if keys := listKeys(t, b, bucket, ""); len(keys) != 0 {
		t.Errorf("objects left in %s: %v", bucket, keys)
	}
}

// TestDoctorHealthyBucketIsAllGreen: on the aws profile, with an SSE-C key
// file and with an SSE-KMS key granted to the service user, every check
// passes and no probe object is left behind.
func TestDoctorHealthyBucketIsAllGreen(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "healthy")
	cli := newKeysCLI(t, b)
	kms := newKMSKey(t, b)
	for _, args := range [][]string{
		{"healthy", "--sse-c-key-file", newSSECKey(t).keyFile},
		{"healthy:/sub/dir", "--sse-kms-key-id", kms.kmsID, "--kms-service-user", b.Env["SSEFS_KMS_SERVICE_USER_ID"]},
	} {
		out, ok := doctorRun(t, cli, cli.env, args...)
		if !ok || !strings.HasSuffix(strings.TrimSpace(out), "all checks passed") {
			t.Errorf("doctor %v failed:\n%s", args, out)
		}
		for _, l := range checkLines(t, out) {
			if !strings.HasPrefix(l, "✓ ") {
				t.Errorf("doctor %v: not green: %s", args, l)
			}
		}
		wantLine(t, out, "✓", "round trip", "encryption echoed")
		wantLine(t, out, "✓", "server-side copy of an encrypted object works")
		wantLine(t, out, "✓", "plain object copied", "stored encrypted")
		wantLine(t, out, "✓", "no bucket replication")
		if args[1] == "--sse-kms-key-id" {
			wantLine(t, out, "✓", "KMS key "+kms.kmsID, "readable")
			wantLine(t, out, "✓", "is on the read ACL of secret "+kms.kmsID)
		}
	}
	assertNoProbesLeft(t, b, "healthy")
}

// TestDoctorOnRGWNotesRefusedCopyAndWarnsUnencryptedCopies: the rgw
// profile refuses CopyObject of encrypted objects (a note: ssefs uses part
// copies) and stores plain->encrypted copies unencrypted (a warning); both
// are not failures.
func TestDoctorOnRGWNotesRefusedCopyAndWarnsUnencryptedCopies(t *testing.T) {
	b := testenv.StartBackend(t, "rgw")
	b.CreateBucket(t, "ceph")
	cli := newKeysCLI(t, b)
	for _, enc := range [][]string{{"--sse-c-key-file", newSSECKey(t).keyFile}, {"--sse-kms-key-id", newKMSKey(t, b).kmsID}} {
		out, ok := doctorRun(t, cli, cli.env, append([]string{"ceph"}, enc...)...)
		if !ok {
			t.Errorf("doctor failed on warnings only:\n%s", out)
		}
		wantLine(t, out, "✓", "round trip", "encryption echoed")
		wantLine(t, out, "i", "refuses CopyObject of encrypted objects", "501", "part copies")
		wantLine(t, out, "!", "UNENCRYPTED", "without the encryption echo", "ssefs checks the echo and repairs", "fix: ")
	}
	assertNoProbesLeft(t, b, "ceph")
}

// TestDoctorWarnsAboutReplication: a bucket with replication rules gets the
// guide's warning that replication plus encryption can lose data.
func TestDoctorWarnsAboutReplication(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "replicated")
	_, err := b.S3().PutBucketReplication(context.Background(), &s3.PutBucketReplicationInput{Bucket: aws.String("replicated"),
		ReplicationConfiguration: &s3types.ReplicationConfiguration{
			Role: aws.String("arn:aws:iam::1:role/replication"),
			Rules: []s3types.ReplicationRule{{Status: s3types.ReplicationRuleStatusEnabled, Priority: aws.Int32(1), ID: aws.String("all"),
				Filter:                  &s3types.ReplicationRuleFilter{Prefix: aws.String("")},
				DeleteMarkerReplication: &s3types.DeleteMarkerReplication{Status: s3types.DeleteMarkerReplicationStatusDisabled},
				Destination:             &s3types.Destination{Bucket: aws.String("arn:aws:s3:::elsewhere")}}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	cli := newKeysCLI(t, b)
	out, ok := doctorRun(t, cli, cli.env, "replicated", "--sse-c-key-file", newSSECKey(t).keyFile)
	if !ok {
		t.Errorf("a warning made doctor fail:\n%s", out)
	}
	wantLine(t, out, "!", "bucket replication is configured (1 rule(s))", "can lose data", "SSE-C", "fix: ")
}

// TestDoctorKeyFileReadableByOthers: a 0644 key file fails with the chmod
// fix (and the other checks still run).
func TestDoctorKeyFileReadableByOthers(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "perms")
	e := newSSECKey(t)
	if err := os.Chmod(e.keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	cli := newKeysCLI(t, b)
	out, ok := doctorRun(t, cli, cli.env, "perms", "--sse-c-key-file", e.keyFile)
	if ok {
		t.Errorf("doctor passed with a world-readable key file:\n%s", out)
	}
	wantLine(t, out, "✗", "key file "+e.keyFile+" has mode 0644", "fix: chmod 600 "+e.keyFile)
	wantLine(t, out, "✓", "SSE-C round trip")
	if strings.Contains(out, e.key.Base64()) {
		t.Error("the key is in the output")
	}
}

// TestDoctorWrongSecret: a wrong secret key is a credentials failure, with
// the endpoint shown reachable and the bucket not checked.
func TestDoctorWrongSecret(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "creds")
	cli := newKeysCLI(t, b)
	env := append(append([]string(nil), cli.env...), "AWS_SECRET_ACCESS_KEY=not-the-secret")
	out, ok := doctorRun(t, cli, env, "creds", "--sse-c-key-file", newSSECKey(t).keyFile)
	if ok {
		t.Fatalf("doctor passed with a wrong secret:\n%s", out)
	}
	wantLine(t, out, "✓", "endpoint", "reachable")
	wantLine(t, out, "✗", "credentials refused", "SignatureDoesNotMatch", "fix: ")
	wantLine(t, out, "-", "bucket")
}

// TestDoctorMissingBucket: a bucket that does not exist fails with the fix.
func TestDoctorMissingBucket(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	cli := newKeysCLI(t, b)
	out, ok := doctorRun(t, cli, cli.env, "missing", "--sse-c-key-file", newSSECKey(t).keyFile)
	if ok {
		t.Fatalf("doctor passed without the bucket:\n%s", out)
	}
	wantLine(t, out, "✓", "credentials accepted")
	wantLine(t, out, "✗", `bucket "missing" does not exist`, "fix: ")
}

// TestDoctorServiceUserNotOnACL: a KMS key the object store's service user
// may not read fails, naming `ssefs keys grant ID USER` as the fix.
func TestDoctorServiceUserNotOnACL(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "acl")
	cli := newKeysCLI(t, b)
	id := keyIDOf(t, cli.ok("keys", "create", "--name", "not-granted"))
	user := b.Env["SSEFS_KMS_SERVICE_USER_ID"]
	out, ok := doctorRun(t, cli, cli.env, "acl", "--sse-kms-key-id", id, "--kms-service-user", user)
	if ok {
		t.Fatalf("doctor passed with the service user off the ACL:\n%s", out)
	}
	wantLine(t, out, "✓", "KMS key "+id, "readable")
	wantLine(t, out, "✗", "service user "+user+" is not on the read ACL of secret "+id, "fix: ssefs keys grant "+id+" "+user)
	wantLine(t, out, "✗", "SSE-KMS round trip", "fix: ssefs keys grant "+id+" "+user)
}

// TestDoctorOnTerminalUsesColours: on a terminal the marks are coloured;
// the plain-text form is checked by every other doctor test.
func TestDoctorOnTerminalUsesColours(t *testing.T) {
	requireTool(t, "script")
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "tty")
	cli := newKeysCLI(t, b)
	shown, err := cli.onTerminal("", "doctor", "tty", "--sse-c-key-file", newSSECKey(t).keyFile)
	if err != nil {
		t.Fatalf("doctor on a terminal: %v\n%s", err, shown)
	}
	if !strings.Contains(shown, "\x1b[32m✓\x1b[0m") {
		t.Errorf("no coloured mark on a terminal:\n%q", shown)
	}
}

// TestDoctorChecksTLS: over HTTPS with a private CA, the certificate is
// refused without --ca-file (the fix says so) and valid with it.
func TestDoctorChecksTLS(t *testing.T) {
	b := testenv.StartBackend(t, "aws", "--tls")
	b.CreateBucket(t, "secure")
	cli := newKeysCLI(t, b)
	var env []string
	for _, kv := range cli.env {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	key := newSSECKey(t).keyFile
	out, ok := doctorRun(t, cli, env, "secure", "--sse-c-key-file", key)
	if ok {
		t.Fatalf("doctor passed with an untrusted certificate:\n%s", out)
	}
	wantLine(t, out, "✗", "endpoint "+b.Endpoint(), "certificate", "--ca-file")
	out, ok = doctorRun(t, cli, env, "secure", "--sse-c-key-file", key, "--ca-file", b.Env["AWS_CA_BUNDLE"])
	if !ok {
		t.Fatalf("doctor failed with --ca-file:\n%s", out)
	}
	wantLine(t, out, "✓", "endpoint "+b.Endpoint()+" reachable, TLS certificate valid")
}
