package objstore

// Cryptography of the at-rest format: data keys, their wrapping, the SSE-C
// key check and the per-chunk AES-256-GCM sealing.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
)

const (
	chunkSize       = 64 << 10            // plaintext bytes per chunk
	tagSize         = 16                  // GCM tag
	sealedChunkSize = chunkSize + tagSize // bytes on disk per full chunk
	keySize         = 32
	idSize          = 16 // segment ids and key ids
)

var (
	labelKEK   = []byte("ssefs/objstore/kek/v1")
	labelWrap  = []byte("ssefs/objstore/wrap/v1")
	labelCheck = []byte("ssefs/objstore/ssec-check/v1")
	labelChunk = []byte("ssefs/objstore/chunk/v1")
)

// sealRecord is what is stored about the encryption of an object or upload.
// It never holds a customer key, a KMS secret or a plaintext data key.
type sealRecord struct {
	Mode     SSEMode `json:"mode"`
	KeyID    []byte  `json:"kid"`             // random id bound into the wrapping
	Salt     []byte  `json:"salt,omitempty"`  // SSE-C: salt of Check
	Check    []byte  `json:"check,omitempty"` // SSE-C: HMAC-SHA256(salt, label||customer key)
	Wrapped  []byte  `json:"wrapped"`         // nonce || AES-GCM(KEK, data key)
	KeyMD5   string  `json:"keymd5,omitempty"`
	KMSKeyID string  `json:"kmsid,omitempty"`
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("objstore: crypto/rand failed: " + err.Error())
	}
	return b
}

// newSeal makes a fresh data key for seal and the record that wraps it.
// It returns a nil record and key for SSENone.
func newSeal(seal Sealing) (*sealRecord, []byte, error) {
	switch seal.Mode {
	case SSENone:
		return nil, nil, nil
	case SSEC, SSEKMS:
	default:
		return nil, nil, fmt.Errorf("%w: unknown SSE mode %d", ErrInvalidArgument, seal.Mode)
	}
	if len(seal.Key) != keySize {
		return nil, nil, fmt.Errorf("%w: %v key must be %d bytes, got %d", ErrInvalidArgument, seal.Mode, keySize, len(seal.Key))
	}
	r := &sealRecord{Mode: seal.Mode, KeyID: randomBytes(idSize)}
	if seal.Mode == SSEC {
		sum := md5.Sum(seal.Key)
		r.KeyMD5 = base64.StdEncoding.EncodeToString(sum[:])
		r.Salt = randomBytes(idSize)
		r.Check = keyCheck(r.Salt, seal.Key)
	} else {
		r.KMSKeyID = seal.KMSKeyID
	}
	dataKey := randomBytes(keySize)
	kek, err := r.kekAEAD(seal.Key)
	if err != nil {
		return nil, nil, err
	}
	nonce := randomBytes(kek.NonceSize())
	r.Wrapped = kek.Seal(nonce, nonce, dataKey, r.wrapAAD())
	return r, dataKey, nil
}

// keyCheck is the salted HMAC stored for an SSE-C key.
func keyCheck(salt, key []byte) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write(labelCheck)
	m.Write(key)
	return m.Sum(nil)
}

// kekAEAD derives the key-encryption key from a customer key or KMS secret.
func (r *sealRecord) kekAEAD(key []byte) (cipher.AEAD, error) {
	m := hmac.New(sha256.New, key)
	m.Write(labelKEK)
	m.Write(r.KeyID)
	return newGCM(m.Sum(nil))
}

func (r *sealRecord) wrapAAD() []byte {
	aad := append([]byte{}, labelWrap...)
	aad = append(aad, byte(r.Mode))
	aad = append(aad, r.KeyID...)
	return append(aad, r.KMSKeyID...)
}

// check reports ErrWrongKey unless key opens r.
func (r *sealRecord) check(key []byte) error {
	if r == nil {
		return nil
	}
	if len(key) != keySize {
		return fmt.Errorf("%w: key is %d bytes", ErrWrongKey, len(key))
	}
	if r.Mode == SSEC {
		if !hmac.Equal(keyCheck(r.Salt, key), r.Check) {
			return ErrWrongKey
		}
		return nil
	}
	_, err := r.unwrap(key)
	return err
}

// unwrap returns the data key, or ErrWrongKey.
func (r *sealRecord) unwrap(key []byte) ([]byte, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("%w: key is %d bytes", ErrWrongKey, len(key))
	}
	if r.Mode == SSEC && !hmac.Equal(keyCheck(r.Salt, key), r.Check) {
		return nil, ErrWrongKey
	}
	kek, err := r.kekAEAD(key)
	if err != nil {
		return nil, err
	}
	ns := kek.NonceSize()
	if len(r.Wrapped) < ns+tagSize {
		return nil, fmt.Errorf("%w: wrapped data key too short", ErrCorrupt)
	}
	dk, err := kek.Open(nil, r.Wrapped[:ns], r.Wrapped[ns:], r.wrapAAD())
	if err != nil {
		if r.Mode == SSEC { // the HMAC matched: the record itself is damaged
			return nil, fmt.Errorf("%w: data key does not unwrap", ErrCorrupt)
		}
		return nil, ErrWrongKey
	}
	return dk, nil
}

// contentAEAD unwraps the data key and returns the chunk cipher; nil for an
// unencrypted record.
func (r *sealRecord) contentAEAD(key []byte) (cipher.AEAD, error) {
	if r == nil {
		return nil, nil
	}
	dk, err := r.unwrap(key)
	if err != nil {
		return nil, err
	}
	return newGCM(dk)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// chunkCipher seals and opens the chunks of one segment. The nonce is the
// first 8 bytes of the (random) segment id followed by the 32-bit chunk
// index, so nonces never repeat within a segment and collide across the
// segments of one data key only with negligible probability. The AAD binds
// the whole segment id, the chunk index and the final-chunk flag.
type chunkCipher struct {
	aead  cipher.AEAD
	nonce [12]byte
	aad   [23 + idSize + 8 + 1]byte
}

func newChunkCipher(aead cipher.AEAD, segID [idSize]byte) *chunkCipher {
	c := &chunkCipher{aead: aead}
	copy(c.nonce[:8], segID[:8])
	n := copy(c.aad[:], labelChunk)
	copy(c.aad[n:], segID[:])
	return c
}

func (c *chunkCipher) set(idx int64, final bool) error {
	if idx < 0 || idx > math.MaxUint32 {
		return fmt.Errorf("%w: chunk index %d out of range", ErrInvalidArgument, idx)
	}
	binary.BigEndian.PutUint32(c.nonce[8:], uint32(idx))
	n := len(labelChunk) + idSize
	binary.BigEndian.PutUint64(c.aad[n:], uint64(idx))
	c.aad[n+8] = 0
	if final {
		c.aad[n+8] = 1
	}
	return nil
}

// seal appends the sealed chunk to dst.
func (c *chunkCipher) seal(dst, plain []byte, idx int64, final bool) ([]byte, error) {
	if err := c.set(idx, final); err != nil {
		return nil, err
	}
	return c.aead.Seal(dst, c.nonce[:], plain, c.aad[:]), nil
}

// open decrypts sealed in place and returns the plaintext.
func (c *chunkCipher) open(sealed []byte, idx int64, final bool) ([]byte, error) {
	if err := c.set(idx, final); err != nil {
		return nil, err
	}
	p, err := c.aead.Open(sealed[:0], c.nonce[:], sealed, c.aad[:])
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %d fails authentication", ErrCorrupt, idx)
	}
	return p, nil
}

// numChunks is the number of chunks of a sealed segment of size plaintext
// bytes; an empty segment has one empty (final) chunk.
func numChunks(size int64) int64 {
	if size == 0 {
		return 1
	}
	return (size + chunkSize - 1) / chunkSize
}

// sealedSize is the size of the data file of a sealed segment.
func sealedSize(size int64) int64 {
	return size + numChunks(size)*tagSize
}
