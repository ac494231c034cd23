package objstore

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func multipartETag(parts ...[]byte) string {
	h := md5.New()
	for _, p := range parts {
		s := md5.Sum(p)
		h.Write(s[:])
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(parts))
}

func TestMultipart(t *testing.T) {
	for _, mode := range allModes {
		t.Run(mode.String(), func(t *testing.T) {
			s, dir := newStore(t)
			seal := sealing(mode)
			up, err := s.CreateUpload("b", "big", ObjectMeta{ContentType: "video/mp4",
				UserMeta: map[string]string{"uid": "1000"}}, seal)
			if err != nil {
				t.Fatal(err)
			}
			if up.Meta.SSE != mode || up.Meta.ContentType != "video/mp4" || up.Bucket != "b" || up.Key != "big" {
				t.Fatalf("upload info %+v", up)
			}
			p1 := pseudo(11, MinPartSize+1000)
			p2old := pseudo(12, MinPartSize)
			p2 := pseudo(13, MinPartSize+64<<10)
			p3 := pseudo(14, 12345)
			p4 := pseudo(15, 100) // uploaded, not listed
			// Out of order, part 2 replaced.
			for _, p := range []struct {
				n    int
				data []byte
			}{{3, p3}, {2, p2old}, {4, p4}, {1, p1}, {2, p2}} {
				pi, err := s.PutPart(up.UploadID, p.n, bytes.NewReader(p.data), seal.Key)
				if err != nil {
					t.Fatal(err)
				}
				if pi.ETag != md5hex(p.data) || pi.Size != int64(len(p.data)) || pi.Number != p.n {
					t.Fatalf("part info %+v", pi)
				}
			}
			ps, err := s.ListParts(up.UploadID)
			if err != nil {
				t.Fatal(err)
			}
			var nums []int
			for _, p := range ps {
				nums = append(nums, p.Number)
			}
			if !slices.Equal(nums, []int{1, 2, 3, 4}) || ps[1].ETag != md5hex(p2) {
				t.Fatalf("ListParts %+v", ps)
			}
			if n := len(dataFiles(t, dir)); n != 4 {
				t.Fatalf("%d data files, want 4 (replaced part removed)", n)
			}
			if mode != SSENone {
				if _, err := s.PutPart(up.UploadID, 5, bytes.NewReader(p3), randomBytes(32)); !errors.Is(err, ErrWrongKey) {
					t.Fatalf("PutPart with wrong key: %v", err)
				}
				if err := s.CheckUploadKey(up.UploadID, randomBytes(32)); !errors.Is(err, ErrWrongKey) {
					t.Fatalf("CheckUploadKey wrong: %v", err)
				}
			}
			if err := s.CheckUploadKey(up.UploadID, seal.Key); err != nil {
				t.Fatal(err)
			}
			e := func(n int, b []byte) CompletePart { return CompletePart{n, `"` + md5hex(b) + `"`} }
			for _, c := range []struct {
				parts []CompletePart
				want  error
			}{
				{nil, ErrInvalidPart},
				{[]CompletePart{e(1, p1), e(2, p2), e(5, p3)}, ErrInvalidPart},
				{[]CompletePart{e(1, p1), e(2, p2old)}, ErrInvalidPart},
				{[]CompletePart{e(2, p2), e(1, p1)}, ErrInvalidPartOrder},
				{[]CompletePart{e(1, p1), e(1, p1)}, ErrInvalidPartOrder},
				{[]CompletePart{e(1, p1), e(3, p3), e(4, p4)}, ErrEntityTooSmall},
			} {
				if _, err := s.Complete(up.UploadID, c.parts, seal.Key); !errors.Is(err, c.want) {
					t.Fatalf("Complete(%v) = %v, want %v", c.parts, err, c.want)
				}
			}
			if mode != SSENone {
				if _, err := s.Complete(up.UploadID, []CompletePart{e(1, p1)}, randomBytes(32)); !errors.Is(err, ErrWrongKey) {
					t.Fatalf("Complete wrong key: %v", err)
				}
			}
			m, err := s.Complete(up.UploadID, []CompletePart{e(1, p1), {2, md5hex(p2)}, e(3, p3)}, seal.Key)
			if err != nil {
				t.Fatal(err)
			}
			whole := slices.Concat(p1, p2, p3)
			if m.ETag != multipartETag(p1, p2, p3) || m.PartsCount != 3 || m.Size != int64(len(whole)) ||
				m.SSE != mode || m.ContentType != "video/mp4" || m.UserMeta["uid"] != "1000" {
				t.Fatalf("completed meta %+v", m)
			}
			if _, err := s.Upload(up.UploadID); !errors.Is(err, ErrNoSuchUpload) {
				t.Fatalf("upload after complete: %v", err)
			}
			if n := len(dataFiles(t, dir)); n != 3 {
				t.Fatalf("%d data files after complete, want 3", n)
			}
			st, err := s.Stat("b", "big")
			if err != nil || st.ETag != m.ETag {
				t.Fatalf("Stat: %v %+v", err, st)
			}
			if got := readRange(t, s, st, seal.Key, 0, st.Size); !bytes.Equal(got, whole) {
				t.Fatal("completed object differs")
			}
			// Ranges across part boundaries.
			b1 := int64(len(p1))
			b2 := b1 + int64(len(p2))
			for _, r := range [][2]int64{{b1 - 1, 2}, {b1 - 70000, 140000}, {b2 - 5, 10}, {b1 - 3, int64(len(p2)) + 6}, {b2, int64(len(p3))}} {
				if got := readRange(t, s, st, seal.Key, r[0], r[1]); !bytes.Equal(got, whole[r[0]:r[0]+r[1]]) {
					t.Fatalf("range %v differs", r)
				}
			}
			if _, err := s.PutPart(up.UploadID, 1, bytes.NewReader(p1), seal.Key); !errors.Is(err, ErrNoSuchUpload) {
				t.Fatalf("PutPart after complete: %v", err)
			}
		})
	}
}

func TestMultipartSmallObjectAndAbort(t *testing.T) {
	s, dir := newStore(t)
	seal := sealing(SSEC)
	up, err := s.CreateUpload("b", "k", ObjectMeta{}, seal)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutPart(up.UploadID, 0, bytes.NewReader(nil), seal.Key); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("part 0: %v", err)
	}
	if _, err := s.PutPart(up.UploadID, 10001, bytes.NewReader(nil), seal.Key); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("part 10001: %v", err)
	}
	body := &errReader{data: []byte("partial"), err: errors.New("checksum mismatch")}
	if _, err := s.PutPart(up.UploadID, 1, body, seal.Key); err != body.err {
		t.Fatalf("PutPart body error: %v", err)
	}
	if ps, _ := s.ListParts(up.UploadID); len(ps) != 0 {
		t.Fatalf("failed part committed: %+v", ps)
	}
	// A single part may be small, and empty.
	if _, err := s.PutPart(up.UploadID, 1, bytes.NewReader(nil), seal.Key); err != nil {
		t.Fatal(err)
	}
	m, err := s.Complete(up.UploadID, []CompletePart{{1, md5hex(nil)}}, nil) // no key: not verified
	if err != nil {
		t.Fatal(err)
	}
	if m.Size != 0 || m.ETag != multipartETag(nil) {
		t.Fatalf("meta %+v", m)
	}
	if got := readRange(t, s, m, seal.Key, 0, 0); len(got) != 0 {
		t.Fatal("non-empty")
	}

	// Uploads list by key, then initiation; abort removes the parts.
	var ids []string
	for _, k := range []string{"z", "a", "z"} {
		u, err := s.CreateUpload("b", k, ObjectMeta{}, Sealing{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutPart(u.UploadID, 1, bytes.NewReader([]byte(k)), nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.UploadID)
	}
	us, err := s.ListUploads("b")
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 3 || us[0].UploadID != ids[1] || us[1].UploadID != ids[0] || us[2].UploadID != ids[2] {
		t.Fatalf("ListUploads order: %+v", us)
	}
	if _, err := s.ListUploads("nope"); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("ListUploads missing bucket: %v", err)
	}
	for _, id := range ids {
		if err := s.AbortUpload(id); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AbortUpload(ids[0]); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("second abort: %v", err)
	}
	if _, err := s.ListParts(ids[0]); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("ListParts after abort: %v", err)
	}
	if n := len(dataFiles(t, dir)); n != 1 {
		t.Fatalf("%d data files, want 1", n)
	}
	if _, err := s.CreateUpload("nope", "k", ObjectMeta{}, Sealing{}); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("CreateUpload missing bucket: %v", err)
	}
}

// Concurrent uploads of one part number and a racing Complete leave a
// consistent object and no stray data files.
func TestMultipartConcurrent(t *testing.T) {
	s, dir := newStore(t)
	seal := sealing(SSEC)
	up, err := s.CreateUpload("b", "k", ObjectMeta{}, seal)
	if err != nil {
		t.Fatal(err)
	}
	versions := [][]byte{pseudo(41, 100<<10), pseudo(42, 90<<10), pseudo(43, 80<<10)}
	var wg sync.WaitGroup
	for _, v := range versions {
		wg.Go(func() {
			for range 3 {
				if _, err := s.PutPart(up.UploadID, 1, bytes.NewReader(v), seal.Key); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	ps, err := s.ListParts(up.UploadID)
	if err != nil || len(ps) != 1 {
		t.Fatalf("parts %+v %v", ps, err)
	}
	var done atomic.Int32
	var m ObjectMeta
	for i := range 2 {
		wg.Go(func() {
			if i == 0 {
				var err error
				if m, err = s.Complete(up.UploadID, []CompletePart{{1, ps[0].ETag}}, seal.Key); err != nil {
					t.Error(err)
				}
				done.Add(1)
				return
			}
			_, err := s.PutPart(up.UploadID, 2, bytes.NewReader(versions[0]), seal.Key)
			if err != nil && !errors.Is(err, ErrNoSuchUpload) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if done.Load() != 1 {
		t.FailNow()
	}
	got := readRange(t, s, m, seal.Key, 0, m.Size)
	if md5hex(got) != ps[0].ETag {
		t.Fatal("completed object is not the listed part")
	}
	if n := len(dataFiles(t, dir)); n != 1 {
		t.Fatalf("%d data files, want 1", n)
	}
}
