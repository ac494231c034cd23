package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// awsCLI runs Debian's aws CLI (2.9 does not read AWS_ENDPOINT_URL, so the
// endpoint is passed) with the backend's credentials and no user config.
func awsCLI(t *testing.T, b *testenv.Backend, args ...string) (string, error) {
	t.Helper()
	const bin = "/usr/bin/aws"
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%s is missing: make test installs Debian's awscli (test/deps.sh)", bin)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, append([]string{"--endpoint-url", b.Endpoint(), "--region", "us-east-1"}, args...)...)
	cmd.Env = append(b.Environ(), "AWS_CONFIG_FILE="+filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAWSCLIAndMountShareSSECObjects: objects uploaded with the guide's aws
// CLI flags read correctly through the mount, and files written through the
// mount download correctly with the same flags.
func TestAWSCLIAndMountShareSSECObjects(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			b := testenv.StartBackend(t, profile)
			b.CreateBucket(t, "shared")
			e := newSSECKey(t)
			local := t.TempDir()
			small, multipart := []byte("uploaded by the aws CLI\n"), randomBytes(t, 20<<20)
			writeLocal(t, filepath.Join(local, "cli.txt"), small)
			writeLocal(t, filepath.Join(local, "cli.bin"), multipart)
			for _, name := range []string{"cli.txt", "cli.bin"} {
				if out, err := awsCLI(t, b, "s3", "cp", filepath.Join(local, name), "s3://shared/"+name, "--sse-c", "AES256", "--sse-c-key", "fileb://"+e.keyFile); err != nil {
					t.Fatalf("aws s3 cp up: %v\n%s", err, out)
				}
			}
			m := testenv.MountBucket(t, b, "shared", e.mountArgs()...)
			assertFileContent(t, m.Path("cli.txt"), small)
			assertFileContent(t, m.Path("cli.bin"), multipart)

			fromMount := randomBytes(t, 9<<20)
			writeLocal(t, m.Path("mount.bin"), fromMount)
			down := filepath.Join(local, "down.bin")
			if out, err := awsCLI(t, b, "s3", "cp", "s3://shared/mount.bin", down, "--sse-c", "AES256", "--sse-c-key", "fileb://"+e.keyFile); err != nil {
				t.Fatalf("aws s3 cp down: %v\n%s", err, out)
			}
			assertFileContent(t, down, fromMount)
			if out, err := awsCLI(t, b, "s3", "cp", "s3://shared/mount.bin", filepath.Join(local, "nokey")); err == nil {
				t.Fatalf("download without the key succeeded:\n%s", out)
			}
			got, err := os.ReadFile(down)
			if err != nil || !bytes.Equal(got, fromMount) {
				t.Fatal(fmt.Sprint("download differs: ", err))
			}
			assertEncrypted(t, b, "shared", "mount.bin", e)
		})
	}
}
