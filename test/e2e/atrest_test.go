package e2e

import (
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/test/testenv"
)

// TestPlaintextNeverAtRest writes files full of a plaintext marker through
// a mount, with SSE-C and with SSE-KMS, and runs them through the
// operations that make the server copy or rewrite an object (rename of a
// small and of a multipart object, chmod, touch, append, an in-place write,
// truncate, a directory rename), then looks for the marker in what the
// server stores: the reference backend's data directory, or every RADOS
// object of RGW's data pool on the real-stack lab. A plain object written
// beside them with another marker must be found, which proves the search
// sees the bucket's data.
//
// On the lab the objects stay, and the markers are recorded for the
// at-rest check that test/realstack runs after the whole suite.
func TestPlaintextNeverAtRest(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			b := testenv.StartBackend(t, profile)
			for _, kind := range []string{"SSE-C", "SSE-KMS"} {
				t.Run(kind, func(t *testing.T) {
					e := newSSECKey(t)
					if kind == "SSE-KMS" {
						e = newKMSKey(t, b)
					}
					bucket := "atrest-" + strings.ToLower(strings.ReplaceAll(kind, "-", ""))
					b.CreateBucket(t, bucket)
					b.KeepObjects(bucket)
					marker := "SSEFS-E2E-PLAINTEXT-" + strings.ReplaceAll(kind, "-", "") + "-" + hex.EncodeToString(randomBytes(t, 8))
					control := "SSEFS-E2E-PLAIN-CONTROL-" + hex.EncodeToString(randomBytes(t, 8))
					b.RecordMarker(t, marker, true)
					b.RecordMarker(t, control, false)
					putObject(t, b, bucket, "control.txt", []byte("stored unencrypted on purpose: "+control+"\n"), nil)

					m := testenv.MountBucket(t, b, bucket, e.mountArgs()...)
					small := []byte("a small file " + marker + "\n")
					big := markedBytes(t, 12<<20, marker)
					writeLocal(t, m.Path("small.txt"), small)
					writeLocal(t, m.Path("big.bin"), big)
					sh(t, m.Dir, `mkdir -p dir/sub && cp small.txt dir/sub/copy.txt
mv small.txt moved.txt
chmod 600 moved.txt
touch -d 2020-01-02T03:04:05 moved.txt
echo "appended `+marker+`" >> moved.txt
mv big.bin dir/big.bin
printf '`+marker+`' | dd of=dir/big.bin bs=1 seek=1000000 conv=notrunc status=none
truncate -s 9000000 dir/big.bin
mv dir renamed`)
					copy(big[1000000:], marker)
					assertFileContent(t, m.Path("moved.txt"), append(slices.Clone(small), []byte("appended "+marker+"\n")...))
					assertFileContent(t, m.Path("renamed/big.bin"), big[:9000000])
					assertFileContent(t, m.Path("renamed/sub/copy.txt"), small)
					if log := m.Log(); strings.Contains(log, "part copy refused") {
						// DESIGN.md: same-key copies go through UploadPartCopy on
						// RGW, which encrypts; streaming them is a regression.
						t.Errorf("a same-key rename or chmod was copied through the client instead of by UploadPartCopy:\n%s", log)
					}
					m.Unmount()

					keys := listKeys(t, b, bucket, "")
					for _, want := range []string{"moved.txt", "renamed/big.bin", "renamed/sub/copy.txt"} {
						if !slices.Contains(keys, want) {
							t.Errorf("object %s is missing (bucket holds %v)", want, keys)
						}
					}
					for _, k := range keys {
						if k != "control.txt" && !strings.HasSuffix(k, "/") {
							assertEncrypted(t, b, bucket, k, e)
						}
					}
					found := b.AtRest(t, marker, control)
					if slices.Contains(found, marker) {
						t.Errorf("the plaintext marker written through the %s mount is stored unencrypted", kind)
					}
					if !slices.Contains(found, control) {
						t.Errorf("the marker of the plain control object was not found at rest: the search does not see the bucket's data")
					}
				})
			}
		})
	}
}

// markedBytes is n random bytes with marker written every 256 KiB, so each
// part and each stripe the server makes of it holds the marker.
func markedBytes(t *testing.T, n int, marker string) []byte {
	t.Helper()
	data := randomBytes(t, n)
	for off := 0; off+len(marker) <= n; off += 256 << 10 {
		copy(data[off:], marker)
	}
	return data
}
