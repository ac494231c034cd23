package refbackend

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// createUpload answers CreateMultipartUpload.
func (s *Server) createUpload(rq *request) error {
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
	up, err := s.store.CreateUpload(rq.bucket, rq.key, meta, seal)
	if err != nil {
		return err
	}
	setEcho(rq.w.Header(), up.Meta)
	return s.writeXML(rq, initiateMultipartUploadResult{NS: s3NS, Bucket: rq.bucket, Key: rq.key, UploadID: up.UploadID})
}

// partNumber reads the partNumber parameter (1..10000).
func partNumber(rq *request) (int, error) {
	n, err := strconv.Atoi(rq.q.Get("partNumber"))
	if err != nil || n < 1 || n > objstore.MaxPartNumber {
		return 0, errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

// upload finds the upload named by the uploadId parameter, which must belong
// to the request's bucket and key.
func (s *Server) upload(rq *request) (objstore.UploadInfo, error) {
	id := rq.q.Get("uploadId")
	if id == "" {
		return objstore.UploadInfo{}, errNoSuchUpload()
	}
	if _, err := s.store.HeadBucket(rq.bucket); err != nil {
		return objstore.UploadInfo{}, err
	}
	up, err := s.store.Upload(id)
	if err != nil {
		return up, err
	}
	if up.Bucket != rq.bucket || up.Key != rq.key {
		return up, errNoSuchUpload()
	}
	return up, nil
}

// partETag is the quoted ETag clients see for a part: the stored one, in
// every profile. The completed object's ETag is S3's composite of the part
// ETags (hex MD5 of their binary concatenation, "-N"), as on AWS and RGW, so
// a client can recognise its own completed upload; masking part ETags would
// break that relation.
func partETag(stored string) string { return `"` + stored + `"` }

// refuseKMSOnPart applies the profile's rule for SSE-KMS headers on part
// requests.
func (s *Server) refuseKMSOnPart(rq *request) error {
	if s.rules.refuseKMSHeadersOnPart && (rq.r.Header.Get(hSSE) != "" || rq.r.Header.Get(hKMSKeyID) != "") {
		return errInvalidArgument("x-amz-server-side-encryption header is not supported for this operation.")
	}
	return nil
}

// partTarget reads what UploadPart and UploadPartCopy share: the part
// number, the upload, the profile's rule on KMS headers, and the upload's
// key from the request.
func (s *Server) partTarget(rq *request) (int, objstore.UploadInfo, []byte, error) {
	n, err := partNumber(rq)
	if err != nil {
		return 0, objstore.UploadInfo{}, nil, err
	}
	up, err := s.upload(rq)
	if err != nil {
		return 0, objstore.UploadInfo{}, nil, err
	}
	if err := s.refuseKMSOnPart(rq); err != nil {
		return 0, objstore.UploadInfo{}, nil, err
	}
	key, err := s.uploadKey(rq, up, false)
	if err != nil {
		return 0, objstore.UploadInfo{}, nil, err
	}
	return n, up, key, nil
}

// uploadPart answers UploadPart.
func (s *Server) uploadPart(rq *request) error {
	n, up, key, err := s.partTarget(rq)
	if err != nil {
		return err
	}
	p, err := s.store.PutPart(up.UploadID, n, rq.body, key)
	if err != nil {
		return err
	}
	h := rq.w.Header()
	h.Set("ETag", partETag(p.ETag))
	setEcho(h, up.Meta)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// completeUpload answers CompleteMultipartUpload.
func (s *Server) completeUpload(rq *request) error {
	up, err := s.upload(rq)
	if err != nil {
		return err
	}
	var req completeRequest
	if err := readXML(rq, 4<<20, &req); err != nil {
		return err
	}
	listed, err := req.parts()
	if err != nil {
		return err
	}
	if err := s.refuseKMSOnPart(rq); err != nil {
		return err
	}
	// The SSE-C key is optional here (S3 requires it only with checksums,
	// and the aws CLI does not send it): parts are sealed already.
	key, err := s.uploadKey(rq, up, true)
	if err != nil {
		return err
	}
	// Part ETags are shown as stored (partETag), so the listed ones go to
	// the store as they are.
	out, err := s.store.Complete(up.UploadID, listed, key)
	if err != nil {
		if key == nil && up.Meta.SSE == objstore.SSEC && errors.Is(err, objstore.ErrWrongKey) {
			return s.rules.partMissingKey()
		}
		return err
	}
	if out.SSE != objstore.SSEC && !s.rules.completeNoEcho {
		setEcho(rq.w.Header(), out)
	}
	return s.writeXML(rq, completeMultipartUploadResult{NS: s3NS, Location: "/" + rq.bucket + "/" + rq.key,
		Bucket: rq.bucket, Key: rq.key, ETag: s.etag(out)})
}

// abortUpload answers AbortMultipartUpload.
func (s *Server) abortUpload(rq *request) error {
	up, err := s.upload(rq)
	if err != nil {
		return err
	}
	if err := s.store.AbortUpload(up.UploadID); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listParts answers ListParts (max-parts, part-number-marker).
func (s *Server) listParts(rq *request) error {
	up, err := s.upload(rq)
	if err != nil {
		return err
	}
	if _, err := s.uploadKey(rq, up, true); err != nil {
		return err
	}
	max := 1000
	if v := rq.q.Get("max-parts"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 0 {
			return errInvalidArgument("Provided max-parts not an integer or within integer range")
		}
		max = min(max, 1000)
	}
	marker := 0
	if v := rq.q.Get("part-number-marker"); v != "" {
		if marker, err = strconv.Atoi(v); err != nil || marker < 0 {
			return errInvalidArgument("Provided part-number-marker not an integer or within integer range")
		}
	}
	parts, err := s.store.ListParts(up.UploadID)
	if err != nil {
		return err
	}
	own := owner{ID: s.cfg.AccessKey, DisplayName: s.cfg.AccessKey}
	res := listPartsResult{NS: s3NS, Bucket: rq.bucket, Key: rq.key, UploadID: up.UploadID, Initiator: own, Owner: own,
		StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: max}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(res.Parts) == max {
			res.IsTruncated = true
			break
		}
		res.Parts = append(res.Parts, partItem{PartNumber: p.Number, LastModified: xmlTime(p.LastModified),
			ETag: partETag(p.ETag), Size: p.Size})
		res.NextPartNumberMarker = p.Number
	}
	return s.writeXML(rq, res)
}

// listMultipartUploads answers ListMultipartUploads (prefix, max-uploads,
// key-marker, upload-id-marker).
func (s *Server) listMultipartUploads(rq *request) error {
	ups, err := s.store.ListUploads(rq.bucket)
	if err != nil {
		return err
	}
	q := rq.q
	max, err := parseMaxKeys(q.Get("max-uploads"))
	if err != nil {
		return err
	}
	prefix, keyMarker, idMarker := q.Get("prefix"), q.Get("key-marker"), q.Get("upload-id-marker")
	sort.Slice(ups, func(i, j int) bool {
		if ups[i].Key != ups[j].Key {
			return ups[i].Key < ups[j].Key
		}
		return ups[i].UploadID < ups[j].UploadID
	})
	own := owner{ID: s.cfg.AccessKey, DisplayName: s.cfg.AccessKey}
	res := listMultipartUploadsResult{NS: s3NS, Bucket: rq.bucket, KeyMarker: keyMarker, UploadIDMarker: idMarker,
		Prefix: prefix, MaxUploads: max}
	for _, u := range ups {
		if !strings.HasPrefix(u.Key, prefix) {
			continue
		}
		if keyMarker != "" && (u.Key < keyMarker || u.Key == keyMarker && (idMarker == "" || u.UploadID <= idMarker)) {
			continue
		}
		if len(res.Uploads) == max {
			res.IsTruncated = true
			break
		}
		res.Uploads = append(res.Uploads, uploadItem{Key: u.Key, UploadID: u.UploadID, Initiator: own, Owner: own,
			StorageClass: "STANDARD", Initiated: xmlTime(u.Initiated)})
		res.NextKeyMarker, res.NextUploadIDMarker = u.Key, u.UploadID
	}
	if !res.IsTruncated {
		res.NextKeyMarker, res.NextUploadIDMarker = "", ""
	}
	return s.writeXML(rq, res)
}

// parts checks a CompleteMultipartUpload body: 1 to 10000 parts, numbers in
// 1..10000, ETags unquoted.
func (req *completeRequest) parts() ([]objstore.CompletePart, error) {
	if len(req.Parts) == 0 || len(req.Parts) > objstore.MaxPartNumber {
		return nil, errMalformedXML()
	}
	out := make([]objstore.CompletePart, 0, len(req.Parts))
	for _, p := range req.Parts {
		if p.PartNumber < 1 || p.PartNumber > objstore.MaxPartNumber {
			return nil, errInvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
		}
		out = append(out, objstore.CompletePart{Number: p.PartNumber, ETag: strings.Trim(strings.TrimSpace(p.ETag), `"`)})
	}
	return out, nil
}
