package ssekeys

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, data []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(p, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadKeyFileFormats(t *testing.T) {
	raw := bytes.Repeat([]byte{0x0a}, 32) // all newlines: a raw file must not be split into lines
	raw[5] = 0xff
	b64 := base64.StdEncoding.EncodeToString(raw)
	hx := hex.EncodeToString(raw)
	for name, data := range map[string][]byte{
		"raw":                 raw,
		"base64":              []byte(b64),
		"base64 newline":      []byte(b64 + "\n"),
		"base64 no padding":   []byte(strings.TrimRight(b64, "=") + "\n"),
		"hex":                 []byte(hx + "\n"),
		"hex upper with CRLF": []byte(strings.ToUpper(hx) + "\r\n"),
		"comment and blank":   []byte("# photos key\n\n" + b64 + "\n"),
	} {
		t.Run(name, func(t *testing.T) {
			ring, err := LoadKeyFile(writeFile(t, data, 0o600))
			if err != nil {
				t.Fatal(err)
			}
			if ring.Len() != 1 || !bytes.Equal(ring.Write().Bytes(), raw) {
				t.Fatalf("got %d keys / wrong bytes", ring.Len())
			}
		})
	}
}

func TestLoadKeyFileRotation(t *testing.T) {
	k1, k2 := testKey(t, 1), testKey(t, 2)
	p := writeFile(t, []byte(k1.Base64()+"\n"+hex.EncodeToString(k2.Bytes())+"\n"), 0o400)
	ring, err := LoadKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if ring.Len() != 2 || !ring.Write().Equal(k1) || !ring.All()[1].Equal(k2) {
		t.Fatal("want two keys, the first line writing")
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	good := testKey(t, 3).Base64()
	trailingNL := base64.StdEncoding.EncodeToString(append(bytes.Repeat([]byte{'a'}, 32), '\n'))
	cases := []struct {
		name string
		path func(t *testing.T) string
		want string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "does not exist"},
		{"group readable", func(t *testing.T) string { return writeFile(t, []byte(good), 0o640) }, "permissions 0640 are too open"},
		{"world readable", func(t *testing.T) string { return writeFile(t, []byte(good), 0o644) }, "permissions 0644 are too open"},
		{"31 raw bytes", func(t *testing.T) string { return writeFile(t, bytes.Repeat([]byte{0x80}, 31), 0o600) }, "line 1: not a key"},
		{"base64 of 31 bytes", func(t *testing.T) string {
			return writeFile(t, []byte(base64.StdEncoding.EncodeToString(make([]byte, 31))), 0o600)
		}, "line 1: key decodes to 31 bytes, want 32"},
		{"base64 with encoded trailing newline", func(t *testing.T) string {
			return writeFile(t, []byte(trailingNL+"\n"), 0o600)
		}, "line 1: key decodes to 33 bytes, want 32 (the base64 encodes a trailing newline"},
		{"bad second line", func(t *testing.T) string { return writeFile(t, []byte(good+"\nnot*a*key\n"), 0o600) }, "line 2: not a key"},
		{"empty", func(t *testing.T) string { return writeFile(t, nil, 0o600) }, "is empty"},
		{"directory", func(t *testing.T) string { d := t.TempDir(); os.Chmod(d, 0o700); return d }, "not a regular file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.path(t)
			_, err := LoadKeyFile(p)
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %q, want it to name %s and say %q", err, p, c.want)
			}
			var kfe *KeyFileError
			if !errors.As(err, &kfe) {
				t.Fatalf("error %T is not a *KeyFileError", err)
			}
		})
	}
}

func TestGenerateKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "new.key")
	k, err := GenerateKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("mode %v size %d, want 0600 and 32 bytes", st.Mode().Perm(), st.Size())
	}
	ring, err := LoadKeyFile(p)
	if err != nil || !ring.Write().Equal(k) {
		t.Fatalf("reloading the generated key: %v", err)
	}
	if _, err := GenerateKeyFile(p); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second generate: %v, want a refusal to overwrite", err)
	}
	again, _ := LoadKeyFile(p)
	if !again.Write().Equal(k) {
		t.Fatal("the refused overwrite changed the key file")
	}
}

// TestKeyNeverPrints: every fmt verb shows the fingerprint, not the key.
func TestKeyNeverPrints(t *testing.T) {
	k := testKey(t, 0x41) // "AAAA..." in raw bytes
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		out := fmt.Sprintf(verb, k)
		for _, secret := range []string{string(k.Bytes()), k.Base64(), hex.EncodeToString(k.Bytes())} {
			if strings.Contains(strings.ToLower(out), strings.ToLower(secret)) {
				t.Errorf("%s printed key material: %q", verb, out)
			}
		}
		if !strings.Contains(out, k.Fingerprint()) {
			t.Errorf("%s = %q, want the fingerprint", verb, out)
		}
	}
	s := fmt.Sprintf("%v", SSE{Kind: SSEC, Key: k})
	if strings.Contains(s, k.Base64()) {
		t.Errorf("SSE printed the key: %s", s)
	}
}

func TestParseKMSKeyID(t *testing.T) {
	const id = "0f8e7a52-8c4e-4d55-9d3d-1f6c1b0b8e11"
	ok := map[string]string{
		id:                                       id,
		strings.ToUpper(id):                      id,
		"http://127.0.0.1:9311/v1/secrets/" + id: id,
		"https://kms.example/key-manager/v1/secrets/" + id + "/": id,
		"arn:aws:kms:us-east-1:123:key/abcd":                     "arn:aws:kms:us-east-1:123:key/abcd",
		"alias/photos":                                           "alias/photos",
	}
	for in, want := range ok {
		got, err := ParseKMSKeyID(in)
		if err != nil || got != want {
			t.Errorf("ParseKMSKeyID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "  ", "http://127.0.0.1:9311/v1/orders/" + id, "https://x/v1/secrets/not-a-uuid", "a b"} {
		if got, err := ParseKMSKeyID(bad); err == nil {
			t.Errorf("ParseKMSKeyID(%q) = %q, want an error", bad, got)
		}
	}
}
