package refbackend

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzRange: parseRange never panics, and a resolved range always lies
// inside the object and is described by a well-formed Content-Range.
func FuzzRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=10-", "bytes=-5", "bytes=-0", "bytes=5-2", "bytes=0-1,3-4", "bytes= 1 - 2 ", "bytes=99999999999999999999-", "items=0-1", ""} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, h string, size int64) {
		if size < 0 {
			size = -size
		}
		if size < 0 {
			return
		}
		sp, ok := parseRange(h)
		if !ok {
			return
		}
		r, e := sp.resolve(size)
		if e != nil {
			if e.Status != 416 || e.Code != "InvalidRange" {
				t.Fatalf("%q on %d: %v", h, size, e)
			}
			return
		}
		if r.off < 0 || r.n < 1 || r.off+r.n > size || r.off+r.n < r.off {
			t.Fatalf("%q on %d: off %d n %d", h, size, r.off, r.n)
		}
		cr := r.contentRange(size)
		want := "bytes " + strconv.FormatInt(r.off, 10) + "-" + strconv.FormatInt(r.off+r.n-1, 10) + "/" + strconv.FormatInt(size, 10)
		if cr != want {
			t.Fatalf("Content-Range %q; want %q", cr, want)
		}
		if cr, e := parseCopyRange(h, size); e == nil && (cr.off < 0 || cr.n < 1 || cr.off+cr.n > size) {
			t.Fatalf("copy range %q on %d: %+v", h, size, cr)
		}
	})
}

// FuzzXMLBodies: the CompleteMultipartUpload and DeleteObjects bodies either
// parse into valid lists or are refused with an S3 error; never a panic.
func FuzzXMLBodies(f *testing.F) {
	for _, s := range []string{
		`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"a"</ETag></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>x</ETag><PartNumber>10001</PartNumber></Part></CompleteMultipartUpload>`,
		`<Delete><Quiet>true</Quiet><Object><Key>a</Key></Object><Object><Key>b/c</Key><VersionId>1</VersionId></Object></Delete>`,
		`<Delete></Delete>`, `<Delete><Object><Key></Key></Object></Delete>`, `<not xml`, ``, `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Delete/>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cr completeRequest
		if err := parseXML(data, &cr); err == nil {
			parts, err := cr.parts()
			if err != nil {
				if e := toS3Error(err); e.Status != 400 {
					t.Fatalf("complete: %v", err)
				}
			} else {
				if len(parts) < 1 || len(parts) > 10000 {
					t.Fatalf("%d parts accepted", len(parts))
				}
				for _, p := range parts {
					if p.Number < 1 || p.Number > 10000 || strings.HasPrefix(p.ETag, `"`) {
						t.Fatalf("part %+v accepted", p)
					}
				}
			}
		} else if e := toS3Error(err); e.Code != "MalformedXML" {
			t.Fatalf("complete: %v", err)
		}
		var dr deleteRequest
		if err := parseXML(data, &dr); err == nil {
			keys, err := dr.keys()
			if err == nil && (len(keys) < 1 || len(keys) > 1000) {
				t.Fatalf("%d keys accepted", len(keys))
			}
			for _, k := range keys {
				if k == "" || len(k) > 1024 {
					t.Fatalf("key %q accepted", k)
				}
			}
		} else if e := toS3Error(err); e.Code != "MalformedXML" {
			t.Fatalf("delete: %v", err)
		}
	})
}
