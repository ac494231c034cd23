package objcache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/objcache/membucket"
)

// listed returns the objects of dir as a listing shows them.
func listed(t *testing.T, b objcache.Bucket, dir string) map[string]objcache.ObjectInfo {
	t.Helper()
	objs := map[string]objcache.ObjectInfo{}
	err := b.List(context.Background(), dir, "/", func(pg objcache.ListPage) error {
		for _, o := range pg.Objects {
			objs[strings.TrimPrefix(o.Key, dir)] = o
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestAttrIndexRoundTripAndValidation(t *testing.T) {
	ctx := context.Background()
	b := membucket.New()
	put := func(key, body, mode string) {
		t.Helper()
		if _, err := b.Put(ctx, key, strings.NewReader(body), int64(len(body)),
			objcache.PutOptions{Metadata: objcache.Metadata{"mode": mode}, ContentType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		put(fmt.Sprintf("d/f%d", i), "data", "33188")
	}
	put("d/new", "x", "33188") // HEADed too soon after its write: not saved

	// HEADs answered 2 s after the writes (membucket answers with its clock).
	time.Sleep(2100 * time.Millisecond)
	put("d/new", "y", "33261")
	infos := map[string]objcache.ObjectInfo{}
	for name := range listed(t, b, "d/") {
		info, err := b.Head(ctx, "d/"+name)
		if err != nil {
			t.Fatal(err)
		}
		infos[name] = info
	}
	if objcache.Indexable(infos["new"]) || !objcache.Indexable(infos["f0"]) {
		t.Fatalf("indexable: new %v, f0 %v; want false, true", objcache.Indexable(infos["new"]), objcache.Indexable(infos["f0"]))
	}
	n, err := objcache.SaveAttrIndex(ctx, b, "d/", infos)
	if err != nil || n != 10 {
		t.Fatalf("saved %d entries (%v), want 10", n, err)
	}

	// Change objects after the save: the index must not speak for them.
	put("d/f1", "data", "33152") // same size, new version, new mode
	if err := b.Delete(ctx, "d/f2"); err != nil {
		t.Fatal(err)
	}
	ix, err := objcache.LoadAttrIndex(ctx, b, "d/")
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 10 {
		t.Fatalf("loaded %d entries, want 10", ix.Len())
	}
	now := listed(t, b, "d/")
	for name, o := range now {
		got, ok := ix.Match(name, o)
		switch name {
		case "f1", "new":
			if ok {
				t.Errorf("%s: index matched a version it does not describe: %+v", name, got)
			}
		default:
			if !ok {
				t.Errorf("%s: not matched", name)
				continue
			}
			want := infos[name]
			if got.ETag != want.ETag || got.Size != want.Size || got.Metadata["mode"] != "33188" || got.ContentType != "text/plain" {
				t.Errorf("%s: matched %+v, want %+v", name, got, want)
			}
			if !objcache.Indexable(got) {
				t.Errorf("%s: a matched entry cannot be saved again", name)
			}
		}
	}
	if _, ok := now["f2"]; ok {
		t.Fatal("deleted object still listed")
	}
	// The index of another directory is not read for this one.
	if _, err := objcache.LoadAttrIndex(ctx, b, "e/"); !errors.Is(err, objcache.ErrNotFound) {
		t.Fatalf("index of a directory without one: %v, want ErrNotFound", err)
	}
}

func TestAttrIndexRejectsDamage(t *testing.T) {
	ctx := context.Background()
	b := membucket.New()
	if _, err := b.Put(ctx, "d/f", strings.NewReader("x"), 1, objcache.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	info, _ := b.Head(ctx, "d/f")
	info.ServerTime = info.LastModified.Add(5 * time.Second)
	if _, err := objcache.SaveAttrIndex(ctx, b, "d/", map[string]objcache.ObjectInfo{"f": info}); err != nil {
		t.Fatal(err)
	}
	rc, err := b.GetRange(ctx, objcache.AttrIndexKey("d/"), "", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	good := string(data)
	for _, bad := range []string{"", good[:len(good)-1], good + "x", "{}", strings.Replace(good, "d/", "e/", 1)} {
		if _, err := b.Put(ctx, objcache.AttrIndexKey("d/"), strings.NewReader(bad), int64(len(bad)), objcache.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := objcache.LoadAttrIndex(ctx, b, "d/"); err == nil {
			t.Errorf("a damaged index (%d bytes) was accepted", len(bad))
		}
	}
	// Every truncation fails cleanly.
	for i := range len(good) {
		if _, err := b.Put(ctx, objcache.AttrIndexKey("d/"), strings.NewReader(good[:i]), int64(i), objcache.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := objcache.LoadAttrIndex(ctx, b, "d/"); err == nil {
			t.Errorf("index cut at %d of %d bytes was accepted", i, len(good))
		}
	}
}
