package testenv

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Backend is a running ssefs-refbackend process, or the real-stack lab
// (see External).
type Backend struct {
	Dir     string            // its data dir (the lab's directory for the lab)
	Profile string            // "aws" or "rgw"
	Env     map[string]string // the export lines it printed (AWS_ENDPOINT_URL, OS_*, ...)
	Args    []string          // extra arguments it was started with
	cmd     *exec.Cmd
	bin     string
	stderr  *os.File

	external bool       // the real-stack lab: no process of ours
	t        testing.TB // the test that asked for the lab
	mu       sync.Mutex
	kept     map[string]bool // lab buckets whose objects stay after the test
}

// StartBackend starts a reference backend with a new data dir under
// t.TempDir() and stops it when the test ends. With
// SSEFS_E2E_BACKEND=realstack it returns the real-stack lab instead (see
// External).
func StartBackend(t testing.TB, profile string, extraArgs ...string) *Backend {
	t.Helper()
	if External() {
		return startExternal(t, profile, extraArgs...)
	}
	return StartLocalBackend(t, profile, extraArgs...)
}

// StartLocalBackend is StartBackend that always starts a reference backend
// process, whatever SSEFS_E2E_BACKEND says.
func StartLocalBackend(t testing.TB, profile string, extraArgs ...string) *Backend {
	t.Helper()
	_, bin := MustBinaries(t)
	b := &Backend{Dir: filepath.Join(t.TempDir(), "backend"), Profile: profile, Args: extraArgs, bin: bin}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		b.Stop()
		// What the server stored is ciphertext: no key, no marker.
		suite.checkTree(t, b.Dir, true)
		suite.checkFile(t, b.Dir+".log", false)
	})
	return b
}

// Start (re)starts the process on the same data dir. A restart keeps the
// listen addresses when they were picked before.
func (b *Backend) Start() error {
	if b.external {
		return errNoRestart
	}
	s3Listen, kmsListen := "127.0.0.1:0", "127.0.0.1:0"
	if ep := b.Env["AWS_ENDPOINT_URL"]; ep != "" {
		s3Listen = hostPort(ep)
		kmsListen = hostPort(strings.TrimSuffix(b.Env["OS_AUTH_URL"], "/v3"))
	}
	args := append([]string{"--data", b.Dir, "--s3-listen", s3Listen, "--kms-listen", kmsListen, "--profile", b.Profile}, b.Args...)
	cmd := exec.Command(b.bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(b.Dir), 0o700); err != nil {
		return err
	}
	logf, err := os.OpenFile(b.Dir+".log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		return err
	}
	env := map[string]string{}
	lines := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
				env[k] = unquote(v)
			}
			if env["AWS_ENDPOINT_URL"] != "" && env["SSEFS_KMS_SERVICE_USER_ID"] != "" && env["OS_PASSWORD"] != "" && (env["AWS_CA_BUNDLE"] != "" || !contains(b.Args, "--tls")) {
				lines <- nil
				// Keep draining so the process never blocks on stdout.
				for sc.Scan() {
				}
				return
			}
		}
		lines <- fmt.Errorf("ssefs-refbackend exited before printing its environment (log: %s.log)", b.Dir)
	}()
	select {
	case err := <-lines:
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return err
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("ssefs-refbackend did not become ready in 60 s (log: %s.log)", b.Dir)
	}
	b.Env, b.cmd, b.stderr = env, cmd, logf
	return nil
}

// Stop ends the process with SIGTERM (graceful) and waits for it. On the
// real-stack lab it fails the test.
func (b *Backend) Stop() {
	if b.external {
		b.noProcess("stop")
		return
	}
	b.signal(syscall.SIGTERM)
}

// Kill ends the process with SIGKILL, as a crash would. On the real-stack
// lab it fails the test.
func (b *Backend) Kill() {
	if b.external {
		b.noProcess("kill")
		return
	}
	b.signal(syscall.SIGKILL)
}

func (b *Backend) signal(sig syscall.Signal) {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		b.cmd.Process.Kill()
		<-done
	}
	b.stderr.Close()
	b.cmd = nil
}

// Endpoint is the S3 endpoint URL.
func (b *Backend) Endpoint() string { return b.Env["AWS_ENDPOINT_URL"] }

// Environ returns os.Environ() with the backend's variables set, for child
// processes such as ssefs and the aws CLI.
func (b *Backend) Environ() []string {
	env := os.Environ()
	for k, v := range b.Env {
		env = append(env, k+"="+v)
	}
	return env
}

// S3 returns a plain aws-sdk-go-v2 client for the backend, to check from
// outside what the mount stored. On the real-stack lab it computes
// checksums only where required: RGW 16 refuses the SDK's default
// aws-chunked bodies with trailing checksums over HTTPS.
func (b *Backend) S3() *s3.Client {
	o := s3.Options{
		BaseEndpoint: aws.String(b.Endpoint()),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(b.Env["AWS_ACCESS_KEY_ID"], b.Env["AWS_SECRET_ACCESS_KEY"], ""),
		HTTPClient:   b.httpClient(),
	}
	if b.external {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	return s3.New(o)
}

// httpClient trusts the backend's CA when it serves TLS.
func (b *Backend) httpClient() *http.Client {
	caFile := b.Env["AWS_CA_BUNDLE"]
	if caFile == "" {
		return http.DefaultClient
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		panic(fmt.Sprintf("reading the backend's CA %s: %v", caFile, err))
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return &http.Client{Transport: tr}
}

// CreateBucket makes a bucket through the S3 API. On the real-stack lab,
// where buckets outlive the test, a bucket left by an earlier run is
// emptied instead, and the bucket is emptied again when the test ends.
func (b *Backend) CreateBucket(t testing.TB, name string) {
	t.Helper()
	if b.external {
		b.createExternalBucket(t, name)
		return
	}
	if _, err := b.S3().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}

func hostPort(rawURL string) string {
	s := rawURL[strings.Index(rawURL, "://")+3:]
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	return s
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
