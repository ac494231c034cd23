package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/test/testenv"
)

// Tests of `ssefs rekey`: the real binary against the reference backend,
// every object checked from outside with a plain aws-sdk-go-v2 client.

// plainEnc is "no encryption" for the helpers below.
var plainEnc = encryption{name: "none"}

// stored is what an object held before a rekey: the rekey must keep it.
type stored struct {
	sum         [32]byte
	size        int
	contentType string
	meta        map[string]string
}

// putWith uploads body at key encrypted with e from outside ssefs: one PUT,
// or a multipart upload of 8 MiB parts above 16 MiB. It sets s3fs
// attributes and a content type, and returns what was stored.
func putWith(t *testing.T, b *testenv.Backend, bucket, key string, body []byte, e encryption) stored {
	t.Helper()
	ctx := context.Background()
	meta := map[string]string{"mode": "33188", "uid": "1000", "gid": "1000", "mtime": fmt.Sprintf("1700000000.%d", len(body)%1000), "origin": "rekey-test"}
	ct := "application/x-rekey-test"
	c := b.S3()
	if len(body) <= 16<<20 {
		in := &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), Metadata: meta, ContentType: &ct}
		switch {
		case e.key != nil:
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(e.key.Base64()), aws.String(e.key.MD5Base64())
		case e.kmsID != "":
			in.ServerSideEncryption, in.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(e.kmsID)
		}
		if _, err := c.PutObject(ctx, in); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		return stored{sha256.Sum256(body), len(body), ct, meta}
	}
	cin := &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key, Metadata: meta, ContentType: &ct}
	switch {
	case e.key != nil:
		cin.SSECustomerAlgorithm, cin.SSECustomerKey, cin.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(e.key.Base64()), aws.String(e.key.MD5Base64())
	case e.kmsID != "":
		cin.ServerSideEncryption, cin.SSEKMSKeyId = s3types.ServerSideEncryptionAwsKms, aws.String(e.kmsID)
	}
	up, err := c.CreateMultipartUpload(ctx, cin)
	if err != nil {
		t.Fatalf("create upload %s: %v", key, err)
	}
	var parts []s3types.CompletedPart
	for i, off := int32(1), 0; off < len(body); i, off = i+1, off+8<<20 {
		end := min(off+8<<20, len(body))
		pin := &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(i), Body: bytes.NewReader(body[off:end])}
		if e.key != nil {
			pin.SSECustomerAlgorithm, pin.SSECustomerKey, pin.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(e.key.Base64()), aws.String(e.key.MD5Base64())
		}
		out, err := c.UploadPart(ctx, pin)
		if err != nil {
			t.Fatalf("upload part %d of %s: %v", i, key, err)
		}
		parts = append(parts, s3types.CompletedPart{PartNumber: aws.Int32(i), ETag: out.ETag})
	}
	fin := &s3.CompleteMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}}
	if e.key != nil {
		fin.SSECustomerAlgorithm, fin.SSECustomerKey, fin.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(e.key.Base64()), aws.String(e.key.MD5Base64())
	}
	if _, err := c.CompleteMultipartUpload(ctx, fin); err != nil {
		t.Fatalf("complete upload %s: %v", key, err)
	}
	return stored{sha256.Sum256(body), len(body), ct, meta}
}

// assertUnder checks from outside that key rests under e (none included),
// and that its content, content type and metadata are still want's.
func assertUnder(t *testing.T, b *testenv.Backend, bucket, key string, e encryption, want stored) {
	t.Helper()
	if e.key == nil && e.kmsID == "" {
		out, err := b.S3().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			t.Errorf("%s: HEAD without a key: %v", key, err)
			return
		}
		if out.ServerSideEncryption != "" || aws.ToString(out.SSECustomerAlgorithm) != "" {
			t.Errorf("%s: stored with %q%s, want unencrypted", key, out.ServerSideEncryption, aws.ToString(out.SSECustomerAlgorithm))
		}
	} else {
		assertEncrypted(t, b, bucket, key, e)
	}
	in := &s3.HeadObjectInput{Bucket: &bucket, Key: &key}
	if e.key != nil {
		headWithKey(e.key, in)
	}
	out, err := b.S3().HeadObject(context.Background(), in)
	if err != nil {
		t.Errorf("%s: HEAD: %v", key, err)
		return
	}
	if aws.ToString(out.ContentType) != want.contentType || !maps.Equal(out.Metadata, want.meta) {
		t.Errorf("%s: content type %q metadata %v, want %q %v", key, aws.ToString(out.ContentType), out.Metadata, want.contentType, want.meta)
	}
	if got := getObject(t, b, bucket, key, e); len(got) != want.size || sha256.Sum256(got) != want.sum {
		t.Errorf("%s: content changed (%d bytes, want %d)", key, len(got), want.size)
	}
}

// assertNotOpenedBy checks that a HEAD with e's SSE-C key fails or does not
// echo it: the object is no longer under that key.
func assertNotOpenedBy(t *testing.T, b *testenv.Backend, bucket, key string, e encryption) {
	t.Helper()
	out, err := b.S3().HeadObject(context.Background(), headWithKey(e.key, &s3.HeadObjectInput{Bucket: &bucket, Key: &key}))
	if err == nil && aws.ToString(out.SSECustomerKeyMD5) == e.key.MD5Base64() {
		t.Errorf("%s: still opens with the old key %s", key, e.key.Fingerprint())
	}
}

// rekeyFixture fills prefix with n objects of mixed sizes, 0 B to 20 MiB,
// under nested keys (the 20 MiB one a multipart upload) encrypted with e.
func rekeyFixture(t *testing.T, b *testenv.Backend, bucket, prefix string, n int, e encryption) map[string]stored {
	t.Helper()
	sizes := []int{0, 1, 100, 4096, 65_536, 300_000, 1 << 20, 2<<20 + 7}
	objs := map[string]stored{}
	objs[prefix+"big/multipart.bin"] = putWith(t, b, bucket, prefix+"big/multipart.bin", randomBytes(t, 20<<20), e)
	objs[prefix+"dir/"] = putWith(t, b, bucket, prefix+"dir/", nil, e)
	for i := len(objs); i < n; i++ {
		key := fmt.Sprintf("%sdir/d%d/sub%d/file-%02d.dat", prefix, i%3, i%2, i)
		objs[key] = putWith(t, b, bucket, key, randomBytes(t, sizes[i%len(sizes)]), e)
	}
	return objs
}

// rekeyCLI runs ssefs with the backend's environment.
func rekeyCLI(t *testing.T, b *testenv.Backend) *keysCLI { return newKeysCLI(t, b) }

// summaryCount returns the number in the summary line for label
// ("rekeyed", "skipped", "left alone", "failed").
func summaryCount(t *testing.T, out, label string) int {
	t.Helper()
	m := regexp.MustCompile(`(?m)\b`+label+` (\d+)`).FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("no %q count in the output:\n%s", label, out)
	}
	var n int
	fmt.Sscan(m[len(m)-1][1], &n)
	return n
}

// TestRekeySSECKeyAToKeyBOverPrefix: ~30 objects under a prefix (nested,
// 0 B to 20 MiB multipart, s3fs metadata) go from key A to key B; after
// that each opens only with B, content and metadata unchanged; objects
// outside the prefix keep A; a second run skips everything. In the rgw
// profile every object takes the 501 -> GET + PUT path.
func TestRekeySSECKeyAToKeyBOverPrefix(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			b := testenv.StartBackend(t, profile)
			b.CreateBucket(t, "rekey")
			a, bKey := newSSECKey(t), newSSECKey(t)
			objs := rekeyFixture(t, b, "rekey", "photos/", 30, a)
			outside := putWith(t, b, "rekey", "photos2/keep.txt", []byte("outside the prefix"), a)
			cli := rekeyCLI(t, b)

			out := cli.ok("rekey", "s3://rekey/photos", "--from-sse-c-key-file", a.keyFile, "--to-sse-c-key-file", bKey.keyFile, "--jobs", "4")
			if summaryCount(t, out, "rekeyed") != 30 || summaryCount(t, out, "failed") != 0 {
				t.Errorf("first run:\n%s", out)
			}
			for key, want := range objs {
				assertUnder(t, b, "rekey", key, bKey, want)
				assertNotOpenedBy(t, b, "rekey", key, a)
			}
			assertUnder(t, b, "rekey", "photos2/keep.txt", a, outside)

			out = cli.ok("rekey", "s3://rekey/photos/", "--from-sse-c-key-file", a.keyFile, "--to-sse-c-key-file", bKey.keyFile)
			if summaryCount(t, out, "rekeyed") != 0 || summaryCount(t, out, "skipped") != 30 {
				t.Errorf("second run should skip everything:\n%s", out)
			}
		})
	}
}

// TestRekeyBetweenKinds: none -> SSE-C -> SSE-KMS -> none, each step
// verified from outside, in both profiles (on RGW: plain copies stored
// unencrypted are redone, 501s fall back to part copies or GET + PUT).
func TestRekeyBetweenKinds(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			b := testenv.StartBackend(t, profile)
			b.CreateBucket(t, "kinds")
			k, kms := newSSECKey(t), newKMSKey(t, b)
			objs := map[string]stored{}
			for i, size := range []int{0, 10, 200_000, 17 << 20} {
				key := fmt.Sprintf("d/o%d", i)
				objs[key] = putWith(t, b, "kinds", key, randomBytes(t, size), plainEnc)
			}
			cli := rekeyCLI(t, b)
			steps := []struct {
				from []string
				to   []string
				enc  encryption
			}{
				{[]string{"--from-none"}, []string{"--to-sse-c-key-file", k.keyFile}, k},
				{[]string{"--from-sse-c-key-file", k.keyFile}, []string{"--to-sse-kms-key-id", kms.kmsID}, kms},
				{[]string{"--from-sse-kms-key-id", kms.kmsID}, []string{"--to-none"}, plainEnc},
			}
			for _, s := range steps {
				args := append(append([]string{"rekey", "s3://kinds"}, s.from...), s.to...)
				out := cli.ok(args...)
				if summaryCount(t, out, "rekeyed") != len(objs) {
					t.Errorf("%v:\n%s", args, out)
				}
				for key, want := range objs {
					assertUnder(t, b, "kinds", key, s.enc, want)
				}
			}
		})
	}
}

// TestRekeyDryRunChangesNothing: --dry-run names each object it would
// rekey and leaves every object as it was (same ETag, same key).
func TestRekeyDryRunChangesNothing(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "dry")
	a, bKey := newSSECKey(t), newSSECKey(t)
	objs := rekeyFixture(t, b, "dry", "", 8, a)
	etags := map[string]string{}
	for key := range objs {
		out, err := b.S3().HeadObject(context.Background(), headWithKey(a.key, &s3.HeadObjectInput{Bucket: aws.String("dry"), Key: aws.String(key)}))
		if err != nil {
			t.Fatal(err)
		}
		etags[key] = aws.ToString(out.ETag) + out.LastModified.String()
	}
	out := rekeyCLI(t, b).ok("rekey", "s3://dry", "--from-sse-c-key-file", a.keyFile, "--to-sse-c-key-file", bKey.keyFile, "--dry-run")
	for key, want := range objs {
		if !strings.Contains(out, "would rekey "+key+" ") {
			t.Errorf("dry run does not list %s:\n%s", key, out)
		}
		assertUnder(t, b, "dry", key, a, want)
		h, err := b.S3().HeadObject(context.Background(), headWithKey(a.key, &s3.HeadObjectInput{Bucket: aws.String("dry"), Key: aws.String(key)}))
		if err != nil || aws.ToString(h.ETag)+h.LastModified.String() != etags[key] {
			t.Errorf("%s changed during a dry run", key)
		}
	}
	if !strings.Contains(out, "nothing changed") {
		t.Errorf("the summary does not say nothing changed:\n%s", out)
	}
}

// TestRekeyReportsObjectUnderUnknownKey: an object under a key that was not
// given is reported, left intact, and the exit status is non-zero; the
// other objects are rekeyed.
func TestRekeyReportsObjectUnderUnknownKey(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			b := testenv.StartBackend(t, profile)
			b.CreateBucket(t, "mixed")
			a, bKey, stranger := newSSECKey(t), newSSECKey(t), newSSECKey(t)
			mine := putWith(t, b, "mixed", "mine.txt", []byte("mine"), a)
			theirs := putWith(t, b, "mixed", "sub/theirs.txt", []byte("someone else's"), stranger)
			cli := rekeyCLI(t, b)
			out, errOut, err := cli.run("rekey", "s3://mixed", "--from-sse-c-key-file", a.keyFile, "--to-sse-c-key-file", bKey.keyFile)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want non-zero\n%s\n%s", err, out, errOut)
			}
			if !strings.Contains(errOut, "left alone sub/theirs.txt: SSE-C with a key that was not given") {
				t.Errorf("the foreign object is not reported:\n%s", errOut)
			}
			if summaryCount(t, out, "rekeyed") != 1 || summaryCount(t, out, "left alone") != 1 {
				t.Errorf("summary:\n%s", out)
			}
			assertUnder(t, b, "mixed", "mine.txt", bKey, mine)
			assertUnder(t, b, "mixed", "sub/theirs.txt", stranger, theirs)
		})
	}
}

// settledUnder reports which of objs open with key a, once two looks a
// second apart agree (at most 30 s).
func settledUnder(t *testing.T, b *testenv.Backend, bucket string, objs map[string]stored, a encryption) map[string]bool {
	t.Helper()
	look := func() map[string]bool {
		on := map[string]bool{}
		for key := range objs {
			h, err := b.S3().HeadObject(context.Background(), headWithKey(a.key, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}))
			on[key] = err == nil && aws.ToString(h.SSECustomerKeyMD5) == a.key.MD5Base64()
		}
		return on
	}
	last := look()
	for range 30 {
		time.Sleep(time.Second)
		now := look()
		if maps.Equal(now, last) {
			return now
		}
		last = now
	}
	t.Fatalf("objects still changing 30 s after the kill")
	return nil
}

// TestRekeyKilledHalfwayThenRerun: rekey (SSE-C A to SSE-C B, and A to
// SSE-KMS) is killed with SIGKILL while it works; every object still opens
// with A or the target, intact; a second run finishes the job: everything
// ends under the target with the same content and metadata, none opens
// with A.
func TestRekeyKilledHalfwayThenRerun(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} {
		for _, target := range []string{"SSE-C", "SSE-KMS"} {
			t.Run(profile+"/"+target, func(t *testing.T) {
				b := testenv.StartBackend(t, profile)
				b.CreateBucket(t, "kill")
				a := newSSECKey(t)
				var to encryption
				var toArgs []string
				if target == "SSE-KMS" {
					to = newKMSKey(t, b)
					toArgs = []string{"--to-sse-kms-key-id", to.kmsID}
				} else {
					to = newSSECKey(t)
					toArgs = []string{"--to-sse-c-key-file", to.keyFile}
				}
				// The 300 objects; 60 on the real-stack lab, where
				// every request fetches the Barbican secret (~0.2 s).
				n, killAfter := 300, 150
				if b.IsExternal() {
					n, killAfter = 60, 20
				}
				objs := rekeyFixture(t, b, "kill", "", n, a)
				cli := rekeyCLI(t, b)
				args := append([]string{"rekey", "s3://kill", "--from-sse-c-key-file", a.keyFile, "--jobs", "4", "--verbose"}, toArgs...)
				cmd := exec.Command(cli.bin, args...)
				cmd.Env = cli.env
				stdout, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := 0
				sc := bufio.NewScanner(stdout)
				for done < killAfter && sc.Scan() {
					if strings.HasPrefix(sc.Text(), "rekeyed ") && !strings.Contains(sc.Text(), "skipped") {
						done++
					}
				}
				cmd.Process.Signal(syscall.SIGKILL)
				cmd.Wait()
				if done < killAfter {
					t.Fatalf("rekey ended before it could be killed (%d objects done)", done)
				}

				// Requests the killed process had sent may still complete on
				// the server (seen on real RGW: an upload finishing a second
				// later); look once the objects have stopped changing.
				onA := settledUnder(t, b, "kill", objs, a)
				underA := 0
				for key, want := range objs {
					if onA[key] {
						underA++
						assertUnder(t, b, "kill", key, a, want)
					} else {
						assertUnder(t, b, "kill", key, to, want)
					}
				}
				t.Logf("after the kill: %d objects under A, %d under the target", underA, len(objs)-underA)
				if underA == 0 {
					t.Errorf("the kill came too late to test anything: everything is under the target already")
				}

				out := cli.ok(append([]string{"rekey", "s3://kill", "--from-sse-c-key-file", a.keyFile}, toArgs...)...)
				// A copy the killed process sent just before SIGKILL may
				// still complete on the server after the count above (seen
				// on real RGW): up to one per job (4) is then skipped
				// rather than rekeyed.
				rekeyed := summaryCount(t, out, "rekeyed")
				if got := rekeyed + summaryCount(t, out, "skipped"); got != len(objs) || rekeyed > underA || rekeyed < underA-4 {
					t.Errorf("rerun: want %d rekeyed (or up to 4 fewer) of %d:\n%s", underA, len(objs), out)
				}
				for key, want := range objs {
					assertUnder(t, b, "kill", key, to, want)
					assertNotOpenedBy(t, b, "kill", key, a)
				}
			})
		}
	}
}

// TestRekeyBadInput: flag mistakes fail before anything is contacted.
func TestRekeyBadInput(t *testing.T) {
	b := testenv.StartBackend(t, "aws")
	cli := rekeyCLI(t, b)
	k := newSSECKey(t)
	cli.fails("exactly one of --from-sse-c-key-file", "rekey", "s3://x", "--to-none")
	cli.fails("exactly one of --to-sse-c-key-file", "rekey", "s3://x", "--from-none", "--to-none", "--to-sse-c-key-file", k.keyFile)
	cli.fails("does not exist", "rekey", "s3://x", "--from-none", "--to-sse-c-key-file", "/nonexistent.key")
	cli.fails("bucket \"nope\" does not exist", "rekey", "s3://nope", "--from-none", "--to-sse-c-key-file", k.keyFile)
}

// TestRekeyShowsProgress: on a terminal a progress bar with objects and
// bytes; otherwise plain periodic "progress:" lines without escape codes.
func TestRekeyShowsProgress(t *testing.T) {
	requireTool(t, "script")
	b := testenv.StartBackend(t, "aws")
	b.CreateBucket(t, "progress")
	a, bKey := newSSECKey(t), newSSECKey(t)
	rekeyFixture(t, b, "progress", "", 10, a)
	cli := rekeyCLI(t, b)
	shown, err := cli.onTerminal("", "rekey", "s3://progress", "--from-sse-c-key-file", a.keyFile, "--to-sse-c-key-file", bKey.keyFile, "--jobs", "1")
	if err != nil {
		t.Fatalf("rekey on a terminal: %v\n%s", err, shown)
	}
	if !strings.Contains(shown, "\r") || !strings.Contains(shown, "rekey 1/10 objects") || !strings.Contains(shown, "MiB") {
		t.Errorf("no progress bar on a terminal:\n%q", shown)
	}
	out := cli.ok("rekey", "s3://progress", "--from-sse-c-key-file", bKey.keyFile, "--to-sse-c-key-file", a.keyFile, "--jobs", "1", "--progress-interval", "1ms")
	if !regexp.MustCompile(`(?m)^progress: \d+/10 objects, .* ETA \S+$`).MatchString(out) || strings.Contains(out, "\x1b[") || strings.Contains(out, "\r") {
		t.Errorf("no plain progress lines off a terminal:\n%q", out)
	}
}

// TestRekeyFailureLeavesOldVersion: a target the server cannot use (an
// SSE-KMS key its service user may not read) fails every object, each
// reported, each still intact under its old key, and the exit status is
// non-zero.
func TestRekeyFailureLeavesOldVersion(t *testing.T) {
	for _, profile := range []string{"aws", "rgw"} {
		t.Run(profile, func(t *testing.T) {
			b := testenv.StartBackend(t, profile)
			b.CreateBucket(t, "fails")
			a := newSSECKey(t)
			objs := rekeyFixture(t, b, "fails", "", 5, a)
			cli := rekeyCLI(t, b)
			id := keyIDOf(t, cli.ok("keys", "create", "--name", "no-grant"))
			out, errOut, err := cli.run("rekey", "s3://fails", "--from-sse-c-key-file", a.keyFile, "--to-sse-kms-key-id", id)
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want non-zero\n%s\n%s", err, out, errOut)
			}
			if summaryCount(t, out, "failed") != len(objs) || strings.Count(errOut, "(the old version is in place)") != len(objs) {
				t.Errorf("every object should be reported failed:\n%s\n%s", out, errOut)
			}
			for key, want := range objs {
				assertUnder(t, b, "fails", key, a, want)
			}
			if keys := listKeys(t, b, "fails", ""); len(keys) != len(objs) {
				t.Errorf("objects after the failed rekey: %v", keys)
			}
		})
	}
}
