package objstore

import (
	"errors"
	"time"
)

// SSEMode is the server-side encryption of an object or upload.
type SSEMode int

const (
	// SSENone stores content unencrypted.
	SSENone SSEMode = iota
	// SSEC encrypts content under a customer-provided key (SSE-C).
	SSEC
	// SSEKMS encrypts content under a secret held by the key manager (SSE-KMS).
	SSEKMS
)

// String returns a short name for the mode.
func (m SSEMode) String() string {
	switch m {
	case SSENone:
		return "none"
	case SSEC:
		return "sse-c"
	case SSEKMS:
		return "sse-kms"
	}
	return "invalid"
}

// Sealing says how to encrypt a new object or multipart upload.
type Sealing struct {
	Mode     SSEMode
	Key      []byte // 32 bytes: the SSE-C customer key, or the KMS secret fetched from the key manager; nil for SSENone
	KMSKeyID string // SSEKMS only
}

// ObjectMeta describes one version of an object. Metadata returned by Stat,
// Put, Complete and List identifies that exact version for ReadRange and
// CheckKey.
type ObjectMeta struct {
	Bucket, Key  string
	Size         int64     // plaintext size
	ETag         string    // unquoted: hex MD5 of the plaintext for a single PUT; hex(md5(concat of the parts' binary MD5s))+"-N" after Complete
	LastModified time.Time // time of the commit
	ContentType  string
	Headers      map[string]string // standard headers kept verbatim by canonical name: Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires
	UserMeta     map[string]string // lower-case names without "x-amz-meta-"
	SSE          SSEMode
	KMSKeyID     string
	SSECKeyMD5   string // base64 MD5 of the SSE-C key (for the response echo)
	PartsCount   int    // 0 for a single PUT

	version string      // the stored version this metadata was read from; "" if built by a caller
	seal    *sealRecord // that version's sealing
}

// BucketInfo describes a bucket.
type BucketInfo struct {
	Name    string
	Created time.Time
}

// UploadInfo describes a multipart upload in progress.
type UploadInfo struct {
	UploadID, Bucket, Key string
	Initiated             time.Time
	Meta                  ObjectMeta // ContentType, Headers, UserMeta, SSE, KMSKeyID, SSECKeyMD5 as given at create
}

// PartInfo describes an uploaded part.
type PartInfo struct {
	Number       int
	ETag         string // unquoted hex MD5 of the part's plaintext
	Size         int64
	LastModified time.Time
}

// CompletePart names a part to assemble in Complete.
type CompletePart struct {
	Number int
	ETag   string // quotes allowed, compared unquoted
}

// Sentinel errors. Errors returned by a Store wrap them with context; test
// them with errors.Is.
var (
	ErrNoSuchBucket     = errors.New("objstore: no such bucket")
	ErrBucketExists     = errors.New("objstore: bucket already exists")
	ErrBucketNotEmpty   = errors.New("objstore: bucket not empty")
	ErrNoSuchKey        = errors.New("objstore: no such key")
	ErrNoSuchUpload     = errors.New("objstore: no such upload")
	ErrInvalidPart      = errors.New("objstore: invalid part")
	ErrInvalidPartOrder = errors.New("objstore: invalid part order")
	ErrEntityTooSmall   = errors.New("objstore: entity too small")
	ErrWrongKey         = errors.New("objstore: wrong key")

	// ErrInvalidArgument reports a bad argument: a key that is not 32
	// bytes, an unknown SSE mode, a range outside the object, a part
	// number outside 1..10000.
	ErrInvalidArgument = errors.New("objstore: invalid argument")
	// ErrCorrupt reports stored content that fails authentication or is
	// truncated: it has been tampered with or damaged.
	ErrCorrupt = errors.New("objstore: stored data corrupt")
	// ErrObjectChanged is returned by ReadRange when the object was
	// overwritten since its metadata was read; Stat again and retry (an
	// HTTP layer may answer 503 SlowDown or 500 so clients retry).
	ErrObjectChanged = errors.New("objstore: object changed since stat")
)

// Limits of multipart uploads (S3 rules).
const (
	// MinPartSize is the smallest size of any part but the last.
	MinPartSize = 5 << 20
	// MaxPartNumber is the highest part number.
	MaxPartNumber = 10000
)
