package refbackend

import (
	"net/http"
	"strings"
	"time"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// standardHeaders are the object headers S3 stores and returns verbatim.
var standardHeaders = []string{"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Expires"}

// maxUserMeta is S3's limit on the size of user metadata (names and values).
const maxUserMeta = 2048

// metaFromRequest collects Content-Type, the standard headers and the
// x-amz-meta-* headers of a PUT, CreateMultipartUpload or REPLACE copy.
func metaFromRequest(h http.Header) (objstore.ObjectMeta, error) {
	m := objstore.ObjectMeta{ContentType: h.Get("Content-Type"), Headers: map[string]string{}, UserMeta: map[string]string{}}
	for _, k := range standardHeaders {
		v := h.Get(k)
		if k == "Content-Encoding" {
			v = stripAWSChunked(v)
		}
		if v != "" {
			m.Headers[k] = v
		}
	}
	size := 0
	for k, vs := range h {
		lk := strings.ToLower(k)
		name, ok := strings.CutPrefix(lk, "x-amz-meta-")
		if !ok || name == "" {
			continue
		}
		v := strings.Join(vs, ",")
		m.UserMeta[name] = v
		size += len(name) + len(v)
	}
	if size > maxUserMeta {
		return m, newErr(http.StatusBadRequest, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	}
	return m, nil
}

// stripAWSChunked removes the "aws-chunked" coding a client adds for the
// transfer framing, which is not part of the object's Content-Encoding.
func stripAWSChunked(v string) string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		p = strings.TrimSpace(p)
		if p != "" && !strings.EqualFold(p, "aws-chunked") {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// setObjectHeaders writes the headers describing meta on a GET, HEAD or PUT
// answer: ETag, Last-Modified, Content-Type, standard and user metadata, and
// the SSE echo.
func (s *Server) setObjectHeaders(h http.Header, meta objstore.ObjectMeta) {
	h.Set("ETag", s.etag(meta))
	h.Set("Last-Modified", meta.LastModified.UTC().Format(http.TimeFormat))
	ct := meta.ContentType
	if ct == "" {
		ct = "binary/octet-stream"
	}
	h.Set("Content-Type", ct)
	for k, v := range meta.Headers {
		h.Set(k, v)
	}
	for k, v := range meta.UserMeta {
		h["X-Amz-Meta-"+k] = []string{v}
	}
	if meta.PartsCount > 0 {
		h.Set("x-amz-mp-parts-count", itoa(meta.PartsCount))
	}
	setEcho(h, meta)
}

// responseOverrides are the GET query parameters that replace a header of
// the answer.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// xmlTime formats a time as S3 does in XML documents.
func xmlTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}
