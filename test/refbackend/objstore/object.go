package objstore

// Single objects: Put, Stat, CheckKey, ReadRange, Delete.

import (
	"crypto/cipher"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

func newVersion() string { return hex.EncodeToString(randomBytes(idSize)) }

// Put reads body to EOF and commits it as the object bucket/key, replacing
// any earlier version. It uses meta's ContentType, Headers and UserMeta. If
// body.Read returns an error other than io.EOF, nothing is committed and
// that error is returned unchanged. Plaintext is never written to disk for
// SSE-C or SSE-KMS.
func (s *Store) Put(bucket, key string, body io.Reader, meta ObjectMeta, seal Sealing) (ObjectMeta, error) {
	if _, err := s.HeadBucket(bucket); err != nil {
		return ObjectMeta{}, err
	}
	if key == "" {
		return ObjectMeta{}, fmt.Errorf("%w: empty object key", ErrInvalidArgument)
	}
	sr, dk, err := newSeal(seal)
	if err != nil {
		return ObjectMeta{}, err
	}
	var aead cipher.AEAD
	if dk != nil {
		if aead, err = newGCM(dk); err != nil {
			return ObjectMeta{}, err
		}
	}
	seg, sum, err := s.writeSegment(body, aead)
	if err != nil {
		return ObjectMeta{}, err
	}
	rec := &objRecord{
		objHeader: objHeader{
			Version: newVersion(), Size: seg.Size, ETag: hex.EncodeToString(sum[:]),
			Modified: time.Now().UTC(), ContentType: meta.ContentType,
			Headers: maps.Clone(meta.Headers), UserMeta: maps.Clone(meta.UserMeta), Seal: sr,
		},
		Segments: []segment{seg},
	}
	var old []segment
	err = s.db.Update(func(tx *bolt.Tx) error {
		var err error
		old, err = putObjectTx(tx, bucket, key, rec)
		return err
	})
	if err != nil {
		s.removeSegments(rec.Segments)
		return ObjectMeta{}, err
	}
	s.removeSegments(old)
	return rec.meta(bucket, key), nil
}

// putObjectTx stores rec as bucket/key and returns the segments of the
// version it replaces.
func putObjectTx(tx *bolt.Tx, bucket, key string, rec *objRecord) ([]segment, error) {
	objs := objectsOf(tx, bucket)
	if objs == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
	}
	var old []segment
	if v := objs.Get([]byte(key)); v != nil {
		var o objRecord
		if err := decode(v, &o); err != nil {
			return nil, err
		}
		old = o.Segments
	}
	return old, objs.Put([]byte(key), encode(rec))
}

// Stat returns the metadata of bucket/key: ErrNoSuchBucket or ErrNoSuchKey.
func (s *Store) Stat(bucket, key string) (ObjectMeta, error) {
	var m ObjectMeta
	err := s.db.View(func(tx *bolt.Tx) error {
		r, err := getObject(tx, bucket, key)
		if err == nil {
			m = r.meta(bucket, key)
		}
		return err
	})
	return m, err
}

// CheckKey tells whether key opens meta's object: for SSE-C it compares
// against the stored salted HMAC, for SSE-KMS it checks that key unwraps the
// data key; ErrWrongKey if not. It returns nil for an unencrypted object.
func (s *Store) CheckKey(meta ObjectMeta, key []byte) error {
	sr := meta.seal
	if meta.version == "" { // built by the caller: use the current version
		st, err := s.Stat(meta.Bucket, meta.Key)
		if err != nil {
			return err
		}
		sr = st.seal
	}
	return sr.check(key)
}

// ReadRange returns plaintext [off, off+n) of exactly the object version
// meta describes (the current version if meta was not returned by the
// store). key is the customer key (SSE-C) or the KMS secret (SSE-KMS) and is
// ignored for SSENone. The data files are opened before ReadRange returns,
// so a later overwrite or delete does not affect the reader. If the object
// was overwritten since meta was read, the error is ErrObjectChanged; if it
// was deleted, ErrNoSuchKey. A range outside the object is
// ErrInvalidArgument. Only the chunks the range touches are decrypted;
// tampered or truncated content makes the reader fail with ErrCorrupt.
func (s *Store) ReadRange(meta ObjectMeta, key []byte, off, n int64) (io.ReadCloser, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("%w: range %d+%d", ErrInvalidArgument, off, n)
	}
	s.fileMu.RLock()
	defer s.fileMu.RUnlock()
	var rec *objRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		rec, err = getObject(tx, meta.Bucket, meta.Key)
		if err == nil && meta.version != "" && rec.Version != meta.version {
			err = fmt.Errorf("%w: %s/%s", ErrObjectChanged, meta.Bucket, meta.Key)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if off > rec.Size || n > rec.Size-off {
		return nil, fmt.Errorf("%w: range %d+%d outside object of %d bytes", ErrInvalidArgument, off, n, rec.Size)
	}
	aead, err := rec.Seal.contentAEAD(key)
	if err != nil {
		return nil, err
	}
	var segs []openSeg
	fail := func(err error) (io.ReadCloser, error) {
		for _, sg := range segs {
			sg.f.Close()
		}
		return nil, err
	}
	var base int64
	for _, g := range rec.Segments {
		lo, hi := max(off, base), min(off+n, base+g.Size)
		if lo < hi {
			sg := openSeg{seg: g, start: lo - base, end: hi - base}
			want := g.Size
			if aead != nil {
				id, err := g.rawID()
				if err != nil {
					return fail(err)
				}
				sg.cc = newChunkCipher(aead, id)
				want = sealedSize(g.Size)
			}
			if sg.f, err = os.Open(s.dataPath(g.ID)); err != nil {
				return fail(fmt.Errorf("%w: %v", ErrCorrupt, err))
			}
			segs = append(segs, sg)
			if fi, err := sg.f.Stat(); err != nil || fi.Size() != want {
				return fail(fmt.Errorf("%w: data file %s has the wrong size", ErrCorrupt, g.ID))
			}
		}
		base += g.Size
	}
	return newRangeReader(s, segs), nil
}

// Delete removes bucket/key; nil if the key is missing, ErrNoSuchBucket if
// the bucket is.
func (s *Store) Delete(bucket, key string) error {
	var old []segment
	err := s.db.Update(func(tx *bolt.Tx) error {
		r, err := getObject(tx, bucket, key)
		if err != nil {
			return err
		}
		old = r.Segments
		return objectsOf(tx, bucket).Delete([]byte(key))
	})
	if errors.Is(err, ErrNoSuchKey) {
		return nil
	}
	if err != nil {
		return err
	}
	s.removeSegments(old)
	return nil
}

// DataFiles returns the paths of the data files that hold bucket/key's
// content, in order: what an administrator (or the demo) inspects to see
// what rests on disk for one object.
func (s *Store) DataFiles(bucket, key string) ([]string, error) {
	var paths []string
	err := s.db.View(func(tx *bolt.Tx) error {
		rec, err := getObject(tx, bucket, key)
		if err != nil {
			return err
		}
		for _, g := range rec.Segments {
			paths = append(paths, s.dataPath(g.ID))
		}
		return nil
	})
	return paths, err
}
