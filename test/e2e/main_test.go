package e2e

import (
	"os"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestMain runs the suite with the suite-wide hygiene check (issue 7):
// every mount logs with --debug to a kept log, every SSE-C key a mount is
// given and every plaintext marker written into an encrypted file is
// registered, and after the last test the kept logs, the daemons' /proc
// entries (scanned while they ran), their staging dirs, the backends'
// data and every file under the temp dir written since the suite began
// are searched for them: any hit, or any data race a race-built daemon
// reported (SSEFS_RACE=1), fails the run. It then removes the binaries
// testenv built.
func TestMain(m *testing.M) { os.Exit(testenv.RunTestsWithHygiene(m)) }
