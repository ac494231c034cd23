package objcache

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestSilentServerDoesNotHang: a server that accepts connections, reads
// the requests and never answers makes each attempt time out, so a call
// fails within attempts x ResponseTimeout instead of hanging the mount.
func TestSilentServerDoesNotHang(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, conn) }() // read forever, answer never
		}
	}()
	pw := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(pw, []byte("AKIDTEST:secretsecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), ClientConfig{
		Endpoint: "http://" + ln.Addr().String(), Bucket: "b", PasswdFile: pw,
		MaxAttempts: 2, ResponseTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	done := make(chan error, 1)
	go func() { _, err := c.Head(context.Background(), "k"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("HEAD against a silent server succeeded")
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("HEAD took %v", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("HEAD against a silent server hangs")
	}
}
