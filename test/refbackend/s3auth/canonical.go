package s3auth

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// uriEncode applies SigV4's UriEncode: every byte except the unreserved
// characters A-Z a-z 0-9 - . _ ~ becomes %XX (upper-case hex); '/' is kept
// when keepSlash is set (paths) and encoded otherwise (query components).
func uriEncode(s string, keepSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// canonicalURIs returns the canonical URI candidates for r, most likely
// first. S3 does not normalise paths and encodes each segment once; the
// decoded path is re-encoded with UriEncode. Clients that encode a reserved
// character differently (or send %2F inside a segment) signed the path as
// they sent it, so the escaped path as received is offered as well.
func canonicalURIs(u *url.URL) []string {
	first := canonicalPath(u.Path)
	out := []string{first}
	if raw := u.EscapedPath(); raw != "" && raw != first {
		out = append(out, raw)
	}
	return out
}

func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	return uriEncode(p, true)
}

type queryParam struct{ name, value string }

// parseQuery splits a raw query string into decoded parameters, in order,
// with '+' meaning a space as in HTML forms (which is how aws-sdk-go-v2 and
// net/http read it). A parameter without '=' has an empty value.
func parseQuery(raw string) ([]queryParam, error) {
	var out []queryParam
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		dk, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		dv, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		out = append(out, queryParam{dk, dv})
	}
	return out, nil
}

// canonicalQuery encodes params (minus the one named skip, if any) as the
// canonical query string: UriEncode'd names and values, sorted by name then
// value, joined by '&', every name followed by '='.
func canonicalQuery(params []queryParam, skip string) string {
	enc := make([]queryParam, 0, len(params))
	for _, p := range params {
		if skip != "" && p.name == skip {
			continue
		}
		enc = append(enc, queryParam{uriEncode(p.name, false), uriEncode(p.value, false)})
	}
	sort.Slice(enc, func(i, j int) bool {
		if enc[i].name != enc[j].name {
			return enc[i].name < enc[j].name
		}
		return enc[i].value < enc[j].value
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.name)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// headerValue returns the canonical value of the (lower-case) header name in
// r: all values joined by ',', each trimmed with runs of spaces collapsed.
// Host, Content-Length and Transfer-Encoding, which net/http moves out of the
// header map, are taken from the request fields.
func headerValue(r *http.Request, name string) string {
	vals := append([]string(nil), r.Header.Values(name)...)
	if len(vals) == 0 {
		switch name {
		case "host":
			if r.Host != "" {
				vals = []string{r.Host}
			} else if r.URL != nil {
				vals = []string{r.URL.Host}
			}
		case "content-length":
			if r.ContentLength >= 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		case "transfer-encoding":
			vals = append(vals, r.TransferEncoding...)
		}
	}
	for i, v := range vals {
		vals[i] = collapseSpaces(v)
	}
	return strings.Join(vals, ",")
}

func collapseSpaces(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "  ") {
		return v
	}
	var b strings.Builder
	prevSpace := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if prevSpace {
				continue
			}
			prevSpace = true
		} else {
			prevSpace = false
		}
		b.WriteByte(c)
	}
	return b.String()
}

// canonicalRequest builds the SigV4 canonical request:
//
//	Method \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n HashedPayload
//
// signedHeaders is the client's list as sent (lower-case names joined by ';').
func canonicalRequest(r *http.Request, canonURI, canonQuery, signedHeaders, payloadHash string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(canonURI)
	b.WriteByte('\n')
	b.WriteString(canonQuery)
	b.WriteByte('\n')
	for _, h := range strings.Split(signedHeaders, ";") {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String()
}
