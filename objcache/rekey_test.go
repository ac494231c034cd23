package objcache_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
)

// rekeyObject is one object of a rekey test and what Rekey must do with it.
type rekeyObject struct {
	key  string
	body []byte
	want objcache.RekeyOutcome
}

func sseC(k *ssekeys.Key) ssekeys.SSE { return ssekeys.SSE{Kind: ssekeys.SSEC, Key: k} }

func sseKMS(id string) ssekeys.SSE { return ssekeys.SSE{Kind: ssekeys.KMS, KMSKeyID: id} }

// writeWith stores body at key with sse through a client of that encryption.
func writeWith(t *testing.T, st *stack, sse ssekeys.SSE, key string, body []byte) {
	t.Helper()
	var enc ssekeys.Config
	switch sse.Kind {
	case ssekeys.SSEC:
		enc.Keys = keyring(t, sse.Key)
	case ssekeys.KMS:
		enc.KMSKeyID = sse.KMSKeyID
	}
	c := st.client(enc, nil, func(cfg *objcache.ClientConfig) { cfg.PartSize = 5 << 20 })
	mustPut(t, c, key, body, objcache.PutOptions{
		Metadata:    objcache.Metadata{"mode": "33188", "uid": "1000", "gid": "1000", "mtime": "1700000000.5", "note": "kept"},
		ContentType: "text/x-rekey",
	})
}

// assertUnder checks from outside that key is under sse.
func assertUnder(st *stack, key string, sse ssekeys.SSE) {
	st.t.Helper()
	switch sse.Kind {
	case ssekeys.SSEC:
		st.assertSSEC(key, sse.Key)
	case ssekeys.KMS:
		st.assertKMS(key, sse.KMSKeyID)
	default:
		if m, err := st.srv.Store().Stat(bucket, key); err != nil || m.SSE != 0 {
			st.t.Errorf("%s: stored as %v, want unencrypted (err %v)", key, m.SSE, err)
		}
	}
}

// TestRekey moves objects between every kind of encryption in both
// profiles, checks content, metadata and the stored encryption, and that a
// second run skips everything (resumable, idempotent).
func TestRekey(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		a, b, stranger := newKey(t), newKey(t), newKey(t)
		kms := st.kmsSecret()
		steps := []struct {
			name     string
			from     []ssekeys.SSE
			to       ssekeys.SSE
			prefill  ssekeys.SSE
			multiKey bool
		}{
			{name: "none to SSE-C", from: []ssekeys.SSE{{}}, to: sseC(a)},
			{name: "SSE-C to SSE-C", from: []ssekeys.SSE{sseC(stranger), sseC(a)}, to: sseC(b)},
			{name: "SSE-C to SSE-KMS", from: []ssekeys.SSE{sseC(b)}, to: sseKMS(kms)},
			{name: "SSE-KMS to none", from: []ssekeys.SSE{sseKMS(kms)}, to: ssekeys.SSE{}},
		}
		objs := []rekeyObject{
			{key: "empty", body: nil},
			{key: "dir/", body: nil},
			{key: "dir/small", body: pattern(1000)},
			{key: "dir/sub/medium", body: pattern(300_000)},
			{key: "big", body: pattern(6 << 20)}, // multipart when streamed
		}
		ctx := context.Background()
		for _, o := range objs {
			writeWith(t, st, ssekeys.SSE{}, o.key, o.body)
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				var enc ssekeys.Config
				switch step.to.Kind {
				case ssekeys.SSEC:
					enc.Keys = keyring(t, step.to.Key)
				case ssekeys.KMS:
					enc.KMSKeyID = step.to.KMSKeyID
				}
				c := st.client(enc, nil, func(cfg *objcache.ClientConfig) { cfg.PartSize = 5 << 20 })
				// An object under a key nobody gave is left alone.
				writeWith(t, st, sseC(newKey(t)), "foreign", []byte("not mine"))
				for _, dry := range []bool{true, false} {
					for _, o := range objs {
						res, err := c.Rekey(ctx, o.key, step.from, dry)
						want := objcache.Rekeyed
						if dry {
							want = objcache.RekeyWouldChange
						}
						if err != nil || res.Outcome != want {
							t.Fatalf("Rekey(%s, dry=%v) = %+v, %v; want outcome %v", o.key, dry, res, err, want)
						}
					}
				}
				for _, o := range objs {
					res, err := c.Rekey(ctx, o.key, step.from, false)
					if err != nil || res.Outcome != objcache.RekeySkipped {
						t.Errorf("second Rekey(%s) = %+v, %v; want skipped", o.key, res, err)
					}
					assertUnder(st, o.key, step.to)
					info, err := c.Head(ctx, o.key)
					if err != nil {
						t.Fatal(err)
					}
					if info.ContentType != "text/x-rekey" || info.Metadata["mode"] != "33188" || info.Metadata["mtime"] != "1700000000.5" || info.Metadata["note"] != "kept" {
						t.Errorf("%s: metadata not kept: %q %v", o.key, info.ContentType, info.Metadata)
					}
					if got := mustRead(t, c, o.key, 0, -1); !bytes.Equal(got, o.body) {
						t.Errorf("%s: content changed (%d bytes, want %d)", o.key, len(got), len(o.body))
					}
				}
				res, err := c.Rekey(ctx, "foreign", step.from, false)
				if err != nil || res.Outcome != objcache.RekeyNotFrom || res.WasKnown {
					t.Errorf("Rekey(foreign) = %+v, %v; want left alone, unknown key", res, err)
				}
				if res, err := c.Rekey(ctx, "no-such-object", step.from, false); err != nil || res.Outcome != objcache.RekeyGone {
					t.Errorf("Rekey(missing) = %+v, %v; want gone", res, err)
				}
			})
		}
	})
}

// TestRekeyPlainUnderSSECKeyIsNotSkipped: on RGW a HEAD with an SSE-C key
// on a plain object answers 200 without an echo; that object is plain and
// must be rekeyed, not taken as already under the key.
func TestRekeyPlainUnderSSECKeyIsNotSkipped(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		k := newKey(t)
		st.rawPut("plain", "hello", nil)
		c := st.client(ssekeys.Config{Keys: keyring(t, k)}, nil)
		// From the key itself only: the plain object is not under it.
		res, err := c.Rekey(context.Background(), "plain", []ssekeys.SSE{sseC(k)}, false)
		if err != nil || res.Outcome != objcache.RekeyNotFrom || !res.WasKnown || res.Was.Kind != ssekeys.None {
			t.Fatalf("Rekey = %+v, %v; want left alone as unencrypted", res, err)
		}
		res, err = c.Rekey(context.Background(), "plain", []ssekeys.SSE{{}}, false)
		if err != nil || res.Outcome != objcache.Rekeyed {
			t.Fatalf("Rekey from none = %+v, %v", res, err)
		}
		st.assertSSEC("plain", k)
	})
}

// TestRekeyRefusesHTTPFromKeys: FROM keys obey the same transport rule as
// the write key.
func TestRekeyRefusesHTTPFromKeys(t *testing.T) {
	st := newStack(t, "aws")
	cfg := st.config(ssekeys.Config{}, nil)
	cfg.Endpoint = "http://192.0.2.1:9000"
	c, err := objcache.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.CheckKeyTransport([]ssekeys.SSE{sseC(newKey(t))}); err == nil {
		t.Fatal("SSE-C FROM keys over plain HTTP to another host were accepted")
	}
	if err := c.CheckKeyTransport([]ssekeys.SSE{{}, sseKMS("x")}); err != nil {
		t.Fatalf("no SSE-C key, yet: %v", err)
	}
}
