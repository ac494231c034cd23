package objstore

// The Store: opening, crash recovery, buckets.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

const tmpPrefix = "tmp-"

// lockTimeout bounds the wait for another process's lock on the database.
var lockTimeout = 5 * time.Second

// Store is an object store rooted in a directory. It is safe for
// concurrent use.
type Store struct {
	dir     string
	dataDir string
	db      *bolt.DB

	// fileMu orders opening data files (readers, shared) against
	// removing replaced data files (exclusive): a reader that found a
	// record opens its files before they can be removed.
	fileMu sync.RWMutex

	chunksDecrypted atomic.Int64
}

// Open opens (creating if needed) the store in dir. It removes what a crash
// may have left: temporary files and data files no metadata references.
func Open(dir string) (*Store, error) {
	s := &Store{dir: dir, dataDir: filepath.Join(dir, "data")}
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, fmt.Errorf("objstore: opening metadata: %w", err)
	}
	s.db = db
	err = db.Update(func(tx *bolt.Tx) error {
		for _, n := range [][]byte{bktBuckets, bktUploads} {
			if _, err := tx.CreateBucketIfNotExists(n); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = s.removeOrphans()
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the store. Readers returned by ReadRange stay usable.
func (s *Store) Close() error {
	return s.db.Close()
}

// ChunksDecrypted returns how many content chunks the store has decrypted
// since Open (for tests and benchmarks).
func (s *Store) ChunksDecrypted() int64 {
	return s.chunksDecrypted.Load()
}

// removeOrphans deletes temporary files and data files that no record
// references.
func (s *Store) removeOrphans() error {
	used := map[string]bool{}
	err := s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bktBuckets).ForEachBucket(func(name []byte) error {
			return objectsOf(tx, string(name)).ForEach(func(_, v []byte) error {
				var r objRecord
				if err := decode(v, &r); err != nil {
					return err
				}
				for _, g := range r.Segments {
					used[g.ID] = true
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		ups := tx.Bucket(bktUploads)
		return ups.ForEachBucket(func(id []byte) error {
			return forEachPart(ups.Bucket(id), func(p *partRecord) error {
				used[p.Seg.ID] = true
				return nil
			})
		})
	})
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(s.dataDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if used[e.Name()] && !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.dataDir, e.Name())); err != nil {
			return err
		}
	}
	return syncDir(s.dataDir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (s *Store) dataPath(id string) string {
	return filepath.Join(s.dataDir, id)
}

// removeSegments deletes the data files of replaced or deleted content,
// after the metadata commit that stopped referencing them. A failure only
// leaves an orphan that the next Open removes.
func (s *Store) removeSegments(segs []segment) {
	if len(segs) == 0 {
		return
	}
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	for _, g := range segs {
		os.Remove(s.dataPath(g.ID))
	}
}

// CreateBucket creates a bucket; ErrBucketExists if it exists.
func (s *Store) CreateBucket(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		all := tx.Bucket(bktBuckets)
		if all.Bucket([]byte(name)) != nil {
			return fmt.Errorf("%w: %s", ErrBucketExists, name)
		}
		b, err := all.CreateBucket([]byte(name))
		if err != nil {
			return err
		}
		if _, err := b.CreateBucket(bktObjects); err != nil {
			return err
		}
		return b.Put(keyInfo, encode(&bucketRecord{Created: time.Now().UTC()}))
	})
}

// DeleteBucket deletes an empty bucket: ErrNoSuchBucket, or
// ErrBucketNotEmpty if objects or multipart uploads are present.
func (s *Store) DeleteBucket(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		objs := objectsOf(tx, name)
		if objs == nil {
			return fmt.Errorf("%w: %s", ErrNoSuchBucket, name)
		}
		if k, _ := objs.Cursor().First(); k != nil {
			return fmt.Errorf("%w: %s has objects", ErrBucketNotEmpty, name)
		}
		busy := errors.New("busy")
		err := scanUploads(tx, func(u *uploadRecord) error {
			if u.Bucket == name {
				return busy
			}
			return nil
		})
		if err == busy {
			return fmt.Errorf("%w: %s has multipart uploads", ErrBucketNotEmpty, name)
		}
		if err != nil {
			return err
		}
		return tx.Bucket(bktBuckets).DeleteBucket([]byte(name))
	})
}

func getBucket(tx *bolt.Tx, name string) (*bolt.Bucket, *bucketRecord, error) {
	b := tx.Bucket(bktBuckets).Bucket([]byte(name))
	if b == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoSuchBucket, name)
	}
	r := new(bucketRecord)
	if err := decode(b.Get(keyInfo), r); err != nil {
		return nil, nil, err
	}
	return b, r, nil
}

// HeadBucket describes a bucket; ErrNoSuchBucket if missing.
func (s *Store) HeadBucket(name string) (BucketInfo, error) {
	var info BucketInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		_, r, err := getBucket(tx, name)
		if err == nil {
			info = BucketInfo{Name: name, Created: r.Created}
		}
		return err
	})
	return info, err
}

// ListBuckets lists all buckets sorted by name.
func (s *Store) ListBuckets() ([]BucketInfo, error) {
	var out []BucketInfo
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bktBuckets).ForEachBucket(func(name []byte) error {
			_, r, err := getBucket(tx, string(name))
			if err != nil {
				return err
			}
			out = append(out, BucketInfo{Name: string(name), Created: r.Created})
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// PutBucketReplication stores a bucket's replication configuration as
// given (nil or empty removes it).
func (s *Store) PutBucketReplication(bucket string, xml []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, r, err := getBucket(tx, bucket)
		if err != nil {
			return err
		}
		r.Replication = append([]byte(nil), xml...)
		if len(xml) == 0 {
			r.Replication = nil
		}
		return b.Put(keyInfo, encode(r))
	})
}

// GetBucketReplication returns the stored replication configuration, or
// nil, nil when none is stored.
func (s *Store) GetBucketReplication(bucket string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		_, r, err := getBucket(tx, bucket)
		if err == nil && len(r.Replication) > 0 {
			out = r.Replication
		}
		return err
	})
	return out, err
}
