package s3auth

import (
	"crypto/subtle"
	"io"
)

// verifyingBody yields the decoded payload and runs the whole-payload checks
// (digests, trailer checksums, length) when the source reaches its end: the
// final Read returns io.EOF only if every check passed, an *Error otherwise.
type verifyingBody struct {
	src    io.Reader // decoded payload (raw body or chunkedReader)
	closer io.Closer // the request body
	chunks *chunkedReader
	checks []*bodyCheck
	length int64 // expected decoded length, -1 if unknown
	total  int64
	err    error
}

// Read implements io.Reader.
func (b *verifyingBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.src.Read(p)
	if n > 0 {
		b.total += int64(n)
		for _, c := range b.checks {
			c.h.Write(p[:n])
		}
		if b.length >= 0 && b.total > b.length {
			b.err = errInvalidRequest("The request body is longer than its declared length.")
			return 0, b.err
		}
	}
	switch {
	case err == io.EOF:
		b.err = b.finish()
	case err != nil:
		b.err = readErr(err)
	}
	if b.err != nil && b.err != io.EOF && n > 0 {
		// Deliver the error on the next call so n bytes are not lost silently.
		return n, nil
	}
	return n, b.err
}

// finish runs the end-of-payload checks; it returns io.EOF if all pass.
func (b *verifyingBody) finish() error {
	if b.length >= 0 && b.total != b.length {
		return errIncomplete("You did not provide the number of bytes specified by the Content-Length HTTP header.")
	}
	for _, c := range b.checks {
		want := c.want
		if c.trailer {
			v := b.chunks.got[c.algo.header]
			w, ok := c.algo.decode(v)
			if !ok {
				return errInvalidRequest("Value for %s trailing header is invalid.", c.algo.header)
			}
			want = w
		}
		if subtle.ConstantTimeCompare(c.h.Sum(nil), want) != 1 {
			return c.fail()
		}
	}
	return io.EOF
}

// Close closes the request body.
func (b *verifyingBody) Close() error {
	if b.closer == nil {
		return nil
	}
	return b.closer.Close()
}
