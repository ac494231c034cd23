package objcache

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/ssefs/ssefs/ssekeys"
)

func countOps(reqs []fakeReq, op string) int {
	n := 0
	for _, r := range reqs {
		if r.Op == op {
			n++
		}
	}
	return n
}

func put(t *testing.T, c *Client, key string, b []byte) ObjectInfo {
	t.Helper()
	info, err := c.Put(context.Background(), key, bytes.NewReader(b), int64(len(b)), PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func get(t *testing.T, c *Client, key string) []byte {
	t.Helper()
	rc, err := c.GetRange(context.Background(), key, "", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestHeadProbesKeysAndRemembers: an object under the second key of a ring
// opens after one refusal, and the next HEAD goes straight to that key; a
// plain object in an SSE-C mount opens (AWS: after every key is refused;
// RGW: the ignored triple is recognised by the missing echo).
func TestHeadProbesKeysAndRemembers(t *testing.T) {
	for _, rgw := range []bool{false, true} {
		k1, k2 := mustKey(t), mustKey(t)
		f := newFakeS3(t, rgw)
		put(t, f.client(t, ssekeys.Config{Keys: ring(t, k2)}), "old", []byte("under key 2"))
		put(t, f.client(t, ssekeys.Config{}), "plain", []byte("plain"))
		c := f.client(t, ssekeys.Config{Keys: ring(t, k1, k2)})
		ctx := context.Background()

		f.reset()
		if _, err := c.Head(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		if n := countOps(f.requests(), "head"); n != 2 {
			t.Errorf("rgw=%v: first HEAD of an object under key 2 took %d HEADs, want 2", rgw, n)
		}
		f.reset()
		if got := get(t, c, "old"); string(got) != "under key 2" {
			t.Errorf("read %q", got)
		}
		if _, err := c.Head(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		reqs := f.requests()
		if n := countOps(reqs, "head"); n != 1 {
			t.Errorf("rgw=%v: HEAD of a remembered object took %d HEADs, want 1", rgw, n)
		}
		for _, r := range reqs {
			if r.Header.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5") != k2.MD5Base64() {
				t.Errorf("%s of old not sent with key 2", r.Op)
			}
		}

		f.reset()
		if got := get(t, c, "plain"); string(got) != "plain" {
			t.Errorf("read %q", got)
		}
		f.reset()
		if _, err := c.Head(ctx, "plain"); err != nil {
			t.Fatal(err)
		}
		reqs = f.requests()
		if len(reqs) != 1 || reqs[0].Header.Get("X-Amz-Server-Side-Encryption-Customer-Key") != "" {
			t.Errorf("rgw=%v: a known plain object should be HEADed once without a key, got %d requests", rgw, len(reqs))
		}
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// assertNoKeyMaterial fails if text contains any key in raw, base64, hex
// (either case) or base64url form.
func assertNoKeyMaterial(t *testing.T, what, text string, keys ...*ssekeys.Key) {
	t.Helper()
	for _, k := range keys {
		raw := k.Bytes()
		for _, form := range []string{string(raw), k.Base64(), hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw)),
			strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(k.Base64()), "=")} {
			if strings.Contains(text, form) {
				t.Errorf("%s contains key material (%s)", what, k.Fingerprint())
			}
		}
	}
}

// TestKeyRefusedNamesObjectAndFingerprints: an object nothing opens gives
// ErrKeyRefused; the log names it and the fingerprints tried, never a key.
func TestKeyRefusedNamesObjectAndFingerprints(t *testing.T) {
	for _, rgw := range []bool{false, true} {
		k1, k2, other := mustKey(t), mustKey(t), mustKey(t)
		f := newFakeS3(t, rgw)
		put(t, f.client(t, ssekeys.Config{Keys: ring(t, other)}), "secret/file", []byte("x"))
		var log syncBuffer
		c := f.client(t, ssekeys.Config{Keys: ring(t, k1, k2)}, func(cfg *ClientConfig) {
			cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
		})
		_, err := c.Head(context.Background(), "secret/file")
		if !errors.Is(err, ErrKeyRefused) {
			t.Fatalf("rgw=%v: Head: %v, want ErrKeyRefused", rgw, err)
		}
		_, gerr := c.GetRange(context.Background(), "secret/file", "", 0, -1)
		if !errors.Is(gerr, ErrKeyRefused) {
			t.Fatalf("rgw=%v: GetRange: %v, want ErrKeyRefused", rgw, gerr)
		}
		out := log.String()
		for _, want := range []string{"secret/file", k1.Fingerprint(), k2.Fingerprint(), "no key"} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
		assertNoKeyMaterial(t, "log", out, k1, k2, other)
		assertNoKeyMaterial(t, "error", err.Error()+gerr.Error(), k1, k2, other)
	}
}

// TestCopyOnRGW: CopyObject's 501 is learnt once; same-key copies go by
// part copies, re-keying copies (rotation) by GET + PUT; a plain source
// that RGW would copy unencrypted ends encrypted; self-copies keep data.
func TestCopyOnRGW(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	f := newFakeS3(t, true)
	put(t, f.client(t, ssekeys.Config{Keys: ring(t, k2)}), "rotated", []byte("old key data"))
	put(t, f.client(t, ssekeys.Config{}), "plain", []byte("plain data"))
	c := f.client(t, ssekeys.Config{Keys: ring(t, k1, k2)})
	ctx := context.Background()
	put(t, c, "a", []byte("new data"))

	// Plain source first, before the 501 is known: 200 without echo.
	if _, err := c.Copy(ctx, "plain", "plain-copy", nil); err != nil {
		t.Fatal(err)
	}
	if o := f.objects["plain-copy"]; o.md5 != k1.MD5Base64() || string(o.data) != "plain data" {
		t.Errorf("plain-copy stored md5=%q data=%q, want encrypted with key 1", o.md5, o.data)
	}
	// Self-copy of a plain object (chmod): encrypted afterwards, data kept.
	if _, err := c.Copy(ctx, "plain", "plain", &PutOptions{Metadata: Metadata{"mode": "33188"}}); err != nil {
		t.Fatal(err)
	}
	if o := f.objects["plain"]; o.md5 != k1.MD5Base64() || string(o.data) != "plain data" || o.meta.Get("X-Amz-Meta-Mode") != "33188" {
		t.Errorf("plain after self-copy: md5=%q data=%q meta=%v", o.md5, o.data, o.meta)
	}

	f.reset()
	if _, err := c.Copy(ctx, "a", "b", nil); err != nil {
		t.Fatal(err)
	}
	if n := countOps(f.requests(), "copy"); n != 1 {
		t.Errorf("first encrypted copy: %d CopyObject calls, want 1 (then part copy)", n)
	}
	f.reset()
	if _, err := c.Copy(ctx, "b", "b", &PutOptions{Metadata: Metadata{"mtime": "1"}}); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if countOps(reqs, "copy") != 0 || countOps(reqs, "partcopy") != 1 {
		t.Errorf("after a 501, copies should go straight to part copies: %d copy, %d partcopy", countOps(reqs, "copy"), countOps(reqs, "partcopy"))
	}
	if o := f.objects["b"]; o.md5 != k1.MD5Base64() || string(o.data) != "new data" || o.meta.Get("X-Amz-Meta-Mtime") != "1" {
		t.Errorf("b: md5=%q data=%q meta=%v", o.md5, o.data, o.meta)
	}

	// Rotation: a copy of an object under key 2 is re-keyed through GET + PUT.
	f.reset()
	if _, err := c.Copy(ctx, "rotated", "rotated", nil); err != nil {
		t.Fatal(err)
	}
	reqs = f.requests()
	if countOps(reqs, "get") != 1 || countOps(reqs, "put") != 1 {
		t.Errorf("re-keying copy: %d get, %d put, want 1 and 1", countOps(reqs, "get"), countOps(reqs, "put"))
	}
	if o := f.objects["rotated"]; o.md5 != k1.MD5Base64() || string(o.data) != "old key data" {
		t.Errorf("rotated: md5=%q data=%q", o.md5, o.data)
	}
	if got := get(t, c, "rotated"); string(got) != "old key data" {
		t.Errorf("read back %q", got)
	}
}

// TestCopyOnAWS: one CopyObject, metadata kept when opts is nil.
func TestCopyOnAWS(t *testing.T) {
	k := mustKey(t)
	f := newFakeS3(t, false)
	c := f.client(t, ssekeys.Config{Keys: ring(t, k)})
	ctx := context.Background()
	if _, err := c.Put(ctx, "src", strings.NewReader("hello"), 5, PutOptions{Metadata: Metadata{"mode": "33188"}, ContentType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	f.reset()
	if _, err := c.Copy(ctx, "src", "dst", nil); err != nil {
		t.Fatal(err)
	}
	if reqs := f.requests(); len(reqs) != 2 || countOps(reqs, "copy") != 1 {
		t.Errorf("%d requests, want a HEAD of the source and one CopyObject", len(reqs))
	}
	info, err := c.Head(ctx, "dst")
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata["mode"] != "33188" || info.ContentType != "text/plain" || info.Size != 5 {
		t.Errorf("dst info %+v", info)
	}
}

// TestEchoMissing: a PUT answered without the echo is an error and what was
// stored is removed; a CompleteMultipartUpload without SSE-C echo (as AWS
// answers) is settled by a HEAD.
func TestEchoMissing(t *testing.T) {
	k := mustKey(t)
	f := newFakeS3(t, false)
	c := f.client(t, ssekeys.Config{Keys: ring(t, k)})
	f.dropEcho["put"] = true
	_, err := c.Put(context.Background(), "x", strings.NewReader("abc"), 3, PutOptions{})
	if !errors.Is(err, ErrEncryptionNotHonoured) {
		t.Fatalf("Put: %v, want ErrEncryptionNotHonoured", err)
	}
	if _, ok := f.objects["x"]; ok {
		t.Error("object stored without the echo was not removed")
	}
	f.dropEcho["complete"] = true
	big := data(6 << 20)
	if _, err := c.Put(context.Background(), "big", bytes.NewReader(big), int64(len(big)), PutOptions{}); err != nil {
		t.Fatalf("multipart put with complete lacking echo: %v", err)
	}
	f.dropEcho["create"] = true
	if _, err := c.Put(context.Background(), "big2", bytes.NewReader(big), int64(len(big)), PutOptions{}); !errors.Is(err, ErrEncryptionNotHonoured) {
		t.Fatalf("create without echo: %v", err)
	}
	if len(f.uploads) != 0 {
		t.Errorf("%d uploads left open", len(f.uploads))
	}
}

// TestRetries: 503 SlowDown and dropped connections are retried (puts,
// parts, completion, GETs); 4xx never is.
func TestRetries(t *testing.T) {
	k := mustKey(t)
	f := newFakeS3(t, false)
	c := f.client(t, ssekeys.Config{Keys: ring(t, k)})
	big := data(12 << 20)
	f.failNext["part"] = 2
	f.failNext["get"] = 1
	f.resetNext["complete"] = 1
	f.resetNext["put"] = 1
	put(t, c, "big", big)
	put(t, c, "small", big[:1000])
	if got := get(t, c, "big"); !bytes.Equal(got, big) {
		t.Error("content differs")
	}
	f.reset()
	_, err := c.Head(context.Background(), "missing")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Head missing: %v", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Errorf("404 took %d requests, want 1 (no retry, no probing)", n)
	}
}

// TestGetResumesBrokenBody: a body cut mid-way is resumed transparently.
func TestGetResumesBrokenBody(t *testing.T) {
	f := newFakeS3(t, false)
	c := f.client(t, ssekeys.Config{Keys: ring(t, mustKey(t))})
	b := data(3 << 20)
	put(t, c, "o", b)
	f.cutBodyOnce = true
	if got := get(t, c, "o"); !bytes.Equal(got, b) {
		t.Errorf("resumed read: %d bytes, want %d, equal=%v", len(got), len(b), bytes.Equal(got, b))
	}
}

// TestGetRangeConditions: a stale ETag fails with ErrPreconditionFailed; a
// range past the end is empty.
func TestGetRangeConditions(t *testing.T) {
	f := newFakeS3(t, false)
	c := f.client(t, ssekeys.Config{Keys: ring(t, mustKey(t))})
	info := put(t, c, "o", []byte("version 1"))
	put(t, c, "o", []byte("version 2!"))
	_, err := c.GetRange(context.Background(), "o", info.ETag, 0, 4)
	if !errors.Is(err, ErrPreconditionFailed) {
		t.Fatalf("stale etag: %v", err)
	}
	rc, err := c.GetRange(context.Background(), "o", "", 100, 10)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); len(b) != 0 {
		t.Errorf("past the end read %q", b)
	}
}

// TestListPrefixAndPaging: keys relative to the mount prefix, the prefix's
// own marker skipped, pages followed.
func TestListPrefixAndPaging(t *testing.T) {
	f := newFakeS3(t, false)
	raw := f.client(t, ssekeys.Config{})
	for _, k := range []string{"mnt/", "mnt/a", "mnt/b", "mnt/c", "mnt/d/x", "mnt/e/", "other"} {
		put(t, raw, k, nil)
	}
	c := f.client(t, ssekeys.Config{}, func(cfg *ClientConfig) { cfg.Prefix = "/mnt" })
	f.pageSize = 2
	var objs, prefixes []string
	pages := 0
	err := c.List(context.Background(), "", "/", func(p ListPage) error {
		pages++
		for _, o := range p.Objects {
			objs = append(objs, o.Key)
		}
		prefixes = append(prefixes, p.Prefixes...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(objs, ",") != "a,b,c" || strings.Join(prefixes, ",") != "d/,e/" || pages < 3 {
		t.Errorf("objects %v prefixes %v pages %d", objs, prefixes, pages)
	}
	if got := get(t, c, "a"); len(got) != 0 {
		t.Errorf("read %q", got)
	}
}

// TestRememberedEncryptionGoesStale: an object rewritten by someone else
// under a key this mount lacks is refused, not served from what was
// remembered; one rewritten under another key of the ring is re-probed.
func TestRememberedEncryptionGoesStale(t *testing.T) {
	k1, k2, other := mustKey(t), mustKey(t), mustKey(t)
	f := newFakeS3(t, false)
	plain := f.client(t, ssekeys.Config{})
	put(t, plain, "o", []byte("plain"))
	put(t, f.client(t, ssekeys.Config{Keys: ring(t, other)}), "o", []byte("locked"))
	if _, err := plain.Head(context.Background(), "o"); !errors.Is(err, ErrKeyRefused) {
		t.Errorf("plain mount, object now SSE-C: %v, want ErrKeyRefused", err)
	}

	c := f.client(t, ssekeys.Config{Keys: ring(t, k1, k2)})
	put(t, c, "p", []byte("under key 1"))
	put(t, f.client(t, ssekeys.Config{Keys: ring(t, k2)}), "p", []byte("under key 2"))
	if got := get(t, c, "p"); string(got) != "under key 2" {
		t.Errorf("read %q after the object moved to key 2", got)
	}
}

// TestCopyNeverLeavesPlaintext: when RGW stored a copy unencrypted and the
// redo fails, the plaintext copy is removed and the error says why.
func TestCopyNeverLeavesPlaintext(t *testing.T) {
	f := newFakeS3(t, true)
	put(t, f.client(t, ssekeys.Config{}), "plain", []byte("plain data"))
	c := f.client(t, ssekeys.Config{Keys: ring(t, mustKey(t))}, func(cfg *ClientConfig) { cfg.MaxAttempts = 1 })
	f.failNext["partcopy"] = 1
	_, err := c.Copy(context.Background(), "plain", "dst", nil)
	if !errors.Is(err, ErrEncryptionNotHonoured) {
		t.Fatalf("Copy: %v, want ErrEncryptionNotHonoured", err)
	}
	if _, ok := f.objects["dst"]; ok {
		t.Error("the unencrypted copy was left behind")
	}
	if _, ok := f.objects["plain"]; !ok {
		t.Error("the source was lost")
	}
	if len(f.uploads) != 0 {
		t.Error("upload left open")
	}
}

// TestInPlaceRewriteWithoutEchoKeepsTheObject: when a self-copy has to go
// through GET + PUT (RGW re-keying an object from an old key) and the server
// answers that PUT without the echo, the object is not deleted — it holds
// the only copy of the data — and the error says the encryption was not
// honoured.
func TestInPlaceRewriteWithoutEchoKeepsTheObject(t *testing.T) {
	k1, k2 := mustKey(t), mustKey(t)
	f := newFakeS3(t, true)
	put(t, f.client(t, ssekeys.Config{Keys: ring(t, k2)}), "o", []byte("only copy"))
	c := f.client(t, ssekeys.Config{Keys: ring(t, k1, k2)})
	f.dropEcho["put"] = true
	_, err := c.Copy(context.Background(), "o", "o", &PutOptions{Metadata: Metadata{"mode": "33152"}})
	if !errors.Is(err, ErrEncryptionNotHonoured) {
		t.Fatalf("self-copy: %v, want ErrEncryptionNotHonoured", err)
	}
	if _, ok := f.objects["o"]; !ok {
		t.Fatal("the object was deleted: its only copy is gone")
	}
	delete(f.dropEcho, "put")
	if got := get(t, c, "o"); string(got) != "only copy" {
		t.Fatalf("content after the failed rewrite: %q", got)
	}
}

// TestFirstReadIsOneGET: the first read of an object this client has not
// opened is a GET with the key new writes use, with no HEAD before it; only
// when that is refused are the other keys tried. Either way the encryption
// that opened the object is remembered for the next read.
func TestFirstReadIsOneGET(t *testing.T) {
	for _, rgw := range []bool{false, true} {
		k1, k2 := mustKey(t), mustKey(t)
		f := newFakeS3(t, rgw)
		put(t, f.client(t, ssekeys.Config{Keys: ring(t, k1)}), "new", []byte("under key 1"))
		put(t, f.client(t, ssekeys.Config{Keys: ring(t, k2)}), "old", []byte("under key 2"))
		put(t, f.client(t, ssekeys.Config{}), "plain", []byte("plain"))
		c := f.client(t, ssekeys.Config{Keys: ring(t, k1, k2)})

		f.reset()
		if got := get(t, c, "new"); string(got) != "under key 1" {
			t.Errorf("rgw=%v: read %q", rgw, got)
		}
		if reqs := f.requests(); len(reqs) != 1 || reqs[0].Op != "get" {
			t.Errorf("rgw=%v: first read of an object under key 1: %d requests, want one GET", rgw, len(reqs))
		}

		for _, tc := range []struct{ key, want, md5 string }{
			{"old", "under key 2", k2.MD5Base64()},
			{"plain", "plain", ""},
		} {
			if got := get(t, c, tc.key); string(got) != tc.want {
				t.Errorf("rgw=%v: first read of %s: %q", rgw, tc.key, got)
			}
			f.reset()
			if got := get(t, c, tc.key); string(got) != tc.want {
				t.Errorf("rgw=%v: second read of %s: %q", rgw, tc.key, got)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].Op != "get" || reqs[0].Header.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5") != tc.md5 {
				t.Errorf("rgw=%v: second read of %s: %d requests, want one GET with the key that opened it", rgw, tc.key, len(reqs))
			}
		}

		f.reset()
		if _, err := c.GetRange(context.Background(), "missing", "", 0, -1); !errors.Is(err, ErrNotFound) {
			t.Errorf("rgw=%v: missing object: %v, want ErrNotFound", rgw, err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("rgw=%v: read of a missing object: %d requests, want 1", rgw, n)
		}
	}
}
