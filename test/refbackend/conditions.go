package refbackend

import (
	"net/http"
	"strings"
	"time"
)

// condResult is the outcome of conditional request headers.
type condResult int

const (
	condProceed     condResult = iota
	condNotModified            // 304 (GET/HEAD)
	condFailed                 // 412
)

// etagMatches reports whether the If-Match / If-None-Match list h names etag
// (quoted) or is "*".
func etagMatches(h, etag string) bool {
	for _, t := range strings.Split(h, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || strings.Trim(t, `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}

// parseHTTPDate parses an HTTP date; ok is false for anything else.
func parseHTTPDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	t, err := http.ParseTime(s)
	if err != nil {
		t, err = time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, false
		}
	}
	return t, true
}

// evalConditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since (under prefix, "" or "x-amz-copy-source-") to an object
// with etag (quoted) and modification time mod, in S3's order: a holding
// If-Match overrides a failing If-Unmodified-Since, and a failing
// If-None-Match overrides a holding If-Modified-Since.
func evalConditions(h http.Header, prefix, etag string, mod time.Time) condResult {
	mod = mod.Truncate(time.Second)
	im := h.Get(prefix + "If-Match")
	if im != "" {
		if !etagMatches(im, etag) {
			return condFailed
		}
	} else if t, ok := parseHTTPDate(h.Get(prefix + "If-Unmodified-Since")); ok && mod.After(t) {
		return condFailed
	}
	inm := h.Get(prefix + "If-None-Match")
	if inm != "" {
		if etagMatches(inm, etag) {
			return condNotModified
		}
	} else if t, ok := parseHTTPDate(h.Get(prefix + "If-Modified-Since")); ok && !mod.After(t) {
		return condNotModified
	}
	return condProceed
}
