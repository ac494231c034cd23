package e2e

import (
	"os"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestMain removes the binaries testenv built once the tests are done.
func TestMain(m *testing.M) { os.Exit(testenv.RunTests(m)) }
