package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/testenv"
)

// Tests of attribute indexes (fs/attrindex.go, objcache/attrindex.go): a
// directory listing of at least 64 files reads `.ssefs-attrs/<dir>.index`,
// an encrypted object holding earlier HEAD answers, and uses an entry only
// for an object the listing shows with the same ETag, size and
// Last-Modified second, so `ls -l` costs no HEAD per file, and never shows
// a stale attribute.

const (
	// indexFiles is how many files a large test directory holds (an index
	// is used from 64 on).
	indexFiles = 200
	// indexSettleWait is how long after the last write of a seeded
	// directory its listing is taken: HEAD answers are saved in an index
	// only when the server answered them at least 2 s (by its Date
	// header) after the object's Last-Modified.
	indexSettleWait = 2500 * time.Millisecond
	// statFormat is what `stat -c` prints of each file: everything the
	// attribute index must give back, mtime to the nanosecond.
	statFormat = "%n|%F|%a|%u|%g|%Y|%y|%s"
)

// touchedMtime is the mtime `touch -d 2001-02-03` sets.
var touchedMtime = time.Date(2001, 2, 3, 0, 0, 0, 0, time.Local).Unix()

// fileWant is what a test file must look like through a mount.
type fileWant struct {
	perm  uint32 // permission bits
	mtime int64  // Unix seconds; 0: set by the mount when it wrote the file
	data  []byte
}

// fileStat is one line of statFormat.
type fileStat struct {
	typ, perm, uid, gid string
	mtime               int64
	mtimeFull           string
	size                int64
}

// listed is what `ls -ln` and `stat` showed of one directory.
type listed struct {
	ls    string              // ls -ln --time-style=full-iso
	stat  string              // stat -c statFormat of every entry
	stats map[string]fileStat // stat by path in the mount
}

// seedDir is a directory to fill with n files ("" is the root).
type seedDir struct {
	dir string
	n   int
}

// seeded is a bucket whose directories have saved attribute indexes.
type seeded struct {
	want  map[string]fileWant // every file, by path in the mount
	first map[string]listed   // by dir: the listing that saved its index
}

// indexKeyOf is the key of the attribute index of dir ("" is the root).
func indexKeyOf(dir string) string { return ".ssefs-attrs/" + dirPrefix(dir) + ".index" }

// dirPrefix is the key prefix of dir's children.
func dirPrefix(dir string) string {
	if dir == "" {
		return ""
	}
	return dir + "/"
}

// fileData is the content of test file i: lengths vary, some are empty.
func fileData(i int) []byte {
	if i%50 == 0 {
		return nil
	}
	return bytes.Repeat([]byte(fmt.Sprintf("attribute index test file %03d\n", i)), i%4+1)
}

// processUmask reads this process's umask, which applies to the files it
// creates through a mount.
func processUmask(t *testing.T) uint32 {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			u, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return uint32(u)
		}
	}
	t.Fatal("no Umask in /proc/self/status")
	return 0
}

// populateDir creates n files in dir through m, chmods every seventh to
// 600 and sets the mtime of every fifth with touch -d, and adds what they
// must look like to want.
func populateDir(t *testing.T, m *testenv.Mount, dir string, n int, want map[string]fileWant) {
	t.Helper()
	if err := os.MkdirAll(m.Path(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	perm := 0o644 &^ processUmask(t)
	var chmods, touches []string
	for i := range n {
		rel := path.Join(dir, fmt.Sprintf("f%03d", i))
		w := fileWant{perm: perm, data: fileData(i)}
		if err := os.WriteFile(m.Path(rel), w.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if i%7 == 3 {
			chmods = append(chmods, rel)
			w.perm = 0o600
		}
		if i%5 == 1 {
			touches = append(touches, rel)
			w.mtime = touchedMtime
		}
		want[rel] = w
	}
	sh(t, m.Dir, "chmod 600 "+strings.Join(chmods, " ")+" && touch -d 2001-02-03 "+strings.Join(touches, " "))
}

// longListing runs `ls -ln` and `stat` over dir ("" is the root) of m, in
// one shell so that they run within the attribute TTL.
func longListing(t *testing.T, m *testenv.Mount, dir string) listed {
	t.Helper()
	lsDir, glob := ".", "*"
	if dir != "" {
		lsDir, glob = dir, dir+"/*"
	}
	out := sh(t, m.Dir, fmt.Sprintf("ls -ln --time-style=full-iso %s && echo @@@ && stat -c '%s' %s", lsDir, statFormat, glob))
	ls, st, ok := strings.Cut(out, "@@@\n")
	if !ok {
		t.Fatalf("unexpected output of ls and stat:\n%s", out)
	}
	l := listed{ls: ls, stat: st, stats: map[string]fileStat{}}
	for _, line := range strings.Split(strings.TrimSpace(st), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 8 {
			t.Fatalf("unexpected stat line %q", line)
		}
		mt, err1 := strconv.ParseInt(f[5], 10, 64)
		size, err2 := strconv.ParseInt(f[7], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("unexpected stat line %q", line)
		}
		l.stats[f[0]] = fileStat{typ: f[1], perm: f[2], uid: f[3], gid: f[4], mtime: mt, mtimeFull: f[6], size: size}
	}
	return l
}

// checkStats compares the regular files of dir in l with want: the same
// names, and each with the wanted mode, size, owner and (when known)
// mtime.
func checkStats(t *testing.T, what string, l listed, dir string, want map[string]fileWant) {
	t.Helper()
	var got, wanted []string
	for p, st := range l.stats {
		if strings.HasPrefix(st.typ, "regular") {
			got = append(got, p)
		}
	}
	for p := range want {
		if path.Dir(p) == path.Clean("./"+dir) {
			wanted = append(wanted, p)
		}
	}
	slices.Sort(got)
	slices.Sort(wanted)
	if !slices.Equal(got, wanted) {
		t.Errorf("%s: the files of %q are\n%v\nwant\n%v", what, dir, got, wanted)
	}
	uid, gid := strconv.Itoa(os.Getuid()), strconv.Itoa(os.Getgid())
	for _, p := range wanted {
		st, ok := l.stats[p]
		if !ok {
			continue
		}
		w := want[p]
		if st.perm != strconv.FormatUint(uint64(w.perm), 8) || st.size != int64(len(w.data)) || st.uid != uid || st.gid != gid ||
			w.mtime != 0 && st.mtime != w.mtime {
			t.Errorf("%s: %s is mode %s, %d bytes, owner %s:%s, mtime %d; want mode %o, %d bytes, owner %s:%s, mtime %d (0: any)",
				what, p, st.perm, st.size, st.uid, st.gid, st.mtime, w.perm, len(w.data), uid, gid, w.mtime)
		}
	}
}

// unmountAndWait unmounts m and waits until its daemon has logged that it
// is done, which it does after its background attribute index saves have
// finished; it returns the mount's whole log.
func unmountAndWait(t *testing.T, m *testenv.Mount) string {
	t.Helper()
	m.Unmount()
	// Polling for the daemon's last log line, not a fixed delay.
	for deadline := time.Now().Add(45 * time.Second); !strings.Contains(m.Log(), "msg=unmounted"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon of %s did not log its exit within 45 s:\n%s", m.Dir, m.Log())
		}
	}
	return m.Log()
}

// logValue is the value of key in a log line, or "".
func logValue(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		if q, err := strconv.QuotedPrefix(v); err == nil {
			u, _ := strconv.Unquote(q)
			return u
		}
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// s3Requests counts, by object key, the S3 requests with method to bucket
// that a mount's --debug log records (answered or failed).
func s3Requests(log, bucket, method string) map[string]int {
	n := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, `msg="s3 request`) || logValue(line, "method") != method {
			continue
		}
		if key, ok := strings.CutPrefix(logValue(line, "path"), "/"+bucket+"/"); ok {
			n[key]++
		}
	}
	return n
}

// headsOfFiles returns how many HEADs the log shows for the files of want.
func headsOfFiles(log, bucket string, want map[string]fileWant) (total int, files []string) {
	heads := s3Requests(log, bucket, "HEAD")
	for p := range want {
		if heads[p] > 0 {
			total += heads[p]
			files = append(files, p)
		}
	}
	slices.Sort(files)
	return total, files
}

// checkIndexObject checks from outside the index of dir: encrypted like
// every object of the mount (no HEAD or GET without the key), and once
// decrypted naming every file of dir with the ETag the listing shows for
// it, in the index format (objcache/attrindex.go).
func checkIndexObject(t *testing.T, b *testenv.Backend, bucket, dir string, e encryption, want map[string]fileWant) {
	t.Helper()
	key := indexKeyOf(dir)
	assertEncrypted(t, b, bucket, key, e)
	data := getObject(t, b, bucket, key, e)
	type obj struct {
		etag string
		size int64
		mod  int64
	}
	objs := map[string]obj{}
	prefix := dirPrefix(dir)
	p := s3.NewListObjectsV2Paginator(b.S3(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if name := strings.TrimPrefix(aws.ToString(o.Key), prefix); name != "" {
				objs[name] = obj{strings.Trim(aws.ToString(o.ETag), `"`), aws.ToInt64(o.Size), aws.ToTime(o.LastModified).Unix()}
			}
		}
	}
	var wanted []string
	for p := range want {
		if path.Dir(p) == path.Clean("./"+dir) {
			wanted = append(wanted, path.Base(p))
		}
	}
	slices.Sort(wanted)
	for _, name := range wanted {
		o, ok := objs[name]
		if !ok {
			t.Errorf("%s%s is not in the bucket", prefix, name)
			continue
		}
		if !bytes.Contains(data, []byte(name)) || !bytes.Contains(data, []byte(o.etag)) {
			t.Errorf("%s (%d bytes) does not name %s with its ETag %s", key, len(data), name, o.etag)
		}
	}
	if !bytes.HasPrefix(data, []byte("ssefs-attr-index\x01")) {
		t.Errorf("%s does not start with the index format's magic: %q", key, data[:min(len(data), 20)])
	}
}

// seedIndexedDirs fills dirs through a mount, waits out the settle time,
// lists each with `ls -l` and `stat` in a second mount (whose HEADs make
// the indexes), unmounts it, waiting for the index saves, and checks each
// index from outside.
func seedIndexedDirs(t *testing.T, b *testenv.Backend, bucket string, e encryption, dirs ...seedDir) seeded {
	t.Helper()
	s := seeded{want: map[string]fileWant{}, first: map[string]listed{}}
	m := testenv.MountBucket(t, b, bucket, e.mountArgs()...)
	for _, d := range dirs {
		populateDir(t, m, d.dir, d.n, s.want)
	}
	m.Unmount()
	time.Sleep(indexSettleWait) // the documented settle: see indexSettleWait
	m = testenv.MountBucket(t, b, bucket, e.mountArgs()...)
	for _, d := range dirs {
		l := longListing(t, m, d.dir)
		checkStats(t, "the listing that makes the index", l, d.dir, s.want)
		s.first[d.dir] = l
	}
	log := unmountAndWait(t, m)
	// Without an index yet, every file cost a HEAD: the log shows them,
	// so counting none later means something.
	if n, files := headsOfFiles(log, bucket, s.want); len(files) != len(s.want) {
		t.Fatalf("the first listing sent %d HEADs for %d of the %d files; want each file HEADed", n, len(files), len(s.want))
	}
	for _, d := range dirs {
		checkIndexObject(t, b, bucket, d.dir, e, s.want)
	}
	if t.Failed() {
		t.FailNow()
	}
	return s
}

// putWithMeta stores body at key from outside, SSE-C with k, with user
// metadata md.
func putWithMeta(t *testing.T, b *testenv.Backend, bucket, key string, body []byte, k *ssekeys.Key, md map[string]string) {
	t.Helper()
	in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), Metadata: md,
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(k.Base64()), SSECustomerKeyMD5: aws.String(k.MD5Base64())}
	if _, err := b.S3().PutObject(context.Background(), in); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// headETag is the ETag of an SSE-C object, from outside.
func headETag(t *testing.T, b *testenv.Backend, bucket, key string, k *ssekeys.Key) string {
	t.Helper()
	out, err := b.S3().HeadObject(context.Background(), headWithKey(k, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}))
	if err != nil {
		t.Fatalf("HEAD %s: %v", key, err)
	}
	return aws.ToString(out.ETag)
}

// fileMeta is the s3fs-style metadata of a regular file.
func fileMeta(perm uint32, mtime int64) map[string]string {
	return map[string]string{"mode": strconv.FormatUint(uint64(syscall.S_IFREG|perm), 10),
		"uid": strconv.Itoa(os.Getuid()), "gid": strconv.Itoa(os.Getgid()), "mtime": strconv.FormatInt(mtime, 10)}
}

// TestAttrIndexSparesHeads: a directory of 200 files listed with `ls -l`
// once (each file HEADed) gets an encrypted index naming its files; a new
// mount then shows the very same `ls -l` and `stat` output with no HEAD at
// all for those files, and does not write the index again.
func TestAttrIndexSparesHeads(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "spare")
	e := newSSECKey(t)
	s := seedIndexedDirs(t, b, "spare", e, seedDir{"d", indexFiles})

	m := testenv.MountBucket(t, b, "spare", e.mountArgs()...)
	second := longListing(t, m, "d")
	log := unmountAndWait(t, m)
	first := s.first["d"]
	if second.ls != first.ls {
		t.Errorf("ls -l with the index differs from ls -l without it:\n--- without\n%s\n--- with\n%s", first.ls, second.ls)
	}
	if second.stat != first.stat {
		t.Errorf("stat with the index differs from stat without it:\n--- without\n%s\n--- with\n%s", first.stat, second.stat)
	}
	if n, files := headsOfFiles(log, "spare", s.want); n != 0 {
		t.Errorf("with the index, ls -l and stat sent %d HEADs for %d files of d, want none: %v", n, len(files), files[:min(len(files), 10)])
	}
	if got := s3Requests(log, "spare", "GET")[indexKeyOf("d")]; got == 0 {
		t.Errorf("the mount never read %s:\n%s", indexKeyOf("d"), log)
	}
	if got := s3Requests(log, "spare", "PUT")[indexKeyOf("d")]; got != 0 {
		t.Errorf("the mount wrote %s again (%d PUTs) though it learnt nothing new", indexKeyOf("d"), got)
	}
}

// TestAttrIndexNeverStale: objects changed from outside after their index
// was saved (content overwritten, metadata replaced by a self-copy, same
// bytes written again with a new mode, deleted, added) show their new
// state through a new mount; a chmod through one mount shows in a second
// mount started after it.
func TestAttrIndexNeverStale(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "stale")
	e := newSSECKey(t)
	s := seedIndexedDirs(t, b, "stale", e, seedDir{"d", indexFiles})
	want := s.want
	ctx := context.Background()
	c := b.S3()
	alg, kb, md5 := aws.String("AES256"), aws.String(e.key.Base64()), aws.String(e.key.MD5Base64())

	// New content of the same size, and a new mode and mtime.
	old := want["d/f010"].data
	newData := bytes.ToUpper(old)
	if bytes.Equal(newData, old) || len(newData) != len(old) {
		t.Fatal("test bug: the new content must differ and keep the size")
	}
	putWithMeta(t, b, "stale", "d/f010", newData, e.key, fileMeta(0o640, 1234567890))
	want["d/f010"] = fileWant{perm: 0o640, mtime: 1234567890, data: newData}

	// Metadata only: a copy onto itself with REPLACE (same ETag and size).
	etag := headETag(t, b, "stale", "d/f020", e.key)
	_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("stale"), Key: aws.String("d/f020"),
		CopySource: aws.String("stale/d/f020"), MetadataDirective: types.MetadataDirectiveReplace, Metadata: fileMeta(0o604, 1300000000),
		SSECustomerAlgorithm: alg, SSECustomerKey: kb, SSECustomerKeyMD5: md5,
		CopySourceSSECustomerAlgorithm: alg, CopySourceSSECustomerKey: kb, CopySourceSSECustomerKeyMD5: md5})
	if err != nil {
		t.Logf("the backend refused a self-copy with REPLACE (%v): GET + PUT instead", err)
		putWithMeta(t, b, "stale", "d/f020", getObject(t, b, "stale", "d/f020", e), e.key, fileMeta(0o604, 1300000000))
	}
	if now := headETag(t, b, "stale", "d/f020", e.key); now != etag {
		t.Logf("note: the metadata-only change moved the ETag (%s -> %s); only the Last-Modified tells the versions apart otherwise", etag, now)
	}
	want["d/f020"] = fileWant{perm: 0o604, mtime: 1300000000, data: want["d/f020"].data}

	// The same bytes again (same ETag and size), with a new mode.
	etag = headETag(t, b, "stale", "d/f040", e.key)
	putWithMeta(t, b, "stale", "d/f040", want["d/f040"].data, e.key, fileMeta(0o606, 1400000000))
	if now := headETag(t, b, "stale", "d/f040", e.key); now != etag {
		t.Logf("note: rewriting the same bytes moved the ETag (%s -> %s)", etag, now)
	}
	want["d/f040"] = fileWant{perm: 0o606, mtime: 1400000000, data: want["d/f040"].data}

	// Deleted, and added.
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("stale"), Key: aws.String("d/f030")}); err != nil {
		t.Fatal(err)
	}
	delete(want, "d/f030")
	added := []byte("added from outside\n")
	putWithMeta(t, b, "stale", "d/g-new", added, e.key, fileMeta(0o660, 1500000000))
	want["d/g-new"] = fileWant{perm: 0o660, mtime: 1500000000, data: added}

	a := testenv.MountBucket(t, b, "stale", e.mountArgs()...)
	l := longListing(t, a, "d")
	heads := s3Requests(a.Log(), "stale", "HEAD")
	checkStats(t, "after changes from outside", l, "d", want)
	for _, p := range []string{"d/f010", "d/f020", "d/f040", "d/g-new", "d/f000", "d/f003"} {
		assertFileContent(t, a.Path(p), want[p].data)
	}
	if _, err := os.Lstat(a.Path("d/f030")); errnoOf(err) != syscall.ENOENT {
		t.Errorf("stat of the deleted d/f030: %v, want ENOENT", err)
	}
	// The files changed outside were HEADed; the others came from the index.
	changed := map[string]bool{"d/f010": true, "d/f020": true, "d/f040": true, "d/g-new": true}
	var unchangedHeaded []string
	for p := range want {
		if changed[p] && heads[p] == 0 {
			t.Errorf("%s changed outside, yet the mount sent no HEAD for it: its attributes came from the stale index", p)
		}
		if !changed[p] && heads[p] > 0 {
			unchangedHeaded = append(unchangedHeaded, p)
		}
	}
	if len(unchangedHeaded) > 0 {
		slices.Sort(unchangedHeaded)
		t.Errorf("ls -l and stat sent HEADs for %d files the index still describes (%v...), want HEADs only for the %d changed ones",
			len(unchangedHeaded), unchangedHeaded[:min(len(unchangedHeaded), 10)], len(changed))
	}

	// A chmod through mount a shows in a mount b started after it.
	sh(t, a.Dir, "chmod 640 d/f050")
	w := want["d/f050"]
	w.perm = 0o640
	want["d/f050"] = w
	bm := testenv.MountBucket(t, b, "stale", e.mountArgs()...)
	checkStats(t, "in a second mount after a chmod through the first", longListing(t, bm, "d"), "d", want)
	if got := sh(t, bm.Dir, "stat -c %a d/f050"); strings.TrimSpace(got) != "640" {
		t.Errorf("the second mount shows d/f050 with mode %s, want 640", got)
	}
}

// TestAttrIndexHidden: the index prefix .ssefs-attrs is invisible at the
// mount root (never listed, ENOENT on stat) and cannot be created there
// (EPERM for mkdir, create, rename and symlink), while the same name below
// the root is an ordinary directory or file. The root directory's own
// index (.ssefs-attrs/.index) is made and used.
func TestAttrIndexHidden(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "hidden")
	e := newSSECKey(t)
	// A directory and a file of the reserved name below the root, before
	// any index exists.
	m := testenv.MountBucket(t, b, "hidden", e.mountArgs()...)
	sh(t, m.Dir, "mkdir -p sub/.ssefs-attrs && echo inner > sub/.ssefs-attrs/inner && echo nested > sub/.ssefs-attrs/.ssefs-attrs")
	m.Unmount()
	s := seedIndexedDirs(t, b, "hidden", e, seedDir{"", 100})
	if keys := listKeys(t, b, "hidden", ".ssefs-attrs"); !slices.Equal(keys, []string{indexKeyOf("")}) {
		t.Fatalf("keys under .ssefs-attrs: %v, want only the root's index %s", keys, indexKeyOf(""))
	}

	m = testenv.MountBucket(t, b, "hidden", e.mountArgs()...)
	l := longListing(t, m, "")
	checkStats(t, "the root with its index", l, "", s.want)
	if n, files := headsOfFiles(m.Log(), "hidden", s.want); n != 0 {
		t.Errorf("with the root's index, ls -l and stat of the root sent %d HEADs (%v...), want none", n, files[:min(len(files), 10)])
	}
	for _, cmd := range []string{"ls -a", "ls -la", "find . -maxdepth 1"} {
		if out := sh(t, m.Dir, cmd); strings.Contains(out, ".ssefs-attrs") {
			t.Errorf("%s of the root shows the index prefix:\n%s", cmd, out)
		}
	}
	ents := listDir(m.Dir)
	if len(ents) != 101 || slices.Contains(ents, ".ssefs-attrs") {
		t.Errorf("readdir of the root: %d entries (%v...), want the 100 files and sub", len(ents), ents[:min(len(ents), 5)])
	}
	for _, p := range []string{".ssefs-attrs", ".ssefs-attrs/.index"} {
		if _, err := os.Lstat(m.Path(p)); errnoOf(err) != syscall.ENOENT {
			t.Errorf("stat %s: %v, want ENOENT", p, err)
		}
		if _, err := os.ReadFile(m.Path(p)); errnoOf(err) != syscall.ENOENT {
			t.Errorf("read %s: %v, want ENOENT", p, err)
		}
	}
	if out := shFails(t, m.Dir, "stat .ssefs-attrs"); !strings.Contains(out, "No such file") {
		t.Errorf("stat .ssefs-attrs: %s, want No such file or directory", out)
	}
	if err := os.Mkdir(m.Path(".ssefs-attrs"), 0o755); errnoOf(err) != syscall.EPERM {
		t.Errorf("mkdir .ssefs-attrs at the root: %v, want EPERM", err)
	}
	if err := os.WriteFile(m.Path(".ssefs-attrs"), []byte("x"), 0o644); errnoOf(err) != syscall.EPERM {
		t.Errorf("creating the file .ssefs-attrs at the root: %v, want EPERM", err)
	}
	if err := os.Rename(m.Path("f001"), m.Path(".ssefs-attrs")); errnoOf(err) != syscall.EPERM {
		t.Errorf("renaming f001 to .ssefs-attrs at the root: %v, want EPERM", err)
	}
	if err := os.Symlink("f001", m.Path(".ssefs-attrs")); errnoOf(err) != syscall.EPERM {
		t.Errorf("a symlink named .ssefs-attrs at the root: %v, want EPERM", err)
	}
	if out := shFails(t, m.Dir, "mkdir .ssefs-attrs"); !strings.Contains(out, "not permitted") {
		t.Errorf("mkdir .ssefs-attrs: %s, want Operation not permitted", out)
	}
	if out := shFails(t, m.Dir, "touch .ssefs-attrs"); !strings.Contains(out, "not permitted") {
		t.Errorf("touch .ssefs-attrs: %s, want Operation not permitted", out)
	}
	// Below the root, the name is an ordinary one.
	if out := sh(t, m.Dir, "ls -a sub"); !strings.Contains(out, ".ssefs-attrs") {
		t.Errorf("ls -a sub does not show sub/.ssefs-attrs:\n%s", out)
	}
	if st, err := os.Stat(m.Path("sub/.ssefs-attrs")); err != nil || !st.IsDir() {
		t.Errorf("sub/.ssefs-attrs: %v, %v; want a directory", st, err)
	}
	assertFileContent(t, m.Path("sub/.ssefs-attrs/inner"), []byte("inner\n"))
	assertFileContent(t, m.Path("sub/.ssefs-attrs/.ssefs-attrs"), []byte("nested\n"))
	sh(t, m.Dir, "mkdir sub/.ssefs-attrs/more && echo more > sub/.ssefs-attrs/more/x && rm sub/.ssefs-attrs/inner")
	if out := sh(t, m.Dir, "ls -A sub/.ssefs-attrs | tr '\\n' ' '"); strings.TrimSpace(out) != ".ssefs-attrs more" {
		t.Errorf("ls -A sub/.ssefs-attrs: %q, want \".ssefs-attrs more\"", out)
	}
	log := unmountAndWait(t, m)
	if got := s3Requests(log, "hidden", "GET")[indexKeyOf("")]; got == 0 {
		t.Errorf("the mount never read the root's index %s", indexKeyOf(""))
	}
	// Nothing the refused calls tried reached the bucket; the index and
	// the objects below sub are as written.
	if keys := listKeys(t, b, "hidden", ".ssefs-attrs"); !slices.Equal(keys, []string{indexKeyOf("")}) {
		t.Errorf("keys under .ssefs-attrs after the refused calls: %v, want only %s", keys, indexKeyOf(""))
	}
	checkIndexObject(t, b, "hidden", "", e, s.want)
	sub := listKeys(t, b, "hidden", "sub/")
	for _, k := range []string{"sub/.ssefs-attrs/.ssefs-attrs", "sub/.ssefs-attrs/more/x"} {
		if !slices.Contains(sub, k) {
			t.Errorf("%s is not in the bucket: %v", k, sub)
		} else {
			assertEncrypted(t, b, "hidden", k, e)
		}
	}
	if slices.Contains(sub, "sub/.ssefs-attrs/inner") {
		t.Errorf("sub/.ssefs-attrs/inner was removed but is still in the bucket")
	}

	// Another client's object named exactly .ssefs-attrs at the root
	// (a file, not the prefix) is hidden too: lookup answers ENOENT for
	// the name, so readdir must not show it either.
	t.Run("foreign object of the name", func(t *testing.T) {
		putObject(t, b, "hidden", ".ssefs-attrs", []byte("someone else's file\n"), e.key)
		m := testenv.MountBucket(t, b, "hidden", e.mountArgs()...)
		if _, err := os.Lstat(m.Path(".ssefs-attrs")); errnoOf(err) != syscall.ENOENT {
			t.Errorf("stat .ssefs-attrs: %v, want ENOENT", err)
		}
		if ents := listDir(m.Dir); slices.Contains(ents, ".ssefs-attrs") {
			t.Errorf("readdir of the root shows .ssefs-attrs, whose lookup fails with ENOENT (%d entries)", len(ents))
		}
		m.Unmount()
		if got := getObject(t, b, "hidden", ".ssefs-attrs", e); string(got) != "someone else's file\n" {
			t.Errorf("the foreign object .ssefs-attrs changed: %q", got)
		}
	})
}

// TestAttrIndexOff: with --attr-index=false, listing a directory of 200
// settled files with `ls -l` and `stat` writes no object under
// .ssefs-attrs/ and sends no request for one.
func TestAttrIndexOff(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "off")
	e := newSSECKey(t)
	args := append(e.mountArgs(), "--attr-index=false")
	want := map[string]fileWant{}
	m := testenv.MountBucket(t, b, "off", args...)
	populateDir(t, m, "d", indexFiles, want)
	logs := unmountAndWait(t, m)
	time.Sleep(indexSettleWait) // the documented settle: with indexes on, the listing below would save one
	for range 2 {
		m = testenv.MountBucket(t, b, "off", args...)
		checkStats(t, "with --attr-index=false", longListing(t, m, "d"), "d", want)
		log := unmountAndWait(t, m)
		if n, files := headsOfFiles(log, "off", want); len(files) != len(want) {
			t.Errorf("without indexes, ls -l sent %d HEADs for %d of the %d files; want each HEADed", n, len(files), len(want))
		}
		logs += log
	}
	if keys := listKeys(t, b, "off", ".ssefs-attrs"); len(keys) != 0 {
		t.Errorf("with --attr-index=false the bucket holds %v", keys)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `msg="s3 request`) && strings.Contains(logValue(line, "path"), ".ssefs-attrs") {
			t.Errorf("with --attr-index=false a mount sent: %s", line)
		}
	}
}

// TestAttrIndexReadOnlyWritesNothing: a read-only mount reads and uses
// indexes but never saves one, even when its HEADs would make one.
func TestAttrIndexReadOnlyWritesNothing(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "rdonly")
	e := newSSECKey(t)
	want := map[string]fileWant{}
	m := testenv.MountBucket(t, b, "rdonly", e.mountArgs()...)
	populateDir(t, m, "d", indexFiles, want)
	unmountAndWait(t, m)
	time.Sleep(indexSettleWait) // the documented settle: a read-write mount would now save an index
	m = testenv.MountBucket(t, b, "rdonly", append(e.mountArgs(), "--read-only")...)
	checkStats(t, "read-only", longListing(t, m, "d"), "d", want)
	log := unmountAndWait(t, m)
	if keys := listKeys(t, b, "rdonly", ".ssefs-attrs"); len(keys) != 0 {
		t.Errorf("a read-only mount left %v in the bucket", keys)
	}
	if puts := s3Requests(log, "rdonly", "PUT"); len(puts) != 0 {
		t.Errorf("a read-only mount sent PUTs: %v", puts)
	}
}

// TestAttrIndexDroppedWithDir: `mv d d2` deletes the indexes of d and of
// the directories under it (not those of others), and `rm -rf r` the index
// of r; the moved files keep their attributes.
func TestAttrIndexDroppedWithDir(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "drop")
	e := newSSECKey(t)
	s := seedIndexedDirs(t, b, "drop", e, seedDir{"d", indexFiles}, seedDir{"d/sub", 64}, seedDir{"r", 64})

	m := testenv.MountBucket(t, b, "drop", e.mountArgs()...)
	sh(t, m.Dir, "mv d d2")
	if keys := listKeys(t, b, "drop", ".ssefs-attrs/d/"); len(keys) != 0 {
		t.Errorf("after mv d d2 the indexes of d remain: %v", keys)
	}
	if keys := listKeys(t, b, "drop", indexKeyOf("r")); len(keys) != 1 {
		t.Errorf("mv d d2 deleted the index of r")
	}
	if keys := listKeys(t, b, "drop", "d/"); len(keys) != 0 {
		t.Errorf("after mv d d2, %d objects remain under d/", len(keys))
	}
	for _, dir := range []string{"d", "d/sub"} {
		moved := longListing(t, m, "d2"+strings.TrimPrefix(dir, "d"))
		for p, st := range s.first[dir].stats {
			got, ok := moved.stats["d2"+strings.TrimPrefix(p, "d")]
			if !ok {
				t.Errorf("%s is missing after mv d d2", p)
				continue
			}
			if st.typ == "directory" {
				continue
			}
			if got.perm != st.perm || got.size != st.size || got.mtimeFull != st.mtimeFull || got.uid != st.uid || got.gid != st.gid {
				t.Errorf("after mv d d2, %s is %+v, want %+v", p, got, st)
			}
		}
	}

	sh(t, m.Dir, "rm -rf r")
	if keys := listKeys(t, b, "drop", ".ssefs-attrs/r/"); len(keys) != 0 {
		t.Errorf("after rm -rf r its index remains: %v", keys)
	}
	if _, err := os.Lstat(m.Path("r")); errnoOf(err) != syscall.ENOENT {
		t.Errorf("r after rm -rf: %v, want ENOENT", err)
	}
	unmountAndWait(t, m)
	// No background save brought a dropped index back.
	for _, k := range listKeys(t, b, "drop", ".ssefs-attrs/") {
		if strings.HasPrefix(k, ".ssefs-attrs/d/") || strings.HasPrefix(k, ".ssefs-attrs/r/") {
			t.Errorf("after the unmount the bucket holds %s", k)
		}
	}
}
