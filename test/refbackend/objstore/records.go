package objstore

// Metadata records kept in bbolt and their layout:
//
//	buckets/<bucket name>/info          bucketRecord
//	buckets/<bucket name>/objects/<key> objRecord
//	uploads/<upload id>/info            uploadRecord
//	uploads/<upload id>/p<be32 number>  partRecord

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bktBuckets = []byte("buckets")
	bktUploads = []byte("uploads")
	bktObjects = []byte("objects")
	keyInfo    = []byte("info")
)

type bucketRecord struct {
	Created     time.Time `json:"created"`
	Replication []byte    `json:"replication,omitempty"`
}

// segment is one sealed (or plain) run of content in its own data file.
type segment struct {
	ID   string `json:"id"` // hex of 16 random bytes; the data file is data/<ID>
	Size int64  `json:"size"`
}

func (g segment) rawID() ([idSize]byte, error) {
	var id [idSize]byte
	b, err := hex.DecodeString(g.ID)
	if err != nil || len(b) != idSize {
		return id, fmt.Errorf("%w: bad segment id %q", ErrCorrupt, g.ID)
	}
	copy(id[:], b)
	return id, nil
}

// objHeader is the part of an object record that List needs.
type objHeader struct {
	Version     string            `json:"v"`
	Size        int64             `json:"size"`
	ETag        string            `json:"etag"`
	Modified    time.Time         `json:"mtime"`
	ContentType string            `json:"ctype,omitempty"`
	Headers     map[string]string `json:"hdr,omitempty"`
	UserMeta    map[string]string `json:"meta,omitempty"`
	Parts       int               `json:"parts,omitempty"`
	Seal        *sealRecord       `json:"seal,omitempty"`
}

// objRecord is the stored record of an object version.
type objRecord struct {
	objHeader
	Segments []segment `json:"segs"`
}

func (h *objHeader) meta(bucket, key string) ObjectMeta {
	m := ObjectMeta{
		Bucket: bucket, Key: key, Size: h.Size, ETag: h.ETag, LastModified: h.Modified,
		ContentType: h.ContentType, Headers: maps.Clone(h.Headers), UserMeta: maps.Clone(h.UserMeta),
		PartsCount: h.Parts, version: h.Version, seal: h.Seal,
	}
	if h.Seal != nil {
		m.SSE = h.Seal.Mode
		m.KMSKeyID = h.Seal.KMSKeyID
		m.SSECKeyMD5 = h.Seal.KeyMD5
	}
	return m
}

type uploadRecord struct {
	ID          string            `json:"id"`
	Bucket      string            `json:"bucket"`
	Key         string            `json:"key"`
	Initiated   time.Time         `json:"initiated"`
	ContentType string            `json:"ctype,omitempty"`
	Headers     map[string]string `json:"hdr,omitempty"`
	UserMeta    map[string]string `json:"meta,omitempty"`
	Seal        *sealRecord       `json:"seal,omitempty"`
}

func (u *uploadRecord) info() UploadInfo {
	m := ObjectMeta{Bucket: u.Bucket, Key: u.Key, ContentType: u.ContentType,
		Headers: maps.Clone(u.Headers), UserMeta: maps.Clone(u.UserMeta), seal: u.Seal}
	if u.Seal != nil {
		m.SSE = u.Seal.Mode
		m.KMSKeyID = u.Seal.KMSKeyID
		m.SSECKeyMD5 = u.Seal.KeyMD5
	}
	return UploadInfo{UploadID: u.ID, Bucket: u.Bucket, Key: u.Key, Initiated: u.Initiated, Meta: m}
}

type partRecord struct {
	Number   int       `json:"n"`
	ETag     string    `json:"etag"`
	Modified time.Time `json:"mtime"`
	Seg      segment   `json:"seg"`
}

func (p *partRecord) info() PartInfo {
	return PartInfo{Number: p.Number, ETag: p.ETag, Size: p.Seg.Size, LastModified: p.Modified}
}

func partKey(n int) []byte {
	k := []byte{'p', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(k[1:], uint32(n))
	return k
}

func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: metadata record: %v", ErrCorrupt, err)
	}
	return nil
}

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("objstore: encoding record: " + err.Error())
	}
	return b
}

// objectsOf returns the objects bucket of an S3 bucket, or nil.
func objectsOf(tx *bolt.Tx, bucket string) *bolt.Bucket {
	b := tx.Bucket(bktBuckets).Bucket([]byte(bucket))
	if b == nil {
		return nil
	}
	return b.Bucket(bktObjects)
}

// getObject reads the record of bucket/key.
func getObject(tx *bolt.Tx, bucket, key string) (*objRecord, error) {
	objs := objectsOf(tx, bucket)
	if objs == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
	}
	v := objs.Get([]byte(key))
	if v == nil {
		return nil, fmt.Errorf("%w: %s/%s", ErrNoSuchKey, bucket, key)
	}
	r := new(objRecord)
	if err := decode(v, r); err != nil {
		return nil, err
	}
	return r, nil
}

// getUpload reads an upload's record and its bbolt bucket.
func getUpload(tx *bolt.Tx, id string) (*uploadRecord, *bolt.Bucket, error) {
	ub := tx.Bucket(bktUploads).Bucket([]byte(id))
	if ub == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoSuchUpload, id)
	}
	u := new(uploadRecord)
	if err := decode(ub.Get(keyInfo), u); err != nil {
		return nil, nil, err
	}
	return u, ub, nil
}

// forEachPart calls fn for each part of an upload, ascending.
func forEachPart(ub *bolt.Bucket, fn func(*partRecord) error) error {
	c := ub.Cursor()
	for k, v := c.Seek([]byte{'p'}); k != nil && k[0] == 'p'; k, v = c.Next() {
		p := new(partRecord)
		if err := decode(v, p); err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
