package keymanager

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// File names inside the data directory.
const (
	masterKeyFile = "master.key"
	storeFile     = "keymanager.db"
)

// Buckets of the store. Every value in every bucket is a JSON document sealed
// with AES-256-GCM under the master key (see store.put), so neither payloads
// nor passwords nor metadata rest in clear.
var (
	bucketDirectory = []byte("directory") // key "directory": the Keystone users, projects and roles
	bucketSecrets   = []byte("secrets")   // secret UUID -> secretRecord
	bucketAppCreds  = []byte("appcreds")  // application credential id -> appCredRecord
)

var errNotFound = errors.New("keymanager: record not found")

// store is the key manager's persistent state: a bbolt file whose values are
// sealed under a 32-byte master key kept in its own file.
type store struct {
	db   *bolt.DB
	aead cipher.AEAD
	mac  []byte // key for token signatures, derived from the master key
}

// secretRecord is one Barbican secret as stored. Payload is the secret's bytes;
// it is only ever written inside a sealed record.
type secretRecord struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	SecretType  string     `json:"secret_type"`
	Algorithm   string     `json:"algorithm"`
	BitLength   int        `json:"bit_length"`
	Mode        string     `json:"mode"`
	ProjectID   string     `json:"project_id"`
	CreatorID   string     `json:"creator_id"`
	ContentType string     `json:"content_type"` // empty: no payload
	Payload     []byte     `json:"payload"`
	Created     time.Time  `json:"created"`
	Updated     time.Time  `json:"updated"`
	Expiration  *time.Time `json:"expiration"`
	ACL         *aclRecord `json:"acl"` // nil: no ACL set (project access, no users)
}

// aclRecord is a secret's "read" ACL.
type aclRecord struct {
	Users         []string  `json:"users"`
	ProjectAccess bool      `json:"project_access"`
	Created       time.Time `json:"created"`
	Updated       time.Time `json:"updated"`
}

// expired reports whether the secret's expiration has passed at now.
func (s *secretRecord) expired(now time.Time) bool {
	return s.Expiration != nil && !now.Before(*s.Expiration)
}

// openStore creates dir (0700) if needed, loads or creates the master key and
// opens the bbolt file.
func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("keymanager: create data dir: %w", err)
	}
	key, err := loadMasterKey(filepath.Join(dir, masterKeyFile))
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(filepath.Join(dir, storeFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("keymanager: open store: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDirectory, bucketSecrets, bucketAppCreds} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &store{db: db, aead: aead, mac: deriveKey(key, "ssefs keymanager token signing v1")}, nil
}

// loadMasterKey reads the 32-byte master key at path, creating it (0600) with
// random bytes if it does not exist.
func loadMasterKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) != 32 {
			return nil, fmt.Errorf("keymanager: %s holds %d bytes, want 32", path, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("keymanager: read master key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, key, 0o600); err != nil {
		return nil, fmt.Errorf("keymanager: write master key: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("keymanager: write master key: %w", err)
	}
	return key, nil
}

// writeFileSync writes data to a new file at path with mode perm and fsyncs it.
func writeFileSync(path string, data []byte, perm os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

func (s *store) close() error { return s.db.Close() }

// seal encrypts v's JSON, binding it to its bucket and key.
func (s *store) seal(bucket, key []byte, v any) ([]byte, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, aad(bucket, key)), nil
}

// unseal reverses seal into v.
func (s *store) unseal(bucket, key, sealed []byte, v any) error {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return fmt.Errorf("keymanager: record %s/%s is truncated", bucket, key)
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad(bucket, key))
	if err != nil {
		return fmt.Errorf("keymanager: record %s/%s does not open under the master key: %w", bucket, key, err)
	}
	return json.Unmarshal(plain, v)
}

func aad(bucket, key []byte) []byte {
	return []byte(string(bucket) + "/" + string(key))
}

// get loads and unseals bucket[key] into v; errNotFound if absent.
func (s *store) get(bucket []byte, key string, v any) error {
	return s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucket).Get([]byte(key))
		if raw == nil {
			return errNotFound
		}
		return s.unseal(bucket, []byte(key), raw, v)
	})
}

// put seals v into bucket[key].
func (s *store) put(bucket []byte, key string, v any) error {
	return s.db.Update(func(tx *bolt.Tx) error { return s.putTx(tx, bucket, key, v) })
}

func (s *store) putTx(tx *bolt.Tx, bucket []byte, key string, v any) error {
	sealed, err := s.seal(bucket, []byte(key), v)
	if err != nil {
		return err
	}
	return tx.Bucket(bucket).Put([]byte(key), sealed)
}

// delete removes bucket[key]; errNotFound if absent.
func (s *store) delete(bucket []byte, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get([]byte(key)) == nil {
			return errNotFound
		}
		return b.Delete([]byte(key))
	})
}

// updateSecret applies fn to the stored secret id inside one transaction and
// writes the result back. fn's error aborts the change.
func (s *store) updateSecret(id string, fn func(*secretRecord) error) (*secretRecord, error) {
	var rec secretRecord
	err := s.db.Update(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketSecrets).Get([]byte(id))
		if raw == nil {
			return errNotFound
		}
		if err := s.unseal(bucketSecrets, []byte(id), raw, &rec); err != nil {
			return err
		}
		if err := fn(&rec); err != nil {
			return err
		}
		return s.putTx(tx, bucketSecrets, id, &rec)
	})
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// allSecrets returns every stored secret, in no particular order.
func (s *store) allSecrets() ([]*secretRecord, error) {
	var out []*secretRecord
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSecrets).ForEach(func(k, v []byte) error {
			rec := new(secretRecord)
			if err := s.unseal(bucketSecrets, k, v, rec); err != nil {
				return err
			}
			out = append(out, rec)
			return nil
		})
	})
	return out, err
}
