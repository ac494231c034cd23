package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/testenv"
)

// fsUnderTest is one way of mounting the bench bucket: ssefs, or a peer
// (s3fs, rclone) on the same backend with the same SSE-C key.
type fsUnderTest interface {
	name() string
	mount(t *testing.T) string // returns the mountpoint
	unmount(t *testing.T)
	dir() string
}

// ssefsMount mounts with the real binary.
type ssefsMount struct {
	label   string // the results column: "ssefs", or "ssefs-dio" with --direct-io
	b       *testenv.Backend
	bucket  string
	keyFile string
	args    []string
	m       *testenv.Mount
}

func (s *ssefsMount) name() string { return s.label }

func (s *ssefsMount) mount(t *testing.T) string {
	s.m = testenv.MountBucket(t, s.b, s.bucket, append([]string{"--sse-c-key-file", s.keyFile}, s.args...)...)
	return s.m.Dir
}

func (s *ssefsMount) unmount(t *testing.T) { s.m.Unmount() }
func (s *ssefsMount) dir() string          { return s.m.Dir }

// peerMount runs a peer's mount command and unmounts with umount(8).
type peerMount struct {
	tool string
	argv func(dir string) []string
	env  []string
	mnt  string
}

func (p *peerMount) name() string { return p.tool }
func (p *peerMount) dir() string  { return p.mnt }

func (p *peerMount) mount(t *testing.T) string {
	p.mnt = filepath.Join(t.TempDir(), p.tool+"-mnt")
	if err := os.Mkdir(p.mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	argv := p.argv(p.mnt)
	cmd := exec.Command(argv[0], argv[1:]...)
	for _, kv := range os.Environ() {
		// rclone refuses AWS_CA_BUNDLE with its own HTTP transport.
		if !strings.HasPrefix(kv, "AWS_CA_BUNDLE=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, p.env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	t.Cleanup(func() { p.unmount(t) })
	deadline := time.Now().Add(30 * time.Second)
	for !testenv.IsMounted(p.mnt) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not mount on %s", p.tool, p.mnt)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return p.mnt
}

func (p *peerMount) unmount(t *testing.T) {
	for i := 0; testenv.IsMounted(p.mnt); i++ {
		if i == 100 {
			exec.Command("umount", "-l", p.mnt).Run()
			break
		}
		exec.Command("umount", p.mnt).Run()
		time.Sleep(100 * time.Millisecond)
	}
}

// s3fsMount mounts with s3fs-fuse: SSE-C from a key file of one base64
// line, path-style requests to the backend's URL. nomultipart: s3fs 1.90
// initiates multipart uploads without the SSE-C headers it then sends
// with the parts, which S3 (and the reference backend) refuse, so large
// SSE-C writes fail with EIO; single PUTs work.
func s3fsMount(t *testing.T, b *testenv.Backend, bucket string, key *ssekeys.Key) fsUnderTest {
	dir := t.TempDir()
	keyFile, passwd := filepath.Join(dir, "s3fs.key"), filepath.Join(dir, "s3fs.passwd")
	writeSecret(t, keyFile, key.Base64()+"\n")
	writeSecret(t, passwd, b.Env["AWS_ACCESS_KEY_ID"]+":"+b.Env["AWS_SECRET_ACCESS_KEY"]+"\n")
	return &peerMount{tool: "s3fs", argv: func(mnt string) []string {
		return []string{"s3fs", bucket, mnt, "-o", "url=" + b.Endpoint(), "-o", "use_path_request_style",
			"-o", "passwd_file=" + passwd, "-o", "use_sse=custom:" + keyFile, "-o", "endpoint=us-east-1", "-o", "nomultipart"}
	}}
}

// rcloneMount mounts with rclone's s3 backend and SSE-C options.
func rcloneMount(t *testing.T, b *testenv.Backend, bucket string, key *ssekeys.Key) fsUnderTest {
	return &peerMount{tool: "rclone", env: []string{"RCLONE_CONFIG=/dev/null"}, argv: func(mnt string) []string {
		return []string{"rclone", "mount", ":s3:" + bucket, mnt, "--daemon",
			"--s3-provider", "Other", "--s3-endpoint", b.Endpoint(), "--s3-region", "us-east-1",
			"--s3-access-key-id", b.Env["AWS_ACCESS_KEY_ID"], "--s3-secret-access-key", b.Env["AWS_SECRET_ACCESS_KEY"],
			"--s3-force-path-style", "--s3-sse-customer-algorithm", "AES256",
			"--s3-sse-customer-key-base64", key.Base64(), "--s3-sse-customer-key-md5", key.MD5Base64()}
	}}
}

func writeSecret(t *testing.T, path, content string) {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// mountPID finds the process serving mountpoint dir: the one whose
// command line names it.
func mountPID(dir string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		for _, arg := range strings.Split(string(cmdline), "\x00") {
			if arg == dir {
				return pid
			}
		}
	}
	return 0
}

// peakRSS is VmHWM of pid in MiB.
func peakRSS(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}
