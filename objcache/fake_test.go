package objcache

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ssefs/ssefs/ssekeys"
)

// fakeS3 is a small in-memory S3 for unit tests of request building and of
// the client's decisions. It enforces SSE-C like AWS (or, with rgw set,
// like RGW 16: SSE-C on plain objects ignored, wrong key 400, CopyObject of
// encrypted sources 501, plain->encrypted copies stored plain without echo)
// and records every request.
type fakeS3 struct {
	t   *testing.T
	srv *httptest.Server
	rgw bool

	mu      sync.Mutex
	reqs    []fakeReq
	objects map[string]*fakeObj
	uploads map[string]*fakeUpload
	nextID  int

	// Fault injection, consulted under mu.
	failNext    map[string]int  // op -> number of 503s still to answer
	resetNext   map[string]int  // op -> number of connections still to drop
	pageSize    int             // ListObjectsV2 page size (default 1000)
	dropEcho    map[string]bool // ops answered without any SSE echo
	cutBodyOnce bool            // the next GET body is cut halfway
}

type fakeReq struct {
	Method string
	Op     string // "put", "get", "head", "delete", "list", "copy", "create", "part", "partcopy", "complete", "abort"
	Key    string
	Header http.Header
}

type fakeObj struct {
	data  []byte
	md5   string // SSE-C key MD5, "" when not SSE-C
	kms   string // KMS key id, "" when not KMS
	meta  http.Header
	ctype string
	etag  string
}

type fakeUpload struct {
	key   string
	md5   string
	kms   string
	meta  http.Header
	ctype string
	parts map[int][]byte
}

func newFakeS3(t *testing.T, rgw bool) *fakeS3 {
	f := &fakeS3{t: t, rgw: rgw, objects: map[string]*fakeObj{}, uploads: map[string]*fakeUpload{}, failNext: map[string]int{}, resetNext: map[string]int{}, dropEcho: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// client returns a Client for the fake's bucket "b".
func (f *fakeS3) client(t *testing.T, enc ssekeys.Config, mod ...func(*ClientConfig)) *Client {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(pw, []byte("AKIDTEST:secretsecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := ClientConfig{Endpoint: f.srv.URL, Bucket: "b", PasswdFile: pw, Encryption: enc, PartSize: 5 << 20,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeS3) requests() []fakeReq {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeReq(nil), f.reqs...)
}

func (f *fakeS3) reset() {
	f.mu.Lock()
	f.reqs = nil
	f.mu.Unlock()
}

func (f *fakeS3) fail(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, msg)
}

func classify(r *http.Request) string {
	q := r.URL.Query()
	copySrc := r.Header.Get("X-Amz-Copy-Source") != ""
	switch r.Method {
	case http.MethodGet:
		if q.Has("list-type") || r.URL.Path == "/b" || r.URL.Path == "/b/" {
			return "list"
		}
		return "get"
	case http.MethodHead:
		return "head"
	case http.MethodDelete:
		if q.Has("uploadId") {
			return "abort"
		}
		return "delete"
	case http.MethodPost:
		if q.Has("uploads") {
			return "create"
		}
		return "complete"
	case http.MethodPut:
		switch {
		case q.Has("partNumber") && copySrc:
			return "partcopy"
		case q.Has("partNumber"):
			return "part"
		case copySrc:
			return "copy"
		}
		return "put"
	}
	return "?"
}

// sseOf reads the SSE-C key MD5 (checking it against the key) and KMS id
// of a request; prefix "" for the target, "Copy-Source-" for the source.
func sseOf(h http.Header, prefix string) (md5sum string, kms string, ok bool) {
	alg := h.Get("X-Amz-" + prefix + "Server-Side-Encryption-Customer-Algorithm")
	key := h.Get("X-Amz-" + prefix + "Server-Side-Encryption-Customer-Key")
	sum := h.Get("X-Amz-" + prefix + "Server-Side-Encryption-Customer-Key-Md5")
	if alg != "" || key != "" || sum != "" {
		raw, err := base64.StdEncoding.DecodeString(key)
		d := md5.Sum(raw)
		if alg != "AES256" || err != nil || len(raw) != 32 || base64.StdEncoding.EncodeToString(d[:]) != sum {
			return "", "", false
		}
		return sum, "", true
	}
	if prefix == "" && h.Get("X-Amz-Server-Side-Encryption") == "aws:kms" {
		return "", h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), true
	}
	return "", "", true
}

func (f *fakeS3) echo(w http.ResponseWriter, op, md5sum, kms string) {
	if f.dropEcho[op] {
		return
	}
	if md5sum != "" {
		w.Header().Set("X-Amz-Server-Side-Encryption-Customer-Algorithm", "AES256")
		w.Header().Set("X-Amz-Server-Side-Encryption-Customer-Key-Md5", md5sum)
	}
	if kms != "" {
		w.Header().Set("X-Amz-Server-Side-Encryption", "aws:kms")
		w.Header().Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", kms)
	}
}

// opens reports the status a read with SSE-C md5sum gets on o.
func (f *fakeS3) opens(o *fakeObj, md5sum string) int {
	switch {
	case o.md5 == "" && md5sum == "":
		return 200
	case o.md5 == "":
		if f.rgw {
			return 200 // RGW ignores the triple
		}
		return 400
	case md5sum == "":
		return 400
	case md5sum != o.md5:
		if f.rgw {
			return 400
		}
		return 403
	}
	return 200
}

func userMeta(h http.Header) http.Header {
	m := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") {
			m[k] = v
		}
	}
	return m
}

func etagOf(b []byte) string {
	s := md5.Sum(b)
	return `"` + hex.EncodeToString(s[:]) + `"`
}

func (f *fakeS3) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	op := classify(r)
	key := strings.TrimPrefix(r.URL.Path, "/b/")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, fakeReq{Method: r.Method, Op: op, Key: key, Header: r.Header.Clone()})
	if f.resetNext[op] > 0 {
		f.resetNext[op]--
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if f.failNext[op] > 0 {
		f.failNext[op]--
		f.fail(w, 503, "SlowDown", "Please reduce your request rate.")
		return
	}
	md5sum, kms, ok := sseOf(r.Header, "")
	if !ok {
		f.fail(w, 400, "InvalidArgument", "bad SSE-C headers")
		return
	}
	q := r.URL.Query()
	switch op {
	case "put":
		o := &fakeObj{data: body, md5: md5sum, kms: kms, meta: userMeta(r.Header), ctype: r.Header.Get("Content-Type"), etag: etagOf(body)}
		f.objects[key] = o
		w.Header().Set("ETag", o.etag)
		f.echo(w, op, md5sum, kms)
	case "head", "get":
		o := f.objects[key]
		if o == nil {
			if op == "head" {
				w.WriteHeader(404)
			} else {
				f.fail(w, 404, "NoSuchKey", "no such key")
			}
			return
		}
		if st := f.opens(o, md5sum); st != 200 {
			if op == "head" {
				w.WriteHeader(st)
			} else {
				f.fail(w, st, map[int]string{400: "InvalidRequest", 403: "AccessDenied"}[st], "key")
			}
			return
		}
		if im := r.Header.Get("If-Match"); im != "" && im != o.etag {
			if op == "head" {
				w.WriteHeader(412)
			} else {
				f.fail(w, 412, "PreconditionFailed", "etag")
			}
			return
		}
		for k, v := range o.meta {
			w.Header()[k] = v
		}
		if o.ctype != "" {
			w.Header().Set("Content-Type", o.ctype)
		}
		w.Header().Set("ETag", o.etag)
		w.Header().Set("Last-Modified", "Sat, 28 Nov 2026 00:00:00 GMT")
		f.echo(w, op, o.md5, o.kms)
		data := o.data
		status := 200
		if rg := r.Header.Get("Range"); rg != "" && op == "get" {
			var a, b int64 = 0, int64(len(data)) - 1
			spec := strings.TrimPrefix(rg, "bytes=")
			as, bs, _ := strings.Cut(spec, "-")
			a, _ = strconv.ParseInt(as, 10, 64)
			if bs != "" {
				b, _ = strconv.ParseInt(bs, 10, 64)
			}
			if a >= int64(len(data)) {
				f.fail(w, 416, "InvalidRange", "range")
				return
			}
			b = min(b, int64(len(data))-1)
			data = data[a : b+1]
			status = 206
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(status)
		if op == "get" {
			if f.cutBodyOnce && len(data) > 1 {
				f.cutBodyOnce = false
				w.Write(data[:len(data)/2])
				panic(http.ErrAbortHandler) // drop the connection mid-body
			}
			w.Write(data)
		}
	case "delete":
		delete(f.objects, key)
		w.WriteHeader(204)
	case "list":
		f.list(w, q)
	case "copy", "partcopy":
		f.copy(w, r, op, key, md5sum, kms)
	case "create":
		f.nextID++
		id := fmt.Sprint("up", f.nextID)
		f.uploads[id] = &fakeUpload{key: key, md5: md5sum, kms: kms, meta: userMeta(r.Header), ctype: r.Header.Get("Content-Type"), parts: map[int][]byte{}}
		f.echo(w, op, md5sum, kms)
		fmt.Fprintf(w, `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>%s</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>`, key, id)
	case "part":
		u := f.uploads[q.Get("uploadId")]
		if u == nil || md5sum != u.md5 {
			f.fail(w, 400, "InvalidArgument", "upload key")
			return
		}
		n, _ := strconv.Atoi(q.Get("partNumber"))
		u.parts[n] = body
		w.Header().Set("ETag", etagOf(body))
		f.echo(w, op, md5sum, "")
	case "complete":
		u := f.uploads[q.Get("uploadId")]
		if u == nil || md5sum != u.md5 {
			f.fail(w, 400, "InvalidArgument", "upload key")
			return
		}
		var req struct {
			Parts []struct{ PartNumber int } `xml:"Part"`
		}
		xml.Unmarshal(body, &req)
		var all []byte
		for _, p := range req.Parts {
			all = append(all, u.parts[p.PartNumber]...)
		}
		o := &fakeObj{data: all, md5: u.md5, kms: u.kms, meta: u.meta, ctype: u.ctype, etag: fmt.Sprintf(`"%x-%d"`, md5.Sum(all), len(req.Parts))}
		f.objects[u.key] = o
		delete(f.uploads, q.Get("uploadId"))
		f.echo(w, op, u.md5, u.kms)
		fmt.Fprintf(w, `<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>%s</Key><ETag>%s</ETag></CompleteMultipartUploadResult>`, u.key, o.etag)
	case "abort":
		delete(f.uploads, q.Get("uploadId"))
		w.WriteHeader(204)
	default:
		f.fail(w, 400, "InvalidRequest", "unknown op")
	}
}

func (f *fakeS3) copy(w http.ResponseWriter, r *http.Request, op, key, md5sum, kms string) {
	srcPath, _ := url.PathUnescape(r.Header.Get("X-Amz-Copy-Source"))
	src := f.objects[strings.TrimPrefix(strings.TrimPrefix(srcPath, "/"), "b/")]
	if src == nil {
		f.fail(w, 404, "NoSuchKey", "source")
		return
	}
	if im := r.Header.Get("X-Amz-Copy-Source-If-Match"); im != "" && im != src.etag {
		f.fail(w, 412, "PreconditionFailed", "etag")
		return
	}
	srcMD5, _, ok := sseOf(r.Header, "Copy-Source-")
	if !ok || (src.md5 != "" && srcMD5 != src.md5) || (src.md5 == "" && srcMD5 != "") {
		f.fail(w, 400, "InvalidArgument", "copy source key")
		return
	}
	encrypted := src.md5 != "" || src.kms != ""
	if op == "copy" {
		if f.rgw && encrypted {
			f.fail(w, 501, "NotImplemented", "")
			return
		}
		o := &fakeObj{data: src.data, md5: md5sum, kms: kms, meta: userMeta(r.Header), ctype: r.Header.Get("Content-Type"), etag: etagOf(src.data)}
		if f.rgw && !encrypted {
			o.md5, o.kms = "", "" // RGW: stored unencrypted, no echo
		}
		f.objects[key] = o
		f.echo(w, op, o.md5, o.kms)
		fmt.Fprintf(w, `<CopyObjectResult><ETag>%s</ETag><LastModified>2026-11-28T00:00:00.000Z</LastModified></CopyObjectResult>`, o.etag)
		return
	}
	u := f.uploads[r.URL.Query().Get("uploadId")]
	if u == nil || md5sum != u.md5 {
		f.fail(w, 400, "InvalidArgument", "upload key")
		return
	}
	if f.rgw && src.md5 != "" && src.md5 != u.md5 {
		f.fail(w, 400, "InvalidArgument", "rgw part copy with another key")
		return
	}
	data := src.data
	if rg := r.Header.Get("X-Amz-Copy-Source-Range"); rg != "" {
		var a, b int
		fmt.Sscanf(rg, "bytes=%d-%d", &a, &b)
		data = data[a : b+1]
	}
	n, _ := strconv.Atoi(r.URL.Query().Get("partNumber"))
	u.parts[n] = data
	f.echo(w, op, u.md5, "")
	fmt.Fprintf(w, `<CopyPartResult><ETag>%s</ETag><LastModified>2026-11-28T00:00:00.000Z</LastModified></CopyPartResult>`, etagOf(data))
}

func (f *fakeS3) list(w http.ResponseWriter, q url.Values) {
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var entries []string // "K:key" or "P:prefix", in order, deduplicated
	seen := map[string]bool{}
	for _, k := range keys {
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				p := k[:len(prefix)+i+len(delim)]
				if !seen[p] {
					seen[p] = true
					entries = append(entries, "P:"+p)
				}
				continue
			}
		}
		entries = append(entries, "K:"+k)
	}
	start, _ := strconv.Atoi(q.Get("continuation-token"))
	size := f.pageSize
	if size == 0 {
		size = 1000
	}
	end := min(start+size, len(entries))
	var b bytes.Buffer
	b.WriteString(`<ListBucketResult><Name>b</Name>`)
	if end < len(entries) {
		fmt.Fprintf(&b, `<IsTruncated>true</IsTruncated><NextContinuationToken>%d</NextContinuationToken>`, end)
	} else {
		b.WriteString(`<IsTruncated>false</IsTruncated>`)
	}
	for _, e := range entries[start:end] {
		if strings.HasPrefix(e, "P:") {
			fmt.Fprintf(&b, `<CommonPrefixes><Prefix>%s</Prefix></CommonPrefixes>`, e[2:])
			continue
		}
		o := f.objects[e[2:]]
		fmt.Fprintf(&b, `<Contents><Key>%s</Key><Size>%d</Size><ETag>%s</ETag><LastModified>2026-11-28T00:00:00.000Z</LastModified></Contents>`, e[2:], len(o.data), o.etag)
	}
	b.WriteString(`</ListBucketResult>`)
	w.Header().Set("Content-Type", "application/xml")
	w.Write(b.Bytes())
}
