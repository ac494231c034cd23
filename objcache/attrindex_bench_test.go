package objcache

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkLoadAttrIndex parses the index of a 5000-file directory (what
// a listing waits for before it splits itself) and then matches every
// entry (what its pages do as they come).
func BenchmarkLoadAttrIndex(b *testing.B) {
	var entries []attrIndexEntry
	listed := map[string]ObjectInfo{}
	for i := range 5000 {
		e := attrIndexEntry{Name: fmt.Sprintf("f%04d", i), ETag: fmt.Sprintf("\"%032x\"", i*7919), Size: 2,
			Modified: 1765150000 + int64(i), Answered: 1765150100, ContentType: "application/octet-stream",
			Metadata: Metadata{"mode": "33188", "uid": "0", "gid": "0", "mtime": fmt.Sprintf("1765150000.%09d", i)}}
		entries = append(entries, e)
		listed[e.Name] = ObjectInfo{Key: "d/" + e.Name, ETag: e.ETag, Size: e.Size, LastModified: time.Unix(e.Modified, 0)}
	}
	data := encodeAttrIndex("d/", entries)
	var ix *AttrIndex
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, at, err := parseAttrIndex(data)
			if err != nil || len(at) != 5000 {
				b.Fatal(len(at), err)
			}
			ix = &AttrIndex{data: data, at: at}
		}
	})
	b.Run("match-all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for name, o := range listed {
				if _, ok := ix.Match(name, o); !ok {
					b.Fatal(name)
				}
			}
		}
	})
}
