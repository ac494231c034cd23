package objcache

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
)

// stagingBlock is the plaintext size of one sealed block of a staged file.
const stagingBlock = 64 << 10

// On disk every block occupies a fixed slot: nonce, then the sealed
// (always full-size) block with its GCM tag.
const (
	stagingNonce = 12
	stagingSlot  = stagingNonce + stagingBlock + 16
)

// Staging is local scratch space for file contents that are being written
// and not yet uploaded. Everything it puts on disk is sealed with AES-256-GCM
// under a key generated at NewStaging and held only in memory, so staged
// plaintext never reaches the local disk and is unreadable after the
// process exits.
type Staging struct {
	dir   string
	limit int64
	aead  cipher.AEAD
	used  atomic.Int64 // plaintext bytes of allocated blocks, all files
}

// NewStaging prepares staging in dir (which must exist) with a fresh random
// key. limit bounds the bytes held by all staged files together; limit <= 0
// means no bound.
func NewStaging(dir string, limit int64) (*Staging, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("staging dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("staging dir %s: not a directory", dir)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &Staging{dir: dir, limit: limit, aead: aead}, nil
}

// Used returns the bytes currently held by all staged files.
func (s *Staging) Used() int64 { return s.used.Load() }

// reserve accounts for n more blocks, or fails with ErrNoSpace.
func (s *Staging) reserve(n int64) error {
	bytes := n * stagingBlock
	for {
		cur := s.used.Load()
		if s.limit > 0 && cur+bytes > s.limit {
			return fmt.Errorf("staging: %d bytes in use, limit %d: %w", cur, s.limit, ErrNoSpace)
		}
		if s.used.CompareAndSwap(cur, cur+bytes) {
			return nil
		}
	}
}

func (s *Staging) release(n int64) { s.used.Add(-n * stagingBlock) }

// NewFile creates an empty staged file. Its backing file is unlinked from
// dir at once, so nothing is left behind even if the process dies.
func (s *Staging) NewFile() (*StagedFile, error) {
	f, err := os.CreateTemp(s.dir, ".ssefs-staging-*")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	sf := &StagedFile{s: s, f: f}
	if _, err := rand.Read(sf.id[:]); err != nil {
		f.Close()
		return nil, err
	}
	return sf, nil
}

// StagedFile is one encrypted scratch file: a sparse array of sealed
// blocks plus a plaintext size. It is safe for concurrent use.
type StagedFile struct {
	s       *Staging
	f       *os.File
	id      [16]byte
	mu      sync.Mutex
	size    int64
	present []bool // present[i]: block i has been written (else it reads as zeros)
	closed  bool
}

// errClosed is returned by operations on a closed StagedFile.
var errClosed = errors.New("staged file is closed")

func (sf *StagedFile) aad(idx int64) []byte {
	a := make([]byte, 0, len(sf.id)+8)
	a = append(a, sf.id[:]...)
	return binary.BigEndian.AppendUint64(a, uint64(idx))
}

// readBlock returns the plaintext of block idx (zeros for a hole).
func (sf *StagedFile) readBlock(idx int64) ([]byte, error) {
	if idx >= int64(len(sf.present)) || !sf.present[idx] {
		return make([]byte, stagingBlock), nil
	}
	slot := make([]byte, stagingSlot)
	if _, err := sf.f.ReadAt(slot, idx*stagingSlot); err != nil {
		return nil, fmt.Errorf("staging: read block %d: %w", idx, err)
	}
	pt, err := sf.s.aead.Open(slot[stagingNonce:stagingNonce], slot[:stagingNonce], slot[stagingNonce:], sf.aad(idx))
	if err != nil {
		return nil, fmt.Errorf("staging: block %d does not authenticate: %w", idx, err)
	}
	return pt, nil
}

// writeBlock seals a full block under a fresh nonce and stores it.
func (sf *StagedFile) writeBlock(idx int64, pt []byte) error {
	slot := make([]byte, stagingNonce, stagingSlot)
	if _, err := rand.Read(slot); err != nil {
		return err
	}
	slot = sf.s.aead.Seal(slot, slot[:stagingNonce], pt, sf.aad(idx))
	if _, err := sf.f.WriteAt(slot, idx*stagingSlot); err != nil {
		return fmt.Errorf("staging: write block %d: %w", idx, err)
	}
	for int64(len(sf.present)) <= idx {
		sf.present = append(sf.present, false)
	}
	sf.present[idx] = true
	return nil
}

// missing counts the unwritten blocks in [first, last].
func (sf *StagedFile) missing(first, last int64) int64 {
	var n int64
	for i := first; i <= last; i++ {
		if i >= int64(len(sf.present)) || !sf.present[i] {
			n++
		}
	}
	return n
}

// WriteAt writes p at off, growing the file as needed. When the staging
// limit would be exceeded nothing is written and the error wraps
// ErrNoSpace.
func (sf *StagedFile) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("staging: negative offset")
	}
	if len(p) == 0 {
		return 0, nil
	}
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.closed {
		return 0, errClosed
	}
	first, last := off/stagingBlock, (off+int64(len(p))-1)/stagingBlock
	need := sf.missing(first, last)
	if err := sf.s.reserve(need); err != nil {
		return 0, err
	}
	done, allocated := 0, int64(0)
	for idx := first; idx <= last; idx++ {
		wasPresent := idx < int64(len(sf.present)) && sf.present[idx]
		blk, err := sf.readBlock(idx)
		if err == nil {
			start := max(off+int64(done)-idx*stagingBlock, 0)
			n := copy(blk[start:], p[done:])
			err = sf.writeBlock(idx, blk)
			if err == nil {
				if !wasPresent {
					allocated++
				}
				done += n
				sf.size = max(sf.size, off+int64(done))
				continue
			}
		}
		sf.s.release(need - allocated) // reservations of blocks never written
		return done, err
	}
	return done, nil
}

// ReadAt reads into p from off. Holes read as zeros; reading at or past
// Size returns io.EOF.
func (sf *StagedFile) ReadAt(p []byte, off int64) (int, error) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.closed {
		return 0, errClosed
	}
	if off >= sf.size {
		return 0, io.EOF
	}
	want := p
	if rest := sf.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	done := 0
	for done < len(want) {
		pos := off + int64(done)
		idx := pos / stagingBlock
		blk, err := sf.readBlock(idx)
		if err != nil {
			return done, err
		}
		done += copy(want[done:], blk[pos-idx*stagingBlock:])
	}
	if done < len(p) {
		return done, io.EOF
	}
	return done, nil
}

// Truncate sets the size. Shrinking frees whole blocks past the end and
// zeroes the tail of the last one, so a later extension reads zeros.
func (sf *StagedFile) Truncate(size int64) error {
	if size < 0 {
		return errors.New("staging: negative size")
	}
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.closed {
		return errClosed
	}
	if size >= sf.size {
		sf.size = size // the new range is a hole
		return nil
	}
	keep := (size + stagingBlock - 1) / stagingBlock // blocks still (partly) in use
	if tail := size % stagingBlock; tail != 0 && keep-1 < int64(len(sf.present)) && sf.present[keep-1] {
		blk, err := sf.readBlock(keep - 1)
		if err != nil {
			return err
		}
		clear(blk[tail:])
		if err := sf.writeBlock(keep-1, blk); err != nil {
			return err
		}
	}
	if keep < int64(len(sf.present)) {
		var freed int64
		for _, p := range sf.present[keep:] {
			if p {
				freed++
			}
		}
		sf.present = sf.present[:keep]
		sf.s.release(freed)
		if err := sf.f.Truncate(keep * stagingSlot); err != nil {
			return fmt.Errorf("staging: truncate: %w", err)
		}
	}
	sf.size = size
	return nil
}

// Size returns the plaintext size.
func (sf *StagedFile) Size() int64 {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	return sf.size
}

// NewReader streams the plaintext from offset 0 to the current Size.
func (sf *StagedFile) NewReader() io.Reader {
	return &stagedReader{sf: sf, end: sf.Size()}
}

type stagedReader struct {
	sf       *StagedFile
	off, end int64
}

// Read implements io.Reader.
func (r *stagedReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	if rest := r.end - r.off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := r.sf.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Close discards the file and gives its space back.
func (sf *StagedFile) Close() error {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	if sf.closed {
		return nil
	}
	sf.closed = true
	var n int64
	for _, p := range sf.present {
		if p {
			n++
		}
	}
	sf.s.release(n)
	sf.present = nil
	return sf.f.Close()
}
