package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestBadInputFailsCleanly: each mistake a user makes ends `ssefs mount`
// with a non-zero status and one line that names the problem, and leaves
// nothing mounted.
func TestBadInputFailsCleanly(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "bad")
	good := newSSECKey(t)
	dir := t.TempDir()
	keyFile := func(name string, data []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, mode)
		os.Chmod(p, mode)
		return p
	}
	withNewline := base64.StdEncoding.EncodeToString(append(randomBytes(t, 32), '\n'))

	cases := []struct {
		name   string
		bucket string
		args   []string
		env    []string
		want   string
	}{
		{"missing key file", "bad", []string{"--sse-c-key-file", filepath.Join(dir, "nope.key")}, nil, "does not exist"},
		{"key file readable by others", "bad", []string{"--sse-c-key-file", keyFile("open.key", randomBytes(t, 32), 0o644)}, nil, "too open"},
		{"31-byte key", "bad", []string{"--sse-c-key-file", keyFile("short.key", randomBytes(t, 31), 0o600)}, nil, "line 1"},
		{"base64 key with a trailing newline inside", "bad", []string{"--sse-c-key-file", keyFile("nl.key", []byte(withNewline+"\n"), 0o600)}, nil, "decodes to 33 bytes"},
		{"unknown -o option", "bad", []string{"-o", "bogus_option=1"}, nil, `unknown mount option "bogus_option"`},
		{"missing bucket", "no-such-bucket", good.mountArgs(), nil, "no-such-bucket"},
		{"wrong secret key", "bad", good.mountArgs(), []string{"AWS_SECRET_ACCESS_KEY=wrong-secret"}, "credentials"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mnt := filepath.Join(t.TempDir(), "mnt")
			os.Mkdir(mnt, 0o755)
			out, err := runSSEFS(t, append(b.Environ(), c.env...), append([]string{"mount", c.bucket, mnt, "--endpoint", b.Endpoint()}, c.args...)...)
			assertCleanFailure(t, out, err, c.want, mnt)
		})
	}

	t.Run("unreachable endpoint", func(t *testing.T) {
		mnt := filepath.Join(t.TempDir(), "mnt")
		os.Mkdir(mnt, 0o755)
		out, err := runSSEFS(t, b.Environ(), append([]string{"mount", "bad", mnt, "--endpoint", "http://127.0.0.1:1"}, good.mountArgs()...)...)
		assertCleanFailure(t, out, err, "unreachable", mnt)
	})

	// SSE-C over plain HTTP to a non-loopback host must be refused before
	// any request: run inside a network namespace with no network, so no
	// packet could leave even if the check were broken.
	t.Run("SSE-C to a non-loopback http endpoint", func(t *testing.T) {
		ssefs, _ := testenv.MustBinaries(t)
		mnt := filepath.Join(t.TempDir(), "mnt")
		os.Mkdir(mnt, 0o755)
		cmd := exec.Command("unshare", "-n", ssefs, "mount", "bad", mnt, "--endpoint", "http://s3.example.com", "--sse-c-key-file", good.keyFile)
		cmd.Env = b.Environ()
		out, err := cmd.CombinedOutput()
		assertCleanFailure(t, string(out), err, "SSE-C keys over plain HTTP", mnt)
	})
}

func runSSEFS(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ssefs, _ := testenv.MustBinaries(t)
	cmd := exec.Command(ssefs, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func assertCleanFailure(t *testing.T, out string, err error, want, mnt string) {
	t.Helper()
	if err == nil {
		exec.Command("umount", mnt).Run()
		t.Fatalf("mount succeeded, want a failure naming %q", want)
	}
	if !strings.Contains(out, want) {
		t.Errorf("output %q does not name the problem (%q)", out, want)
	}
	if !oneLine(out) {
		t.Errorf("want one line, got:\n%s", out)
	}
	if testenv.IsMounted(mnt) {
		exec.Command("umount", "-l", mnt).Run()
		t.Errorf("%s is left mounted", mnt)
	}
}
