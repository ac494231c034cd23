// Package testenv starts the real pieces that ssefs's end-to-end tests
// drive: the ssefs and ssefs-refbackend binaries built from this tree, a
// reference backend on loopback, and FUSE mounts. Everything runs for real;
// nothing here is a stand-in.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// RepoRoot is the directory holding go.mod.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Binaries builds cmd/ssefs and cmd/ssefs-refbackend once per test process
// and returns their paths. SSEFS_RACE=1 builds them with the race detector.
func Binaries() (ssefs, refbackend string, err error) {
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "ssefs-bin-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", buildDir + "/"}
		if os.Getenv("SSEFS_RACE") == "1" {
			args = append(args, "-race")
		}
		args = append(args, "./cmd/ssefs", "./cmd/ssefs-refbackend")
		cmd := exec.Command("go", args...)
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		return "", "", buildErr
	}
	return filepath.Join(buildDir, "ssefs"), filepath.Join(buildDir, "ssefs-refbackend"), nil
}

// MustBinaries is Binaries for a test: it fails the test on a build error.
func MustBinaries(t interface {
	Helper()
	Fatal(...any)
}) (ssefs, refbackend string) {
	t.Helper()
	s, r, err := Binaries()
	if err != nil {
		t.Fatal(err)
	}
	return s, r
}

// RemoveBinaries deletes the binaries Binaries built. Call it from TestMain
// after m.Run, so test runs leave nothing behind in the temp dir.
func RemoveBinaries() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// RunTests runs m and removes the built binaries: a TestMain in one line,
// os.Exit(testenv.RunTests(m)). With SSEFS_RACE=1 a data race reported by
// any race-built ssefs or ssefs-refbackend process fails the run.
func RunTests(m interface{ Run() int }) int {
	setRaceEnv()
	code := m.Run()
	if suite.reportRaces(os.Stdout) > 0 && code == 0 {
		code = 1
	}
	RemoveBinaries()
	suite.cleanup(code == 0)
	return code
}
