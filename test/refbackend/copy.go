package refbackend

import (
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// copySource parses x-amz-copy-source ("[/]bucket/key[?versionId=...]",
// URL-encoded).
func copySource(h http.Header) (bucket, key string, err error) {
	v := h.Get("x-amz-copy-source")
	if i := strings.Index(v, "?"); i >= 0 {
		v = v[:i]
	}
	v, uerr := url.PathUnescape(v)
	if uerr != nil {
		return "", "", errInvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	v = strings.TrimPrefix(v, "/")
	bucket, key, ok := strings.Cut(v, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", errInvalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	return bucket, key, nil
}

// statCopySource finds the copy source and applies the
// x-amz-copy-source-if-* conditions (all failures are 412).
func (s *Server) statCopySource(rq *request) (objstore.ObjectMeta, error) {
	b, k, err := copySource(rq.r.Header)
	if err != nil {
		return objstore.ObjectMeta{}, err
	}
	src, err := s.store.Stat(b, k)
	if err != nil {
		return src, err
	}
	if evalConditions(rq.r.Header, "x-amz-copy-source-", s.etag(src), src.LastModified) != condProceed {
		return src, errPreconditionFailed()
	}
	return src, nil
}

// sameEncryption reports whether a self-copy would keep the encryption.
func sameEncryption(src objstore.ObjectMeta, seal objstore.Sealing) bool {
	if src.SSE != seal.Mode {
		return false
	}
	switch seal.Mode {
	case objstore.SSEC:
		return md5OfKey(seal.Key) == src.SSECKeyMD5
	case objstore.SSEKMS:
		return seal.KMSKeyID == src.KMSKeyID
	}
	return true
}

// copyObject answers CopyObject: the copy gets the SSE of the request's
// headers, never the source's (DESIGN.md section 3).
func (s *Server) copyObject(rq *request) error {
	h := rq.r.Header
	directive := h.Get("x-amz-metadata-directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return errInvalidArgument("Unknown metadata directive.")
	}
	if _, err := s.store.HeadBucket(rq.bucket); err != nil {
		return err
	}
	src, err := s.statCopySource(rq)
	if err != nil {
		return err
	}
	if s.rules.copyRefusesEncryptedSource && src.SSE != objstore.SSENone {
		return errNotImplemented("")
	}
	srcKey, err := s.openKey(rq, src, true)
	if err != nil {
		return err
	}
	var seal objstore.Sealing
	if !s.rules.copyDropsSSE {
		if seal, err = s.newSealing(rq); err != nil {
			return err
		}
	}
	if src.Bucket == rq.bucket && src.Key == rq.key && directive != "REPLACE" && sameEncryption(src, seal) {
		return errInvalidRequest("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	meta := objstore.ObjectMeta{ContentType: src.ContentType, Headers: src.Headers, UserMeta: src.UserMeta}
	if directive == "REPLACE" {
		if meta, err = metaFromRequest(h); err != nil {
			return err
		}
	}
	var body io.Reader = strings.NewReader("")
	if src.Size > 0 {
		rc, err := s.store.ReadRange(src, srcKey, 0, src.Size)
		if err != nil {
			return err
		}
		defer rc.Close()
		body = rc
	}
	if err := drain(rq.body); err != nil {
		return err
	}
	out, err := s.store.Put(rq.bucket, rq.key, body, meta, seal)
	if err != nil {
		return err
	}
	setEcho(rq.w.Header(), out)
	return s.writeXML(rq, copyObjectResult{NS: s3NS, LastModified: xmlTime(out.LastModified), ETag: s.etag(out)})
}

// partCopySourceKey returns the key that opens an UploadPartCopy source.
// RGW decrypts an SSE-C source with the destination's SSE-C headers, so a
// source under another key, or an upload without SSE-C, is 400
// InvalidArgument; AWS uses the copy-source triple.
func (s *Server) partCopySourceKey(rq *request, src objstore.ObjectMeta, up objstore.UploadInfo, destKey []byte) ([]byte, error) {
	if !s.rules.partCopyUsesDestKey || src.SSE != objstore.SSEC {
		return s.openKey(rq, src, true)
	}
	if up.Meta.SSE != objstore.SSEC || destKey == nil {
		return nil, s.rules.missingKey()
	}
	k := &ssecKey{key: destKey, md5: md5OfKey(destKey)}
	return s.checkSSECKey(src, k, s.rules.wrongKey)
}

// uploadPartCopy answers UploadPartCopy (x-amz-copy-source-range included).
func (s *Server) uploadPartCopy(rq *request) error {
	n, up, destKey, err := s.partTarget(rq)
	if err != nil {
		return err
	}
	src, err := s.statCopySource(rq)
	if err != nil {
		return err
	}
	rng := byteRange{off: 0, n: src.Size}
	if v := rq.r.Header.Get("x-amz-copy-source-range"); v != "" {
		r, e := parseCopyRange(v, src.Size)
		if e != nil {
			return e
		}
		rng = r
	}
	srcKey, err := s.partCopySourceKey(rq, src, up, destKey)
	if err != nil {
		return err
	}
	var body io.Reader = strings.NewReader("")
	if rng.n > 0 {
		rc, err := s.store.ReadRange(src, srcKey, rng.off, rng.n)
		if err != nil {
			return err
		}
		defer rc.Close()
		body = rc
	}
	if err := drain(rq.body); err != nil {
		return err
	}
	p, err := s.store.PutPart(up.UploadID, n, body, destKey)
	if err != nil {
		return err
	}
	if !s.rules.partCopyNoEcho {
		setEcho(rq.w.Header(), up.Meta)
	}
	return s.writeXML(rq, copyPartResult{NS: s3NS, LastModified: xmlTime(p.LastModified), ETag: partETag(p.ETag)})
}
