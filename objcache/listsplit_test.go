package objcache_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
)

// pageKeys flattens a listing into its keys and prefixes, in order.
func pageKeys(list func(fn func(objcache.ListPage) error) error) ([]string, error) {
	var keys []string
	err := list(func(pg objcache.ListPage) error {
		for _, o := range pg.Objects {
			keys = append(keys, o.Key)
		}
		keys = append(keys, pg.Prefixes...)
		return nil
	})
	slices.Sort(keys)
	return keys, err
}

// A listing split at any cuts, existing keys or not, next to common
// prefixes or not, lists exactly what one listing does.
func TestListSplitListsExactlyOnce(t *testing.T) {
	forProfiles(t, func(t *testing.T, st *stack) {
		ctx := context.Background()
		c := st.client(ssekeys.Config{Keys: keyring(t, newKey(t))}, nil)
		// 2100 files, a directory "d0500/" next to the file "d0500",
		// and a few under other prefixes, in and around the range.
		for i := range 2100 {
			mustPut(t, c, fmt.Sprintf("dir/d%04d", i), nil, objcache.PutOptions{})
		}
		for _, k := range []string{"dir/d0500/x", "dir/d0500/y", "dir/d1999-/z", "dir/zz/a", "other/d0001"} {
			mustPut(t, c, k, nil, objcache.PutOptions{})
		}
		want, err := pageKeys(func(fn func(objcache.ListPage) error) error { return c.List(ctx, "dir/", "/", fn) })
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != 2100+3 {
			t.Fatalf("listing has %d entries, want 2103", len(want))
		}
		// A first page, then the rest after its last entry, through the
		// same Cached layer the filesystem uses.
		cached, err := objcache.NewCached(c, objcache.CacheConfig{})
		if err != nil {
			t.Fatal(err)
		}
		first, more, err := cached.ListFirst(ctx, "dir/", "/", 100)
		if err != nil || !more || len(first.Objects) != 100 {
			t.Fatalf("first page: %d objects, more %v, %v; want 100, true", len(first.Objects), more, err)
		}
		lastKey := first.Objects[len(first.Objects)-1].Key
		got, err := pageKeys(func(fn func(objcache.ListPage) error) error {
			if err := fn(first); err != nil {
				return err
			}
			return cached.ListSplit(ctx, "dir/", "/", lastKey, []string{"dir/d0700", "dir/d1400"}, fn)
		})
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("first page and split rest: %d entries (%v), want %d; first difference at %s", len(got), err, len(want), firstDiff(got, want))
		}
		cases := []struct {
			after  string
			splits []string
		}{
			{"dir/d0499", []string{"dir/d0500", "dir/d1000", "dir/d1999"}},
			{"dir/d0000", []string{"dir/d0001"}},
			{"dir/d0999", []string{"dir/d0999x", "dir/d1500", "dir/d2500"}}, // cuts at keys that do not exist
			{"dir/d1998", nil},
		}
		for _, tc := range cases {
			got, err := pageKeys(func(fn func(objcache.ListPage) error) error {
				return c.ListSplit(ctx, "dir/", "/", tc.after, tc.splits, fn)
			})
			if err != nil {
				t.Fatal(err)
			}
			var wantAfter []string
			for _, k := range want {
				if k > tc.after {
					wantAfter = append(wantAfter, k)
				}
			}
			if !slices.Equal(got, wantAfter) {
				t.Errorf("split after %s at %v: %d entries, want %d; first difference at %s", tc.after, tc.splits, len(got), len(wantAfter), firstDiff(got, wantAfter))
			}
			if len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Errorf("split after %s at %v: an entry came twice", tc.after, tc.splits)
			}
		}
	})
}

func firstDiff(a, b []string) string {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return fmt.Sprintf("%d (%q vs %q)", i, a[i], b[i])
		}
	}
	return fmt.Sprintf("end (%s)", strings.Join([]string{fmt.Sprint(len(a)), fmt.Sprint(len(b))}, " vs "))
}
