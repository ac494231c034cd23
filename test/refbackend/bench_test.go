package refbackend

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// unsignedPayload makes the SDK send UNSIGNED-PAYLOAD over plain HTTP, so
// benchmarks measure the server rather than the client's SHA-256.
var unsignedPayload = s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)

// benchStack is a stack with a bucket, and an SDK client on plain HTTP.
func benchStack(b *testing.B) (*stack, *s3.Client) {
	st := newStackTB(b, ProfileAWS)
	c := newS3Client(st.plain.URL, testAccessKey, testSecretKey, st.plain.Client().Transport, aws.RequestChecksumCalculationWhenRequired)
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bk)})
	must(b, err)
	return st, c
}

func BenchmarkPut64MiB(b *testing.B) {
	for _, sse := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "sse-c"}[sse], func(b *testing.B) {
			_, c := benchStack(b)
			data := randBytes(b, 64<<20)
			k := newSSEC(randBytes(b, 32))
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				in := &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("obj"), Body: bytes.NewReader(data)}
				if sse {
					k.onPut(in)
				}
				_, err := c.PutObject(context.Background(), in, unsignedPayload)
				must(b, err)
			}
		})
	}
}

func BenchmarkGet64MiB(b *testing.B) {
	for _, sse := range []bool{false, true} {
		b.Run(map[bool]string{false: "plain", true: "sse-c"}[sse], func(b *testing.B) {
			_, c := benchStack(b)
			data := randBytes(b, 64<<20)
			k := newSSEC(randBytes(b, 32))
			in := &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("obj"), Body: bytes.NewReader(data)}
			if sse {
				k.onPut(in)
			}
			_, err := c.PutObject(context.Background(), in, unsignedPayload)
			must(b, err)
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for b.Loop() {
				g := &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("obj")}
				if sse {
					k.onGet(g)
				}
				out, err := c.GetObject(context.Background(), g)
				must(b, err)
				n, err := io.Copy(io.Discard, out.Body)
				out.Body.Close()
				if err != nil || n != int64(len(data)) {
					b.Fatalf("read %d: %v", n, err)
				}
			}
		})
	}
}

// patternReader yields size bytes repeating block, seekably, without
// holding the whole object in memory.
type patternReader struct {
	block     []byte
	size, off int64
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && r.off < r.size {
		i := r.off % int64(len(r.block))
		c := copy(p[n:], r.block[i:min(int64(len(r.block)), i+r.size-r.off)])
		n += c
		r.off += int64(c)
	}
	return n, nil
}

func (r *patternReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		r.off = off
	case io.SeekCurrent:
		r.off += off
	case io.SeekEnd:
		r.off = r.size + off
	}
	return r.off, nil
}

// BenchmarkRangeGet1MiBIn1GiBSSEC reads 1 MiB at unaligned offsets of a
// 1 GiB SSE-C object; it reports the 64 KiB chunks decrypted per read, which
// must not exceed the chunks the range touches plus one at each end.
func BenchmarkRangeGet1MiBIn1GiBSSEC(b *testing.B) {
	st, c := benchStack(b)
	k := newSSEC(randBytes(b, 32))
	const size = 1 << 30
	in := &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("big"), Body: &patternReader{block: randBytes(b, 1<<20+7), size: size}, ContentLength: aws.Int64(size)}
	k.onPut(in)
	_, err := c.PutObject(context.Background(), in, unsignedPayload)
	must(b, err)
	before := st.srv.Store().ChunksDecrypted()
	b.SetBytes(1 << 20)
	b.ResetTimer()
	i := int64(0)
	for b.Loop() {
		off := (i*7919*65536 + 12345) % (size - 1<<20)
		i++
		g := &s3.GetObjectInput{Bucket: aws.String(bk), Key: aws.String("big"), Range: aws.String("bytes=" + itoa(int(off)) + "-" + itoa(int(off+1<<20-1)))}
		k.onGet(g)
		out, err := c.GetObject(context.Background(), g)
		must(b, err)
		n, _ := io.Copy(io.Discard, out.Body)
		out.Body.Close()
		if n != 1<<20 {
			b.Fatalf("read %d", n)
		}
	}
	perRead := float64(st.srv.Store().ChunksDecrypted()-before) / float64(i)
	b.ReportMetric(perRead, "chunks/read")
	if perRead > (1<<20)/(64<<10)+2 {
		b.Errorf("%.1f chunks decrypted per 1 MiB read", perRead)
	}
}

// BenchmarkListPage lists the first page of a 5000-object directory with
// max-keys 2, 100 and 1000: what a page costs the server should follow
// what it returns (a lookup's 2-key emptiness check used to decode a
// thousand entries).
func BenchmarkListPage(b *testing.B) {
	_, c := benchStack(b)
	for i := range 5000 {
		_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bk), Key: aws.String("dir/f" + itoa(10000+i)), Body: bytes.NewReader(nil)}, unsignedPayload)
		must(b, err)
	}
	for _, n := range []int32{2, 100, 1000} {
		b.Run("max-keys="+itoa(int(n)), func(b *testing.B) {
			for b.Loop() {
				out, err := c.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bk), Prefix: aws.String("dir/"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(n)})
				must(b, err)
				if len(out.Contents) != int(n) || !aws.ToBool(out.IsTruncated) {
					b.Fatalf("page of %d keys (truncated %v), want %d", len(out.Contents), aws.ToBool(out.IsTruncated), n)
				}
			}
		})
	}
}
