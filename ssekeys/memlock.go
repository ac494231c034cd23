package ssekeys

import (
	"crypto/md5"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"sync"
	"unsafe"
)

// Key memory: every key of the process lives in one place, a slot of a
// page that is mapped outside the Go heap and locked (memlock_linux.go):
//
//   - mlock: the kernel never swaps it out, so the key never reaches swap
//     on disk;
//   - MADV_DONTDUMP: it is left out of core dumps (the mount daemon also
//     makes itself undumpable; see HardenProcess);
//   - one copy: the slot holds the raw key and its base64 header form,
//     computed once when the key is made. Base64 returns a string over the
//     slot, so no request builds its own copy of the key to leave behind
//     as heap garbage. (The SDK still copies the header value into each
//     request it signs and sends: its canonical request, its write buffer.
//     Those copies are transient and cannot be avoided from here.)
//
// Making a key writes nothing else: the MD5 of the key is computed from a
// scratch block in the same locked memory, which is wiped afterwards, and
// key file parsing decodes into buffers that are wiped (keyfile.go).
//
// Locking is best effort. When mlock fails (an unprivileged process over
// RLIMIT_MEMLOCK, which is often 64 kB or 8 MB), the keys stay in the same
// single place, only swappable; KeysLocked then reports false and the
// daemon logs a warning. When the page cannot be mapped at all (or off
// Linux), it comes from the Go heap.
//
// Slots are never freed or reused: a string from Base64 points into its
// slot, and the garbage collector cannot tell when the last such string is
// gone, since the memory is not its own. A process holds few keys (a mount:
// those of one key file; a command: a handful), so this costs slotSize
// bytes per key made.

const (
	b64Len    = 44  // base64.StdEncoding.EncodedLen(KeySize)
	slotSize  = 128 // raw key and base64 form (76 bytes), rounded up
	chunkSize = 4096
)

var arena struct {
	mu       sync.Mutex
	chunk    []byte // current chunk; slots are cut from chunk[used:]
	used     int
	scratch  []byte // one slot of locked memory for computing the MD5
	free     [][]byte
	unlocked bool // some chunk could not be locked
}

// allocSlot returns a zeroed slot. arena.mu is held.
func allocSlot() []byte {
	if n := len(arena.free); n > 0 {
		s := arena.free[n-1]
		arena.free = arena.free[:n-1]
		return s
	}
	if arena.chunk == nil || arena.used+slotSize > len(arena.chunk) {
		mem, locked := newChunk(chunkSize)
		if !locked {
			arena.unlocked = true
		}
		arena.chunk, arena.used = mem, 0
	}
	s := arena.chunk[arena.used : arena.used+slotSize : arena.used+slotSize]
	arena.used += slotSize
	return s
}

// KeysLocked reports whether every key made so far is in locked memory
// (true too when no key was made).
func KeysLocked() bool {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	return !arena.unlocked
}

// newKey makes a key in a new slot: fill writes the raw key into its
// argument, then the base64 form and the MD5 are derived in place.
func newKey(fill func(raw []byte) error) (*Key, error) {
	arena.mu.Lock()
	defer arena.mu.Unlock()
	if arena.scratch == nil {
		arena.scratch = allocSlot()
	}
	slot := allocSlot()
	raw := slot[:KeySize]
	if err := fill(raw); err != nil {
		clear(slot)
		arena.free = append(arena.free, slot) // no string points into it yet
		return nil, err
	}
	b64 := slot[KeySize : KeySize+b64Len]
	base64.StdEncoding.Encode(b64, raw)
	sum := keyMD5(raw, arena.scratch[:md5.BlockSize])
	return &Key{
		slot:   slot,
		b64:    unsafe.String(&b64[0], len(b64)),
		md5b64: base64.StdEncoding.EncodeToString(sum[:]),
	}, nil
}

// keyMD5 is md5.Sum(raw) for a 32-byte raw key, computed without a copy of
// the key outside block (64 bytes of locked scratch memory, wiped after).
// md5.Sum would copy the key into a digest on the stack, where it would
// stay as garbage: a message shorter than a block is buffered. Here the
// message is padded by hand into one full block (MD5 padding: 0x80, zeros,
// the bit length little-endian), which Write hashes in place; the digest is
// then the hash state, read through MarshalBinary (magic "md5\x01", then
// the four state words big-endian), whose buffer part is all zeros.
func keyMD5(raw, block []byte) [md5.Size]byte {
	copy(block, raw)
	block[KeySize] = 0x80
	clear(block[KeySize+1 : md5.BlockSize-8])
	binary.LittleEndian.PutUint64(block[md5.BlockSize-8:], KeySize*8)
	d := md5.New()
	_, err := d.Write(block)
	clear(block)
	var state []byte
	if err == nil {
		state, err = d.(encoding.BinaryMarshaler).MarshalBinary()
	}
	if err != nil || len(state) < 4+16 || string(state[:4]) != "md5\x01" {
		return md5.Sum(raw) // not expected: the same value, with a stray copy
	}
	var sum [md5.Size]byte
	for i := range 4 {
		binary.LittleEndian.PutUint32(sum[4*i:], binary.BigEndian.Uint32(state[4+4*i:]))
	}
	return sum
}
