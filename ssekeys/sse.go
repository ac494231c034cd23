package ssekeys

import (
	"fmt"
	"strings"
)

// Kind is how an object is encrypted on the server.
type Kind int

const (
	// None: no server-side encryption requested.
	None Kind = iota
	// SSEC: server-side encryption with a customer-provided key.
	SSEC
	// KMS: server-side encryption with a key held in a key manager.
	KMS
)

func (k Kind) String() string {
	switch k {
	case SSEC:
		return "SSE-C"
	case KMS:
		return "SSE-KMS"
	default:
		return "none"
	}
}

// Op is a class of S3 request, as far as encryption parameters go.
type Op int

// The request classes of DESIGN.md section 3's operation table.
const (
	OpPut               Op = iota // PutObject
	OpCreateMultipart             // CreateMultipartUpload
	OpUploadPart                  // UploadPart
	OpUploadPartCopy              // UploadPartCopy (the upload's own parameters; the source's come from CopySource)
	OpCompleteMultipart           // CompleteMultipartUpload
	OpListParts                   // ListParts
	OpGet                         // GetObject
	OpHead                        // HeadObject
	OpCopy                        // CopyObject, the target's parameters
	OpList                        // ListObjects(V2)
	OpDelete                      // DeleteObject(s)
	OpBucket                      // bucket calls
)

// AlgorithmAES256 is the only SSE-C algorithm S3 knows.
const AlgorithmAES256 = "AES256"

// SSEKMSHeaderValue is the x-amz-server-side-encryption value for SSE-KMS.
const SSEKMSHeaderValue = "aws:kms"

// Params are the encryption fields of one request. Empty fields are not
// sent. The SDK's input structs take them one to one: CustomerAlgorithm ->
// SSECustomerAlgorithm, CustomerKey -> SSECustomerKey (already base64),
// CustomerKeyMD5 -> SSECustomerKeyMD5, ServerSideEncryption ->
// ServerSideEncryption, KMSKeyID -> SSEKMSKeyId; for a copy source the same
// triple goes to CopySourceSSECustomer*.
type Params struct {
	CustomerAlgorithm    string
	CustomerKey          string
	CustomerKeyMD5       string
	ServerSideEncryption string
	KMSKeyID             string
}

// IsZero reports whether no encryption field is set.
func (p Params) IsZero() bool { return p == Params{} }

// SSE is one concrete encryption: no encryption, SSE-C with a given key, or
// SSE-KMS with a given key id. It is what an object was (or is to be)
// encrypted with.
type SSE struct {
	Kind     Kind
	Key      *Key   // SSEC only
	KMSKeyID string // KMS only
}

// String names the encryption without revealing key material.
func (s SSE) String() string {
	switch s.Kind {
	case SSEC:
		return "SSE-C " + s.Key.Fingerprint()
	case KMS:
		return "SSE-KMS " + s.KMSKeyID
	default:
		return "unencrypted"
	}
}

// customerTriple is the SSE-C header triple. It copies no key material:
// Base64 and MD5Base64 are computed once per key, and the key's Base64 is a
// string over its locked memory (see memlock.go), so the many requests of a
// mount leave no copies of their own behind.
func (s SSE) customerTriple() Params {
	return Params{CustomerAlgorithm: AlgorithmAES256, CustomerKey: s.Key.Base64(), CustomerKeyMD5: s.Key.MD5Base64()}
}

// For returns the parameters that a request of class op sends for an object
// (or upload) encrypted with s. This is the one place that decides what goes
// on the wire (DESIGN.md section 3):
//   - SSE-C: the customer triple on every request that touches the object's
//     data (put, multipart create/part/part-copy/complete/list-parts, get,
//     head, copy target); never on listings, deletes or bucket calls.
//   - SSE-KMS: the key id only where an object is created (put, multipart
//     create, copy target); never on reads (servers answer 400) or parts.
func (s SSE) For(op Op) Params {
	switch s.Kind {
	case SSEC:
		switch op {
		case OpPut, OpCreateMultipart, OpUploadPart, OpUploadPartCopy, OpCompleteMultipart, OpListParts, OpGet, OpHead, OpCopy:
			return s.customerTriple()
		}
	case KMS:
		switch op {
		case OpPut, OpCreateMultipart, OpCopy:
			return Params{ServerSideEncryption: SSEKMSHeaderValue, KMSKeyID: s.KMSKeyID}
		}
	}
	return Params{}
}

// CopySource returns the x-amz-copy-source-server-side-encryption-customer-*
// triple for a copy (CopyObject or UploadPartCopy) whose source is encrypted
// with s: set for an SSE-C source, empty otherwise (the server opens SSE-KMS
// sources itself).
func (s SSE) CopySource() Params {
	if s.Kind == SSEC {
		return s.customerTriple()
	}
	return Params{}
}

// ChecksEcho reports whether a response to op must echo the encryption
// (DESIGN.md: every PUT, CreateMultipartUpload, CompleteMultipartUpload and
// copy).
func ChecksEcho(op Op) bool {
	switch op {
	case OpPut, OpCreateMultipart, OpCompleteMultipart, OpCopy, OpUploadPartCopy:
		return true
	}
	return false
}

// Echo is what a response says about the encryption it applied.
type Echo struct {
	CustomerAlgorithm    string // x-amz-server-side-encryption-customer-algorithm
	CustomerKeyMD5       string // x-amz-server-side-encryption-customer-key-MD5
	ServerSideEncryption string // x-amz-server-side-encryption
	KMSKeyID             string // x-amz-server-side-encryption-aws-kms-key-id
}

// EchoError says the server did not confirm the encryption that was asked
// for: it may have stored the object otherwise (Ceph RGW stores a plain
// source copied with SSE requested unencrypted and answers 200).
type EchoError struct {
	Want SSE
	Got  Echo
}

func (e *EchoError) Error() string {
	got := "no encryption"
	switch {
	case e.Got.CustomerAlgorithm != "":
		got = "SSE-C " + e.Got.CustomerAlgorithm + " md5:" + e.Got.CustomerKeyMD5
	case e.Got.ServerSideEncryption != "":
		got = e.Got.ServerSideEncryption
		if e.Got.KMSKeyID != "" {
			got += " " + e.Got.KMSKeyID
		}
	}
	return fmt.Sprintf("server confirmed %s, not the requested %s", got, e.Want)
}

// CheckEcho verifies that a response echoes s. Plain requests check nothing
// (a bucket may apply default encryption on its own).
func (s SSE) CheckEcho(e Echo) error {
	switch s.Kind {
	case SSEC:
		if e.CustomerAlgorithm == AlgorithmAES256 && e.CustomerKeyMD5 == s.Key.MD5Base64() {
			return nil
		}
	case KMS:
		if e.ServerSideEncryption == SSEKMSHeaderValue && kmsIDMatches(e.KMSKeyID, s.KMSKeyID) {
			return nil
		}
	default:
		return nil
	}
	return &EchoError{Want: s, Got: e}
}

// kmsIDMatches accepts the id as sent or as AWS reports it (a key ARN ending
// in "key/<id>"); an empty echoed id is accepted only if nothing was asked.
func kmsIDMatches(got, want string) bool {
	if got == want {
		return true
	}
	return got != "" && want != "" && strings.HasSuffix(got, "/"+want)
}

// Config is a mount's encryption: an SSE-C keyring, an SSE-KMS key id, or
// neither (then objects are written unencrypted).
type Config struct {
	Keys     *Keyring
	KMSKeyID string
}

// Validate rejects a config that asks for both SSE-C and SSE-KMS.
func (c Config) Validate() error {
	if c.Keys != nil && c.KMSKeyID != "" {
		return fmt.Errorf("choose SSE-C (a key file) or SSE-KMS (a key id), not both")
	}
	return nil
}

// Write is the encryption new objects and every copy get.
func (c Config) Write() SSE {
	switch {
	case c.Keys != nil:
		return SSE{Kind: SSEC, Key: c.Keys.Write()}
	case c.KMSKeyID != "":
		return SSE{Kind: KMS, KMSKeyID: c.KMSKeyID}
	}
	return SSE{}
}

// ReadCandidates are the encryptions to try, in order, when opening an
// object of unknown encryption: each SSE-C key (the write key first), then
// no key (an unencrypted or SSE-KMS object, which reads need no key for).
func (c Config) ReadCandidates() []SSE {
	var out []SSE
	if c.Keys != nil {
		for _, k := range c.Keys.All() {
			out = append(out, SSE{Kind: SSEC, Key: k})
		}
	}
	return append(out, SSE{})
}

// Describe names the configuration for logs, without key material.
func (c Config) Describe() string {
	switch {
	case c.Keys != nil:
		fps := make([]string, 0, c.Keys.Len())
		for _, k := range c.Keys.All() {
			fps = append(fps, k.Fingerprint())
		}
		return "SSE-C, keys " + strings.Join(fps, ", ") + " (first writes)"
	case c.KMSKeyID != "":
		return "SSE-KMS, key id " + c.KMSKeyID
	}
	return "no encryption"
}
