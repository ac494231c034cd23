package testenv

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Secrets are the byte strings no file, log or process listing may hold:
// what each is -> its bytes.
type Secrets map[string][]byte

// KeySecrets are the encodings of an SSE-C key a leak could take.
func KeySecrets(name string, raw []byte) Secrets {
	return Secrets{
		name + " raw":             raw,
		name + " base64":          []byte(base64.StdEncoding.EncodeToString(raw)),
		name + " base64 unpadded": []byte(base64.RawStdEncoding.EncodeToString(raw)),
		name + " base64url":       []byte(base64.RawURLEncoding.EncodeToString(raw)),
		name + " hex":             []byte(hex.EncodeToString(raw)),
		name + " HEX":             []byte(strings.ToUpper(hex.EncodeToString(raw))),
	}
}

// Find reports which secrets occur in data, sorted.
func (s Secrets) Find(data []byte) []string {
	return newMatcher(s).find(data)
}

// ScanTree reads every regular file under root modified since (zero: all),
// except the files and directories in skip, and returns "path: secret" for
// each leak and how many files (and bytes) it read.
func ScanTree(root string, since time.Time, skip map[string]bool, s Secrets) (leaks []string, files int, nbytes int64) {
	return newMatcher(s).scanTree(root, since, func(p string) bool { return skip[p] }, 0)
}

// ScanProcess checks a process's command line, environment and every
// regular file it holds open (staged files are unlinked but open) that is
// at most maxOpenFile bytes.
func ScanProcess(pid int, s Secrets) (leaks []string, openFiles int) {
	return newMatcher(s).scanProcess(pid)
}

// maxScanFile is the largest file a scan reads: bigger ones are test data
// the suite generated (a 1 GiB fault run), not logs or staged files.
const maxScanFile = 512 << 20

// maxOpenFile is the largest file a process scan reads through /proc/PID/fd.
const maxOpenFile = 64 << 20

// matcher finds any of a set of byte strings in one pass over the data,
// fast enough to read every log, staging dir and temp file of the suite
// (and not slowed by the race detector: the hot loop is go:norace).
//
// Every pattern is at least minLen bytes long, so an occurrence covers at
// least stride = minLen-gram+1 consecutive gram positions: probing the
// data only every stride bytes, with every pattern's grams at offsets
// 0..stride-1 in the index, sees each occurrence once. A hit is confirmed
// by comparing the whole pattern. Patterns shorter than minLen are
// searched with bytes.Contains.
type matcher struct {
	names  []string
	pats   [][]byte
	stride int
	maxLen int
	bloom  []uint64
	grams  map[uint64][]gramRef
	short  []int // patterns too short for the gram index
}

type gramRef struct{ pat, off int }

const (
	gram      = 8
	minLen    = 24
	bloomBits = 20
)

func gramHash(g uint64) uint64 { return (g * 0x9E3779B97F4A7C15) >> (64 - bloomBits) }

func newMatcher(s Secrets) *matcher {
	m := &matcher{stride: minLen - gram + 1, bloom: make([]uint64, 1<<bloomBits/64), grams: map[uint64][]gramRef{}}
	names := make([]string, 0, len(s))
	for name, p := range s {
		if len(p) > 0 {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for i, name := range names {
		p := s[name]
		m.names = append(m.names, name)
		m.pats = append(m.pats, p)
		m.maxLen = max(m.maxLen, len(p))
		if len(p) < minLen {
			m.short = append(m.short, i)
			continue
		}
		for off := 0; off < m.stride; off++ {
			g := binary.LittleEndian.Uint64(p[off:])
			h := gramHash(g)
			m.bloom[h/64] |= 1 << (h % 64)
			m.grams[g] = append(m.grams[g], gramRef{i, off})
		}
	}
	return m
}

// find returns the names of the patterns in data, sorted.
func (m *matcher) find(data []byte) []string {
	found := make([]bool, len(m.pats))
	m.scan(data, found)
	return m.found(found)
}

func (m *matcher) found(found []bool) []string {
	var out []string
	for i, f := range found {
		if f {
			out = append(out, m.names[i])
		}
	}
	return out
}

// scan marks in found the patterns that occur in data.
//
//go:norace
func (m *matcher) scan(data []byte, found []bool) {
	bloom, stride := m.bloom, m.stride
	for pos := 0; pos+gram <= len(data); pos += stride {
		g := binary.LittleEndian.Uint64(data[pos:])
		h := gramHash(g)
		if bloom[h/64]&(1<<(h%64)) != 0 {
			m.confirm(data, pos, g, found)
		}
	}
	for _, i := range m.short {
		if !found[i] && bytes.Contains(data, m.pats[i]) {
			found[i] = true
		}
	}
}

func (m *matcher) confirm(data []byte, pos int, g uint64, found []bool) {
	for _, r := range m.grams[g] {
		if start := pos - r.off; !found[r.pat] && start >= 0 && bytes.HasPrefix(data[start:], m.pats[r.pat]) {
			found[r.pat] = true
		}
	}
}

// scanReader reads r to the end in chunks and returns the patterns found
// and the bytes read. Chunks overlap by maxLen-1 bytes, so an occurrence
// across a chunk boundary is seen too.
func (m *matcher) scanReader(r io.Reader) ([]string, int64, error) {
	found := make([]bool, len(m.pats))
	keep := max(m.maxLen-1, 0)
	bp := chunkBuf(keep + scanChunk)
	defer scanBufs.Put(bp)
	buf := *bp
	var total int64
	have := 0 // bytes at the start of buf carried over from the last chunk
	for {
		n, err := io.ReadFull(r, buf[have:])
		total += int64(n)
		if n > 0 {
			m.scan(buf[:have+n], found)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return m.found(found), total, nil
		}
		if err != nil {
			return m.found(found), total, err
		}
		end := have + n
		tail := min(keep, end)
		copy(buf, buf[end-tail:end])
		have = tail
	}
}

// scanChunk is how much a scan reads at a time.
const scanChunk = 4 << 20

// scanBufs holds the scans' read buffers: allocating one per file would
// cost more than the scan itself for the thousands of small files of a
// backend's data.
var scanBufs sync.Pool

// chunkBuf returns a buffer of n bytes from scanBufs, or a new one.
func chunkBuf(n int) *[]byte {
	if bp, ok := scanBufs.Get().(*[]byte); ok && cap(*bp) >= n {
		*bp = (*bp)[:n]
		return bp
	}
	b := make([]byte, n)
	return &b
}

// scanFile scans one file; a file that cannot be read counts as not read.
func (m *matcher) scanFile(p string) (found []string, n int64, ok bool) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, false
	}
	defer f.Close()
	found, n, err = m.scanReader(f)
	return found, n, err == nil || n > 0
}

// scanEnds scans the first and the last n bytes of a file of size bytes.
func (m *matcher) scanEnds(p string, size, n int64) (found []string, read int64, ok bool) {
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, false
	}
	defer f.Close()
	seen := map[string]bool{}
	for _, off := range []int64{0, size - n} {
		got, r, err := m.scanReader(io.NewSectionReader(f, off, n))
		read += r
		if err != nil {
			return found, read, read > 0
		}
		for _, s := range got {
			if !seen[s] {
				seen[s] = true
				found = append(found, s)
			}
		}
	}
	return found, read, true
}

// scanTree is ScanTree with skip as a predicate on paths. It stays on
// root's filesystem: a mount below root (another test run's live FUSE
// mount, which may be hung on purpose) is not entered. With ends > 0, a
// file larger than 2*ends is read only at its first and last ends bytes.
func (m *matcher) scanTree(root string, since time.Time, skip func(string) bool, ends int64) (leaks []string, files int, nbytes int64) {
	mounts := mountPoints()
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if p != root && mounts[p] {
			return filepath.SkipDir
		}
		if skip(p) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().Before(since) || info.Size() > maxScanFile {
			return nil
		}
		var found []string
		var n int64
		var ok bool
		if ends > 0 && info.Size() > 2*ends {
			found, n, ok = m.scanEnds(p, info.Size(), ends)
		} else {
			found, n, ok = m.scanFile(p)
		}
		if !ok {
			return nil
		}
		files++
		nbytes += n
		for _, what := range found {
			leaks = append(leaks, p+": "+what)
		}
		return nil
	})
	return leaks, files, nbytes
}

// scanProcess is ScanProcess.
func (m *matcher) scanProcess(pid int) (leaks []string, openFiles int) {
	for _, f := range []string{"cmdline", "environ"} {
		data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		for _, what := range m.find(data) {
			leaks = append(leaks, fmt.Sprintf("/proc/%d/%s: %s", pid, f, what))
		}
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		p := fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() || st.Size() > maxOpenFile {
			continue
		}
		found, _, ok := m.scanFile(p)
		if !ok {
			continue
		}
		openFiles++
		target, _ := os.Readlink(p)
		for _, what := range found {
			leaks = append(leaks, fmt.Sprintf("%s (%s): %s", p, target, what))
		}
	}
	return leaks, openFiles
}

// mountPoints is the set of mount points this process sees, read from
// /proc/self/mountinfo (no stat of any of them: a hung FUSE mount would
// block it).
func mountPoints() map[string]bool {
	out := map[string]bool{}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			out[unescapeMount(f[4])] = true
		}
	}
	return out
}
