package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestMakeDemo runs the README's first command and checks that it shows the
// text read back through the mount and the ciphertext on the backend's disk.
func TestMakeDemo(t *testing.T) {
	out, err := exec.Command("make", "-C", testenv.RepoRoot(), "demo").CombinedOutput()
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"read back through the mount: Hello from ssefs!", "only ciphertext rests on the server", "00000000:"} {
		if !strings.Contains(s, want) {
			t.Errorf("make demo output lacks %q:\n%s", want, s)
		}
	}
}
