package ssekeys

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestKeyMD5MatchesMD5Sum: the hand-padded single-block MD5 is md5.Sum.
func TestKeyMD5MatchesMD5Sum(t *testing.T) {
	block := make([]byte, md5.BlockSize)
	keys := [][]byte{make([]byte, KeySize), bytes.Repeat([]byte{0xff}, KeySize), bytes.Repeat([]byte{0x80}, KeySize)}
	for range 200 {
		k := make([]byte, KeySize)
		rand.Read(k)
		keys = append(keys, k)
	}
	for _, raw := range keys {
		if got, want := keyMD5(raw, block), md5.Sum(raw); got != want {
			t.Fatalf("keyMD5(%x) = %x, want %x", raw, got, want)
		}
		if !bytes.Equal(block, make([]byte, md5.BlockSize)) {
			t.Fatal("keyMD5 left key material in its scratch block")
		}
	}
}

// TestKeyFormsComputedOnceInItsSlot: Base64 and MD5Base64 are right, and
// Base64 is a string over the key's slot, the same one every call, not a
// new heap copy; the MD5 scratch is wiped.
func TestKeyFormsComputedOnceInItsSlot(t *testing.T) {
	raw := make([]byte, KeySize)
	rand.Read(raw)
	k, err := NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(raw)
	if k.Base64() != base64.StdEncoding.EncodeToString(raw) || k.MD5Base64() != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatal("wrong base64 or MD5 form")
	}
	if !bytes.Equal(k.Bytes(), raw) {
		t.Fatal("Bytes is not the key")
	}
	p := unsafe.StringData(k.Base64())
	if p != &k.slot[KeySize] || unsafe.StringData(k.Base64()) != p {
		t.Fatal("Base64 is not the string over the key's slot")
	}
	if params := (SSE{Kind: SSEC, Key: k}).For(OpPut); unsafe.StringData(params.CustomerKey) != p {
		t.Fatal("request parameters carry a copy of the key, not the slot's string")
	}
	arena.mu.Lock()
	scratch := bytes.Clone(arena.scratch)
	arena.mu.Unlock()
	if !bytes.Equal(scratch, make([]byte, slotSize)) {
		t.Fatal("the MD5 scratch slot holds data after making a key")
	}
	raw[0] ^= 1
	if bytes.Equal(k.Bytes(), raw) {
		t.Fatal("NewKey did not copy its argument")
	}
}

// TestKeysShareLockedPages: keys are cut from a few pages, which are locked
// when RLIMIT_MEMLOCK allows (it always does for root or a limit of a page
// or more).
func TestKeysShareLockedPages(t *testing.T) {
	var keys []*Key
	for range 100 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	for i, k := range keys {
		for _, o := range keys[:i] {
			if k.Equal(o) || &k.slot[0] == &o.slot[0] {
				t.Fatal("two generated keys share bytes or a slot")
			}
		}
	}
	if runtime.GOOS != "linux" {
		t.Skip("keys are locked on Linux only")
	}
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
	if lim.Cur < 64<<10 && os.Geteuid() != 0 {
		t.Skipf("RLIMIT_MEMLOCK is %d bytes: locking may fail, and is best effort", lim.Cur)
	}
	if !KeysLocked() {
		t.Fatal("keys were not locked in memory")
	}
	if kb := lockedKBAt(t, uintptr(unsafe.Pointer(&keys[0].slot[0]))); kb == 0 {
		t.Fatal("the mapping holding the key is not locked according to /proc/self/smaps")
	}
}

// lockedKBAt is the Locked: size of the /proc/self/smaps mapping at addr.
func lockedKBAt(t *testing.T, addr uintptr) int {
	data, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skip(err)
	}
	in := false
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(f[0], "-"); ok && !strings.HasSuffix(f[0], ":") {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= a && uint64(addr) < b
				continue
			}
		}
		if in && f[0] == "Locked:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("no mapping holds %#x", addr)
	return 0
}

// TestParseKeysLinesAndNoCopies: lines are numbered as in the file and
// parsing leaves the caller's data as it was (the caller wipes it).
func TestParseKeysLinesAndNoCopies(t *testing.T) {
	k1, k2 := testKey(t, 7), testKey(t, 9)
	data := []byte("# keys\r\n\n" + hex.EncodeToString(k1.Bytes()) + "\r\n  \n" + strings.TrimRight(k2.Base64(), "=") + "\n\nnot-a-key\n")
	orig := bytes.Clone(data)
	_, err := ParseKeys(data)
	if err == nil || !strings.Contains(err.Error(), "line 7: not a key") {
		t.Fatalf("error %v, want line 7", err)
	}
	if !bytes.Equal(data, orig) {
		t.Fatal("ParseKeys changed its input")
	}
	ring, err := ParseKeys(data[:bytes.LastIndex(data, []byte("not-a-key"))])
	if err != nil || ring.Len() != 2 || !ring.Write().Equal(k1) || !ring.All()[1].Equal(k2) {
		t.Fatalf("want k1 then k2: %v", err)
	}
}
