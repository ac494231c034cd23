package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssefs/ssefs/ssekeys"
)

func TestParseS3URL(t *testing.T) {
	for _, c := range []struct{ in, bucket, prefix string }{
		{"s3://b", "b", ""},
		{"s3://b/", "b", ""},
		{"s3://b/photos", "b", "photos/"},
		{"s3://b/photos/2024/", "b", "photos/2024/"},
		{"b:/photos", "b", "photos/"},
		{"b", "b", ""},
	} {
		b, p, err := parseS3URL(c.in)
		if err != nil || b != c.bucket || p != c.prefix {
			t.Errorf("parseS3URL(%q) = %q, %q, %v; want %q, %q", c.in, b, p, err, c.bucket, c.prefix)
		}
	}
	for _, bad := range []string{"s3://", "s3:///x", ""} {
		if _, _, err := parseS3URL(bad); err == nil {
			t.Errorf("parseS3URL(%q) accepted", bad)
		}
	}
}

func writeKeys(t *testing.T, n int) (string, []*ssekeys.Key) {
	t.Helper()
	var lines []string
	var keys []*ssekeys.Key
	for range n {
		k, err := ssekeys.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		lines = append(lines, k.Base64())
	}
	p := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p, keys
}

// TestRekeyPlan: FROM takes every key of the file, TO only the first; one
// FROM and one TO are required.
func TestRekeyPlan(t *testing.T) {
	from, fromKeys := writeKeys(t, 3)
	to, toKeys := writeKeys(t, 2)
	o := &rekeyOptions{FromKeyFile: from, ToKeyFile: to, Jobs: 2}
	p, err := o.plan("s3://bucket/pre")
	if err != nil {
		t.Fatal(err)
	}
	if p.bucket != "bucket" || p.prefix != "pre/" || len(p.from) != 3 {
		t.Fatalf("plan = %+v", p)
	}
	for i, s := range p.from {
		if s.Kind != ssekeys.SSEC || !s.Key.Equal(fromKeys[i]) {
			t.Errorf("from[%d] = %v", i, s)
		}
	}
	if p.to.Keys.Len() != 1 || !p.to.Keys.Write().Equal(toKeys[0]) {
		t.Errorf("to = %s, want only the first key", p.to.Describe())
	}

	kms := &rekeyOptions{FromNone: true, ToKMSKey: "https://kms.example:9311/v1/secrets/0A6C8E92-0D9A-4F0B-9E51-2A5C1E7F3B44", Jobs: 1}
	p, err = kms.plan("s3://b")
	if err != nil || p.to.KMSKeyID != "0a6c8e92-0d9a-4f0b-9e51-2a5c1e7f3b44" || p.from[0].Kind != ssekeys.None {
		t.Errorf("kms plan = %+v, %v", p, err)
	}

	for _, bad := range []*rekeyOptions{
		{ToNone: true, Jobs: 1},
		{FromNone: true, Jobs: 1},
		{FromNone: true, FromKMSKey: "x", ToNone: true, Jobs: 1},
		{FromNone: true, ToNone: true, ToKMSKey: "x", Jobs: 1},
		{FromNone: true, ToNone: true, Jobs: 0},
		{FromKeyFile: "/nonexistent", ToNone: true, Jobs: 1},
	} {
		if _, err := bad.plan("s3://b"); err == nil {
			t.Errorf("plan accepted %+v", bad)
		}
	}
}

func TestRekeySummaryLine(t *testing.T) {
	s := rekeySummary{rekeyed: 28, skipped: 2, notFrom: 1, failed: 0, bytes: 3 << 20, elapsed: 1500 * time.Millisecond}
	got := s.line(false)
	for _, want := range []string{"rekeyed 28 (3.0 MiB, 2.0 MiB/s)", "skipped 2", "left alone 1", "failed 0", "time 1.5s"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	s = rekeySummary{wouldChange: 5, interrupted: true}
	if got := s.line(true); !strings.Contains(got, "nothing changed: would rekey 5") || !strings.Contains(got, "run the same command again") {
		t.Errorf("dry-run summary: %q", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 17 << 20: "17.0 MiB", 5 << 30: "5.0 GiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestProgressPlainLines: off a terminal, progress is plain periodic lines
// with objects, bytes, rate and ETA, and messages go to their own writer.
func TestProgressPlainLines(t *testing.T) {
	var out, msgs syncBuffer
	p := newProgress(&out, &msgs, false, 4, 4<<20, 5*time.Millisecond)
	p.done(1 << 20)
	p.printf("failed %s: %s", "k", "boom")
	time.Sleep(30 * time.Millisecond)
	p.finish()
	if !strings.Contains(out.String(), "progress: 1/4 objects, 1.0 MiB/4.0 MiB, ") || !strings.Contains(out.String(), "ETA ") {
		t.Errorf("progress lines:\n%s", out.String())
	}
	if strings.ContainsAny(out.String(), "\r\x1b") {
		t.Errorf("escape codes off a terminal: %q", out.String())
	}
	if msgs.String() != "failed k: boom\n" {
		t.Errorf("messages: %q", msgs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for the progress ticker.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(b)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}
