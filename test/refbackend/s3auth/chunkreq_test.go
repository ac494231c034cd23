package s3auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// This file builds aws-chunked requests by hand from AWS's documented
// format. The seed signature comes from aws-sdk-go-v2's v4 signer; chunk and
// trailer signatures are computed here, independently of the verifier.

func tHMAC(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func tHex(b []byte) string { return hex.EncodeToString(b) }

func tSHA(b []byte) string {
	s := sha256.Sum256(b)
	return tHex(s[:])
}

// chunkOpts describes a hand-built aws-chunked request.
type chunkOpts struct {
	chunkSize    int
	signed       bool   // chunk signatures
	trailer      string // e.g. "x-amz-checksum-crc32c"; "" for none
	trailerValue string // overrides the computed trailer value
	badChunk     int    // 1-based index of a chunk whose signature is wrong; 0: none
	badTrailer   bool   // corrupt the trailer signature
}

func (o chunkOpts) mode() string {
	switch {
	case o.signed && o.trailer != "":
		return StreamingSignedPayloadTrailer
	case o.signed:
		return StreamingSignedPayload
	}
	return StreamingUnsignedTrailer
}

// trailerValue computes the checksum trailer for data.
func trailerValue(name string, data []byte) string {
	switch name {
	case "x-amz-checksum-crc32":
		return b64crc(crc32.ChecksumIEEE(data))
	case "x-amz-checksum-crc32c":
		return b64crc(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	case "x-amz-checksum-sha256":
		s := sha256.Sum256(data)
		return base64.StdEncoding.EncodeToString(s[:])
	}
	panic(name)
}

func b64crc(v uint32) string {
	return base64.StdEncoding.EncodeToString([]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// encodeChunks frames data; sig(prev, chunk) returns a chunk signature and
// trailerSig(prev, canon) the trailer signature.
func encodeChunks(data []byte, o chunkOpts, seed string, key []byte, ts, scope string) []byte {
	var b bytes.Buffer
	prev := seed
	chunkSig := func(chunk []byte, idx int) string {
		sts := "AWS4-HMAC-SHA256-PAYLOAD\n" + ts + "\n" + scope + "\n" + prev + "\n" + tSHA(nil) + "\n" + tSHA(chunk)
		s := tHex(tHMAC(key, sts))
		prev = s
		if idx == o.badChunk {
			s = strings.Repeat("0", 64)
		}
		return s
	}
	idx := 0
	for off := 0; ; {
		end := min(off+o.chunkSize, len(data))
		chunk := data[off:end]
		off = end
		idx++
		fmt.Fprintf(&b, "%x", len(chunk))
		if o.signed {
			b.WriteString(";chunk-signature=" + chunkSig(chunk, idx))
		}
		b.WriteString("\r\n")
		if len(chunk) == 0 {
			break
		}
		b.Write(chunk)
		b.WriteString("\r\n")
	}
	if o.trailer != "" {
		v := o.trailerValue
		if v == "" {
			v = trailerValue(o.trailer, data)
		}
		line := o.trailer + ":" + v
		b.WriteString(line + "\r\n")
		if o.signed {
			sts := "AWS4-HMAC-SHA256-TRAILER\n" + ts + "\n" + scope + "\n" + prev + "\n" + tSHA([]byte(line+"\n"))
			s := tHex(tHMAC(key, sts))
			if o.badTrailer {
				s = strings.Repeat("1", 64)
			}
			b.WriteString("x-amz-trailer-signature:" + s + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// buildChunked returns a signed aws-chunked PUT of data to url.
func buildChunked(t *testing.T, url string, data []byte, o chunkOpts, when time.Time) *http.Request {
	t.Helper()
	const region = "us-west-2"
	req, err := http.NewRequest(http.MethodPut, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Content-Sha256", o.mode())
	req.Header.Set("Content-Encoding", "aws-chunked")
	req.Header.Set("X-Amz-Decoded-Content-Length", strconv.Itoa(len(data)))
	req.Header.Set("X-Amz-Storage-Class", "STANDARD")
	if o.trailer != "" {
		req.Header.Set("X-Amz-Trailer", o.trailer)
	}
	ts := when.UTC().Format("20060102T150405Z")
	scope := when.UTC().Format("20060102") + "/" + region + "/s3/aws4_request"
	// The framing length does not depend on signature values.
	req.ContentLength = int64(len(encodeChunks(data, o, strings.Repeat("0", 64), []byte("k"), ts, scope)))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: testAK, SecretAccessKey: testSK},
		req, o.mode(), "s3", region, when, func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true })
	if err != nil {
		t.Fatal(err)
	}
	auth := req.Header.Get("Authorization")
	seed := auth[strings.LastIndex(auth, "Signature=")+len("Signature="):]
	key := tHMAC([]byte("AWS4"+testSK), when.UTC().Format("20060102"))
	for _, s := range []string{region, "s3", "aws4_request"} {
		key = tHMAC(key, s)
	}
	body := encodeChunks(data, o, seed, key, ts, scope)
	if int64(len(body)) != req.ContentLength {
		t.Fatalf("framing length %d, expected %d", len(body), req.ContentLength)
	}
	req.Body = readCloser{bytes.NewReader(body)}
	req.GetBody = nil
	return req
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// verifyDirect calls Verify on req and reads the whole body; it returns the
// error code of Verify or of the body ("" on success) and the bytes read.
func verifyDirect(t *testing.T, v *Verifier, req *http.Request) (string, []byte) {
	t.Helper()
	res, err := v.Verify(req)
	if err != nil {
		return err.(*Error).Code, nil
	}
	var got bytes.Buffer
	buf := make([]byte, 1000) // small reads cross chunk boundaries
	for {
		n, err := res.Body.Read(buf)
		got.Write(buf[:n])
		if err != nil {
			if err.Error() == "EOF" {
				return "", got.Bytes()
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Body.Read returned %T %v, not an *Error", err, err)
			}
			return e.Code, got.Bytes()
		}
	}
}
