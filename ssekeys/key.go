// Package ssekeys holds ssefs's encryption keys and turns them into the
// server-side encryption parameters of each S3 request class. It reads key
// files (raw, base64 or hex; several keys for rotation), parses SSE-KMS key
// ids (Barbican UUIDs or secret hrefs) and manages keys in Barbican. It does
// no S3 HTTP and knows nothing of FUSE.
//
// Key bytes never leave this package except as the request parameters that
// carry them: a Key formats as its fingerprint, never as its bytes.
package ssekeys

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
)

// KeySize is the size of an SSE-C key: AES-256.
const KeySize = 32

// Key is one 32-byte SSE-C customer key. Printing a Key (with any verb)
// shows its fingerprint only.
//
// The key's bytes are kept in one place: a slot of locked memory outside
// the Go heap (see memlock.go) that holds the raw key and its base64 header
// form, both computed once when the key is made. Base64 returns a string
// over that slot, so building a request makes no new copy of the key.
type Key struct {
	slot   []byte // [0:KeySize] raw key, then its base64 form; never freed
	b64    string // the base64 form, over slot: no heap copy
	md5b64 string // not secret: S3 echoes it and logs show it
}

// NewKey wraps 32 raw bytes as a Key. It copies b into the key's locked
// slot; the caller should wipe b (clear(b)) once it is done with it.
func NewKey(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(b), KeySize)
	}
	return newKey(func(raw []byte) error {
		copy(raw, b)
		return nil
	})
}

// GenerateKey returns a new random key from crypto/rand, read straight into
// the key's locked slot.
func GenerateKey() (*Key, error) {
	return newKey(func(raw []byte) error {
		if _, err := rand.Read(raw); err != nil {
			return fmt.Errorf("reading random bytes: %w", err)
		}
		return nil
	})
}

// raw is the key's bytes, in its slot. Callers must not keep or copy it.
func (k *Key) raw() []byte { return k.slot[:KeySize:KeySize] }

// Base64 is the key as S3's x-amz-server-side-encryption-customer-key header
// carries it. Only request builders should call it. The string points into
// the key's locked slot (it is no heap copy, and stays valid for the life
// of the process); the SDK still copies it into each request it signs and
// sends, which cannot be avoided.
func (k *Key) Base64() string { return k.b64 }

// MD5Base64 is the base64 MD5 digest of the raw key, as the
// x-amz-server-side-encryption-customer-key-MD5 header carries it and as
// servers echo it.
func (k *Key) MD5Base64() string { return k.md5b64 }

// Fingerprint names the key in logs and messages without revealing it: the
// key's MD5 as S3 reports it (aws s3api head-object shows the same value as
// SSECustomerKeyMD5), so users can match objects to key files.
func (k *Key) Fingerprint() string { return "md5:" + k.MD5Base64() }

// Bytes returns a copy of the raw key bytes, for writing a key file or
// storing it in a secret store. The copy is on the Go heap: wipe it
// (clear(b)) as soon as it has been used.
func (k *Key) Bytes() []byte {
	b := make([]byte, KeySize)
	copy(b, k.raw())
	return b
}

// Equal reports whether two keys have the same bytes, in constant time.
func (k *Key) Equal(o *Key) bool {
	return k != nil && o != nil && subtle.ConstantTimeCompare(k.raw(), o.raw()) == 1
}

// String returns the fingerprint, so %v and %s never print key bytes.
func (k *Key) String() string { return "key " + k.Fingerprint() }

// GoString returns the fingerprint, so %#v never prints key bytes.
func (k *Key) GoString() string { return "ssekeys.Key(" + k.Fingerprint() + ")" }

// Format prints the fingerprint whatever the verb (%x and %q included).
func (k *Key) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }
