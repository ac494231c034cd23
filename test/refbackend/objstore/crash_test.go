package objstore

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// crashVersions are the contents the crash child alternates between.
func crashVersions() [][]byte {
	return [][]byte{pseudo(31, 1<<20+3), pseudo(32, 300<<10)}
}

// TestCrashChild is the process TestKill9 kills; it does nothing unless
// started by TestKill9.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("OBJSTORE_CRASH_DIR")
	if dir == "" {
		t.Skip("only run as TestKill9's child")
	}
	key, _ := hex.DecodeString(os.Getenv("OBJSTORE_CRASH_KEY"))
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.CreateBucket("b")
	vs := crashVersions()
	for i := 0; ; i++ {
		v := vs[i%2]
		if _, err := s.Put("b", "k", bytes.NewReader(v), ObjectMeta{}, Sealing{Mode: SSEC, Key: key}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put("b", "plain", bytes.NewReader(v), ObjectMeta{}, Sealing{}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			os.WriteFile(filepath.Join(dir, "ready"), nil, 0o600)
		}
	}
}

// TestKill9 kills a process in the middle of overwriting objects and checks
// that every object is then one whole version and no leftovers remain.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	key := randomBytes(32)
	vs := crashVersions()
	rng := rand.New(rand.NewPCG(7, 7))
	for round := range 4 {
		os.Remove(filepath.Join(dir, "ready"))
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "OBJSTORE_CRASH_DIR="+dir, "OBJSTORE_CRASH_KEY="+hex.EncodeToString(key))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("crash child never got ready")
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		cmd.Process.Kill() // SIGKILL
		cmd.Wait()

		t.Logf("round %d: %d files in data/ before recovery", round, len(dataFiles(t, dir)))
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		for _, name := range []string{"k", "plain"} {
			m, err := s.Stat("b", name)
			if err != nil {
				t.Fatalf("round %d: %s: %v", round, name, err)
			}
			got := readRange(t, s, m, key, 0, m.Size)
			if !bytes.Equal(got, vs[0]) && !bytes.Equal(got, vs[1]) {
				t.Fatalf("round %d: %s is neither version (%d bytes)", round, name, len(got))
			}
		}
		if n := len(dataFiles(t, dir)); n != 2 {
			t.Fatalf("round %d: %d data files after recovery, want 2", round, n)
		}
		s.Close()
	}
}
