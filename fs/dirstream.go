package fs

import (
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
)

// dirStream is what an open directory hands to readdir: the entries of a
// listing as its pages come in. The kernel takes the first entries, and
// with READDIRPLUS makes their inodes, while the rest of the directory is
// still being listed; a 5000-file `ls -l` spent a quarter of its time
// handing out entries after the last page had come.
//
// Files are handed out as they are listed, in the order their pages come
// (the pieces of a split listing come in parallel); the order of a
// directory's entries is the filesystem's to choose, and ls sorts them
// anyway. Subdirectories wait for the end: a file and a common prefix of
// the same name may come in different pages, and the file wins.
type dirStream struct {
	mu      sync.Mutex
	changed *sync.Cond
	ents    []fuse.DirEntry
	// known holds the attribute index's answers for the files handed out
	// while the listing runs; READDIRPLUS takes them from here, as the
	// listing becomes the directory's only when it is done.
	known   map[string]objcache.ObjectInfo
	started time.Time // when the listing was sent
	done    bool
	errno   syscall.Errno
}

// newDirStream is the stream of a listing sent at started.
func newDirStream(started time.Time) *dirStream {
	s := &dirStream{known: map[string]objcache.ObjectInfo{}, started: started}
	s.changed = sync.NewCond(&s.mu)
	return s
}

// completeDirStream is the stream of l, a listing already at hand.
func completeDirStream(l *listing) *dirStream {
	s := newDirStream(l.started)
	names := l.names()
	s.ents = make([]fuse.DirEntry, 0, len(names))
	for _, name := range names {
		s.ents = append(s.ents, dirEntry(name, l.entries[name], len(s.ents)))
	}
	s.done = true
	return s
}

// dirEntry is the entry of name at position i of a stream.
func dirEntry(name string, isDir bool, i int) fuse.DirEntry {
	mode := uint32(syscall.S_IFREG)
	if isDir {
		mode = syscall.S_IFDIR
	}
	return fuse.DirEntry{Name: name, Mode: mode, Off: uint64(i + 1)}
}

// addFiles hands out files, with the index's answers in known for those
// it has (known is the listing's, read under its directory's lock).
func (s *dirStream) addFiles(names []string, known map[string]objcache.ObjectInfo) {
	if len(names) == 0 {
		return
	}
	s.mu.Lock()
	for _, name := range names {
		s.ents = append(s.ents, dirEntry(name, false, len(s.ents)))
		if info, ok := known[name]; ok {
			s.known[name] = info
		}
	}
	s.mu.Unlock()
	s.changed.Broadcast()
}

// finish hands out the subdirectories (in the order given) and ends the stream, or ends it with
// an error (errno != 0): the entries already handed out stay read, the
// next read fails.
func (s *dirStream) finish(dirs []string, errno syscall.Errno) {
	s.mu.Lock()
	if errno == 0 {
		for _, name := range dirs {
			s.ents = append(s.ents, dirEntry(name, true, len(s.ents)))
		}
	}
	s.known = nil // from now on the directory's listing answers
	s.done, s.errno = true, errno
	s.mu.Unlock()
	s.changed.Broadcast()
}

// entry returns the entry at position i, waiting for the listing to reach
// it; nil at the end of the directory.
func (s *dirStream) entry(i int) (*fuse.DirEntry, syscall.Errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i >= len(s.ents) && !s.done {
		s.changed.Wait()
	}
	if i < len(s.ents) {
		e := s.ents[i]
		return &e, 0
	}
	return nil, s.errno
}

// knownWhileListing returns the index's answer for a file handed out by a
// listing still running, and when the listing was sent. inProgress is
// false once the listing is done: then the directory's state answers.
func (s *dirStream) knownWhileListing(name string) (info objcache.ObjectInfo, started time.Time, ok, inProgress bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return objcache.ObjectInfo{}, time.Time{}, false, false
	}
	info, ok = s.known[name]
	return info, s.started, ok, true
}

// isDone reports whether the listing is over (true for a nil stream: none
// runs).
func (s *dirStream) isDone() bool {
	if s == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

// count returns how many entries have been handed out.
func (s *dirStream) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ents)
}
