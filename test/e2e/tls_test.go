package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestTLSWithPrivateCA: over HTTPS with a private CA, --ca-file makes the
// mount work; without it the certificate is refused (certificates are
// always verified) with one clear line and nothing mounted.
func TestTLSWithPrivateCA(t *testing.T) {
	b := testenv.StartBackend(t, testenv.DefaultProfile(), "--tls")
	if !strings.HasPrefix(b.Endpoint(), "https://") {
		t.Fatalf("--tls backend endpoint %s is not https", b.Endpoint())
	}
	caFile := b.Env["AWS_CA_BUNDLE"]
	b.CreateBucket(t, "secure")
	e := newSSECKey(t)

	var env []string
	for _, kv := range b.Environ() {
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			env = append(env, kv)
		}
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	out, err := runSSEFS(t, env, append([]string{"mount", "secure", mnt, "--endpoint", b.Endpoint()}, e.mountArgs()...)...)
	assertCleanFailure(t, out, err, "certificate", mnt)

	m := testenv.MountBucket(t, b, "secure", append(e.mountArgs(), "--ca-file", caFile)...)
	data := randomBytes(t, 1<<20)
	writeLocal(t, m.Path("over-tls.bin"), data)
	assertFileContent(t, m.Path("over-tls.bin"), data)
}
