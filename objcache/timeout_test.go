package objcache

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
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
	c := shortTimeoutClient(t, "http://"+ln.Addr().String(), 2)
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

// TestStalledBodyResumes: a server that stops sending in the middle of a
// response body, keeping the connection open, makes the read resume from
// where it stopped after ResponseTimeout, with the right bytes, instead
// of hanging the reader.
func TestStalledBodyResumes(t *testing.T) {
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	release := make(chan struct{})
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := int64(0)
		if rg := r.Header.Get("Range"); rg != "" {
			fmt.Sscanf(rg, "bytes=%d-", &start)
		}
		body := data[start:]
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		if start > 0 {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
		}
		if gets.Add(1) == 1 {
			// Half the body, then silence on a live connection.
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the handler
	c := shortTimeoutClient(t, srv.URL, 3)
	done := make(chan error, 1)
	var got []byte
	go func() {
		rc, err := c.GetRange(context.Background(), "k", "", 0, -1)
		if err == nil {
			got, err = io.ReadAll(rc)
			rc.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("read with a stalled body: %v", err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("read %d bytes, not the object's %d", len(got), len(data))
		}
		if n := gets.Load(); n != 2 {
			t.Errorf("%d GETs, want 2 (the stalled one and its resumption)", n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read with a stalled body hangs")
	}
}

// TestServerThatStopsReadingDoesNotHang: a server that accepts a request
// and never reads its body lets the socket buffers fill, and the write of
// a large part blocks; each write has a deadline, so the call fails within
// attempts x ResponseTimeout instead of hanging.
func TestServerThatStopsReadingDoesNotHang(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hold := make(chan struct{})
	defer close(hold)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-hold; conn.Close() }() // never read, never answer
		}
	}()
	c := shortTimeoutClient(t, "http://"+ln.Addr().String(), 2)
	done := make(chan error, 1)
	go func() {
		_, err := c.UploadPart(context.Background(), "k", "upload-id", 1, make([]byte, 64<<20))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a part upload to a server that reads nothing succeeded")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a part upload to a server that reads nothing hangs")
	}
}

// shortTimeoutClient is a client of endpoint with a 300 ms ResponseTimeout
// and the given attempts, for tests of servers that stall.
func shortTimeoutClient(t *testing.T, endpoint string, attempts int) *Client {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(pw, []byte("AKIDTEST:secretsecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(context.Background(), ClientConfig{
		Endpoint: endpoint, Bucket: "b", PasswdFile: pw, PathStyle: true,
		MaxAttempts: attempts, ResponseTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
