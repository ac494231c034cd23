package refbackend

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
	binDir  string
)

// refbackendBinary builds cmd/ssefs-refbackend once per test run.
func refbackendBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "ssefs-refbackend-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "ssefs-refbackend")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/ssefs/ssefs/cmd/ssefs-refbackend").CombinedOutput()
		if err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("build ssefs-refbackend: %v\n%s", binErr, binPath)
	}
	return binPath
}

// proc is a running ssefs-refbackend.
type proc struct {
	cmd    *exec.Cmd
	env    map[string]string
	stdout string
	exited chan struct{} // closed once the process has exited
	err    error         // its exit status, set before exited closes
	mu     sync.Mutex
	stderr bytes.Buffer
}

// startBinary runs the binary on dir and waits for "ready".
func startBinary(t *testing.T, dir string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(refbackendBinary(t), append([]string{"--data", dir}, args...)...)
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	p := &proc{cmd: cmd, env: map[string]string{}, exited: make(chan struct{})}
	outc := make(chan string, 1)
	go func() { b, _ := io.ReadAll(stdout); outc <- string(b) }()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if sc.Text() == "ready" {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-p.exited })
	select {
	case <-ready:
	case <-p.exited:
		t.Fatalf("ssefs-refbackend exited before ready: %v\n%s", p.err, p.errText())
	case <-time.After(60 * time.Second):
		t.Fatalf("ssefs-refbackend not ready\n%s", p.errText())
	}
	env, err := os.ReadFile(filepath.Join(dir, "env.sh"))
	must(t, err)
	for _, line := range strings.Split(string(env), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			p.env[k] = strings.Trim(v, "'")
		}
	}
	p.stdout = string(env)
	return p
}

func (p *proc) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// kill9 kills the process without warning and waits for it.
func (p *proc) kill9(t *testing.T) {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// client returns an S3 client configured from the process's env.sh.
func (p *proc) client(t *testing.T) *s3.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if ca := p.env["AWS_CA_BUNDLE"]; ca != "" {
		pem, err := os.ReadFile(ca)
		must(t, err)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return newS3Client(p.env["AWS_ENDPOINT_URL"], p.env["AWS_ACCESS_KEY_ID"], p.env["AWS_SECRET_ACCESS_KEY"], tr, aws.RequestChecksumCalculationWhenRequired)
}

func TestBinaryEnvAndRestart(t *testing.T) {
	for _, tlsOn := range []bool{false, true} {
		t.Run("tls="+boolStr(tlsOn), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			args := []string{"--s3-listen", "127.0.0.1:0", "--kms-listen", "127.0.0.1:0"}
			if tlsOn {
				args = append(args, "--tls")
			}
			p := startBinary(t, dir, args...)
			for _, k := range []string{"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "OS_AUTH_URL", "OS_USERNAME",
				"OS_PASSWORD", "OS_PROJECT_NAME", "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME", "OS_IDENTITY_API_VERSION", "SSEFS_KMS_SERVICE_USER_ID"} {
				if p.env[k] == "" {
					t.Errorf("env.sh lacks %s", k)
				}
			}
			if (p.env["AWS_CA_BUNDLE"] != "") != tlsOn || strings.HasPrefix(p.env["AWS_ENDPOINT_URL"], "https://") != tlsOn {
				t.Errorf("TLS env: %v", p.env)
			}
			for path, mode := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "env.sh"): 0o600} {
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != mode {
					t.Errorf("%s: %v %v; want %v", path, fi.Mode().Perm(), err, mode)
				}
			}
			ctx := context.Background()
			c := p.client(t)
			k := newSSEC(randBytes(t, 32))
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bk)})
			must(t, err)
			in := &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("k"), Body: strings.NewReader("kept across restarts")}
			k.onPut(in)
			_, err = c.PutObject(ctx, in)
			must(t, err)
			caBefore, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))

			// SIGTERM: a graceful stop, then a restart on the same dir.
			must(t, p.cmd.Process.Signal(syscall.SIGTERM))
			select {
			case <-p.exited:
				if p.err != nil {
					t.Errorf("exit after SIGTERM: %v\n%s", p.err, p.errText())
				}
			case <-time.After(30 * time.Second):
				t.Fatal("no exit after SIGTERM")
			}
			p2 := startBinary(t, dir, args...)
			if p2.env["AWS_ACCESS_KEY_ID"] != p.env["AWS_ACCESS_KEY_ID"] || p2.env["OS_PASSWORD"] != p.env["OS_PASSWORD"] ||
				p2.env["SSEFS_KMS_SERVICE_USER_ID"] != p.env["SSEFS_KMS_SERVICE_USER_ID"] {
				t.Errorf("credentials changed across a restart")
			}
			if caAfter, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(caBefore, caAfter) {
				t.Errorf("ca.pem changed across a restart")
			}
			g := &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("k")}
			k.onGet(g)
			out, err := p2.client(t).GetObject(ctx, g)
			if b := readAll(t, out, err); string(b) != "kept across restarts" {
				t.Errorf("after restart: %q", b)
			}
		})
	}
}

// TestBinaryGracefulStopAndQuietLogs: SIGTERM lets an in-flight PUT finish,
// and --verbose logs requests without any key material.
func TestBinaryGracefulStopAndQuietLogs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startBinary(t, dir, "--verbose")
	ctx := context.Background()
	c := p.client(t)
	k := newSSEC(randBytes(t, 32))
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bk)})
	must(t, err)

	const size = 8 << 20
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PUT", p.env["AWS_ENDPOINT_URL"]+"/"+bk+"/inflight", pr)
	must(t, err)
	req.ContentLength = size
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	req.Header.Set(hSSECAlg, "AES256")
	req.Header.Set(hSSECKey, k.b64)
	req.Header.Set(hSSECMD5, k.md5)
	must(t, v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: p.env["AWS_ACCESS_KEY_ID"], SecretAccessKey: p.env["AWS_SECRET_ACCESS_KEY"]},
		req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()))
	status := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	data := randBytes(t, size)
	_, err = pw.Write(data[:size/2])
	must(t, err)
	must(t, p.cmd.Process.Signal(syscall.SIGTERM))
	time.Sleep(200 * time.Millisecond)
	_, err = pw.Write(data[size/2:])
	must(t, err)
	pw.Close()
	if st := <-status; st != http.StatusOK {
		t.Errorf("in-flight PUT across SIGTERM answered %d", st)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
	if p.err != nil {
		t.Errorf("exit status: %v", p.err)
	}
	logs := p.errText()
	if !strings.Contains(logs, "PUT /"+bk+"/inflight") {
		t.Errorf("--verbose did not log the request:\n%s", logs)
	}
	for _, secret := range []string{k.b64, hex.EncodeToString(k.raw), k.md5, p.env["AWS_SECRET_ACCESS_KEY"], p.env["OS_PASSWORD"]} {
		if strings.Contains(logs, secret) {
			t.Errorf("a key or password was logged:\n%s", logs)
		}
	}
	p2 := startBinary(t, dir)
	if got := getSSEC(t, p2.client(t), "inflight", k); !bytes.Equal(got, data) {
		t.Errorf("the in-flight object was not stored whole (%d bytes)", len(got))
	}
}

// TestBinaryBucketFlagAndLocate: --bucket creates the demo's bucket, and
// `locate` names the files that hold an object, which hold no plaintext;
// it works with the server running and stopped.
func TestBinaryBucketFlagAndLocate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startBinary(t, dir, "--bucket", "demo")
	k := newSSEC(randBytes(t, 32))
	plain := "Hello from ssefs! " + hex.EncodeToString(randBytes(t, 8))
	in := &s3.PutObjectInput{Bucket: aws.String("demo"), Key: aws.String("dir/hello world+.txt"), Body: strings.NewReader(plain)}
	k.onPut(in)
	_, err := p.client(t).PutObject(context.Background(), in)
	must(t, err)
	locate := func() []string {
		out, err := exec.Command(refbackendBinary(t), "locate", "--data", dir, "demo", "dir/hello world+.txt").CombinedOutput()
		if err != nil {
			t.Fatalf("locate: %v\n%s", err, out)
		}
		return strings.Fields(string(out))
	}
	running := locate()
	if len(running) == 0 {
		t.Fatal("locate printed nothing")
	}
	for _, f := range running {
		b, err := os.ReadFile(f)
		must(t, err)
		if int64(len(b)) < int64(len(plain)) || bytes.Contains(b, []byte(plain)) || !strings.HasPrefix(f, dir) {
			t.Errorf("%s: %d bytes, plaintext inside: %v", f, len(b), bytes.Contains(b, []byte(plain)))
		}
	}
	must(t, p.cmd.Process.Signal(syscall.SIGTERM))
	<-p.exited
	if stopped := locate(); strings.Join(stopped, " ") != strings.Join(running, " ") {
		t.Errorf("locate on a stopped backend: %v; running: %v", stopped, running)
	}
	out, err := exec.Command(refbackendBinary(t), "locate", "--data", dir, "demo", "missing").CombinedOutput()
	if err == nil {
		t.Errorf("locate of a missing key succeeded: %s", out)
	}
}
