//go:build realstack

package realstack

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestAtRestAfterSuite is the at-rest check after the mount suite
// (test/e2e with SSEFS_E2E_BACKEND=realstack): every RADOS object of RGW's
// data pool is read with rados get (rados-scan.sh), and none may hold a
// plaintext marker the suite wrote through encrypted mounts; the markers of
// the plain control objects written beside them must be found, or the scan
// did not see the suite's data. The suite records its markers in the file
// REALSTACK_MARKERS names (LAB/e2e-markers.txt); without that variable the
// test is skipped (make test-real sets it after the suite).
func TestAtRestAfterSuite(t *testing.T) {
	file := os.Getenv("REALSTACK_MARKERS")
	if file == "" {
		t.Skip("REALSTACK_MARKERS is not set: make test-real runs this after the mount suite")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("the mount suite recorded no markers (did test/e2e run against the lab?): %v", err)
	}
	var encrypted, plain []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		kind, m, ok := strings.Cut(line, " ")
		switch {
		case ok && kind == "encrypted":
			encrypted = append(encrypted, m)
		case ok && kind == "plain":
			plain = append(plain, m)
		default:
			t.Fatalf("%s: bad line %q", file, line)
		}
	}
	if len(encrypted) == 0 || len(plain) == 0 {
		t.Fatalf("%s holds %d encrypted and %d plain markers; want some of each", file, len(encrypted), len(plain))
	}
	_, out := lab.RadosScan(t, append(slices.Clone(encrypted), plain...)...)
	found := testenv.ScanFindings(out)
	for _, m := range encrypted {
		if slices.Contains(found, m) {
			t.Errorf("plaintext marker %s, written through an encrypted mount, is at rest in RADOS", m)
		}
	}
	for _, m := range plain {
		if !slices.Contains(found, m) {
			t.Errorf("the plain control marker %s is not in RADOS: the scan does not see the suite's objects", m)
		}
	}
	t.Logf("%d encrypted markers absent from RADOS, %d plain control markers present\n%s", len(encrypted), len(plain), out)
}
