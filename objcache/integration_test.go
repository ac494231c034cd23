package objcache_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/refbackend"
)

var profiles = []refbackend.Profile{refbackend.ProfileAWS, refbackend.ProfileRGW}

func forProfiles(t *testing.T, fn func(t *testing.T, st *stack)) {
	for _, p := range profiles {
		t.Run(string(p), func(t *testing.T) { fn(t, newStack(t, p)) })
	}
}

func newKey(t *testing.T) *ssekeys.Key {
	t.Helper()
	k, err := ssekeys.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func keyring(t *testing.T, keys ...*ssekeys.Key) *ssekeys.Keyring {
	t.Helper()
	r, err := ssekeys.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i ^ i>>9)
	}
	return b
}

func mustPut(t *testing.T, c objcache.Bucket, key string, b []byte, opts objcache.PutOptions) objcache.ObjectInfo {
	t.Helper()
	info, err := c.Put(context.Background(), key, bytes.NewReader(b), int64(len(b)), opts)
	if err != nil {
		t.Fatalf("Put %s: %v", key, err)
	}
	return info
}

func mustRead(t *testing.T, c objcache.Bucket, key string, off, n int64) []byte {
	t.Helper()
	rc, err := c.GetRange(context.Background(), key, "", off, n)
	if err != nil {
		t.Fatalf("GetRange %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return b
}

// syncBuf is a log sink safe for concurrent writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// exercise runs Put/Head/GetRange/List/Delete through c and returns the
// keys it left (for outside checks).
func exercise(t *testing.T, c *objcache.Client) {
	t.Helper()
	ctx := context.Background()
	body := pattern(100_000)
	opts := objcache.PutOptions{Metadata: objcache.Metadata{"mode": "33188", "uid": "1000"}, ContentType: "application/x-test"}
	put := mustPut(t, c, "dir/file", body, opts)
	mustPut(t, c, "dir/empty", nil, objcache.PutOptions{})
	mustPut(t, c, "dir/sub/", nil, objcache.PutOptions{})
	info, err := c.Head(ctx, "dir/file")
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(body)) || info.Metadata["mode"] != "33188" || info.Metadata["uid"] != "1000" || info.ContentType != "application/x-test" {
		t.Errorf("Head: %+v", info)
	}
	if info.ETag != put.ETag || info.ETag == "" {
		t.Errorf("Head ETag %s, Put ETag %s", info.ETag, put.ETag)
	}
	if got := mustRead(t, c, "dir/file", 0, -1); !bytes.Equal(got, body) {
		t.Error("full read differs")
	}
	rc, err := c.GetRange(ctx, "dir/file", info.ETag, 10, 10)
	if err != nil {
		t.Fatalf("GetRange with the current etag: %v", err)
	}
	rc.Close()
	if got := mustRead(t, c, "dir/file", 70_000, 20_000); !bytes.Equal(got, body[70_000:90_000]) {
		t.Error("ranged read differs")
	}
	if got := mustRead(t, c, "dir/file", 99_990, 100); !bytes.Equal(got, body[99_990:]) {
		t.Error("read across the end differs")
	}
	if got := mustRead(t, c, "dir/empty", 0, -1); len(got) != 0 {
		t.Error("empty object read non-empty")
	}
	if _, err := c.GetRange(ctx, "dir/file", `"0123456789abcdef0123456789abcdef"`, 0, 10); !errors.Is(err, objcache.ErrPreconditionFailed) {
		t.Errorf("GetRange with a stale etag: %v", err)
	}
	var objs, prefixes []string
	err = c.List(ctx, "dir/", "/", func(p objcache.ListPage) error {
		for _, o := range p.Objects {
			objs = append(objs, o.Key)
			if o.Key == "dir/file" && (o.Size != int64(len(body)) || o.ETag != info.ETag) {
				t.Errorf("listed size %d etag %s, want the plaintext size %d and etag %s", o.Size, o.ETag, len(body), info.ETag)
			}
		}
		prefixes = append(prefixes, p.Prefixes...)
		return nil
	})
	if err != nil || strings.Join(objs, ",") != "dir/empty,dir/file" || strings.Join(prefixes, ",") != "dir/sub/" {
		t.Errorf("List: %v objects %v prefixes %v", err, objs, prefixes)
	}
	if err := c.Delete(ctx, "dir/empty"); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(ctx, "dir/empty"); err != nil {
		t.Errorf("deleting a missing object: %v", err)
	}
	if _, err := c.Head(ctx, "dir/empty"); !errors.Is(err, objcache.ErrNotFound) {
		t.Errorf("Head after delete: %v", err)
	}
}

func TestRoundTripSSEC(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		k := newKey(t)
		c := st.client(ssekeys.Config{Keys: keyring(t, k)}, nil)
		if err := c.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		exercise(t, c)
		st.assertSSEC("dir/file", k)
	})
}

func TestRoundTripKMS(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		id := st.kmsSecret()
		c := st.client(ssekeys.Config{KMSKeyID: id}, nil)
		if err := c.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		exercise(t, c)
		st.assertKMS("dir/file", id)
	})
}

func TestRoundTripPlain(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		c := st.client(ssekeys.Config{}, nil)
		if err := c.Check(context.Background()); err != nil {
			t.Fatal(err)
		}
		exercise(t, c)
	})
}

// TestPrefixMount: keys are relative to the prefix; the prefix's own
// marker is not listed.
func TestPrefixMount(t *testing.T) {
	st := newStack(t, refbackend.ProfileAWS)
	k := newKey(t)
	st.rawPut("photos/", "", nil)
	c := st.client(ssekeys.Config{Keys: keyring(t, k)}, nil, func(cfg *objcache.ClientConfig) { cfg.Prefix = "photos" })
	mustPut(t, c, "a.jpg", []byte("jpeg"), objcache.PutOptions{})
	st.assertSSEC("photos/a.jpg", k)
	var keys []string
	c.List(context.Background(), "", "/", func(p objcache.ListPage) error {
		for _, o := range p.Objects {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if strings.Join(keys, ",") != "a.jpg" {
		t.Errorf("listed %v", keys)
	}
}

// TestRotation: an object under the second key of a two-key ring opens,
// and the key that opened it is remembered (one HEAD the second time).
func TestRotation(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		k1, k2 := newKey(t), newKey(t)
		st.rawPut("old", "written under key 2", k2)
		c := st.client(ssekeys.Config{Keys: keyring(t, k1, k2)}, nil)
		ctx := context.Background()
		st.heads.Store(0)
		if _, err := c.Head(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		if n := st.heads.Load(); n != 2 {
			t.Errorf("first Head: %d HEADs, want 2 (key 1 refused, key 2 opens)", n)
		}
		st.heads.Store(0)
		if _, err := c.Head(ctx, "old"); err != nil {
			t.Fatal(err)
		}
		if n := st.heads.Load(); n != 1 {
			t.Errorf("second Head: %d HEADs, want 1", n)
		}
		if got := mustRead(t, c, "old", 0, -1); string(got) != "written under key 2" {
			t.Errorf("read %q", got)
		}
		// New writes use the first key.
		mustPut(t, c, "new", []byte("x"), objcache.PutOptions{})
		st.assertSSEC("new", k1)
	})
}

// TestPlainObjectInSSECMount: an unencrypted object reads fine, and once
// known is read without sending a key.
func TestPlainObjectInSSECMount(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		st.rawPut("plain.txt", "not encrypted", nil)
		c := st.client(ssekeys.Config{Keys: keyring(t, newKey(t), newKey(t))}, nil)
		info, err := c.Head(context.Background(), "plain.txt")
		if err != nil || info.Size != int64(len("not encrypted")) {
			t.Fatalf("Head: %+v %v", info, err)
		}
		if got := mustRead(t, c, "plain.txt", 0, -1); string(got) != "not encrypted" {
			t.Errorf("read %q", got)
		}
		st.heads.Store(0)
		c.Head(context.Background(), "plain.txt")
		if n := st.heads.Load(); n != 1 {
			t.Errorf("known plain object: %d HEADs, want 1", n)
		}
	})
}

// TestKeyRefused: an object under a key not given reads as ErrKeyRefused;
// the log names the object and the fingerprints tried, and neither the log
// nor the error holds any key in any encoding.
func TestKeyRefused(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		k1, k2, other := newKey(t), newKey(t), newKey(t)
		st.rawPut("locked/file", "under another key", other)
		var log syncBuf
		c := st.client(ssekeys.Config{Keys: keyring(t, k1, k2)}, &log)
		_, herr := c.Head(context.Background(), "locked/file")
		if !errors.Is(herr, objcache.ErrKeyRefused) {
			t.Fatalf("Head: %v, want ErrKeyRefused", herr)
		}
		_, gerr := c.GetRange(context.Background(), "locked/file", "", 0, -1)
		if !errors.Is(gerr, objcache.ErrKeyRefused) {
			t.Fatalf("GetRange: %v, want ErrKeyRefused", gerr)
		}
		out := log.String()
		for _, want := range []string{"locked/file", k1.Fingerprint(), k2.Fingerprint()} {
			if !strings.Contains(out, want) {
				t.Errorf("log lacks %q:\n%s", want, out)
			}
		}
		for _, text := range []string{out, herr.Error(), gerr.Error()} {
			for _, k := range []*ssekeys.Key{k1, k2, other} {
				raw := k.Bytes()
				for _, form := range []string{string(raw), k.Base64(), hex.EncodeToString(raw), strings.ToUpper(hex.EncodeToString(raw))} {
					if strings.Contains(text, form) {
						t.Errorf("key material of %s found in %q...", k.Fingerprint(), text[:min(80, len(text))])
					}
				}
			}
		}
	})
}

// TestMultipartPut40MiB: a 40 MiB write goes in parts and reads back.
func TestMultipartPut40MiB(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		k := newKey(t)
		c := st.client(ssekeys.Config{Keys: keyring(t, k)}, nil)
		body := pattern(40 << 20)
		mustPut(t, c, "big", body, objcache.PutOptions{Metadata: objcache.Metadata{"mode": "33188"}})
		if m, err := st.srv.Store().Stat(bucket, "big"); err != nil || m.PartsCount != 3 {
			t.Errorf("stored with %d parts (err %v), want 3 parts of 16 MiB", m.PartsCount, err)
		}
		st.assertSSEC("big", k)
		if got := mustRead(t, c, "big", 0, -1); !bytes.Equal(got, body) {
			t.Error("content differs")
		}
		if got := mustRead(t, c, "big", 16<<20-5, 10); !bytes.Equal(got, body[16<<20-5:16<<20+5]) {
			t.Error("read across a part boundary differs")
		}

		id := st.kmsSecret()
		kc := st.client(ssekeys.Config{KMSKeyID: id}, nil, func(cfg *objcache.ClientConfig) { cfg.PartSize = 5 << 20 })
		mustPut(t, kc, "bigkms", body[:12<<20], objcache.PutOptions{})
		st.assertKMS("bigkms", id)
		if got := mustRead(t, kc, "bigkms", 0, -1); !bytes.Equal(got, body[:12<<20]) {
			t.Error("KMS multipart content differs")
		}
	})
}

// TestCheckFailures: each failure is one line naming the problem.
func TestCheckFailures(t *testing.T) {
	st := newStack(t, refbackend.ProfileRGW)
	enc := ssekeys.Config{Keys: keyring(t, newKey(t))}
	ctx := context.Background()

	c := st.client(enc, nil, func(cfg *objcache.ClientConfig) { cfg.PasswdFile = st.passwd("wrong-secret") })
	err := c.Check(ctx)
	if want := "credentials refused by " + st.https.URL + ": SignatureDoesNotMatch (check the secret key)"; err == nil || err.Error() != want {
		t.Errorf("wrong secret: %v, want %q", err, want)
	}

	c = st.client(enc, nil, func(cfg *objcache.ClientConfig) {
		p := filepath.Join(t.TempDir(), "pw")
		os.WriteFile(p, []byte("AKIDUNKNOWN:"+secretKey+"\n"), 0o600)
		cfg.PasswdFile = p
	})
	err = c.Check(ctx)
	if want := "credentials refused by " + st.https.URL + ": InvalidAccessKeyId (check the access key)"; err == nil || err.Error() != want {
		t.Errorf("unknown access key: %v, want %q", err, want)
	}

	c = st.client(enc, nil, func(cfg *objcache.ClientConfig) { cfg.Bucket = "nosuchbucket"; cfg.PasswdFile = st.passwd(secretKey) })
	err = c.Check(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), `bucket "nosuchbucket" does not exist`) {
		t.Errorf("missing bucket: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "https://" + ln.Addr().String()
	ln.Close()
	c = st.client(enc, nil, func(cfg *objcache.ClientConfig) { cfg.Endpoint = closed })
	err = c.Check(ctx)
	if want := "endpoint " + closed + " unreachable: connection refused"; err == nil || err.Error() != want {
		t.Errorf("closed port: %v, want %q", err, want)
	}

	// SSE-C over plain HTTP to loopback is allowed by the client, but the
	// server (like RGW and AWS) refuses SSE without TLS.
	c = st.client(enc, nil, func(cfg *objcache.ClientConfig) { cfg.Endpoint = st.plain.URL })
	err = c.Check(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "server refused SSE-C round trip: ") || !strings.Contains(err.Error(), "requires HTTPS for SSE") {
		t.Errorf("SSE-C over plain HTTP: %v", err)
	}
	t.Log(err)

	// A KMS key the object store cannot fetch: the round trip step says so.
	c = st.client(ssekeys.Config{KMSKeyID: "6f9619ff-8b86-4011-b42d-00cf4fc964ff"}, nil)
	err = c.Check(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "server refused SSE-KMS round trip: ") || strings.Contains(err.Error(), "\n") {
		t.Errorf("unknown KMS key: %v", err)
	}
	t.Log(err)
}

// checkCopy checks dst's content and metadata through c.
func checkCopy(t *testing.T, c *objcache.Client, dst string, body []byte, mode string) {
	t.Helper()
	info, err := c.Head(context.Background(), dst)
	if err != nil {
		t.Fatalf("Head %s: %v", dst, err)
	}
	if info.Metadata["mode"] != mode || info.ContentType != "text/x-test" {
		t.Errorf("%s: metadata %v content type %q, want mode %s", dst, info.Metadata, info.ContentType, mode)
	}
	if got := mustRead(t, c, dst, 0, -1); !bytes.Equal(got, body) {
		t.Errorf("%s: content differs", dst)
	}
}

// TestCopySSEC: rename, chmod-style self-copy, a copy of an object under an
// older key, and of a plain object, all end SSE-C under the write key, in
// both profiles (RGW: CopyObject 501 -> part copies; another key -> GET +
// PUT; plain source stored unencrypted by CopyObject -> redone).
func TestCopySSEC(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		k1, k2 := newKey(t), newKey(t)
		var log syncBuf
		c := st.client(ssekeys.Config{Keys: keyring(t, k1, k2)}, &log)
		ctx := context.Background()
		body := pattern(300_000)
		opts := objcache.PutOptions{Metadata: objcache.Metadata{"mode": "33188"}, ContentType: "text/x-test"}

		// The plain source first, while CopyObject is still tried on RGW.
		st.rawPut("plain", string(body), nil)
		if _, err := c.Copy(ctx, "plain", "plain", &objcache.PutOptions{Metadata: objcache.Metadata{"mode": "33188"}, ContentType: "text/x-test"}); err != nil {
			t.Fatal(err)
		}
		st.assertSSEC("plain", k1)
		checkCopy(t, c, "plain", body, "33188")
		if _, err := c.Copy(ctx, "plain", "plain-renamed", nil); err != nil {
			t.Fatal(err)
		}
		st.assertSSEC("plain-renamed", k1)

		mustPut(t, c, "a", body, opts)
		if _, err := c.Copy(ctx, "a", "b", nil); err != nil {
			t.Fatal(err)
		}
		st.assertSSEC("b", k1)
		checkCopy(t, c, "b", body, "33188")
		if _, err := c.Copy(ctx, "b", "b", &objcache.PutOptions{Metadata: objcache.Metadata{"mode": "33261"}, ContentType: "text/x-test"}); err != nil {
			t.Fatal(err)
		}
		st.assertSSEC("b", k1)
		checkCopy(t, c, "b", body, "33261")

		// An object under the old key: the copy is re-keyed.
		old := st.client(ssekeys.Config{Keys: keyring(t, k2)}, nil)
		mustPut(t, old, "old", body, opts)
		if _, err := c.Copy(ctx, "old", "old", nil); err != nil {
			t.Fatal(err)
		}
		st.assertSSEC("old", k1)
		checkCopy(t, c, "old", body, "33188")

		if st.profile == refbackend.ProfileRGW && strings.Count(log.String(), "refuses CopyObject") != 1 {
			t.Errorf("the 501 should be logged once:\n%s", log.String())
		}
	})
}

// TestCopyKMS: copies in an SSE-KMS mount end SSE-KMS under the mount's
// key id, plain sources included.
func TestCopyKMS(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		id := st.kmsSecret()
		c := st.client(ssekeys.Config{KMSKeyID: id}, nil)
		ctx := context.Background()
		body := pattern(50_000)
		st.rawPut("plain", string(body), nil)
		if _, err := c.Copy(ctx, "plain", "from-plain", &objcache.PutOptions{Metadata: objcache.Metadata{"mode": "33188"}, ContentType: "text/x-test"}); err != nil {
			t.Fatal(err)
		}
		st.assertKMS("from-plain", id)
		checkCopy(t, c, "from-plain", body, "33188")
		if _, err := c.Copy(ctx, "from-plain", "renamed", nil); err != nil {
			t.Fatal(err)
		}
		st.assertKMS("renamed", id)
		if _, err := c.Copy(ctx, "renamed", "renamed", &objcache.PutOptions{Metadata: objcache.Metadata{"mode": "33261"}, ContentType: "text/x-test"}); err != nil {
			t.Fatal(err)
		}
		st.assertKMS("renamed", id)
		checkCopy(t, c, "renamed", body, "33261")
	})
}

// TestCopyMultipartSource: a 40 MiB multipart object renames intact.
func TestCopyMultipartSource(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		k := newKey(t)
		c := st.client(ssekeys.Config{Keys: keyring(t, k)}, nil)
		body := pattern(40 << 20)
		mustPut(t, c, "big", body, objcache.PutOptions{ContentType: "text/x-test", Metadata: objcache.Metadata{"mode": "33188"}})
		if _, err := c.Copy(context.Background(), "big", "big2", nil); err != nil {
			t.Fatal(err)
		}
		st.assertSSEC("big2", k)
		checkCopy(t, c, "big2", body, "33188")
	})
}

// At debug level every request is logged (method, path, status), and
// nothing of the key, headers or content.
func TestDebugLogShowsRequestsNotKeys(t *testing.T) {
	st := newStack(t, refbackend.ProfileAWS)
	k := newKey(t)
	var log syncBuf
	c := st.client(ssekeys.Config{Keys: keyring(t, k)}, &log)
	body := []byte("plaintext marker 7c1e5a")
	mustPut(t, c, "logged/obj", body, objcache.PutOptions{})
	if got := mustRead(t, c, "logged/obj", 0, -1); !bytes.Equal(got, body) {
		t.Fatalf("read back %q", got)
	}
	out := log.String()
	for _, want := range []string{`msg="s3 request" method=PUT path=/`, `msg="s3 request" method=GET`, "status=200", "logged/obj"} {
		if !strings.Contains(out, want) {
			t.Errorf("debug log lacks %q:\n%s", want, out)
		}
	}
	raw := k.Bytes()
	for what, secret := range map[string]string{
		"key base64": k.Base64(), "key hex": hex.EncodeToString(raw), "raw key": string(raw),
		"plaintext": string(body), "signature": "Signature=", "authorization": "Authorization",
	} {
		if strings.Contains(out, secret) {
			t.Errorf("debug log holds the %s", what)
		}
	}
}
