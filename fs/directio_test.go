package fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/test/testenv"
)

// TestDirectIOReadsBypassThePageCache: a file read through the mount is
// in the kernel's page cache afterwards, unless the mount has
// Options.DirectIO; both read the object's bytes. The page cache is
// looked at with cachestat(2).
func TestDirectIOReadsBypassThePageCache(t *testing.T) {
	for _, directIO := range []bool{false, true} {
		m := mountTest(t, func(o *Options) { o.DirectIO = directIO })
		data := bytes.Repeat([]byte("direct-io "), 100_000)
		if _, err := m.b.Put(context.Background(), "f", bytes.NewReader(data), int64(len(data)), objcache.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(m.p("f"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("DirectIO=%v: read %d bytes (%v), differs from the object", directIO, len(got), err)
		}
		cached, err := testenv.PagesCached(f)
		f.Close()
		if errors.Is(err, syscall.ENOSYS) {
			t.Skip("no cachestat(2) before Linux 6.5")
		}
		if err != nil {
			t.Fatal(err)
		}
		if directIO && cached != 0 || !directIO && cached == 0 {
			t.Errorf("DirectIO=%v: %d pages of the file in the page cache after reading it", directIO, cached)
		}
	}
}

// TestDirectIOFilesCanBeMappedShared: with Options.DirectIO a shared,
// read-only mapping of a file works (the kernel would refuse it with
// ENODEV unless the mount asks for CAP_DIRECT_IO_ALLOW_MMAP) and shows
// the file's bytes; so does one made after a write through the mapping's
// file.
func TestDirectIOFilesCanBeMappedShared(t *testing.T) {
	m := mountTest(t, func(o *Options) { o.DirectIO = true })
	data := bytes.Repeat([]byte("mapped! "), 40_000)
	if err := os.WriteFile(m.p("f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(m.p("f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := syscall.Mmap(int(f.Fd()), 0, len(data), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		t.Fatalf("shared mapping of a direct-I/O file: %v", err)
	}
	defer syscall.Munmap(mem)
	if !bytes.Equal(mem, data) {
		t.Fatal("mapped bytes differ from the file")
	}
}
