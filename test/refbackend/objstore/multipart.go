package objstore

// Multipart uploads. Every part is its own sealed segment under the upload's
// data key; Complete makes the object reference those segments, in order,
// without re-encrypting anything.

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CreateUpload starts a multipart upload of bucket/key. It keeps meta's
// ContentType, Headers and UserMeta for the object and seals the parts as
// seal says.
func (s *Store) CreateUpload(bucket, key string, meta ObjectMeta, seal Sealing) (UploadInfo, error) {
	if key == "" {
		return UploadInfo{}, fmt.Errorf("%w: empty object key", ErrInvalidArgument)
	}
	sr, _, err := newSeal(seal)
	if err != nil {
		return UploadInfo{}, err
	}
	u := &uploadRecord{
		ID: newVersion(), Bucket: bucket, Key: key, Initiated: time.Now().UTC(),
		ContentType: meta.ContentType, Headers: maps.Clone(meta.Headers), UserMeta: maps.Clone(meta.UserMeta),
		Seal: sr,
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if objectsOf(tx, bucket) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
		}
		ub, err := tx.Bucket(bktUploads).CreateBucket([]byte(u.ID))
		if err != nil {
			return err
		}
		return ub.Put(keyInfo, encode(u))
	})
	if err != nil {
		return UploadInfo{}, err
	}
	return u.info(), nil
}

func (s *Store) upload(id string) (*uploadRecord, error) {
	var u *uploadRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		u, _, err = getUpload(tx, id)
		return err
	})
	return u, err
}

// Upload describes an upload in progress; ErrNoSuchUpload if there is none.
func (s *Store) Upload(uploadID string) (UploadInfo, error) {
	u, err := s.upload(uploadID)
	if err != nil {
		return UploadInfo{}, err
	}
	return u.info(), nil
}

// CheckUploadKey tells whether key opens the upload's sealing, like
// CheckKey (SSE-C: a part must carry the key given at create).
func (s *Store) CheckUploadKey(uploadID string, key []byte) error {
	u, err := s.upload(uploadID)
	if err != nil {
		return err
	}
	return u.Seal.check(key)
}

// PutPart reads body to EOF and stores it as part number (1..10000) of the
// upload, sealed as it arrives, replacing an earlier part with that number.
// key is as in ReadRange. Body errors are returned unchanged and commit
// nothing.
func (s *Store) PutPart(uploadID string, number int, body io.Reader, key []byte) (PartInfo, error) {
	if number < 1 || number > MaxPartNumber {
		return PartInfo{}, fmt.Errorf("%w: part number %d", ErrInvalidArgument, number)
	}
	u, err := s.upload(uploadID)
	if err != nil {
		return PartInfo{}, err
	}
	aead, err := u.Seal.contentAEAD(key)
	if err != nil {
		return PartInfo{}, err
	}
	seg, sum, err := s.writeSegment(body, aead)
	if err != nil {
		return PartInfo{}, err
	}
	p := &partRecord{Number: number, ETag: hex.EncodeToString(sum[:]), Modified: time.Now().UTC(), Seg: seg}
	var old []segment
	err = s.db.Update(func(tx *bolt.Tx) error {
		_, ub, err := getUpload(tx, uploadID)
		if err != nil {
			return err
		}
		if v := ub.Get(partKey(number)); v != nil {
			var o partRecord
			if err := decode(v, &o); err != nil {
				return err
			}
			old = append(old, o.Seg)
		}
		return ub.Put(partKey(number), encode(p))
	})
	if err != nil {
		s.removeSegments([]segment{seg})
		return PartInfo{}, err
	}
	s.removeSegments(old)
	return p.info(), nil
}

// ListParts lists the upload's parts by ascending number.
func (s *Store) ListParts(uploadID string) ([]PartInfo, error) {
	var out []PartInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		_, ub, err := getUpload(tx, uploadID)
		if err != nil {
			return err
		}
		return forEachPart(ub, func(p *partRecord) error {
			out = append(out, p.info())
			return nil
		})
	})
	return out, err
}

func scanUploads(tx *bolt.Tx, fn func(*uploadRecord) error) error {
	ups := tx.Bucket(bktUploads)
	return ups.ForEachBucket(func(id []byte) error {
		u, _, err := getUpload(tx, string(id))
		if err != nil {
			return err
		}
		return fn(u)
	})
}

// ListUploads lists the bucket's uploads in progress, ordered by key, then
// initiation.
func (s *Store) ListUploads(bucket string) ([]UploadInfo, error) {
	var out []UploadInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		if objectsOf(tx, bucket) == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
		}
		return scanUploads(tx, func(u *uploadRecord) error {
			if u.Bucket == bucket {
				out = append(out, u.info())
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if !a.Initiated.Equal(b.Initiated) {
			return a.Initiated.Before(b.Initiated)
		}
		return a.UploadID < b.UploadID
	})
	return out, err
}

// Complete assembles the listed parts into the object, without
// re-encrypting them: the object references the sealed part segments.
// Errors: ErrInvalidPart (no parts, a missing part or an ETag mismatch),
// ErrInvalidPartOrder (numbers not ascending), ErrEntityTooSmall (a part
// other than the last under 5 MiB), ErrWrongKey (a non-nil key that does
// not open the upload; nil skips the check, as AWS completes SSE-C uploads
// sent without the key). Unlisted parts and the upload are removed.
func (s *Store) Complete(uploadID string, parts []CompletePart, key []byte) (ObjectMeta, error) {
	u, err := s.upload(uploadID)
	if err != nil {
		return ObjectMeta{}, err
	}
	if key != nil { // nothing is decrypted: the key is only verified
		if err := u.Seal.check(key); err != nil {
			return ObjectMeta{}, err
		}
	}
	if len(parts) == 0 {
		return ObjectMeta{}, fmt.Errorf("%w: no parts listed", ErrInvalidPart)
	}
	var rec *objRecord
	var drop []segment
	err = s.db.Update(func(tx *bolt.Tx) error {
		u, ub, err := getUpload(tx, uploadID)
		if err != nil {
			return err
		}
		have := map[int]*partRecord{}
		if err := forEachPart(ub, func(p *partRecord) error {
			have[p.Number] = p
			return nil
		}); err != nil {
			return err
		}
		rec, err = assemble(u, have, parts)
		if err != nil {
			return err
		}
		for _, p := range parts {
			delete(have, p.Number)
		}
		for _, p := range have {
			drop = append(drop, p.Seg)
		}
		old, err := putObjectTx(tx, u.Bucket, u.Key, rec)
		if err != nil {
			return err
		}
		drop = append(drop, old...)
		return tx.Bucket(bktUploads).DeleteBucket([]byte(uploadID))
	})
	if err != nil {
		return ObjectMeta{}, err
	}
	s.removeSegments(drop)
	return rec.meta(u.Bucket, u.Key), nil
}

// assemble checks the completion list against the uploaded parts and
// builds the object record.
func assemble(u *uploadRecord, have map[int]*partRecord, parts []CompletePart) (*objRecord, error) {
	rec := &objRecord{objHeader: objHeader{
		Version: newVersion(), Modified: time.Now().UTC(), ContentType: u.ContentType,
		Headers: u.Headers, UserMeta: u.UserMeta, Parts: len(parts), Seal: u.Seal,
	}}
	h := md5.New()
	for i, cp := range parts {
		if i > 0 && cp.Number <= parts[i-1].Number {
			return nil, fmt.Errorf("%w: part %d after part %d", ErrInvalidPartOrder, cp.Number, parts[i-1].Number)
		}
		p := have[cp.Number]
		if p == nil {
			return nil, fmt.Errorf("%w: part %d was not uploaded", ErrInvalidPart, cp.Number)
		}
		if !strings.EqualFold(strings.Trim(cp.ETag, `"`), p.ETag) {
			return nil, fmt.Errorf("%w: part %d ETag %s does not match %s", ErrInvalidPart, cp.Number, cp.ETag, p.ETag)
		}
		sum, err := hex.DecodeString(p.ETag)
		if err != nil {
			return nil, fmt.Errorf("%w: part %d ETag", ErrCorrupt, cp.Number)
		}
		h.Write(sum)
		rec.Segments = append(rec.Segments, p.Seg)
		rec.Size += p.Seg.Size
	}
	for i, cp := range parts[:len(parts)-1] {
		if sz := have[cp.Number].Seg.Size; sz < MinPartSize {
			return nil, fmt.Errorf("%w: part %d (#%d in the list) is %d bytes", ErrEntityTooSmall, cp.Number, i+1, sz)
		}
	}
	rec.ETag = fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts))
	return rec, nil
}

// AbortUpload discards an upload and its parts; ErrNoSuchUpload if there
// is none.
func (s *Store) AbortUpload(uploadID string) error {
	var drop []segment
	err := s.db.Update(func(tx *bolt.Tx) error {
		_, ub, err := getUpload(tx, uploadID)
		if err != nil {
			return err
		}
		if err := forEachPart(ub, func(p *partRecord) error {
			drop = append(drop, p.Seg)
			return nil
		}); err != nil {
			return err
		}
		return tx.Bucket(bktUploads).DeleteBucket([]byte(uploadID))
	})
	if err != nil {
		return err
	}
	s.removeSegments(drop)
	return nil
}
