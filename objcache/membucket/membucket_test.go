package membucket

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/objcache"
)

func TestBucketSemantics(t *testing.T) {
	ctx := context.Background()
	b := New()
	put := func(key, body string, meta objcache.Metadata) objcache.ObjectInfo {
		t.Helper()
		info, err := b.Put(ctx, key, strings.NewReader(body), int64(len(body)), objcache.PutOptions{Metadata: meta})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	i1 := put("a/x", "hello", objcache.Metadata{"mode": "33188"})
	i2 := put("a/x", "hello", objcache.Metadata{"mode": "33188"})
	if i1.ETag == i2.ETag {
		t.Fatal("ETag did not change on write")
	}
	if _, err := b.GetRange(ctx, "a/x", i1.ETag, 0, -1); !errors.Is(err, objcache.ErrPreconditionFailed) {
		t.Fatalf("stale etag: %v", err)
	}
	rc, err := b.GetRange(ctx, "a/x", i2.ETag, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	if string(got) != "ell" {
		t.Fatalf("range: %q", got)
	}
	if _, err := b.Head(ctx, "nope"); !errors.Is(err, objcache.ErrNotFound) {
		t.Fatalf("head missing: %v", err)
	}

	// Copy keeps metadata with nil opts and replaces it otherwise.
	if _, err := b.Copy(ctx, "a/x", "a/y", nil); err != nil {
		t.Fatal(err)
	}
	if h, _ := b.Head(ctx, "a/y"); h.Metadata["mode"] != "33188" {
		t.Fatalf("copy lost metadata: %v", h.Metadata)
	}
	if _, err := b.Copy(ctx, "a/y", "a/y", &objcache.PutOptions{Metadata: objcache.Metadata{"mode": "33261"}}); err != nil {
		t.Fatal(err)
	}
	if h, _ := b.Head(ctx, "a/y"); h.Metadata["mode"] != "33261" {
		t.Fatalf("copy did not replace metadata: %v", h.Metadata)
	}

	put("a/", "", nil)
	put("a/sub/z", "z", nil)
	put("a/sub2/", "", nil)
	put("b", "b", nil)
	b.PageSize = 2
	var objs, prefixes []string
	pages := 0
	err = b.List(ctx, "a/", "/", func(p objcache.ListPage) error {
		pages++
		for _, o := range p.Objects {
			if o.Metadata != nil {
				t.Error("listing carries metadata")
			}
			objs = append(objs, o.Key)
		}
		prefixes = append(prefixes, p.Prefixes...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(objs, []string{"a/", "a/x", "a/y"}) || !slices.Equal(prefixes, []string{"a/sub/", "a/sub2/"}) || pages != 3 {
		t.Fatalf("list: %v %v in %d pages", objs, prefixes, pages)
	}

	boom := errors.New("boom")
	b.SetFault(func(op Op, key string) error {
		if op == OpPut {
			return boom
		}
		return nil
	})
	if _, err := b.Put(ctx, "c", strings.NewReader(""), 0, objcache.PutOptions{}); !errors.Is(err, boom) {
		t.Fatalf("fault: %v", err)
	}
	if b.Calls(OpPut) != 7 {
		t.Fatalf("put calls %d", b.Calls(OpPut))
	}
}
