package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ssefs/ssefs/ssekeys"
	"github.com/ssefs/ssefs/test/testenv"
)

// The direct-SDK limit uses the transfer shape a well-tuned client would:
// 16 MiB parts and 8 MiB ranges, 8 requests in flight.
const (
	sdkPartSize  = 16 << 20
	sdkRangeSize = 8 << 20
	sdkParallel  = 8
)

// sdk is aws-sdk-go-v2 straight to the backend, with SSE-C on every call
// and the same checksum settings as ssefs's client.
type sdk struct {
	c      *s3.Client
	bucket string
	key    *ssekeys.Key
}

func newSDK(b *testenv.Backend, bucket string, key *ssekeys.Key) *sdk {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	c := s3.New(s3.Options{
		BaseEndpoint:               aws.String(b.Endpoint()),
		Region:                     "us-east-1",
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(b.Env["AWS_ACCESS_KEY_ID"], b.Env["AWS_SECRET_ACCESS_KEY"], ""),
		HTTPClient:                 &http.Client{Transport: tr},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	return &sdk{c: c, bucket: bucket, key: key}
}

func (s *sdk) alg() *string { return aws.String("AES256") }
func (s *sdk) k() *string   { return aws.String(s.key.Base64()) }
func (s *sdk) md5() *string { return aws.String(s.key.MD5Base64()) }

// putParallel stores size bytes of data (repeated as needed; its length is
// a multiple of sdkPartSize) as key with a parallel multipart upload.
func (s *sdk) putParallel(ctx context.Context, key string, data []byte, size int64) error {
	up, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		SSECustomerAlgorithm: s.alg(), SSECustomerKey: s.k(), SSECustomerKeyMD5: s.md5()})
	if err != nil {
		return err
	}
	nparts := int((size + sdkPartSize - 1) / sdkPartSize)
	parts := make([]types.CompletedPart, nparts)
	errs := make(chan error, nparts)
	sem := make(chan struct{}, sdkParallel)
	var wg sync.WaitGroup
	for i := range nparts {
		off := int64(i) * sdkPartSize
		n := min(sdkPartSize, size-off)
		start := off % int64(len(data)) // len(data) is a multiple of the part size
		body := data[start : start+n]
		sem <- struct{}{}
		wg.Add(1)
		go func(num int32, body []byte) {
			defer wg.Done()
			defer func() { <-sem }()
			out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
				PartNumber: aws.Int32(num), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
				SSECustomerAlgorithm: s.alg(), SSECustomerKey: s.k(), SSECustomerKeyMD5: s.md5()})
			if err != nil {
				errs <- err
				return
			}
			parts[num-1] = types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag}
		}(int32(i+1), body)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	_, err = s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload:      &types.CompletedMultipartUpload{Parts: parts},
		SSECustomerAlgorithm: s.alg(), SSECustomerKey: s.k(), SSECustomerKeyMD5: s.md5()})
	return err
}

// getParallel reads size bytes of key with parallel ranged GETs.
func (s *sdk) getParallel(ctx context.Context, key string, size int64) error {
	bufs := make(chan []byte, sdkParallel)
	for range sdkParallel {
		bufs <- make([]byte, sdkRangeSize)
	}
	return parallel(int((size+sdkRangeSize-1)/sdkRangeSize), sdkParallel, func(i int) error {
		buf := <-bufs
		defer func() { bufs <- buf }()
		off := int64(i) * sdkRangeSize
		end := min(off+sdkRangeSize, size)
		return s.getInto(ctx, key, buf[:end-off], off)
	})
}

func (s *sdk) getInto(ctx context.Context, key string, buf []byte, off int64) error {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key,
		Range:                aws.String(fmt.Sprintf("bytes=%d-%d", off, off+int64(len(buf))-1)),
		SSECustomerAlgorithm: s.alg(), SSECustomerKey: s.k(), SSECustomerKeyMD5: s.md5()})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	_, err = io.ReadFull(out.Body, buf)
	return err
}

// randomGets does n 4 KiB ranged GETs one after another; it returns ops/s.
func (s *sdk) randomGets(ctx context.Context, key string, size int64, n int) (float64, error) {
	buf := make([]byte, 4096)
	start := time.Now()
	for range n {
		off := rand.Int64N(size/4096) * 4096
		if err := s.getInto(ctx, key, buf, off); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// putSmall stores n objects of 4 KiB one after another; it returns
// objects/s.
func (s *sdk) putSmall(ctx context.Context, prefix string, n int) (float64, error) {
	body := make([]byte, 4096)
	start := time.Now()
	for i := range n {
		key := fmt.Sprintf("%s%05d", prefix, i)
		_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body),
			ContentLength: aws.Int64(4096), SSECustomerAlgorithm: s.alg(), SSECustomerKey: s.k(), SSECustomerKeyMD5: s.md5()})
		if err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// fill stores n small objects under prefix with 16 writers.
func (s *sdk) fill(ctx context.Context, prefix string, n int) error {
	return parallel(n, 16, func(i int) error {
		key := fmt.Sprintf("%sf%05d", prefix, i)
		_, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader([]byte("x")),
			ContentLength: aws.Int64(1), SSECustomerAlgorithm: s.alg(), SSECustomerKey: s.k(), SSECustomerKeyMD5: s.md5()})
		return err
	})
}

// list lists one directory level under prefix; it returns the entry count.
func (s *sdk) list(ctx context.Context, prefix string) (int, error) {
	n, _, err := s.listKeys(ctx, prefix)
	return n, err
}

// listKeys lists one directory level under prefix; it returns the entry
// count and the keys of the objects.
func (s *sdk) listKeys(ctx context.Context, prefix string) (int, []string, error) {
	var keys []string
	n := 0
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix, Delimiter: aws.String("/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, keys, err
		}
		n += len(page.Contents) + len(page.CommonPrefixes)
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return n, keys, nil
}

// listHeads lists one directory level under prefix and HEADs each object
// in it, par at a time: what a tool must send to show the attributes of
// files whose metadata it has not seen (ssefs's first ls -l of a directory
// written by others). It returns the entry count.
func (s *sdk) listHeads(ctx context.Context, prefix string, par int) (int, error) {
	n, keys, err := s.listKeys(ctx, prefix)
	if err != nil {
		return n, err
	}
	return n, parallel(len(keys), par, func(i int) error {
		_, err := s.c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(keys[i]),
			SSECustomerAlgorithm: s.alg(), SSECustomerKey: s.k(), SSECustomerKeyMD5: s.md5()})
		return err
	})
}

// parallel runs fn(0) ... fn(n-1), par at a time, and returns the first
// error (the workers that meet one stop taking more).
func parallel(n, par int, fn func(i int) error) error {
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	errs := make(chan error, par)
	var wg sync.WaitGroup
	for range par {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
