package e2e

import (
	"os"
	"testing"
	"time"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestKMSDeletedSecretReadsFailCleanly: once the Barbican secret of SSE-KMS
// objects is deleted, reading them through the mount fails with an error
// (EACCES where the server answers 403, ENOENT where RGW answers 404
// NoSuchKey), quickly and without wrong bytes, and the mount stays usable.
func TestKMSDeletedSecretReadsFailCleanly(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} { // the lab skips "aws"
		t.Run(profile, func(t *testing.T) { deletedSecretReadsFail(t, profile) })
	}
}

func deletedSecretReadsFail(t *testing.T, profile string) {
	b := testenv.StartBackend(t, profile)
	b.CreateBucket(t, "kmsgone")
	e := newKMSKey(t, b)
	m := testenv.MountBucket(t, b, "kmsgone", e.mountArgs()...)
	data := randomBytes(t, 300000)
	writeLocal(t, m.Path("doomed.bin"), data)
	assertFileContent(t, m.Path("doomed.bin"), data)

	b.DeleteKMSKey(t, e.kmsID)
	time.Sleep(1500 * time.Millisecond) // past the mount's attribute TTL

	done := make(chan error, 1)
	go func() {
		got, err := os.ReadFile(m.Path("doomed.bin"))
		if err == nil && string(got) != string(data) {
			t.Errorf("read returned %d wrong bytes", len(got))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("reading an object whose KMS secret was deleted succeeded")
		}
		if !os.IsPermission(err) && !os.IsNotExist(err) {
			t.Fatalf("read error %v, want EACCES or ENOENT", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("reading an object whose KMS secret was deleted hangs")
	}
	// The mount stays usable: the directory still lists.
	sh(t, "/", "ls "+m.Dir)
}
