// Package objstore is the storage engine of the ssefs reference backend: it
// keeps buckets, objects and multipart uploads in a directory, with SSE-C and
// SSE-KMS content really encrypted at rest.
//
// # On-disk format
//
//	DIR/meta.db        bbolt: buckets/<name>/{info, objects/<key>}, uploads/<id>/{info, p<be32 n>}
//	DIR/data/<segid>   one segment: a single PUT, or one multipart part
//	DIR/data/tmp-*     a segment being written (removed by Open)
//
// Each object or upload has a random 32-byte data key. A segment of an
// encrypted object is a sequence of chunks of 64 KiB of plaintext (the last
// one shorter; an empty segment has one empty chunk), each sealed with
// AES-256-GCM under the data key and stored as ciphertext||tag, so chunk i
// starts at i*(64 KiB+16). The nonce is the first 8 bytes of the random
// 16-byte segment id followed by the 32-bit chunk index; the AAD binds a
// label, the whole segment id, the 64-bit chunk index and a final-chunk flag,
// so chunks cannot be reordered, moved between segments, or cut off at the
// tail. The data key is wrapped with AES-256-GCM under a key-encryption key
// HMAC-SHA256(customer key or KMS secret, label||key id), the AAD binding the
// mode, the random key id and the KMS key id. For SSE-C the record also holds
// HMAC-SHA256(random salt, label||customer key) to check keys; neither the
// customer key nor the KMS secret is ever stored. Unencrypted objects are
// stored as sent. A completed multipart object is the ordered list of its
// parts' segments (nothing is re-encrypted); its record lists segment ids
// and plaintext sizes.
//
// # Crash safety and concurrency
//
// A segment is written to a temporary file in DIR/data, synced, renamed to
// its id, and the directory synced, before the metadata commit that
// references it; the segments a commit replaces are removed after it. Open
// removes temporary files and data files no record references, so a crash at
// any moment leaves the old or the new version of an object. A Store is safe
// for concurrent use; concurrent writes of one key: the last commit wins.
// ReadRange opens the data files of the version it reads before returning, so
// later overwrites and deletes do not disturb a reader.
package objstore
