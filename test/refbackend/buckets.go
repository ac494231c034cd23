package refbackend

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// validBucketName applies S3's bucket naming rules.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			return false
		}
	}
	first, last := b[0], b[len(b)-1]
	if first == '.' || first == '-' || last == '.' || last == '-' || strings.Contains(b, "..") {
		return false
	}
	return true
}

func (s *Server) listBuckets(rq *request) error {
	bs, err := s.store.ListBuckets()
	if err != nil {
		return err
	}
	res := listAllMyBucketsResult{NS: s3NS, Owner: owner{ID: s.cfg.AccessKey, DisplayName: s.cfg.AccessKey}}
	for _, b := range bs {
		res.Buckets = append(res.Buckets, bucketItem{Name: b.Name, CreationDate: xmlTime(b.Created)})
	}
	return s.writeXML(rq, res)
}

func (s *Server) createBucket(rq *request) error {
	if !validBucketName(rq.bucket) {
		return newErr(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	}
	data, err := io.ReadAll(io.LimitReader(rq.body, 64<<10))
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		var cfg createBucketConfiguration
		if xml.Unmarshal(data, &cfg) != nil {
			return errMalformedXML()
		}
	}
	if err := s.store.CreateBucket(rq.bucket); err != nil {
		return err
	}
	rq.w.Header().Set("Location", "/"+rq.bucket)
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) headBucket(rq *request) error {
	if _, err := s.store.HeadBucket(rq.bucket); err != nil {
		return err
	}
	rq.w.Header().Set("x-amz-bucket-region", "us-east-1")
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deleteBucket(rq *request) error {
	if err := s.store.DeleteBucket(rq.bucket); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) getBucketLocation(rq *request) error {
	if _, err := s.store.HeadBucket(rq.bucket); err != nil {
		return err
	}
	return s.writeXML(rq, locationConstraint{NS: s3NS})
}

// errNoReplication is S3's answer when a bucket has no replication rules.
func errNoReplication() *Error {
	return newErr(http.StatusNotFound, "ReplicationConfigurationNotFoundError", "The replication configuration was not found")
}

func (s *Server) getBucketReplication(rq *request) error {
	data, err := s.store.GetBucketReplication(rq.bucket)
	if err != nil {
		return err
	}
	if data == nil {
		return errNoReplication()
	}
	rq.w.Header().Set("Content-Type", "application/xml")
	rq.w.WriteHeader(http.StatusOK)
	_, _ = rq.w.Write(data)
	return nil
}

// replicationConfiguration is the minimum a replication document must hold.
type replicationConfiguration struct {
	XMLName xml.Name `xml:"ReplicationConfiguration"`
	Role    string   `xml:"Role"`
	Rules   []struct {
		Status string `xml:"Status"`
	} `xml:"Rule"`
}

func (s *Server) putBucketReplication(rq *request) error {
	data, err := io.ReadAll(io.LimitReader(rq.body, 1<<20))
	if err != nil {
		return err
	}
	var cfg replicationConfiguration
	if xml.Unmarshal(data, &cfg) != nil || len(cfg.Rules) == 0 {
		return errMalformedXML()
	}
	if err := s.store.PutBucketReplication(rq.bucket, data); err != nil {
		return err
	}
	rq.w.WriteHeader(http.StatusOK)
	return nil
}

// maxDeleteObjects is the most keys one DeleteObjects request may name.
const maxDeleteObjects = 1000

// deleteObjects answers DeleteObjects (POST ?delete), quiet mode included.
func (s *Server) deleteObjects(rq *request) error {
	var req deleteRequest
	if err := readXML(rq, 2<<20, &req); err != nil {
		return err
	}
	keys, err := req.keys()
	if err != nil {
		return err
	}
	if _, err := s.store.HeadBucket(rq.bucket); err != nil {
		return err
	}
	res := deleteResult{NS: s3NS}
	for _, k := range keys {
		err := s.store.Delete(rq.bucket, k)
		if err != nil && !errors.Is(err, objstore.ErrNoSuchKey) {
			e := toS3Error(err)
			res.Errors = append(res.Errors, deleteErrorItem{Key: k, Code: e.Code, Message: e.Message})
			continue
		}
		if !req.Quiet {
			res.Deleted = append(res.Deleted, deletedItem{Key: k})
		}
	}
	return s.writeXML(rq, res)
}

// keys checks a DeleteObjects body: 1 to 1000 keys, none empty or too long.
func (req *deleteRequest) keys() ([]string, error) {
	if len(req.Objects) == 0 || len(req.Objects) > maxDeleteObjects {
		return nil, errMalformedXML()
	}
	out := make([]string, 0, len(req.Objects))
	for _, o := range req.Objects {
		if o.Key == "" || len(o.Key) > 1024 {
			return nil, errMalformedXML()
		}
		out = append(out, o.Key)
	}
	return out, nil
}
