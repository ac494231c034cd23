package refbackend

import (
	"net/http"
	"strconv"
	"strings"
)

// byteRange is a resolved, satisfiable range of an object: n bytes from off.
type byteRange struct {
	off, n int64
}

// rangeSpec is a parsed "bytes=" range before it meets an object size.
// first < 0 marks a suffix range of the last `last` bytes; last < 0 marks an
// open range from first to the end.
type rangeSpec struct {
	first, last int64
}

// parseRange parses an HTTP Range header as S3 does: a single range in
// bytes (closed "a-b", open "a-" or suffix "-n"). ok is false when the
// header is absent or is not one such range; S3 then ignores it and sends
// the whole object.
func parseRange(h string) (spec rangeSpec, ok bool) {
	h = strings.TrimSpace(h)
	rest, found := strings.CutPrefix(h, "bytes=")
	if !found || strings.Contains(rest, ",") {
		return rangeSpec{}, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(rest), "-")
	if !found {
		return rangeSpec{}, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if a == "" {
		n, err := parseDigits(b)
		if err != nil {
			return rangeSpec{}, false
		}
		return rangeSpec{first: -1, last: n}, true
	}
	first, err := parseDigits(a)
	if err != nil {
		return rangeSpec{}, false
	}
	if b == "" {
		return rangeSpec{first: first, last: -1}, true
	}
	last, err := parseDigits(b)
	if err != nil || last < first {
		return rangeSpec{}, false
	}
	return rangeSpec{first: first, last: last}, true
}

// parseDigits parses a non-negative decimal made of digits only.
func parseDigits(s string) (int64, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseInt(s, 10, 64)
}

// resolve applies the range to an object of size bytes. It fails with 416
// InvalidRange when the range starts at or beyond the end, or is an empty
// suffix.
func (sp rangeSpec) resolve(size int64) (byteRange, *Error) {
	if sp.first < 0 {
		if sp.last == 0 || size == 0 {
			return byteRange{}, errInvalidRange(size)
		}
		n := min(sp.last, size)
		return byteRange{off: size - n, n: n}, nil
	}
	if sp.first >= size {
		return byteRange{}, errInvalidRange(size)
	}
	end := size - 1
	if sp.last >= 0 && sp.last < end {
		end = sp.last
	}
	return byteRange{off: sp.first, n: end - sp.first + 1}, nil
}

func errInvalidRange(size int64) *Error {
	return newErr(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable")
}

// contentRange formats the Content-Range header of r in an object of size bytes.
func (r byteRange) contentRange(size int64) string {
	return "bytes " + strconv.FormatInt(r.off, 10) + "-" + strconv.FormatInt(r.off+r.n-1, 10) + "/" + strconv.FormatInt(size, 10)
}

// parseCopyRange parses x-amz-copy-source-range ("bytes=first-last", both
// required) against a source of size bytes.
func parseCopyRange(h string, size int64) (byteRange, *Error) {
	sp, ok := parseRange(h)
	if !ok || sp.first < 0 || sp.last < 0 || sp.last >= size {
		return byteRange{}, errInvalidArgument("Range specified is not valid for source object of size: " + strconv.FormatInt(size, 10))
	}
	return byteRange{off: sp.first, n: sp.last - sp.first + 1}, nil
}
