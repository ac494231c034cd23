package objcache

import (
	"context"
	"testing"

	"github.com/ssefs/ssefs/ssekeys"
)

// TestPartCopyWithoutEchoOnRGW16: Ceph RGW 16 answers UploadPartCopy and
// CompleteMultipartUpload without any SSE echo (test/realstack's
// side-by-side table). After CopyObject's 501, a same-key copy still goes
// through part copies, not through GET + PUT, and the HEAD after the
// completion confirms the encryption.
func TestPartCopyWithoutEchoOnRGW16(t *testing.T) {
	k1 := mustKey(t)
	f := newFakeS3(t, true)
	f.dropEcho["partcopy"] = true
	f.dropEcho["complete"] = true
	c := f.client(t, ssekeys.Config{Keys: ring(t, k1)})
	ctx := context.Background()
	put(t, c, "a", []byte("new data"))
	if _, err := c.Copy(ctx, "a", "b", nil); err != nil { // learns the 501
		t.Fatal(err)
	}
	f.reset()
	if _, err := c.Copy(ctx, "b", "c", &PutOptions{Metadata: Metadata{"mode": "33188"}}); err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if countOps(reqs, "partcopy") != 1 || countOps(reqs, "get") != 0 || countOps(reqs, "put") != 0 || countOps(reqs, "abort") != 0 {
		t.Errorf("copy without part-copy echo: %d partcopy, %d get, %d put, %d abort; want 1 part copy and no streaming",
			countOps(reqs, "partcopy"), countOps(reqs, "get"), countOps(reqs, "put"), countOps(reqs, "abort"))
	}
	if countOps(reqs, "head") == 0 {
		t.Error("no HEAD confirmed the encryption of the completed copy")
	}
	if o := f.objects["c"]; o == nil || o.md5 != k1.MD5Base64() || string(o.data) != "new data" {
		t.Errorf("c stored %+v, want the data under key 1", o)
	}

}
