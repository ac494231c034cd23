package refbackend

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// request is one S3 request being served.
type request struct {
	w      *respWriter
	r      *http.Request
	id     string // request id
	bucket string
	key    string
	q      url.Values
	body   io.Reader // authenticated, decoded payload
	secure bool      // arrived over TLS
}

// respWriter remembers whether and how a response was started.
type respWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

// WriteHeader sends the status once; later calls are ignored.
func (w *respWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Write sends body bytes, starting a 200 answer if none was started.
func (w *respWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes flushes through (streamed GET bodies).
func (w *respWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Handler returns the http.Handler serving path-style S3.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serve)
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// serve is the middleware chain: request id, panic recovery, header limits,
// authentication, then dispatch.
func (s *Server) serve(hw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &respWriter{ResponseWriter: hw}
	rq := &request{w: w, r: r, id: newRequestID(), q: r.URL.Query(), secure: r.TLS != nil}
	w.Header().Set("x-amz-request-id", rq.id)
	w.Header().Set("x-amz-id-2", rq.id)
	w.Header().Set("Server", "ssefs-refbackend")
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Printf("refbackend: internal error serving %s %s: %v", r.Method, r.URL.Path, v)
			if !w.wrote {
				s.writeError(rq, errInternal())
			}
		}
		if s.cfg.Verbose {
			st := w.status
			if !w.wrote {
				st = http.StatusOK
			}
			s.log.Printf("%s %s %s -> %d (%s)", rq.id, r.Method, r.URL.Path, st, time.Since(start).Round(time.Millisecond))
		}
	}()
	if err := s.handle(rq); err != nil {
		if w.wrote {
			s.log.Printf("refbackend: %s %s failed after the answer started: %v", r.Method, r.URL.Path, err)
			return
		}
		s.writeError(rq, toS3Error(err))
	}
}

// headerSize estimates the size of r's header section as sent.
func headerSize(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + 12
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func (s *Server) handle(rq *request) error {
	r := rq.r
	if headerSize(r) > s.cfg.MaxHeaderBytes {
		return newErr(http.StatusBadRequest, "RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size.")
	}
	if err := s.rules.checkPayloadMode(r); err != nil {
		return err
	}
	res, err := s.verifier.Verify(r)
	if err != nil {
		return err
	}
	rq.body = res.Body
	defer res.Body.Close()

	path := r.URL.Path
	if !strings.HasPrefix(path, "/") {
		return errInvalidRequest("Only path-style requests are supported.")
	}
	path = path[1:]
	if i := strings.IndexByte(path, '/'); i >= 0 {
		rq.bucket, rq.key = path[:i], path[i+1:]
	} else {
		rq.bucket = path
	}
	if rq.bucket == "" {
		if r.Method == http.MethodGet {
			return s.listBuckets(rq)
		}
		return newErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	}
	if rq.key == "" {
		return s.routeBucket(rq)
	}
	if len(rq.key) > 1024 {
		return newErr(http.StatusBadRequest, "KeyTooLongError", "Your key is too long")
	}
	return s.routeObject(rq)
}

// unsupported lists sub-resources this server does not implement.
var unsupported = []string{"acl", "policy", "cors", "lifecycle", "tagging", "versioning", "versions", "website",
	"logging", "notification", "encryption", "object-lock", "retention", "legal-hold", "torrent", "restore",
	"select", "accelerate", "requestPayment", "inventory", "analytics", "metrics", "intelligent-tiering",
	"ownershipControls", "publicAccessBlock", "attributes"}

func (s *Server) checkUnsupported(rq *request) error {
	for _, sub := range unsupported {
		if _, ok := rq.q[sub]; ok {
			return errNotImplemented("A header or query you provided implies functionality that is not implemented.")
		}
	}
	return nil
}

func (s *Server) routeBucket(rq *request) error {
	if err := s.checkUnsupported(rq); err != nil {
		return err
	}
	q := rq.q
	switch rq.r.Method {
	case http.MethodGet:
		switch {
		case has(q, "location"):
			return s.getBucketLocation(rq)
		case has(q, "replication"):
			return s.getBucketReplication(rq)
		case has(q, "uploads"):
			return s.listMultipartUploads(rq)
		case q.Get("list-type") == "2":
			return s.listObjectsV2(rq)
		default:
			return s.listObjectsV1(rq)
		}
	case http.MethodPut:
		if has(q, "replication") {
			return s.putBucketReplication(rq)
		}
		return s.createBucket(rq)
	case http.MethodHead:
		return s.headBucket(rq)
	case http.MethodDelete:
		if has(q, "replication") {
			return errNotImplemented("DeleteBucketReplication is not implemented.")
		}
		return s.deleteBucket(rq)
	case http.MethodPost:
		if has(q, "delete") {
			return s.deleteObjects(rq)
		}
	}
	return newErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

func (s *Server) routeObject(rq *request) error {
	if err := s.checkUnsupported(rq); err != nil {
		return err
	}
	q := rq.q
	copySrc := rq.r.Header.Get("x-amz-copy-source")
	switch rq.r.Method {
	case http.MethodPut:
		if has(q, "uploadId") || has(q, "partNumber") {
			if copySrc != "" {
				return s.uploadPartCopy(rq)
			}
			return s.uploadPart(rq)
		}
		if copySrc != "" {
			return s.copyObject(rq)
		}
		return s.putObject(rq)
	case http.MethodGet:
		if has(q, "uploadId") {
			return s.listParts(rq)
		}
		if has(q, DataFilesQuery) {
			return s.dataFiles(rq)
		}
		return s.getObject(rq, false)
	case http.MethodHead:
		return s.getObject(rq, true)
	case http.MethodDelete:
		if has(q, "uploadId") {
			return s.abortUpload(rq)
		}
		return s.deleteObject(rq)
	case http.MethodPost:
		if has(q, "uploads") {
			return s.createUpload(rq)
		}
		if has(q, "uploadId") {
			return s.completeUpload(rq)
		}
	}
	return newErr(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
}

func has(q url.Values, k string) bool { _, ok := q[k]; return ok }

// writeError answers with e as an S3 XML error (no body for HEAD).
func (s *Server) writeError(rq *request, e *Error) {
	// Nothing set for a success (object headers, SSE echo) survives.
	h := rq.w.Header()
	for k := range h {
		switch k {
		case "X-Amz-Request-Id", "X-Amz-Id-2", "Server":
		default:
			delete(h, k)
		}
	}
	if e.Status >= 500 && e.Code == "InternalError" {
		h.Set("Retry-After", "1")
	}
	if rq.r.Method == http.MethodHead {
		rq.w.WriteHeader(e.Status)
		return
	}
	res := rq.r.URL.Path
	body, err := xml.Marshal(errorBody{Code: e.Code, Message: e.Message, Resource: res, RequestID: rq.id})
	if err != nil {
		body = []byte("<Error><Code>InternalError</Code></Error>")
	}
	h.Set("Content-Type", "application/xml")
	rq.w.WriteHeader(e.Status)
	_, _ = rq.w.Write([]byte(xml.Header))
	_, _ = rq.w.Write(body)
}

// writeXML answers 200 with v as an XML document.
func (s *Server) writeXML(rq *request, v any) error {
	body, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Type", "application/xml")
	rq.w.WriteHeader(http.StatusOK)
	_, _ = rq.w.Write([]byte(xml.Header))
	_, _ = rq.w.Write(body)
	return nil
}

// readXML decodes a request body of at most max bytes into v; anything that
// does not parse is MalformedXML.
func readXML(rq *request, max int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(rq.body, max+1))
	if err != nil {
		return err
	}
	if int64(len(data)) > max {
		return errMalformedXML()
	}
	return parseXML(data, v)
}

// parseXML decodes an XML request body into v; anything that does not
// parse is MalformedXML.
func parseXML(data []byte, v any) error {
	if err := xml.Unmarshal(data, v); err != nil {
		return errMalformedXML()
	}
	return nil
}

// drain discards what is left of a request body (errors included).
func drain(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
