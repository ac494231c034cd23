package objcache

import (
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ssefs/ssefs/ssekeys"
)

// This file is the only place where SSE request fields are set: each
// request's ssekeys.Params (decided by ssekeys for the request's class) are
// copied one to one onto the SDK input. Nothing here decides *what* to send.

// sseFields points at the encryption fields of one SDK input struct. Inputs
// that lack the KMS fields leave sse and kmsKeyID nil.
type sseFields struct {
	algorithm, key, keyMD5 **string
	sse                    *types.ServerSideEncryption
	kmsKeyID               **string
}

// copySourceFields points at an input's copy-source SSE-C triple.
type copySourceFields struct {
	algorithm, key, keyMD5 **string
}

// set copies p onto the fields. Params that an input cannot carry would be a
// bug in ssekeys' table: it panics rather than silently drop encryption.
func (f sseFields) set(p ssekeys.Params) {
	*f.algorithm = optional(p.CustomerAlgorithm)
	*f.key = optional(p.CustomerKey)
	*f.keyMD5 = optional(p.CustomerKeyMD5)
	if f.sse == nil {
		if p.ServerSideEncryption != "" || p.KMSKeyID != "" {
			panic("objcache: SSE-KMS parameters for a request that cannot carry them")
		}
		return
	}
	*f.sse = types.ServerSideEncryption(p.ServerSideEncryption)
	*f.kmsKeyID = optional(p.KMSKeyID)
}

func (f copySourceFields) set(p ssekeys.Params) {
	if p.ServerSideEncryption != "" || p.KMSKeyID != "" {
		panic("objcache: SSE-KMS parameters for a copy source")
	}
	*f.algorithm = optional(p.CustomerAlgorithm)
	*f.key = optional(p.CustomerKey)
	*f.keyMD5 = optional(p.CustomerKeyMD5)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func putSSE(in *s3.PutObjectInput) sseFields {
	return sseFields{&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, &in.ServerSideEncryption, &in.SSEKMSKeyId}
}

func createMultipartSSE(in *s3.CreateMultipartUploadInput) sseFields {
	return sseFields{&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, &in.ServerSideEncryption, &in.SSEKMSKeyId}
}

func copySSE(in *s3.CopyObjectInput) sseFields {
	return sseFields{&in.SSECustomerAlgorithm, &in.SSECustomerKey, &in.SSECustomerKeyMD5, &in.ServerSideEncryption, &in.SSEKMSKeyId}
}

func copySourceSSE(in *s3.CopyObjectInput) copySourceFields {
	return copySourceFields{&in.CopySourceSSECustomerAlgorithm, &in.CopySourceSSECustomerKey, &in.CopySourceSSECustomerKeyMD5}
}

func uploadPartSSE(in *s3.UploadPartInput) sseFields {
	return sseFields{algorithm: &in.SSECustomerAlgorithm, key: &in.SSECustomerKey, keyMD5: &in.SSECustomerKeyMD5}
}

func uploadPartCopySSE(in *s3.UploadPartCopyInput) sseFields {
	return sseFields{algorithm: &in.SSECustomerAlgorithm, key: &in.SSECustomerKey, keyMD5: &in.SSECustomerKeyMD5}
}

func uploadPartCopySourceSSE(in *s3.UploadPartCopyInput) copySourceFields {
	return copySourceFields{&in.CopySourceSSECustomerAlgorithm, &in.CopySourceSSECustomerKey, &in.CopySourceSSECustomerKeyMD5}
}

func completeSSE(in *s3.CompleteMultipartUploadInput) sseFields {
	return sseFields{algorithm: &in.SSECustomerAlgorithm, key: &in.SSECustomerKey, keyMD5: &in.SSECustomerKeyMD5}
}

func getSSE(in *s3.GetObjectInput) sseFields {
	return sseFields{algorithm: &in.SSECustomerAlgorithm, key: &in.SSECustomerKey, keyMD5: &in.SSECustomerKeyMD5}
}

func headSSE(in *s3.HeadObjectInput) sseFields {
	return sseFields{algorithm: &in.SSECustomerAlgorithm, key: &in.SSECustomerKey, keyMD5: &in.SSECustomerKeyMD5}
}

// Response headers that echo the applied encryption.
const (
	hdrSSECAlgorithm = "X-Amz-Server-Side-Encryption-Customer-Algorithm"
	hdrSSECKeyMD5    = "X-Amz-Server-Side-Encryption-Customer-Key-Md5"
	hdrSSE           = "X-Amz-Server-Side-Encryption"
	hdrSSEKMSKeyID   = "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"
)

// echoOf reads the encryption echo from a response's raw headers. Reading
// headers rather than output fields treats every operation alike (the SDK's
// CompleteMultipartUploadOutput, for one, has no SSE-C fields).
func echoOf(md middleware.Metadata) ssekeys.Echo {
	resp, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok || resp == nil {
		return ssekeys.Echo{}
	}
	h := resp.Header
	return ssekeys.Echo{
		CustomerAlgorithm:    h.Get(hdrSSECAlgorithm),
		CustomerKeyMD5:       h.Get(hdrSSECKeyMD5),
		ServerSideEncryption: h.Get(hdrSSE),
		KMSKeyID:             h.Get(hdrSSEKMSKeyID),
	}
}

// openedWith checks the answer to a HEAD or GET sent with sent: an SSE-C
// answer that echoes another key is a refusal of sent (errEchoMismatch);
// otherwise it returns what the answer shows the object to be.
func openedWith(sent ssekeys.SSE, md middleware.Metadata) (ssekeys.SSE, error) {
	echo := echoOf(md)
	if sent.Kind == ssekeys.SSEC && echo.CustomerKeyMD5 != "" && echo.CustomerKeyMD5 != sent.Key.MD5Base64() {
		return sent, errEchoMismatch
	}
	return actualSSE(sent, echo), nil
}

// actualSSE says what a HEAD or GET response shows the object to be, given
// the encryption that was sent. On RGW an SSE-C triple sent for a plain or
// SSE-KMS object is ignored (200, no echo): then the object is what the
// echo says, not what was sent.
func actualSSE(sent ssekeys.SSE, e ssekeys.Echo) ssekeys.SSE {
	if sent.Kind == ssekeys.SSEC && e.CustomerAlgorithm != "" {
		return sent
	}
	if e.ServerSideEncryption == ssekeys.SSEKMSHeaderValue {
		return ssekeys.SSE{Kind: ssekeys.KMS, KMSKeyID: e.KMSKeyID}
	}
	return ssekeys.SSE{}
}
