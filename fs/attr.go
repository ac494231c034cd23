package fs

import (
	"maps"
	"math"
	"mime"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ssefs/ssefs/objcache"
)

// s3fs-compatible user metadata names.
const (
	metaMode  = "mode"
	metaUID   = "uid"
	metaGID   = "gid"
	metaMtime = "mtime"
)

// nodeAttr is what ssefs knows about one object: the POSIX attributes
// decoded from its metadata, plus what is needed to rewrite it.
type nodeAttr struct {
	mode        uint32 // file type and permission bits
	uid, gid    uint32
	mtime       time.Time
	size        int64
	etag        string
	contentType string
	// meta is all user metadata, kept across rewrites. It is shared with
	// the ObjectInfo it came from (an attribute index's entries, a HEAD's
	// answer) and with every copy of the nodeAttr, so it is never written:
	// metadata() builds a new map.
	meta objcache.Metadata
}

// attrFromInfo decodes an object's metadata. typ is the file type to use
// when the metadata has none (S_IFREG or S_IFDIR); missing values take the
// mount's defaults and the object's Last-Modified.
func (fsys *filesys) attrFromInfo(info objcache.ObjectInfo, typ uint32) nodeAttr {
	a := nodeAttr{
		uid:         fsys.opts.UID,
		gid:         fsys.opts.GID,
		mtime:       info.LastModified,
		size:        info.Size,
		etag:        info.ETag,
		contentType: info.ContentType,
		meta:        info.Metadata,
	}
	if typ == syscall.S_IFDIR {
		a.mode = syscall.S_IFDIR | uint32(fsys.opts.DirMode.Perm())
	} else {
		a.mode = syscall.S_IFREG | uint32(fsys.opts.FileMode.Perm())
	}
	if v, ok := parseUint32(info.Metadata[metaMode]); ok {
		if v&syscall.S_IFMT == 0 {
			v |= typ // s3fs wrote bare permission bits in old versions
		}
		a.mode = v
	}
	if v, ok := parseUint32(info.Metadata[metaUID]); ok {
		a.uid = v
	}
	if v, ok := parseUint32(info.Metadata[metaGID]); ok {
		a.gid = v
	}
	if t, ok := parseMtime(info.Metadata[metaMtime]); ok {
		a.mtime = t
	}
	return a
}

// defaultDirAttr describes a directory that exists only as a key prefix.
func (fsys *filesys) defaultDirAttr() nodeAttr {
	return nodeAttr{
		mode:  syscall.S_IFDIR | uint32(fsys.opts.DirMode.Perm()),
		uid:   fsys.opts.UID,
		gid:   fsys.opts.GID,
		mtime: fsys.started,
	}
}

// newAttr is the attribute set of an object ssefs is about to create.
func newAttr(mode uint32, caller *fuse.Caller) nodeAttr {
	a := nodeAttr{mode: mode, mtime: time.Now()}
	if caller != nil {
		a.uid, a.gid = caller.Uid, caller.Gid
	}
	return a
}

func parseUint32(s string) (uint32, bool) {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
	return uint32(v), err == nil
}

// parseMtime reads "seconds" or "seconds.fraction".
func parseMtime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	secs, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var nsec int64
	if frac != "" {
		f, err := strconv.ParseFloat("0."+frac, 64)
		if err != nil {
			return time.Time{}, false
		}
		nsec = int64(math.Round(f * 1e9))
	}
	return time.Unix(sec, nsec), true
}

// formatMtime writes whole seconds as s3fs does, with a fraction only when
// there is one.
func formatMtime(t time.Time) string {
	if t.Nanosecond() == 0 {
		return strconv.FormatInt(t.Unix(), 10)
	}
	return strconv.FormatInt(t.Unix(), 10) + "." + strings.TrimRight(strconv.Itoa(1e9 + t.Nanosecond())[1:], "0")
}

// metadata encodes a for an upload or a metadata REPLACE copy, keeping
// unrelated user metadata.
func (a nodeAttr) metadata() objcache.Metadata {
	m := maps.Clone(a.meta)
	if m == nil {
		m = objcache.Metadata{}
	}
	m[metaMode] = strconv.FormatUint(uint64(a.mode), 10)
	m[metaUID] = strconv.FormatUint(uint64(a.uid), 10)
	m[metaGID] = strconv.FormatUint(uint64(a.gid), 10)
	m[metaMtime] = formatMtime(a.mtime)
	return m
}

// putOptions is what a write or REPLACE copy of a sets.
func (a nodeAttr) putOptions(key string) objcache.PutOptions {
	ct := a.contentType
	if ct == "" && a.mode&syscall.S_IFMT == syscall.S_IFREG {
		ct = mime.TypeByExtension(path.Ext(key))
	}
	return objcache.PutOptions{Metadata: a.metadata(), ContentType: ct}
}

// fill copies a into a kernel attribute record.
func (a nodeAttr) fill(out *fuse.Attr) {
	out.Mode = a.mode
	out.Size = uint64(max(a.size, 0))
	out.Uid, out.Gid = a.uid, a.gid
	out.Nlink = 1
	if a.mode&syscall.S_IFMT == syscall.S_IFDIR {
		out.Nlink = 2
		out.Size = 4096
	}
	mt := a.mtime
	if mt.IsZero() {
		mt = time.Unix(0, 0)
	}
	out.SetTimes(&mt, &mt, &mt)
	out.Blksize = 4096
	out.Blocks = (out.Size + 511) / 512
}

// applySetattr applies the mode, owner and mtime parts of a SETATTR to a.
// changed reports whether anything stored in metadata changed (atime is
// not stored).
func applySetattr(a nodeAttr, in *fuse.SetAttrIn) (nodeAttr, bool) {
	old := a
	if m, ok := in.GetMode(); ok {
		a.mode = a.mode&syscall.S_IFMT | m&07777
	}
	if u, ok := in.GetUID(); ok {
		a.uid = u
	}
	if g, ok := in.GetGID(); ok {
		a.gid = g
	}
	if t, ok := in.GetMTime(); ok {
		a.mtime = t
	}
	return a, a.mode != old.mode || a.uid != old.uid || a.gid != old.gid || !a.mtime.Equal(old.mtime)
}
