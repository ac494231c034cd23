package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestSSECOverPlainHTTPRefusedBeforeDetaching: a server that refuses SSE
// without TLS (Ceph RGW's default `rgw crypt require ssl`, answering 400
// InvalidRequest with an empty message) makes `ssefs mount` fail before it
// detaches, with one line saying the server requires HTTPS for SSE, and
// nothing mounted. Locally: ssefs-refbackend --require-ssl on plain HTTP; on
// the real-stack lab: RGW's plain-HTTP endpoint.
func TestSSECOverPlainHTTPRefusedBeforeDetaching(t *testing.T) {
	b := testenv.StartBackend(t, "rgw", "--require-ssl")
	endpoint := b.Endpoint()
	if b.IsExternal() {
		endpoint = b.Env["SSEFS_RGW_HTTP_ENDPOINT"]
		if endpoint == "" {
			t.Fatal("the lab's env.sh has no SSEFS_RGW_HTTP_ENDPOINT")
		}
	}
	b.CreateBucket(t, "plainhttp")
	e := newSSECKey(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runSSEFS(t, b.Environ(), append([]string{"mount", "plainhttp", mnt, "--endpoint", endpoint}, e.mountArgs()...)...)
	assertCleanFailure(t, out, err, "requires HTTPS for SSE", mnt)
}
