package s3auth

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
)

// Limits of the aws-chunked decoder.
const (
	// MaxChunkSize is the largest aws-chunked chunk accepted.
	MaxChunkSize = 64 << 20
	// maxLineLen bounds a chunk header or trailer line, CRLF included.
	maxLineLen = 4096
	// maxTrailerLines bounds the number of trailer lines.
	maxTrailerLines = 16
)

const (
	emptySHA256         = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	chunkSigPrefix      = "chunk-signature="
	trailerSigHeader    = "x-amz-trailer-signature"
	payloadSigAlgorithm = "AWS4-HMAC-SHA256-PAYLOAD"
	trailerSigAlgorithm = "AWS4-HMAC-SHA256-TRAILER"
)

// chainSigner computes the chained signatures of a signed aws-chunked body:
// each chunk (and the trailer) is signed over the previous signature, the
// first over the seed signature of the request.
type chainSigner struct {
	key       []byte // SigV4 signing key
	timestamp string // ISO 8601 basic, as in the string to sign
	scope     string // date/region/s3/aws4_request
	prev      string // previous signature, hex
}

func (s *chainSigner) sign(stringToSign string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(stringToSign))
	return hex.EncodeToString(m.Sum(nil))
}

// chunk returns the signature of a chunk whose data hashes to dataHash.
func (s *chainSigner) chunk(dataHash []byte) string {
	return s.sign(payloadSigAlgorithm + "\n" + s.timestamp + "\n" + s.scope + "\n" + s.prev + "\n" +
		emptySHA256 + "\n" + hex.EncodeToString(dataHash))
}

// trailer returns the signature of the trailer section canon ("name:value\n" lines).
func (s *chainSigner) trailer(canon string) string {
	sum := sha256.Sum256([]byte(canon))
	return s.sign(trailerSigAlgorithm + "\n" + s.timestamp + "\n" + s.scope + "\n" + s.prev + "\n" +
		hex.EncodeToString(sum[:]))
}

// verify checks got against want and advances the chain.
func (s *chainSigner) verify(got, want string) error {
	if !hmac.Equal([]byte(got), []byte(want)) {
		return errSignature()
	}
	s.prev = got
	return nil
}

type chunkState int

const (
	stateHeader chunkState = iota // next: a chunk header line
	stateData                     // inside chunk data
	stateDone                     // final chunk and trailers read
)

// chunkedReader decodes an aws-chunked body:
//
//	hex-size[;chunk-signature=sig] CRLF data CRLF ... 0[;chunk-signature=sig] CRLF
//	[name:value CRLF ... [x-amz-trailer-signature:sig CRLF]] CRLF
//
// It returns only chunk data, verifies chunk and trailer signatures when a
// signer is set, and collects the trailers. Every failure is an *Error and
// sticks.
type chunkedReader struct {
	src      *bufio.Reader
	signer   *chainSigner // nil: unsigned chunks
	trailers []string     // expected trailer names (lower case); nil: no trailer section
	declared int64        // x-amz-decoded-content-length, -1 if unknown

	got      map[string]string // trailers received
	state    chunkState
	left     int64 // data bytes of the current chunk not yet returned
	chunkSig string
	h        hash.Hash
	total    int64
	err      error
}

func newChunkedReader(src io.Reader, signer *chainSigner, trailers []string, declared int64) *chunkedReader {
	c := &chunkedReader{
		src:      bufio.NewReaderSize(src, maxLineLen),
		signer:   signer,
		trailers: trailers,
		declared: declared,
		got:      map[string]string{},
	}
	if signer != nil {
		c.h = sha256.New()
	}
	return c
}

// Read implements io.Reader over the decoded payload.
func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for c.left == 0 {
		if err := c.advance(); err != nil {
			c.err = err
			return 0, err
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.src.Read(p)
	if n > 0 {
		if c.h != nil {
			c.h.Write(p[:n])
		}
		c.left -= int64(n)
		c.total += int64(n)
		return n, nil
	}
	if err == nil {
		return 0, nil
	}
	c.err = readErr(err)
	return 0, c.err
}

// readErr maps an error of the underlying body to an *Error.
func readErr(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errIncomplete("The request body ended before the end of the aws-chunked payload.")
	}
	return errIncomplete("Reading the request body failed: %v", err)
}

// advance moves past a finished chunk and reads the next header; at the
// final chunk it reads the trailers and returns io.EOF.
func (c *chunkedReader) advance() error {
	switch c.state {
	case stateDone:
		return io.EOF
	case stateData:
		if err := c.expectCRLF(); err != nil {
			return err
		}
		if c.signer != nil {
			if err := c.signer.verify(c.chunkSig, c.signer.chunk(c.h.Sum(nil))); err != nil {
				return err
			}
			c.h.Reset()
		}
		c.state = stateHeader
	}
	line, err := c.readLine()
	if err != nil {
		return err
	}
	size, sig, err := c.parseHeader(line)
	if err != nil {
		return err
	}
	if size == 0 {
		if c.signer != nil {
			if err := c.signer.verify(sig, c.signer.chunk(c.h.Sum(nil))); err != nil {
				return err
			}
		}
		if err := c.readTrailers(); err != nil {
			return err
		}
		if c.declared >= 0 && c.total != c.declared {
			return errIncomplete("The decoded payload has %d bytes; x-amz-decoded-content-length says %d.", c.total, c.declared)
		}
		// Nothing may follow the payload.
		if _, err := c.src.ReadByte(); err == nil {
			return errInvalidRequest("Unexpected data after the end of the aws-chunked payload.")
		}
		c.state = stateDone
		return io.EOF
	}
	if c.declared >= 0 && c.total+size > c.declared {
		return errIncomplete("The decoded payload is longer than x-amz-decoded-content-length (%d).", c.declared)
	}
	c.left, c.chunkSig, c.state = size, sig, stateData
	return nil
}

// readLine returns the next CRLF-terminated line without its CRLF.
func (c *chunkedReader) readLine() (string, error) {
	b, err := c.src.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return "", errChunkSize("An aws-chunked header or trailer line is longer than %d bytes.", maxLineLen)
	}
	if err != nil {
		return "", readErr(err)
	}
	if len(b) < 2 || b[len(b)-2] != '\r' {
		return "", errChunkSize("An aws-chunked line does not end with CRLF.")
	}
	return string(b[:len(b)-2]), nil
}

func (c *chunkedReader) expectCRLF() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	if line != "" {
		return errChunkSize("Chunk data is longer than its declared size.")
	}
	return nil
}

// parseHeader parses "hex-size[;ext]" and, for signed bodies, the signature.
func (c *chunkedReader) parseHeader(line string) (int64, string, error) {
	sizeStr, ext, _ := strings.Cut(line, ";")
	if len(sizeStr) == 0 || len(sizeStr) > 16 || !isHex(sizeStr) {
		return 0, "", errChunkSize("Invalid aws-chunked chunk size %q.", truncate(sizeStr, 32))
	}
	size, err := strconv.ParseUint(sizeStr, 16, 64)
	if err != nil || size > MaxChunkSize {
		return 0, "", errChunkSize("An aws-chunked chunk is larger than %d bytes.", MaxChunkSize)
	}
	if c.signer == nil {
		return int64(size), "", nil
	}
	sig, ok := strings.CutPrefix(ext, chunkSigPrefix)
	if !ok || len(sig) != 64 || !isHex(sig) {
		return 0, "", errSignature()
	}
	return int64(size), strings.ToLower(sig), nil
}

// readTrailers reads the section after the final chunk: the expected
// trailers (then the trailer signature for signed bodies) and an empty line.
func (c *chunkedReader) readTrailers() error {
	var canon strings.Builder
	var sig string
	for i := 0; ; i++ {
		if i > maxTrailerLines {
			return errTrailer("Too many trailer lines.")
		}
		line, err := c.readLine()
		if err != nil {
			if e, ok := err.(*Error); ok && e.Code == CodeInvalidChunkSizeError {
				return errTrailer("%s", e.Message)
			}
			return err
		}
		if line == "" {
			break
		}
		if c.trailers == nil {
			return errTrailer("Trailers were sent but x-amz-trailer announced none.")
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return errTrailer("A trailer line has no ':'.")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		value = strings.TrimSpace(value)
		if name == trailerSigHeader && c.signer != nil && sig == "" {
			sig = value
			continue
		}
		if sig != "" || !contains(c.trailers, name) {
			return errTrailer("Unexpected trailer %q.", truncate(name, 64))
		}
		if _, dup := c.got[name]; dup {
			return errTrailer("Trailer %q repeated.", name)
		}
		c.got[name] = value
		canon.WriteString(name + ":" + value + "\n")
	}
	for _, name := range c.trailers {
		if _, ok := c.got[name]; !ok {
			return errTrailer("Trailer %q announced in x-amz-trailer is missing.", name)
		}
	}
	if c.signer != nil && c.trailers != nil {
		if sig == "" {
			return errTrailer("The trailer signature is missing.")
		}
		return c.signer.verify(strings.ToLower(sig), c.signer.trailer(canon.String()))
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
