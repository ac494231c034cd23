package objcache

import "testing"

// Without a block size, a cache too small for 4 default blocks gets
// smaller blocks rather than a refusal; a block size asked for is kept or
// refused, never changed.
func TestCacheConfigBlockSizeFitsTheCache(t *testing.T) {
	for _, tc := range []struct {
		cache, block, want int64 // want 0: refused
	}{
		{cache: 0, block: 0, want: DefaultBlockSize},
		{cache: 256 << 20, block: 0, want: 16 << 20},
		{cache: 64 << 20, block: 0, want: 16 << 20},
		{cache: 63 << 20, block: 0, want: 8 << 20},
		{cache: 32 << 20, block: 0, want: 8 << 20},
		{cache: 5 << 20, block: 0, want: 1 << 20},
		{cache: 3 << 20, block: 0, want: 0},
		{cache: 32 << 20, block: 16 << 20, want: 0},
		{cache: 32 << 20, block: 2 << 20, want: 2 << 20},
	} {
		cfg, err := CacheConfig{CacheSize: tc.cache, BlockSize: tc.block}.withDefaults()
		switch {
		case tc.want == 0 && err == nil:
			t.Errorf("cache %d, block %d: accepted with blocks of %d, want a refusal", tc.cache, tc.block, cfg.BlockSize)
		case tc.want != 0 && (err != nil || cfg.BlockSize != tc.want):
			t.Errorf("cache %d, block %d: blocks of %d, %v; want %d", tc.cache, tc.block, cfg.BlockSize, err, tc.want)
		}
	}
}
