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
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// KeySize is the size of an SSE-C key: AES-256.
const KeySize = 32

// Key is one 32-byte SSE-C customer key. Printing a Key (with any verb)
// shows its fingerprint only.
type Key struct {
	raw [KeySize]byte
}

// NewKey wraps 32 raw bytes as a Key. It copies b.
func NewKey(b []byte) (*Key, error) {
	if len(b) != KeySize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(b), KeySize)
	}
	k := &Key{}
	copy(k.raw[:], b)
	return k, nil
}

// GenerateKey returns a new random key from crypto/rand.
func GenerateKey() (*Key, error) {
	k := &Key{}
	if _, err := rand.Read(k.raw[:]); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	return k, nil
}

// Base64 is the key as S3's x-amz-server-side-encryption-customer-key header
// carries it. Only request builders should call it.
func (k *Key) Base64() string { return base64.StdEncoding.EncodeToString(k.raw[:]) }

// MD5Base64 is the base64 MD5 digest of the raw key, as the
// x-amz-server-side-encryption-customer-key-MD5 header carries it and as
// servers echo it.
func (k *Key) MD5Base64() string {
	sum := md5.Sum(k.raw[:])
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Fingerprint names the key in logs and messages without revealing it: the
// key's MD5 as S3 reports it (aws s3api head-object shows the same value as
// SSECustomerKeyMD5), so users can match objects to key files.
func (k *Key) Fingerprint() string { return "md5:" + k.MD5Base64() }

// Bytes returns a copy of the raw key bytes, for writing a key file or
// storing it in a secret store.
func (k *Key) Bytes() []byte {
	b := make([]byte, KeySize)
	copy(b, k.raw[:])
	return b
}

// Equal reports whether two keys have the same bytes.
func (k *Key) Equal(o *Key) bool { return k != nil && o != nil && k.raw == o.raw }

// String returns the fingerprint, so %v and %s never print key bytes.
func (k *Key) String() string { return "key " + k.Fingerprint() }

// GoString returns the fingerprint, so %#v never prints key bytes.
func (k *Key) GoString() string { return "ssekeys.Key(" + k.Fingerprint() + ")" }

// Format prints the fingerprint whatever the verb (%x and %q included).
func (k *Key) Format(f fmt.State, verb rune) { fmt.Fprint(f, k.String()) }
