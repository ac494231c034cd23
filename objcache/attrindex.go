package objcache

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// An attribute index is a saved set of HEAD answers for the objects directly
// under one directory, stored as one object (encrypted like every other; format below)
// under AttrIndexPrefix. A listing carries no user metadata, so without it
// `ls -l` or rsync over a directory of n files costs n HEADs; with it, one
// listing and one GET.
//
// The index is only ever a hint. An entry is used for an object only when
// the listing shows the object with the same ETag, size and Last-Modified
// second as the HEAD the entry was made from, and it is saved only when
// that HEAD was answered at least indexSettleSeconds after the object's
// Last-Modified second (by the server's own clock). Any write of an object makes a
// new version with a new Last-Modified, so a version that matches an entry
// is the one the entry describes: a later version in the same second would
// have been written before the HEAD was answered, and the HEAD would have
// seen it. A lost, stale or foreign index therefore costs HEADs, never a
// wrong answer.

// AttrIndexPrefix is the key prefix of attribute indexes, relative to the
// mount's root. The filesystem hides it.
const AttrIndexPrefix = ".ssefs-attrs/"

// indexSettleSeconds is how many seconds after an object's Last-Modified
// second a HEAD must have been answered for its answer to be saved (see
// above). Whole seconds, as the index keeps them: one would do for a
// single server; two allow for the clocks of several gateways.
const indexSettleSeconds = 2

// maxAttrIndexSize bounds the index object read back, against a corrupt or
// foreign object at its key.
const maxAttrIndexSize = 256 << 20

// AttrIndexKey returns the key of the index of the directory whose objects
// have the key prefix dir ("" for the root, else ending in "/").
func AttrIndexKey(dir string) string { return AttrIndexPrefix + dir + ".index" }

// attrIndexMagic starts an index object; its last byte is the format
// version.
const attrIndexMagic = "ssefs-attr-index\x01"

// attrIndexEntry is one saved HEAD answer. Saved as, after the magic and
// the directory prefix, for each entry: name, ETag, size, Last-Modified
// and answer time (Unix seconds), content type, then the number of
// metadata pairs and the pairs; strings as a uvarint length and the bytes,
// numbers as varints. A binary form: JSON took 30 ms to decode for a
// 5000-file directory.
type attrIndexEntry struct {
	Name        string
	ETag        string
	Size        int64
	Modified    int64 // Last-Modified, Unix seconds
	Answered    int64 // when the server answered the HEAD, Unix seconds
	ContentType string
	Metadata    Metadata
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeAttrIndex returns the saved form of the index of dir.
func encodeAttrIndex(dir string, entries []attrIndexEntry) []byte {
	b := []byte(attrIndexMagic)
	b = appendString(b, dir)
	b = binary.AppendUvarint(b, uint64(len(entries)))
	for _, e := range entries {
		b = appendString(b, e.Name)
		b = appendString(b, e.ETag)
		b = binary.AppendVarint(b, e.Size)
		b = binary.AppendVarint(b, e.Modified)
		b = binary.AppendVarint(b, e.Answered)
		b = appendString(b, e.ContentType)
		b = binary.AppendUvarint(b, uint64(len(e.Metadata)))
		for k, v := range e.Metadata {
			b = appendString(b, k)
			b = appendString(b, v)
		}
	}
	return b
}

// indexDecoder reads the saved form; the first error sticks.
type indexDecoder struct {
	b   []byte
	err error
}

var errIndexFormat = errors.New("malformed attribute index")

func (d *indexDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errIndexFormat
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *indexDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errIndexFormat
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns the next string's bytes, in place.
func (d *indexDecoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errIndexFormat
		return nil
	}
	s := d.b[:n]
	d.b = d.b[n:]
	return s
}

func (d *indexDecoder) string() string { return string(d.bytes()) }

// skipEntry checks and passes over the fields of an entry after its name.
func (d *indexDecoder) skipEntry() {
	d.bytes() // ETag
	d.varint()
	d.varint()
	d.varint()
	d.bytes() // content type
	m := d.uvarint()
	if m > uint64(len(d.b)) {
		d.err = errIndexFormat
		return
	}
	for range 2 * m {
		d.bytes()
	}
}

// parseAttrIndex checks the saved form and returns its directory and where
// each name's fields start in data. Only the names are copied: the other
// fields are decoded for the entries a listing asks for (AttrIndex.Match),
// so that the index of a large directory is ready as soon as it has
// arrived (decoding every entry of a 5000-file index up front took 7 ms,
// most of it making 5000 metadata maps, while the listing waited for the
// index's names to split itself).
func parseAttrIndex(data []byte) (string, map[string]int, error) {
	if !bytes.HasPrefix(data, []byte(attrIndexMagic)) {
		return "", nil, fmt.Errorf("%w: not an index of this version", errIndexFormat)
	}
	d := &indexDecoder{b: data[len(attrIndexMagic):]}
	dir := d.string()
	n := d.uvarint()
	if n > uint64(len(d.b)) { // every entry takes bytes
		return "", nil, errIndexFormat
	}
	at := make(map[string]int, n)
	for range n {
		name := d.string()
		start := len(data) - len(d.b)
		d.skipEntry()
		if d.err != nil {
			return "", nil, d.err
		}
		at[name] = start
	}
	if d.err != nil || len(d.b) != 0 {
		return "", nil, errIndexFormat
	}
	return dir, at, nil
}

// AttrIndex is a loaded attribute index: its saved form, checked, and
// where each name's entry is in it.
type AttrIndex struct {
	data []byte
	at   map[string]int
}

// Len returns the number of entries.
func (ix *AttrIndex) Len() int { return len(ix.at) }

// LoadAttrIndex reads the index of dir. A missing index is ErrNotFound; an
// index that does not parse, or is for another directory, is an error too
// (callers treat every error as "no index").
func LoadAttrIndex(ctx context.Context, b Bucket, dir string) (*AttrIndex, error) {
	key := AttrIndexKey(dir)
	rc, err := b.GetRange(ctx, key, "", 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxAttrIndexSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAttrIndexSize {
		return nil, fmt.Errorf("attribute index %s: larger than %d bytes", key, maxAttrIndexSize)
	}
	forDir, at, err := parseAttrIndex(data)
	if err != nil {
		return nil, fmt.Errorf("attribute index %s: %w", key, err)
	}
	if forDir != dir {
		return nil, fmt.Errorf("attribute index %s: made for %q", key, forDir)
	}
	return &AttrIndex{data: data, at: at}, nil
}

// Match returns the HEAD answer saved for the object listed as listed under
// the name name, when the listing shows the very version it describes. Its
// ServerTime is when that HEAD was answered, so it can be saved again.
// It may be called from several goroutines at once.
func (ix *AttrIndex) Match(name string, listed ObjectInfo) (ObjectInfo, bool) {
	start, ok := ix.at[name]
	if !ok {
		return ObjectInfo{}, false
	}
	// parseAttrIndex has checked the fields: they decode without error.
	d := &indexDecoder{b: ix.data[start:]}
	etag, size, modified := d.bytes(), d.varint(), d.varint()
	if string(etag) != listed.ETag || size != listed.Size || modified != listed.LastModified.Unix() {
		return ObjectInfo{}, false
	}
	answered := d.varint()
	info := ObjectInfo{Key: listed.Key, Size: size, ETag: listed.ETag, LastModified: listed.LastModified,
		ContentType: d.string(), ServerTime: time.Unix(answered, 0)}
	m := d.uvarint()
	info.Metadata = make(Metadata, m)
	for range m {
		k := d.string()
		info.Metadata[k] = d.string()
	}
	return info, d.err == nil
}

// Cuts returns every n-th of the index's names after the key after, in
// key order, as keys under dir, leaving out the last name: where to cut
// the rest of a listing of dir into pieces of about n entries
// (SplitLister).
func (ix *AttrIndex) Cuts(dir, after string, n int) []string {
	var names []string
	for name := range ix.at {
		if dir+name > after {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var cuts []string
	for i := n - 1; i < len(names)-1; i += n {
		cuts = append(cuts, dir+names[i])
	}
	return cuts
}

// Indexable reports whether a HEAD answer may be saved in an index: it came
// from the server, with the server's clock, at least indexSettleSeconds after the
// object's Last-Modified.
func Indexable(info ObjectInfo) bool {
	return !info.ServerTime.IsZero() && !info.LastModified.IsZero() && info.Metadata != nil &&
		info.ServerTime.Unix()-info.LastModified.Unix() >= indexSettleSeconds
}

// SaveAttrIndex stores the index of dir with the given HEAD answers, keyed
// by name; answers that are not Indexable are left out. It returns how many
// were saved.
func SaveAttrIndex(ctx context.Context, b Bucket, dir string, infos map[string]ObjectInfo) (int, error) {
	entries := make([]attrIndexEntry, 0, len(infos))
	for name, info := range infos {
		if !Indexable(info) {
			continue
		}
		entries = append(entries, attrIndexEntry{Name: name, ETag: info.ETag, Size: info.Size,
			Modified: info.LastModified.Unix(), Answered: info.ServerTime.Unix(), ContentType: info.ContentType, Metadata: info.Metadata})
	}
	data := encodeAttrIndex(dir, entries)
	_, err := b.Put(ctx, AttrIndexKey(dir), bytes.NewReader(data), int64(len(data)), PutOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}
