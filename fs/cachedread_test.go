package fs

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"testing"
)

// Blocks of the cache go to the kernel without a copy, and their buffers
// are reused for other blocks once nobody holds them. Many readers on a
// cache of a few blocks evict and reuse buffers all the time: every read
// must still return its own file's bytes, and a buffer must not be
// refilled while a reply still sends it (go-fuse told us it was done with
// the bytes before it wrote them, when splicing is off: the race detector
// caught it, a corrupt read would be the symptom).
func TestCachedReadsSurviveBufferReuse(t *testing.T) {
	m := mountCached(t, 0) // 8 MiB of 1 MiB blocks
	const files, size, readers = 24, 3<<20 + 12345, 6
	want := make([][]byte, files)
	for i := range want {
		want[i] = randomBytes(size, uint64(100+i))
		m.b.SetObject(fmt.Sprintf("f%02d", i), want[i], nil)
	}
	var wg sync.WaitGroup
	errs := make(chan error, files)
	for r := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := r; i < files; i += readers {
				got, err := os.ReadFile(m.p(fmt.Sprintf("f%02d", i)))
				switch {
				case err != nil:
					errs <- err
				case !bytes.Equal(got, want[i]):
					at := 0
					for at < min(len(got), len(want[i])) && got[at] == want[i][at] {
						at++
					}
					errs <- fmt.Errorf("f%02d: %d bytes read, differ from the %d stored at offset %d", i, len(got), len(want[i]), at)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
