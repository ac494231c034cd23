package refbackend

import (
	"net/http"
)

// rules is one profile's answers where Amazon S3 and Ceph RGW 16 differ
// (DESIGN.md section 3, the "AWS" and "RGW 16" columns). Everything the two
// share is coded once; the handlers consult these fields, never the profile
// name.
type rules struct {
	profile Profile

	// missingKey: GET/HEAD of an SSE-C object without the SSE-C triple.
	missingKey func() *Error
	// wrongKey: a well-formed SSE-C key that is not the object's.
	wrongKey func() *Error
	// partMissingKey / partWrongKey: UploadPart into an SSE-C upload
	// without the key, or with another key.
	partMissingKey func() *Error
	partWrongKey   func() *Error
	// ignoreSSECOnOthers: an SSE-C triple sent for an unencrypted or
	// SSE-KMS object is ignored (RGW) instead of refused with 400
	// InvalidRequest (AWS).
	ignoreSSECOnOthers bool
	// ssecWinsOverKMS: SSE-C and SSE-KMS headers on one PUT store SSE-C
	// (RGW) instead of 400 InvalidArgument (AWS).
	ssecWinsOverKMS bool
	// kmsNeedsKeyID: an SSE-KMS PUT without a key id is 400 InvalidArgument
	// (RGW); AWS uses the default key.
	kmsNeedsKeyID bool
	// strictKMSKeyID: a key id that is a full href or has upper case letters
	// is 404 NoSuchKey (RGW asks Barbican for it verbatim); AWS accepts an
	// href and uses its last path element.
	strictKMSKeyID bool
	// copyRefusesEncryptedSource: CopyObject of an SSE-C or SSE-KMS source
	// is 501 NotImplemented with an empty message (RGW before 2025).
	copyRefusesEncryptedSource bool
	// copyDropsSSE: CopyObject ignores every SSE header of the target and
	// stores the copy unencrypted, answering 200 without an echo (RGW).
	copyDropsSSE bool
	// partCopyUsesDestKey: UploadPartCopy decrypts an SSE-C source with the
	// destination upload's key from the request (RGW) instead of the
	// copy-source triple (AWS).
	partCopyUsesDestKey bool
	// sseS3: x-amz-server-side-encryption: AES256 encrypts with the
	// server's key (AWS); RGW answers 200 and stores it unencrypted.
	sseS3 bool
	// etagIsPlainMD5: the ETag of an SSE-C or SSE-KMS object is the MD5 of
	// the plaintext (RGW); AWS's is not.
	etagIsPlainMD5 bool
	// refuseTrailerChunked: aws-chunked bodies with trailing checksums get
	// 411 MissingContentLength (RGW 16).
	refuseTrailerChunked bool
	// kmsFailure maps a key manager failure for key id to the answer.
	kmsFailure func(kind kmsFailureKind, id string) *Error
	// insecure: an SSE request over plain HTTP with RequireSSL set.
	insecure func() *Error
	// refuseKMSHeadersOnPart: SSE-KMS headers on UploadPart are refused
	// (AWS) rather than ignored (RGW).
	refuseKMSHeadersOnPart bool
	// completeNoEcho: CompleteMultipartUpload answers without any SSE
	// echo (RGW 16, observed with SSE-C and SSE-KMS). AWS echoes SSE-KMS
	// but not SSE-C (its response has no SSE-C fields): either way clients
	// confirm with a HEAD.
	completeNoEcho bool
	// partCopyNoEcho: UploadPartCopy answers without any SSE echo (RGW 16),
	// although the part is encrypted with the upload's key; AWS echoes.
	partCopyNoEcho bool
	// sseOnRead: x-amz-server-side-encryption (or a KMS key id) on a GET or
	// HEAD, where only SSE-C may be sent.
	sseOnRead func() *Error
	// trailerWithLength: an aws-chunked body with trailing checksums that
	// comes with a Content-Length (aws-sdk-go-v2) is 400
	// XAmzContentSHA256Mismatch on RGW 16, which hashes the framed body;
	// without one (botocore) it is 411 MissingContentLength.
	trailerWithLength func() *Error
}

// Messages RGW 16 uses (rgw_crypt.cc); AWS uses the same or similar text.
const (
	msgAlgorithm    = "Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm."
	msgBadAlgorithm = "The requested encryption algorithm is not valid, must be AES256."
	msgSecretKey    = "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key."
	msgSecretKeyMD5 = "Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key md5."
	msgKeyMD5       = "The calculated MD5 hash of the key did not match the hash that was provided."
	msgNeedKey      = "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object."
	msgNotApplic    = "The encryption parameters are not applicable to this object."
	msgSSECAndKMS   = "Server Side Encryption with Customer provided key is incompatible with the encryption method specified"
	msgKMSNeedsID   = "Server Side Encryption with KMS managed key requires HTTP header x-amz-server-side-encryption-aws-kms-key-id"
	msgIDNeedsKMS   = "Server Side Encryption with KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms"
	msgBadSSE       = "Invalid server side encryption request."
	msgInsecure     = "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection."
)

// kmsFailureKind classifies why an SSE-KMS key could not be had.
type kmsFailureKind int

const (
	kmsNotFound    kmsFailureKind = iota // no such secret (unknown or deleted)
	kmsForbidden                         // the service user is not on the secret's ACL
	kmsBadSecret                         // the secret is not 32 bytes
	kmsUnavailable                       // the key manager does not answer
)

var awsRules = &rules{
	profile:    ProfileAWS,
	missingKey: func() *Error { return errInvalidRequest(msgNeedKey) },
	wrongKey:   errAccessDenied,
	partMissingKey: func() *Error {
		return errInvalidRequest("The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.")
	},
	partWrongKey: func() *Error {
		return errInvalidArgument("The provided encryption parameters did not match the ones used originally.")
	},
	sseS3: true,
	kmsFailure: func(kind kmsFailureKind, id string) *Error {
		if kind == kmsUnavailable {
			return newErr(http.StatusInternalServerError, "InternalError", "The key manager is unavailable.")
		}
		return errAccessDenied()
	},
	insecure:               func() *Error { return errInvalidRequest(msgInsecure) },
	refuseKMSHeadersOnPart: true,
	sseOnRead: func() *Error {
		return errInvalidArgument("x-amz-server-side-encryption header is not supported for this operation.")
	},
}

var rgwRules = &rules{
	profile:                    ProfileRGW,
	missingKey:                 func() *Error { return errInvalidArgument(msgAlgorithm) },
	wrongKey:                   func() *Error { return errInvalidArgument(msgKeyMD5) },
	partMissingKey:             func() *Error { return errInvalidArgument(msgAlgorithm) },
	partWrongKey:               func() *Error { return errInvalidArgument(msgKeyMD5) },
	ignoreSSECOnOthers:         true,
	ssecWinsOverKMS:            true,
	kmsNeedsKeyID:              true,
	strictKMSKeyID:             true,
	copyRefusesEncryptedSource: true,
	copyDropsSSE:               true,
	partCopyUsesDestKey:        true,
	etagIsPlainMD5:             true,
	refuseTrailerChunked:       true,
	kmsFailure: func(kind kmsFailureKind, id string) *Error {
		msg := "Failed to retrieve the actual key, kms-keyid: " + id
		switch kind {
		case kmsNotFound:
			// Barbican answers 404, which RGW passes on as -ENOENT.
			return newErr(http.StatusNotFound, "NoSuchKey", msg)
		case kmsUnavailable:
			return newErr(http.StatusInternalServerError, "UnknownError", "")
		}
		return newErr(http.StatusForbidden, "AccessDenied", msg)
	},
	insecure:       func() *Error { return errInvalidRequest("") },
	completeNoEcho: true,
	partCopyNoEcho: true,
	sseOnRead:      func() *Error { return errInvalidRequest("") },
	trailerWithLength: func() *Error {
		return newErr(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "")
	},
}

func rulesFor(p Profile) *rules {
	if p == ProfileRGW {
		return rgwRules
	}
	return awsRules
}

// checkPayloadMode refuses what the profile does not accept of the body
// framing before authentication reads it.
func (ru *rules) checkPayloadMode(r *http.Request) *Error {
	if !ru.refuseTrailerChunked {
		return nil
	}
	switch r.Header.Get("x-amz-content-sha256") {
	case "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
		"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
		if r.ContentLength >= 0 && ru.trailerWithLength != nil {
			return ru.trailerWithLength()
		}
		return newErr(http.StatusLengthRequired, "MissingContentLength", "")
	}
	return nil
}
