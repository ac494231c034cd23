package objcache

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssefs/ssefs/ssekeys"
)

func TestKeyTransportRule(t *testing.T) {
	keys := ssekeys.Config{Keys: ring(t, mustKey(t))}
	cases := []struct {
		endpoint  string
		allowHTTP bool
		enc       ssekeys.Config
		ok        bool
	}{
		{"https://s3.example.com", false, keys, true},
		{"", false, keys, true}, // AWS
		{"http://127.0.0.1:9000", false, keys, true},
		{"http://127.8.9.10:9000", false, keys, true},
		{"http://[::1]:9000", false, keys, true},
		{"http://localhost:9000", false, keys, true},
		{"http://s3.example.com", false, keys, false},
		{"http://10.0.0.1:7480", false, keys, false},
		{"http://localhost.example.com", false, keys, false},
		{"http://s3.example.com", true, keys, true},
		{"http://s3.example.com", false, ssekeys.Config{KMSKeyID: "x"}, true},
		{"http://s3.example.com", false, ssekeys.Config{}, true},
		{"s3.example.com", false, ssekeys.Config{}, false}, // no scheme
	}
	for _, tc := range cases {
		var log syncBuffer
		_, err := NewClient(context.Background(), ClientConfig{Endpoint: tc.endpoint, Bucket: "b", Encryption: tc.enc,
			AllowHTTPKeys: tc.allowHTTP, Logger: slog.New(slog.NewTextHandler(&log, nil))})
		if (err == nil) != tc.ok {
			t.Errorf("%q allow=%v: err=%v, want ok=%v", tc.endpoint, tc.allowHTTP, err, tc.ok)
		}
		if err != nil && tc.endpoint != "" && !strings.Contains(err.Error(), tc.endpoint) {
			t.Errorf("%q: message does not name the endpoint: %v", tc.endpoint, err)
		}
		if tc.allowHTTP && !strings.Contains(log.String(), "plain HTTP") {
			t.Errorf("%q: no warning logged for --allow-http-keys", tc.endpoint)
		}
	}
}

// TestSSECOverHTTPMakesNoRequest: the refusal happens before any
// connection, even to a listening non-loopback address.
func TestSSECOverHTTPMakesNoRequest(t *testing.T) {
	ip := nonLoopbackIP(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skip("cannot listen on", ip, err)
	}
	defer ln.Close()
	conns := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			conns <- struct{}{}
			c.Close()
		}
	}()
	ep := "http://" + ln.Addr().String()
	c, err := NewClient(context.Background(), ClientConfig{Endpoint: ep, Bucket: "b", Encryption: ssekeys.Config{Keys: ring(t, mustKey(t))}})
	if err == nil {
		c.Check(context.Background())
		t.Fatal("NewClient accepted SSE-C keys over http to", ep)
	}
	if !strings.Contains(err.Error(), ep) {
		t.Errorf("message does not name %s: %v", ep, err)
	}
	select {
	case <-conns:
		t.Error("a connection was made")
	case <-time.After(200 * time.Millisecond):
	}
}

func nonLoopbackIP(t *testing.T) string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address")
	return ""
}

// TestCheckUnreachableFailsFast: a closed port fails in one line, quickly.
func TestCheckUnreachableFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ep := "http://" + ln.Addr().String()
	ln.Close()
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("A:S\n"), 0o600)
	c, err := NewClient(context.Background(), ClientConfig{Endpoint: ep, Bucket: "b", PasswdFile: pw,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = c.Check(context.Background())
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Check took %s", d)
	}
	want := "endpoint " + ep + " unreachable: connection refused"
	if err == nil || err.Error() != want {
		t.Errorf("Check: %v, want %q", err, want)
	}
}

func TestPasswdFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	p := write("ok", "# comment\nGEN:gensecret\nother:OA:OS\nb:BA:BS\n", 0o600)
	if a, s, err := readPasswdFile(p, "b"); err != nil || a != "BA" || s != "BS" {
		t.Errorf("bucket line: %q %q %v", a, s, err)
	}
	if a, s, err := readPasswdFile(p, "zz"); err != nil || a != "GEN" || s != "gensecret" {
		t.Errorf("generic line: %q %q %v", a, s, err)
	}
	open := write("open", "A:S\n", 0o640)
	if _, _, err := readPasswdFile(open, "b"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable passwd file: %v", err)
	}
	bad := write("bad", "A:S:T:U\n", 0o600)
	if _, _, err := readPasswdFile(bad, "b"); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad line: %v", err)
	}
	if _, _, err := readPasswdFile(bad, "b"); err != nil && strings.Contains(err.Error(), "T:U") {
		t.Errorf("message quotes the file: %v", err)
	}
}

func TestNormalizePrefix(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "a": "a/", "/a/b/": "a/b/", "a/b": "a/b/"} {
		if got := normalizePrefix(in); got != want {
			t.Errorf("normalizePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPartSizeFor(t *testing.T) {
	c := &Client{cfg: ClientConfig{PartSize: 16 << 20}}
	if got := c.partSizeFor(100 << 20); got != 16<<20 {
		t.Errorf("100 MiB: part size %d", got)
	}
	size := int64(1) << 40 // 1 TiB needs > 16 MiB parts
	ps := c.partSizeFor(size)
	if (size+ps-1)/ps > maxParts || ps%(1<<20) != 0 {
		t.Errorf("1 TiB: part size %d gives %d parts", ps, (size+ps-1)/ps)
	}
}

// TestEndpointFromEnvironment: an endpoint named by AWS_ENDPOINT_URL_S3 is
// held to the same key transport rule.
func TestEndpointFromEnvironment(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://s3.example.com:7480")
	_, err := NewClient(context.Background(), ClientConfig{Bucket: "b", Encryption: ssekeys.Config{Keys: ring(t, mustKey(t))}})
	if err == nil || !strings.Contains(err.Error(), "http://s3.example.com:7480") {
		t.Errorf("SSE-C to an http endpoint from the environment: %v", err)
	}
}
