package refbackend

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// bk is the bucket of the behaviour tests.
const bk = "bkt"

// api is a stack with one bucket for the behaviour tests.
func newAPI(t *testing.T, profile Profile) (*stack, *s3.Client, context.Context) {
	st := newStack(t, profile, stackOpts{})
	ctx := context.Background()
	_, err := st.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bk)})
	must(t, err)
	return st, st.s3, ctx
}

func putString(t *testing.T, c *s3.Client, key, body string) {
	t.Helper()
	_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String(key), Body: strings.NewReader(body)})
	must(t, err)
}

func wantCode(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var re interface{ HTTPStatusCode() int }
	var ae smithy.APIError
	if err == nil {
		t.Errorf("%s: succeeded; want %d %s", what, status, code)
		return
	}
	if !errors.As(err, &re) || re.HTTPStatusCode() != status || (code != "" && (!errors.As(err, &ae) || ae.ErrorCode() != code)) {
		t.Errorf("%s: %v; want %d %s", what, err, status, code)
	}
}

func TestBuckets(t *testing.T) {
	st, c, ctx := newAPI(t, ProfileAWS)
	out, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	must(t, err)
	if len(out.Buckets) != 1 || aws.ToString(out.Buckets[0].Name) != bk || out.Buckets[0].CreationDate == nil {
		t.Errorf("ListBuckets: %+v", out.Buckets)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bk)})
	must(t, err)
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("nope")})
	wantCode(t, "HeadBucket of a missing bucket", err, 404, "")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bk)})
	wantCode(t, "CreateBucket twice", err, 409, "BucketAlreadyOwnedByYou")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	wantCode(t, "CreateBucket with a bad name", err, 400, "InvalidBucketName")
	loc, err := c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String(bk)})
	must(t, err)
	if loc.LocationConstraint != "" {
		t.Errorf("location %q", loc.LocationConstraint)
	}
	putString(t, c, "x", "x")
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bk)})
	wantCode(t, "DeleteBucket of a non-empty bucket", err, 409, "BucketNotEmpty")
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("nope")})
	wantCode(t, "ListObjectsV2 of a missing bucket", err, 404, "NoSuchBucket")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("empty")})
	must(t, err)
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("empty")})
	must(t, err)
	_ = st
}

func TestBucketReplication(t *testing.T) {
	_, c, ctx := newAPI(t, ProfileAWS)
	_, err := c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bk)})
	wantCode(t, "GetBucketReplication before any", err, 404, "ReplicationConfigurationNotFoundError")
	_, err = c.PutBucketReplication(ctx, &s3.PutBucketReplicationInput{Bucket: aws.String(bk), ReplicationConfiguration: &types.ReplicationConfiguration{
		Role: aws.String("arn:aws:iam::1:role/r"),
		Rules: []types.ReplicationRule{{Status: types.ReplicationRuleStatusEnabled, Priority: aws.Int32(1), ID: aws.String("r1"),
			Filter: &types.ReplicationRuleFilter{Prefix: aws.String("")}, DeleteMarkerReplication: &types.DeleteMarkerReplication{Status: types.DeleteMarkerReplicationStatusDisabled},
			Destination: &types.Destination{Bucket: aws.String("arn:aws:s3:::dest")}}},
	}})
	must(t, err)
	out, err := c.GetBucketReplication(ctx, &s3.GetBucketReplicationInput{Bucket: aws.String(bk)})
	must(t, err)
	if len(out.ReplicationConfiguration.Rules) != 1 || aws.ToString(out.ReplicationConfiguration.Rules[0].ID) != "r1" {
		t.Errorf("replication: %+v", out.ReplicationConfiguration)
	}
}

func TestObjectMetadataRoundTrip(t *testing.T) {
	_, c, ctx := newAPI(t, ProfileAWS)
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("dir/file.txt"), Body: strings.NewReader("hello"),
		ContentType: aws.String("text/plain"), CacheControl: aws.String("no-cache"), ContentDisposition: aws.String("attachment"),
		ContentEncoding: aws.String("identity"), ContentLanguage: aws.String("de"), Expires: &exp,
		Metadata: map[string]string{"mode": "33188", "uid": "1000", "mtime": "1700000000.5"}})
	must(t, err)
	h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bk), Key: aws.String("dir/file.txt")})
	must(t, err)
	if aws.ToString(h.ContentType) != "text/plain" || aws.ToString(h.CacheControl) != "no-cache" || aws.ToString(h.ContentDisposition) != "attachment" ||
		aws.ToString(h.ContentEncoding) != "identity" || aws.ToString(h.ContentLanguage) != "de" || aws.ToInt64(h.ContentLength) != 5 ||
		h.Metadata["mode"] != "33188" || h.Metadata["uid"] != "1000" || h.Metadata["mtime"] != "1700000000.5" || h.LastModified == nil {
		t.Errorf("HEAD: %+v", h)
	}
	if h.ExpiresString == nil || !strings.Contains(*h.ExpiresString, "2030") {
		t.Errorf("Expires %v", h.ExpiresString)
	}
	if aws.ToString(h.ETag) != `"5d41402abc4b2a76b9719d911017c592"` {
		t.Errorf("ETag %s", aws.ToString(h.ETag))
	}
	g, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("dir/file.txt"),
		ResponseContentType: aws.String("application/x-test"), ResponseContentDisposition: aws.String("inline"), ResponseCacheControl: aws.String("max-age=1")})
	body := readAll(t, g, err)
	if string(body) != "hello" || aws.ToString(g.ContentType) != "application/x-test" || aws.ToString(g.ContentDisposition) != "inline" || aws.ToString(g.CacheControl) != "max-age=1" {
		t.Errorf("GET with response overrides: %q %+v", body, g)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("missing")})
	wantCode(t, "GET of a missing key", err, 404, "NoSuchKey")
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bk), Key: aws.String("missing")})
	wantCode(t, "HEAD of a missing key", err, 404, "")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bk), Key: aws.String("missing")})
	must(t, err)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("big-meta"), Body: strings.NewReader(""),
		Metadata: map[string]string{"a": strings.Repeat("x", 2100)}})
	wantCode(t, "user metadata over 2 KiB", err, 400, "MetadataTooLarge")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("nope"), Key: aws.String("k"), Body: strings.NewReader("")})
	wantCode(t, "PUT into a missing bucket", err, 404, "NoSuchBucket")
	// An empty object.
	putString(t, c, "empty", "")
	g, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("empty")})
	if b := readAll(t, g, err); len(b) != 0 {
		t.Errorf("empty object: %q", b)
	}
}

func TestListObjects(t *testing.T) {
	_, c, ctx := newAPI(t, ProfileAWS)
	keys := []string{"a", "b/1", "b/2", "b/3/x", "c d", "c/e/f", "d", "dd/1", "z+y"}
	for _, k := range keys {
		putString(t, c, k, k)
	}
	t.Run("v2 delimiter", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk), Delimiter: aws.String("/")})
		must(t, err)
		got, pfx := listed(out.Contents), prefixes(out.CommonPrefixes)
		if !slices.Equal(got, []string{"a", "c d", "d", "z+y"}) || !slices.Equal(pfx, []string{"b/", "c/", "dd/"}) ||
			aws.ToInt32(out.KeyCount) != 7 || aws.ToBool(out.IsTruncated) {
			t.Errorf("got %v %v count %d", got, pfx, aws.ToInt32(out.KeyCount))
		}
	})
	t.Run("v2 prefix", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk), Prefix: aws.String("b/"), Delimiter: aws.String("/")})
		must(t, err)
		if got, pfx := listed(out.Contents), prefixes(out.CommonPrefixes); !slices.Equal(got, []string{"b/1", "b/2"}) || !slices.Equal(pfx, []string{"b/3/"}) {
			t.Errorf("got %v %v", got, pfx)
		}
		if out.Contents[0].LastModified == nil || aws.ToInt64(out.Contents[0].Size) != 3 || aws.ToString(out.Contents[0].ETag) == "" {
			t.Errorf("entry: %+v", out.Contents[0])
		}
	})
	t.Run("v2 pages of one", func(t *testing.T) {
		var got []string
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bk), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
		pages := 0
		for p.HasMorePages() {
			out, err := p.NextPage(ctx)
			must(t, err)
			pages++
			got = append(got, listed(out.Contents)...)
			got = append(got, prefixes(out.CommonPrefixes)...)
		}
		want := []string{"a", "b/", "c d", "c/", "d", "dd/", "z+y"}
		if !slices.Equal(got, want) || pages != 7 {
			t.Errorf("paged %v in %d pages; want %v", got, pages, want)
		}
	})
	t.Run("v2 start-after", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk), StartAfter: aws.String("c/e/f")})
		must(t, err)
		if got := listed(out.Contents); !slices.Equal(got, []string{"d", "dd/1", "z+y"}) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("v1 marker and pages", func(t *testing.T) {
		var got []string
		marker := ""
		for range 20 {
			out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bk), Marker: aws.String(marker), MaxKeys: aws.Int32(2)})
			must(t, err)
			got = append(got, listed(out.Contents)...)
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			marker = aws.ToString(out.NextMarker)
		}
		if !slices.Equal(got, keys) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("v1 delimiter pages", func(t *testing.T) {
		var got []string
		marker := ""
		for range 20 {
			out, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String(bk), Marker: aws.String(marker), Delimiter: aws.String("/"), MaxKeys: aws.Int32(2)})
			must(t, err)
			got = append(got, listed(out.Contents)...)
			got = append(got, prefixes(out.CommonPrefixes)...)
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			marker = aws.ToString(out.NextMarker)
		}
		slices.Sort(got)
		if want := []string{"a", "b/", "c d", "c/", "d", "dd/", "z+y"}; !slices.Equal(got, want) {
			t.Errorf("got %v; want %v", got, want)
		}
	})
	t.Run("v2 start-after inside a common prefix", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk), StartAfter: aws.String("b/1"), Delimiter: aws.String("/")})
		must(t, err)
		if got, pfx := listed(out.Contents), prefixes(out.CommonPrefixes); !slices.Equal(got, []string{"c d", "d", "z+y"}) || !slices.Equal(pfx, []string{"b/", "c/", "dd/"}) {
			t.Errorf("got %v %v", got, pfx)
		}
	})
	t.Run("encoding-type url", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk), Prefix: aws.String("c"), EncodingType: types.EncodingTypeUrl})
		must(t, err)
		if got := listed(out.Contents); !slices.Equal(got, []string{"c+d", "c/e/f"}) {
			t.Errorf("got %v", got)
		}
	})
	t.Run("max-keys zero", func(t *testing.T) {
		out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk), MaxKeys: aws.Int32(0)})
		must(t, err)
		if len(out.Contents) != 0 {
			t.Errorf("got %v", listed(out.Contents))
		}
	})
}

func listed(objs []types.Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, aws.ToString(o.Key))
	}
	return out
}

func prefixes(ps []types.CommonPrefix) []string {
	var out []string
	for _, p := range ps {
		out = append(out, aws.ToString(p.Prefix))
	}
	return out
}

func TestDeleteObjects(t *testing.T) {
	_, c, ctx := newAPI(t, ProfileAWS)
	for _, k := range []string{"a", "b", "c"} {
		putString(t, c, k, k)
	}
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bk), Delete: &types.Delete{
		Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("missing")}}}})
	must(t, err)
	if len(out.Deleted) != 2 || len(out.Errors) != 0 {
		t.Errorf("DeleteObjects: %+v", out)
	}
	out, err = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bk), Delete: &types.Delete{Quiet: aws.Bool(true),
		Objects: []types.ObjectIdentifier{{Key: aws.String("b")}, {Key: aws.String("c")}}}})
	must(t, err)
	if len(out.Deleted) != 0 || len(out.Errors) != 0 {
		t.Errorf("quiet DeleteObjects: %+v", out)
	}
	l, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk)})
	must(t, err)
	if len(l.Contents) != 0 {
		t.Errorf("left: %v", listed(l.Contents))
	}
}

func TestRangesAndConditions(t *testing.T) {
	for _, p := range []Profile{ProfileAWS, ProfileRGW} {
		t.Run(string(p), func(t *testing.T) {
			t.Parallel()
			st, c, ctx := newAPI(t, p)
			data := randBytes(t, 200<<10) // several 64 KiB chunks
			k := newSSEC(randBytes(t, 32))
			for _, sse := range []bool{false, true} {
				in := &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("obj"), Body: bytes.NewReader(data)}
				get := func(r string) *s3.GetObjectInput {
					g := &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("obj"), Range: aws.String(r)}
					if sse {
						k.onGet(g)
					}
					return g
				}
				if sse {
					k.onPut(in)
				}
				put, err := c.PutObject(ctx, in)
				must(t, err)
				size := int64(len(data))
				for _, tc := range []struct {
					rng          string
					off, n       int64
					status       int
					contentRange string
				}{
					{"bytes=0-9", 0, 10, 206, "bytes 0-9/204800"},
					{"bytes=65530-65545", 65530, 16, 206, "bytes 65530-65545/204800"},
					{"bytes=204000-", 204000, 800, 206, "bytes 204000-204799/204800"},
					{"bytes=-100", size - 100, 100, 206, "bytes 204700-204799/204800"},
					{"bytes=-999999", 0, size, 206, "bytes 0-204799/204800"},
					{"bytes=100-999999", 100, size - 100, 206, "bytes 100-204799/204800"},
					{"bytes=9-2", 0, size, 200, ""},     // not a valid range: ignored
					{"items=0-1", 0, size, 200, ""},     // not bytes: ignored
					{"bytes=0-1,5-6", 0, size, 200, ""}, // several ranges: ignored
				} {
					out, err := c.GetObject(ctx, get(tc.rng))
					got := readAll(t, out, err)
					r := st.rec.get()
					if r.status != tc.status || aws.ToString(out.ContentRange) != tc.contentRange || !bytes.Equal(got, data[tc.off:tc.off+tc.n]) {
						t.Errorf("sse=%v %s: %d %q %d bytes", sse, tc.rng, r.status, aws.ToString(out.ContentRange), len(got))
					}
				}
				for _, bad := range []string{"bytes=204800-", "bytes=999999-1000000", "bytes=-0"} {
					_, err := c.GetObject(ctx, get(bad))
					wantCode(t, "sse="+boolStr(sse)+" "+bad, err, 416, "InvalidRange")
				}
				etag := aws.ToString(put.ETag)
				cond := func(mod func(*s3.GetObjectInput)) error {
					g := get("")
					g.Range = nil
					mod(g)
					out, err := c.GetObject(ctx, g)
					if err == nil {
						out.Body.Close()
					}
					return err
				}
				past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
				must(t, cond(func(g *s3.GetObjectInput) { g.IfMatch = aws.String(etag) }))
				wantCode(t, "If-Match other", cond(func(g *s3.GetObjectInput) { g.IfMatch = aws.String(`"0123"`) }), 412, "PreconditionFailed")
				wantCode(t, "If-None-Match same", cond(func(g *s3.GetObjectInput) { g.IfNoneMatch = aws.String(etag) }), 304, "")
				must(t, cond(func(g *s3.GetObjectInput) { g.IfNoneMatch = aws.String(`"0123"`) }))
				wantCode(t, "If-Modified-Since future", cond(func(g *s3.GetObjectInput) { g.IfModifiedSince = &future }), 304, "")
				must(t, cond(func(g *s3.GetObjectInput) { g.IfModifiedSince = &past }))
				wantCode(t, "If-Unmodified-Since past", cond(func(g *s3.GetObjectInput) { g.IfUnmodifiedSince = &past }), 412, "PreconditionFailed")
				must(t, cond(func(g *s3.GetObjectInput) { g.IfUnmodifiedSince = &future }))
				// A holding If-Match wins over a failing If-Unmodified-Since.
				must(t, cond(func(g *s3.GetObjectInput) { g.IfMatch = aws.String(etag); g.IfUnmodifiedSince = &past }))
				h := &s3.HeadObjectInput{Bucket: aws.String(bk), Key: aws.String("obj"), IfNoneMatch: aws.String(etag)}
				if sse {
					k.onHead(h)
				}
				_, err = c.HeadObject(ctx, h)
				wantCode(t, "HEAD If-None-Match same", err, 304, "")
			}
		})
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// rawGet reads an object with a plain HTTP client (for headers the SDK hides).
func rawGet(t *testing.T, url string) (*http.Response, []byte) {
	resp, err := http.Get(url)
	must(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestPresignedURLs(t *testing.T) {
	st, c, ctx := newAPI(t, ProfileAWS)
	putString(t, c, "shared", "presigned body")
	ps := s3.NewPresignClient(c)
	req, err := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("shared")}, s3.WithPresignExpires(time.Minute))
	must(t, err)
	resp, err := st.tls.Client().Get(req.URL)
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned body" {
		t.Errorf("presigned GET: %d %q", resp.StatusCode, b)
	}
	tampered := req.URL[:len(req.URL)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(req.URL, "0")]
	resp, err = st.tls.Client().Get(tampered)
	must(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if code, _ := s3Error(b); resp.StatusCode != 403 || code != "SignatureDoesNotMatch" {
		t.Errorf("tampered presigned GET: %d %s", resp.StatusCode, b)
	}
}

// TestListSkipsLargeCommonPrefixes: a common prefix with many keys under it
// is one entry, and paging over it neither repeats nor loses anything.
func TestListSkipsLargeCommonPrefixes(t *testing.T) {
	_, c, ctx := newAPI(t, ProfileAWS)
	for i := range 150 {
		putString(t, c, "many/"+itoa(1000+i), "x")
	}
	putString(t, c, "a", "x")
	putString(t, c, "zz", "x")
	var got []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bk), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		must(t, err)
		got = append(append(got, listed(out.Contents)...), prefixes(out.CommonPrefixes)...)
	}
	if !slices.Equal(got, []string{"a", "many/", "zz"}) {
		t.Errorf("got %v", got)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bk), Prefix: aws.String("many/"), MaxKeys: aws.Int32(1000)})
	must(t, err)
	if len(out.Contents) != 150 {
		t.Errorf("%d keys under many/", len(out.Contents))
	}
}
