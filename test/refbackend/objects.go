package refbackend

import (
	"io"
	"net/http"
	"strconv"
)

func itoa(n int) string { return strconv.Itoa(n) }

// putObject stores a new object (PutObject).
func (s *Server) putObject(rq *request) error {
	meta, err := metaFromRequest(rq.r.Header)
	if err != nil {
		return err
	}
	if _, err := s.store.HeadBucket(rq.bucket); err != nil {
		return err
	}
	seal, err := s.newSealing(rq)
	if err != nil {
		return err
	}
	out, err := s.store.Put(rq.bucket, rq.key, rq.body, meta, seal)
	if err != nil {
		return err
	}
	h := rq.w.Header()
	h.Set("ETag", s.etag(out))
	setEcho(h, out)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// getObject answers GetObject or, with head set, HeadObject.
func (s *Server) getObject(rq *request, head bool) error {
	if e := s.refuseSSEOnRead(rq); e != nil {
		return e
	}
	if _, ok := rq.q["partNumber"]; ok {
		return errNotImplemented("GetObject with partNumber is not implemented.")
	}
	meta, err := s.store.Stat(rq.bucket, rq.key)
	if err != nil {
		return err
	}
	key, err := s.openKey(rq, meta, false)
	if err != nil {
		return err
	}
	h := rq.w.Header()
	etag := s.etag(meta)
	switch evalConditions(rq.r.Header, "", etag, meta.LastModified) {
	case condFailed:
		return errPreconditionFailed()
	case condNotModified:
		h.Set("ETag", etag)
		h.Set("Last-Modified", meta.LastModified.UTC().Format(http.TimeFormat))
		rq.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	rng := byteRange{off: 0, n: meta.Size}
	status := http.StatusOK
	if sp, ok := parseRange(rq.r.Header.Get("Range")); ok {
		r, e := sp.resolve(meta.Size)
		if e != nil {
			return e
		}
		rng, status = r, http.StatusPartialContent
		h.Set("Content-Range", r.contentRange(meta.Size))
	}
	s.setObjectHeaders(h, meta)
	h.Set("Accept-Ranges", "bytes")
	for q, hdr := range responseOverrides {
		if v := rq.q.Get(q); v != "" {
			h.Set(hdr, v)
		}
	}
	h.Set("Content-Length", strconv.FormatInt(rng.n, 10))
	if head {
		rq.w.WriteHeader(status)
		return nil
	}
	var body io.ReadCloser
	if rng.n > 0 {
		body, err = s.store.ReadRange(meta, key, rng.off, rng.n)
		if err != nil {
			h.Del("Content-Range")
			return err
		}
		defer body.Close()
	}
	rq.w.WriteHeader(status)
	if body != nil {
		if _, err := prefetchCopy(rq.w, body); err != nil {
			// The answer has started: cut the connection so the client sees a
			// short body rather than a silently truncated object.
			panic(http.ErrAbortHandler)
		}
	}
	return nil
}

// deleteObject removes an object; deleting a missing key succeeds.
func (s *Server) deleteObject(rq *request) error {
	if err := s.store.Delete(rq.bucket, rq.key); err != nil && !isNoSuchKey(err) {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func isNoSuchKey(err error) bool {
	e := toS3Error(err)
	return e.Code == "NoSuchKey"
}

// DataFilesQuery is the query parameter of this server's one extension to
// S3: an authenticated GET of /bucket/key?x-ssefs-data-files answers, as
// text, the paths of the files that hold the object's content, one a line
// (what `ssefs-refbackend locate` and the demo show).
const DataFilesQuery = "x-ssefs-data-files"

func (s *Server) dataFiles(rq *request) error {
	paths, err := s.store.DataFiles(rq.bucket, rq.key)
	if err != nil {
		return err
	}
	rq.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rq.w.WriteHeader(http.StatusOK)
	for _, p := range paths {
		_, _ = io.WriteString(rq.w, p+"\n")
	}
	return nil
}
