package objcache

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/ssekeys"
)

func mustKey(t *testing.T) *ssekeys.Key {
	t.Helper()
	k, err := ssekeys.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(t *testing.T, keys ...*ssekeys.Key) *ssekeys.Keyring {
	t.Helper()
	r, err := ssekeys.NewKeyring(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// wantHeaders is what one request class must carry for a mount config.
type wantHeaders struct {
	triple     bool // target SSE-C triple
	kms        bool // SSE-KMS headers
	copySource bool // copy-source SSE-C triple
}

// expected encodes DESIGN.md section 3's operation table for objects this
// client wrote itself (so reads carry the write key).
func expected(kind ssekeys.Kind, op string) wantHeaders {
	switch kind {
	case ssekeys.SSEC:
		switch op {
		case "put", "create", "part", "complete", "get", "head":
			return wantHeaders{triple: true}
		case "copy", "partcopy":
			return wantHeaders{triple: true, copySource: true}
		}
	case ssekeys.KMS:
		switch op {
		case "put", "create", "copy":
			return wantHeaders{kms: true}
		}
	}
	return wantHeaders{}
}

func checkRequest(t *testing.T, r fakeReq, want wantHeaders, key *ssekeys.Key, kmsID string) {
	t.Helper()
	h := r.Header
	has := func(name string) bool { return h.Get(name) != "" }
	if has("X-Amz-Trailer") || strings.Contains(h.Get("Content-Encoding"), "aws-chunked") {
		t.Errorf("%s %s: aws-chunked body with trailer (RGW answers 411)", r.Op, r.Key)
	}
	if got := has("X-Amz-Server-Side-Encryption-Customer-Algorithm"); got != want.triple {
		t.Errorf("%s %s: customer algorithm header present=%v, want %v", r.Op, r.Key, got, want.triple)
	}
	if want.triple {
		if h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "AES256" ||
			h.Get("X-Amz-Server-Side-Encryption-Customer-Key") != key.Base64() ||
			h.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5") != key.MD5Base64() {
			t.Errorf("%s %s: wrong SSE-C triple", r.Op, r.Key)
		}
	} else if has("X-Amz-Server-Side-Encryption-Customer-Key") || has("X-Amz-Server-Side-Encryption-Customer-Key-Md5") {
		t.Errorf("%s %s: unexpected SSE-C key headers", r.Op, r.Key)
	}
	if got := has("X-Amz-Server-Side-Encryption"); got != want.kms {
		t.Errorf("%s %s: x-amz-server-side-encryption present=%v, want %v", r.Op, r.Key, got, want.kms)
	}
	if want.kms && (h.Get("X-Amz-Server-Side-Encryption") != "aws:kms" || h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != kmsID) {
		t.Errorf("%s %s: wrong SSE-KMS headers", r.Op, r.Key)
	}
	if !want.kms && has("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") {
		t.Errorf("%s %s: unexpected KMS key id", r.Op, r.Key)
	}
	if got := has("X-Amz-Copy-Source-Server-Side-Encryption-Customer-Algorithm"); got != want.copySource {
		t.Errorf("%s %s: copy-source triple present=%v, want %v", r.Op, r.Key, got, want.copySource)
	}
	if want.copySource && (h.Get("X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key") != key.Base64() ||
		h.Get("X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key-Md5") != key.MD5Base64()) {
		t.Errorf("%s %s: wrong copy-source triple", r.Op, r.Key)
	}
}

// TestSSEHeadersOnEveryRequest runs every Bucket method under each kind of
// mount encryption and checks the SSE headers of every S3 call against
// DESIGN.md's operation table, on both server flavours (rgw forces part
// copies).
func TestSSEHeadersOnEveryRequest(t *testing.T) {
	key := mustKey(t)
	const kmsID = "0b7c3ad8-6f0e-4c39-9d5c-1a1e0a3f6e21"
	configs := []struct {
		name string
		kind ssekeys.Kind
		enc  ssekeys.Config
	}{
		{"sse-c", ssekeys.SSEC, ssekeys.Config{Keys: ring(t, key)}},
		{"sse-kms", ssekeys.KMS, ssekeys.Config{KMSKeyID: kmsID}},
		{"none", ssekeys.None, ssekeys.Config{}},
	}
	for _, rgw := range []bool{false, true} {
		for _, cfg := range configs {
			name := cfg.name + "/aws"
			if rgw {
				name = cfg.name + "/rgw"
			}
			t.Run(name, func(t *testing.T) {
				f := newFakeS3(t, rgw)
				c := f.client(t, cfg.enc)
				ctx := context.Background()
				small, big := data(1000), data(11<<20)
				if _, err := c.Put(ctx, "dir/small", bytes.NewReader(small), int64(len(small)), PutOptions{Metadata: Metadata{"mode": "33188"}, ContentType: "text/plain"}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Put(ctx, "dir/big", bytes.NewReader(big), int64(len(big)), PutOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Head(ctx, "dir/small"); err != nil {
					t.Fatal(err)
				}
				rc, err := c.GetRange(ctx, "dir/big", "", 5<<20, 100)
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, big[5<<20:5<<20+100]) {
					t.Fatalf("GetRange: %v, %d bytes", err, len(got))
				}
				if _, err := c.Copy(ctx, "dir/small", "dir/copy", nil); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Copy(ctx, "dir/copy", "dir/copy", &PutOptions{Metadata: Metadata{"mode": "33261"}}); err != nil {
					t.Fatal(err)
				}
				if err := c.List(ctx, "dir/", "/", func(ListPage) error { return nil }); err != nil {
					t.Fatal(err)
				}
				if err := c.Delete(ctx, "dir/copy"); err != nil {
					t.Fatal(err)
				}
				seen := map[string]bool{}
				for _, r := range f.requests() {
					seen[r.Op] = true
					checkRequest(t, r, expected(cfg.kind, r.Op), key, kmsID)
				}
				for _, op := range []string{"put", "create", "part", "complete", "head", "get", "list", "delete"} {
					if !seen[op] {
						t.Errorf("no %s request was made", op)
					}
				}
				wantCopy := "copy"
				if rgw && cfg.kind != ssekeys.None {
					wantCopy = "partcopy"
				}
				if !seen[wantCopy] {
					t.Errorf("no %s request was made", wantCopy)
				}
				// The result is stored as asked, also after the self-copy.
				o := f.objects["dir/big"]
				if cfg.kind == ssekeys.SSEC && o.md5 != key.MD5Base64() || cfg.kind == ssekeys.KMS && o.kms != kmsID {
					t.Errorf("dir/big stored with md5=%q kms=%q", o.md5, o.kms)
				}
			})
		}
	}
}

// TestNoSSEOnListAndDelete checks the classes that never carry SSE, for an
// SSE-C mount, request by request.
func TestNoSSEOnListAndDelete(t *testing.T) {
	key := mustKey(t)
	f := newFakeS3(t, false)
	c := f.client(t, ssekeys.Config{Keys: ring(t, key)})
	ctx := context.Background()
	_ = c.List(ctx, "", "/", func(ListPage) error { return nil })
	_ = c.Delete(ctx, "x")
	for _, r := range f.requests() {
		for name := range r.Header {
			if name == http.CanonicalHeaderKey("X-Amz-Server-Side-Encryption-Customer-Key") || name == http.CanonicalHeaderKey("X-Amz-Server-Side-Encryption") {
				t.Errorf("%s carries %s", r.Op, name)
			}
		}
	}
}
