package objstore

// Listing objects: a cursor seek over the ordered metadata, no file reads.

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// listBatch is the most entries List reads per read transaction; fn runs
// outside any transaction, so it may call the store.
var listBatch = 1000

// List calls fn for each object of bucket whose key starts with prefix and
// is greater than startAfter, in byte order of keys, until fn returns false.
// ErrNoSuchBucket if the bucket is missing.
//
// want is how many entries the caller expects to take (a page's max-keys
// and one more, to tell whether it is truncated): the first read decodes no
// more than that, the later ones listBatch each. A request for 2 keys then
// costs 3 decoded entries, not a thousand, and a page of 1000 costs 1001,
// not 2000.
func (s *Store) List(bucket, prefix, startAfter string, want int, fn func(ObjectMeta) bool) error {
	batch := min(max(want, 1), listBatch)
	seek := []byte(prefix)
	skip := []byte(nil)
	if startAfter >= prefix {
		seek, skip = []byte(startAfter), []byte(startAfter)
	}
	pfx := []byte(prefix)
	for {
		var got []ObjectMeta
		err := s.db.View(func(tx *bolt.Tx) error {
			objs := objectsOf(tx, bucket)
			if objs == nil {
				return fmt.Errorf("%w: %s", ErrNoSuchBucket, bucket)
			}
			c := objs.Cursor()
			for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, pfx); k, v = c.Next() {
				if skip != nil && bytes.Equal(k, skip) {
					continue
				}
				if len(got) == batch {
					seek, skip = bytes.Clone(k), nil
					return nil
				}
				var h objHeader // the segment list is skipped, not decoded
				if err := decode(v, &h); err != nil {
					return err
				}
				got = append(got, h.meta(bucket, string(k)))
			}
			seek = nil
			return nil
		})
		if err != nil {
			return err
		}
		for _, m := range got {
			if !fn(m) {
				return nil
			}
		}
		batch = listBatch
		if seek == nil {
			return nil
		}
	}
}
