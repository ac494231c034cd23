package refbackend

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// maxListKeys is the most keys one listing page returns.
const maxListKeys = 1000

// pastPrefix is appended to a common prefix to form a start-after value
// greater than every key under it (keys are at most 1024 bytes).
var pastPrefix = strings.Repeat("\xff", 1025)

// listing is one page of a listing.
type listing struct {
	objects   []objstore.ObjectMeta
	prefixes  []string
	truncated bool
	last      string // the last key or common prefix of the page
}

// listPage lists up to max keys and common prefixes of bucket under prefix,
// after the key `after`, rolling keys up at delim. When `after` is itself a
// common prefix (a NextMarker or continuation token that ended a page on
// one) the whole prefix is skipped: it was already returned.
func (s *Server) listPage(bucket, prefix, delim, after string, max int) (listing, error) {
	var l listing
	start := after
	if delim != "" && strings.HasPrefix(after, prefix) {
		if i := strings.Index(after[len(prefix):], delim); i >= 0 && len(prefix)+i+len(delim) == len(after) {
			start = after + pastPrefix
		}
	}
	cur, skipped := "", 0 // the common prefix being passed over, and how many keys of it
	for {
		restart := ""
		// The page needs max entries more and one to tell it is truncated.
		want := max - len(l.objects) - len(l.prefixes) + 1
		err := s.store.List(bucket, prefix, start, want, func(m objstore.ObjectMeta) bool {
			if cur != "" && strings.HasPrefix(m.Key, cur) {
				// Still under the last common prefix: step over it, and seek
				// past it when it is large.
				if skipped++; skipped > 64 {
					restart = cur + pastPrefix
					return false
				}
				return true
			}
			cur, skipped = "", 0
			if len(l.objects)+len(l.prefixes) >= max {
				l.truncated = true
				return false
			}
			if delim != "" {
				if i := strings.Index(m.Key[len(prefix):], delim); i >= 0 {
					cp := m.Key[:len(prefix)+i+len(delim)]
					l.prefixes = append(l.prefixes, cp)
					l.last = cp
					cur = cp
					return true
				}
			}
			l.objects = append(l.objects, m)
			l.last = m.Key
			return true
		})
		if err != nil {
			return l, err
		}
		if restart == "" || l.truncated {
			return l, nil
		}
		start = restart
	}
}

// parseMaxKeys reads a max-keys style parameter (default and cap 1000).
func parseMaxKeys(v string) (int, error) {
	if v == "" {
		return maxListKeys, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, errInvalidArgument("Provided max-keys not an integer or within integer range")
	}
	return min(n, maxListKeys), nil
}

// encoder returns the function that encodes names in a listing answer, per
// encoding-type (only "url" exists).
func encoder(v string) (func(string) string, string, error) {
	switch v {
	case "":
		return func(s string) string { return s }, "", nil
	case "url":
		return s3URLEncode, "url", nil
	}
	return nil, "", errInvalidArgument("Invalid Encoding Method specified in Request")
}

// s3URLEncode encodes a key as S3 does with encoding-type=url.
func s3URLEncode(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

func (s *Server) objectItems(objs []objstore.ObjectMeta, enc func(string) string, withOwner bool) []objectItem {
	items := make([]objectItem, 0, len(objs))
	for _, m := range objs {
		it := objectItem{Key: enc(m.Key), LastModified: xmlTime(m.LastModified), ETag: s.etag(m), Size: m.Size, StorageClass: "STANDARD"}
		if withOwner {
			it.Owner = &owner{ID: s.cfg.AccessKey, DisplayName: s.cfg.AccessKey}
		}
		items = append(items, it)
	}
	return items
}

func prefixItems(ps []string, enc func(string) string) []commonPrefix {
	out := make([]commonPrefix, 0, len(ps))
	for _, p := range ps {
		out = append(out, commonPrefix{Prefix: enc(p)})
	}
	return out
}

// listObjectsV1 answers ListObjects.
func (s *Server) listObjectsV1(rq *request) error {
	q := rq.q
	max, err := parseMaxKeys(q.Get("max-keys"))
	if err != nil {
		return err
	}
	enc, encName, err := encoder(q.Get("encoding-type"))
	if err != nil {
		return err
	}
	prefix, delim, marker := q.Get("prefix"), q.Get("delimiter"), q.Get("marker")
	l, err := s.listPage(rq.bucket, prefix, delim, marker, max)
	if err != nil {
		return err
	}
	res := listBucketResult{NS: s3NS, Name: rq.bucket, Prefix: enc(prefix), Marker: enc(marker), MaxKeys: max,
		Delimiter: enc(delim), EncodingType: encName, IsTruncated: l.truncated,
		Contents: s.objectItems(l.objects, enc, true), CommonPrefixes: prefixItems(l.prefixes, enc)}
	if l.truncated {
		res.NextMarker = enc(l.last)
	}
	return s.writeXML(rq, res)
}

// listObjectsV2 answers ListObjectsV2.
func (s *Server) listObjectsV2(rq *request) error {
	q := rq.q
	max, err := parseMaxKeys(q.Get("max-keys"))
	if err != nil {
		return err
	}
	enc, encName, err := encoder(q.Get("encoding-type"))
	if err != nil {
		return err
	}
	prefix, delim, startAfter, token := q.Get("prefix"), q.Get("delimiter"), q.Get("start-after"), q.Get("continuation-token")
	after := startAfter
	if _, ok := q["continuation-token"]; ok {
		b, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || token == "" {
			return errInvalidArgument("The continuation token provided is incorrect")
		}
		after = string(b)
	}
	l, err := s.listPage(rq.bucket, prefix, delim, after, max)
	if err != nil {
		return err
	}
	res := listBucketResultV2{NS: s3NS, Name: rq.bucket, Prefix: enc(prefix), StartAfter: enc(startAfter),
		ContinuationToken: token, KeyCount: len(l.objects) + len(l.prefixes), MaxKeys: max,
		Delimiter: enc(delim), EncodingType: encName, IsTruncated: l.truncated,
		Contents: s.objectItems(l.objects, enc, q.Get("fetch-owner") == "true"), CommonPrefixes: prefixItems(l.prefixes, enc)}
	if l.truncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.last))
	}
	return s.writeXML(rq, res)
}
