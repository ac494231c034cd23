// Package objcache is ssefs's object layer: the S3 client that attaches the
// configured server-side encryption to every request, and the read and write
// paths (block cache, readahead, upload staging) built on it. It knows nothing
// of FUSE; package fs sees objects only through the Bucket interface below.
package objcache

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by Bucket implementations. Callers test them with errors.Is;
// implementations wrap them with the object key and the server's message.
var (
	// ErrNotFound: the object (or bucket) does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrAccessDenied: the server refused the credentials or the request (HTTP 403).
	ErrAccessDenied = errors.New("access denied")
	// ErrKeyRefused: no configured SSE key opens the object.
	ErrKeyRefused = errors.New("no configured key opens the object")
	// ErrPreconditionFailed: an If-Match condition did not hold (HTTP 412),
	// e.g. the object changed between HEAD and GET.
	ErrPreconditionFailed = errors.New("precondition failed")
	// ErrNoSpace: local staging space is exhausted.
	ErrNoSpace = errors.New("no staging space left")
	// ErrEncryptionNotHonoured: the server answered success but did not echo
	// the encryption that was asked for; the object was repaired or removed.
	ErrEncryptionNotHonoured = errors.New("server did not apply the requested encryption")
)

// Metadata is the user metadata of an object, keyed by the lower-case name
// without the "x-amz-meta-" prefix (e.g. "mode", "uid", "gid", "mtime").
type Metadata map[string]string

// ObjectInfo describes one object. Size is the plaintext size.
type ObjectInfo struct {
	Key          string
	Size         int64
	ETag         string
	LastModified time.Time
	ContentType  string
	// Metadata is nil when the info comes from a listing (listings carry no
	// user metadata); HEAD fills it.
	Metadata Metadata
	// ServerTime is the server's clock (its Date header) when it answered
	// a HEAD; zero otherwise. See Indexable.
	ServerTime time.Time
}

// ListPage is one page of a delimited listing.
type ListPage struct {
	Objects  []ObjectInfo // keys directly under the prefix (Metadata is nil)
	Prefixes []string     // common prefixes ("sub/dir/") when a delimiter is used
}

// PutOptions carries what a write sets besides the body.
type PutOptions struct {
	Metadata    Metadata
	ContentType string
}

// Bucket is the object store as ssefs's filesystem sees it: one bucket (and
// optional key prefix), with the mount's encryption applied to every call.
// Keys are relative to the mount's prefix. All methods are safe for
// concurrent use.
type Bucket interface {
	// Head returns the object's info, trying each configured key in turn and
	// remembering which one opened it. ErrNotFound, ErrKeyRefused or
	// ErrAccessDenied on failure.
	Head(ctx context.Context, key string) (ObjectInfo, error)

	// GetRange returns the plaintext bytes [off, off+n) of the object. When
	// etag is not empty the read fails with ErrPreconditionFailed if the
	// object no longer has that ETag. n < 0 reads to the end.
	GetRange(ctx context.Context, key, etag string, off, n int64) (io.ReadCloser, error)

	// Put stores size bytes from body as the object, encrypted with the
	// mount's write key, using a multipart upload when size is large. It
	// returns only once the object is committed on the server and the
	// server's encryption echo was checked.
	Put(ctx context.Context, key string, body io.Reader, size int64, opts PutOptions) (ObjectInfo, error)

	// Copy makes dst a copy of src, encrypted with the mount's write key.
	// With opts nil the source's metadata and content type are kept;
	// otherwise they are replaced by opts. src == dst rewrites metadata in
	// place. Falls back to part copies or GET + PUT where the server refuses
	// a server-side copy of an encrypted object.
	Copy(ctx context.Context, src, dst string, opts *PutOptions) (ObjectInfo, error)

	// Delete removes the object. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error

	// List calls fn for each page of the listing of keys starting with
	// prefix. With delimiter "/" it lists one directory level.
	List(ctx context.Context, prefix, delimiter string, fn func(ListPage) error) error
}
