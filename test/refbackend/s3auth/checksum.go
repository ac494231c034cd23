package s3auth

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// crc64NVMETable is CRC-64/NVME (polynomial 0xAD93D23594C93659, reflected
// input and output, initial value and final xor all ones): hash/crc64 works
// on the reflected polynomial and applies the inversions itself.
var crc64NVMETable = crc64.MakeTable(0x9A6C9329AC4BC9B5)

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// checksumAlgo describes one x-amz-checksum-* algorithm.
type checksumAlgo struct {
	name   string // as in the header suffix, e.g. "crc32c"
	header string // full lower-case header name
	size   int    // digest length in bytes
	newH   func() hash.Hash
}

var checksumAlgos = []checksumAlgo{
	{"crc32", "x-amz-checksum-crc32", 4, func() hash.Hash { return crc32.NewIEEE() }},
	{"crc32c", "x-amz-checksum-crc32c", 4, func() hash.Hash { return crc32.New(crc32cTable) }},
	{"crc64nvme", "x-amz-checksum-crc64nvme", 8, func() hash.Hash { return crc64.New(crc64NVMETable) }},
	{"sha1", "x-amz-checksum-sha1", 20, sha1.New},
	{"sha256", "x-amz-checksum-sha256", 32, sha256.New},
}

// checksumByHeader returns the algorithm whose header is name (any case).
func checksumByHeader(name string) (*checksumAlgo, bool) {
	name = strings.ToLower(name)
	for i := range checksumAlgos {
		if checksumAlgos[i].header == name {
			return &checksumAlgos[i], true
		}
	}
	return nil, false
}

// decodeChecksum parses a base64 checksum value of the algorithm's size.
func (a *checksumAlgo) decode(v string) ([]byte, bool) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	if err != nil || len(b) != a.size {
		return nil, false
	}
	return b, true
}

// bodyCheck is a digest of the decoded payload compared at its end.
type bodyCheck struct {
	h        hash.Hash
	want     []byte // nil: the value arrives later (trailer)
	algo     *checksumAlgo
	trailer  bool
	md5      bool
	sha256Of bool // x-amz-content-sha256
}

func (c *bodyCheck) fail() *Error {
	switch {
	case c.sha256Of:
		return newErr(400, CodeXAmzContentSHA256Mismatch,
			"The provided 'x-amz-content-sha256' header does not match what was computed.")
	case c.md5:
		return errBadDigest("The Content-MD5 you specified did not match what we received.")
	default:
		return errBadDigest("The %s you specified did not match the calculated checksum.", strings.ToUpper(c.algo.name))
	}
}

// contentMD5Check parses a Content-MD5 header (nil when absent).
func contentMD5Check(v []string) (*bodyCheck, error) {
	if len(v) == 0 {
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v[0]))
	if len(v) != 1 || err != nil || len(b) != md5.Size {
		return nil, newErr(400, CodeInvalidDigest, "The Content-MD5 you specified was invalid.")
	}
	return &bodyCheck{h: md5.New(), want: b, md5: true}, nil
}

func newSHA256() hash.Hash { return sha256.New() }
