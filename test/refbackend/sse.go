package refbackend

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// SSE request and response headers.
const (
	hSSE      = "x-amz-server-side-encryption"
	hKMSKeyID = "x-amz-server-side-encryption-aws-kms-key-id"
	hSSECAlg  = "x-amz-server-side-encryption-customer-algorithm"
	hSSECKey  = "x-amz-server-side-encryption-customer-key"
	hSSECMD5  = "x-amz-server-side-encryption-customer-key-MD5"
	copyPfx   = "x-amz-copy-source-"
)

// sseS3KeyID marks, in ObjectMeta.KMSKeyID of an SSEKMS object, an SSE-S3
// object sealed with the server's own key rather than a key manager secret.
const sseS3KeyID = "ssefs-refbackend:sse-s3"

// ssecKey is a validated SSE-C customer key.
type ssecKey struct {
	key []byte
	md5 string // base64 MD5 of key, as sent
}

// ssecNames returns the names of the SSE-C triple on the target, or on the
// copy source (x-amz-copy-source-server-side-encryption-customer-*).
func ssecNames(copySrc bool) (alg, key, md5 string) {
	if copySrc {
		c := func(n string) string { return copyPfx + strings.TrimPrefix(n, "x-amz-") }
		return c(hSSECAlg), c(hSSECKey), c(hSSECMD5)
	}
	return hSSECAlg, hSSECKey, hSSECMD5
}

// ssecSent reports whether any header of the SSE-C triple is present, on the
// copy source (copySrc) or on the target.
func ssecSent(h http.Header, copySrc bool) bool {
	a, k, m := ssecNames(copySrc)
	return h.Get(a) != "" || h.Get(k) != "" || h.Get(m) != ""
}

// parseSSEC validates the SSE-C triple (on the copy source if copySrc). It
// returns nil, nil when no header of the triple is present. The checks and
// their order are RGW's (rgw_crypt.cc); AWS answers the same codes.
func parseSSEC(h http.Header, copySrc bool) (*ssecKey, *Error) {
	if !ssecSent(h, copySrc) {
		return nil, nil
	}
	algName, keyName, md5Name := ssecNames(copySrc)
	alg := h.Get(algName)
	if alg == "" {
		return nil, errInvalidArgument(msgAlgorithm)
	}
	if alg != "AES256" {
		return nil, newErr(http.StatusBadRequest, "InvalidEncryptionAlgorithmError", msgBadAlgorithm)
	}
	key, err := base64.StdEncoding.DecodeString(h.Get(keyName))
	if err != nil || len(key) != 32 {
		return nil, errInvalidArgument(msgSecretKey)
	}
	md5s := h.Get(md5Name)
	sum, err := base64.StdEncoding.DecodeString(md5s)
	if err != nil || len(sum) != md5.Size {
		return nil, errInvalidArgument(msgSecretKeyMD5)
	}
	want := md5.Sum(key)
	if string(want[:]) != string(sum) {
		return nil, errInvalidArgument(msgKeyMD5)
	}
	return &ssecKey{key: key, md5: base64.StdEncoding.EncodeToString(want[:])}, nil
}

// checkSecure refuses an SSE request over plain HTTP when RequireSSL is set.
func (s *Server) checkSecure(rq *request) *Error {
	if s.cfg.RequireSSL && !rq.secure {
		return s.rules.insecure()
	}
	return nil
}

// newSealing decides, from a PUT, CreateMultipartUpload or CopyObject
// request, how the new object is encrypted (DESIGN.md section 3).
func (s *Server) newSealing(rq *request) (objstore.Sealing, error) {
	h := rq.r.Header
	ru := s.rules
	sse := h.Get(hSSE)
	keyID := h.Get(hKMSKeyID)
	if ssecSent(h, false) {
		if (sse != "" || keyID != "") && !ru.ssecWinsOverKMS {
			return objstore.Sealing{}, errInvalidArgument(msgSSECAndKMS)
		}
		if err := s.checkSecure(rq); err != nil {
			return objstore.Sealing{}, err
		}
		k, e := parseSSEC(h, false)
		if e != nil {
			return objstore.Sealing{}, e
		}
		return objstore.Sealing{Mode: objstore.SSEC, Key: k.key}, nil
	}
	switch sse {
	case "":
		if keyID != "" {
			return objstore.Sealing{}, errInvalidArgument(msgIDNeedsKMS)
		}
		return objstore.Sealing{}, nil
	case "aws:kms":
		if err := s.checkSecure(rq); err != nil {
			return objstore.Sealing{}, err
		}
		if keyID == "" {
			if ru.kmsNeedsKeyID || s.cfg.DefaultKMSKeyID == "" {
				return objstore.Sealing{}, errInvalidArgument(msgKMSNeedsID)
			}
			keyID = s.cfg.DefaultKMSKeyID
		}
		id, err := s.kmsKeyID(keyID)
		if err != nil {
			return objstore.Sealing{}, err
		}
		secret, err := s.fetchKMS(rq, id)
		if err != nil {
			return objstore.Sealing{}, err
		}
		return objstore.Sealing{Mode: objstore.SSEKMS, Key: secret, KMSKeyID: id}, nil
	case "AES256":
		if !ru.sseS3 {
			// RGW without a default key: checks TLS, then stores it as sent.
			if err := s.checkSecure(rq); err != nil {
				return objstore.Sealing{}, err
			}
			return objstore.Sealing{}, nil
		}
		return objstore.Sealing{Mode: objstore.SSEKMS, Key: s.sses3, KMSKeyID: sseS3KeyID}, nil
	}
	return objstore.Sealing{}, errInvalidArgument(msgBadSSE)
}

// refuseSSEOnRead refuses SSE-KMS/SSE-S3 headers where only SSE-C may be
// sent (GET, HEAD): 400 in both profiles (the code is the profile's).
func (s *Server) refuseSSEOnRead(rq *request) *Error {
	if rq.r.Header.Get(hSSE) != "" || rq.r.Header.Get(hKMSKeyID) != "" {
		return s.rules.sseOnRead()
	}
	return nil
}

// openKey returns the key that opens the stored object meta, from the
// request's SSE-C triple (the copy-source triple if copySrc) or the key
// manager. It is nil for unencrypted objects.
func (s *Server) openKey(rq *request, meta objstore.ObjectMeta, copySrc bool) ([]byte, error) {
	h := rq.r.Header
	ru := s.rules
	switch meta.SSE {
	case objstore.SSEC:
		if err := s.checkSecure(rq); err != nil {
			return nil, err
		}
		k, e := parseSSEC(h, copySrc)
		if e != nil {
			return nil, e
		}
		if k == nil {
			return nil, ru.missingKey()
		}
		return s.checkSSECKey(meta, k, ru.wrongKey)
	case objstore.SSEKMS:
		if ssecSent(h, copySrc) && !ru.ignoreSSECOnOthers {
			if _, e := parseSSEC(h, copySrc); e != nil {
				return nil, e
			}
			return nil, errInvalidRequest(msgNotApplic)
		}
		if meta.KMSKeyID == sseS3KeyID {
			return s.sses3, nil
		}
		if err := s.checkSecure(rq); err != nil {
			return nil, err
		}
		return s.fetchKMS(rq, meta.KMSKeyID)
	default:
		if ssecSent(h, copySrc) && !ru.ignoreSSECOnOthers {
			if _, e := parseSSEC(h, copySrc); e != nil {
				return nil, e
			}
			return nil, errInvalidRequest(msgNotApplic)
		}
		return nil, nil
	}
}

// checkSSECKey confirms that k opens the SSE-C object meta.
func (s *Server) checkSSECKey(meta objstore.ObjectMeta, k *ssecKey, wrong func() *Error) ([]byte, error) {
	if meta.SSECKeyMD5 != "" && k.md5 != meta.SSECKeyMD5 {
		return nil, wrong()
	}
	if err := s.store.CheckKey(meta, k.key); err != nil {
		if errors.Is(err, objstore.ErrWrongKey) {
			return nil, wrong()
		}
		return nil, err
	}
	return k.key, nil
}

// uploadKey returns the key that seals parts of the upload up, from the
// request's SSE-C triple or the key manager (UploadPart, UploadPartCopy,
// CompleteMultipartUpload, ListParts). When optional is set a missing SSE-C
// triple is no error and the key is nil.
func (s *Server) uploadKey(rq *request, up objstore.UploadInfo, optional bool) ([]byte, error) {
	h := rq.r.Header
	ru := s.rules
	switch up.Meta.SSE {
	case objstore.SSEC:
		if err := s.checkSecure(rq); err != nil {
			return nil, err
		}
		k, e := parseSSEC(h, false)
		if e != nil {
			return nil, e
		}
		if k == nil {
			if optional {
				return nil, nil
			}
			return nil, ru.partMissingKey()
		}
		if up.Meta.SSECKeyMD5 != "" && k.md5 != up.Meta.SSECKeyMD5 {
			return nil, ru.partWrongKey()
		}
		if err := s.store.CheckUploadKey(up.UploadID, k.key); err != nil {
			if errors.Is(err, objstore.ErrWrongKey) {
				return nil, ru.partWrongKey()
			}
			return nil, err
		}
		return k.key, nil
	case objstore.SSEKMS:
		if ssecSent(h, false) && !ru.ignoreSSECOnOthers {
			return nil, errInvalidRequest(msgNotApplic)
		}
		if up.Meta.KMSKeyID == sseS3KeyID {
			return s.sses3, nil
		}
		if err := s.checkSecure(rq); err != nil {
			return nil, err
		}
		return s.fetchKMS(rq, up.Meta.KMSKeyID)
	default:
		if ssecSent(h, false) && !ru.ignoreSSECOnOthers {
			return nil, errInvalidRequest("The multipart upload initiate did not request encryption; part requests must not include encryption parameters.")
		}
		return nil, nil
	}
}

// setEcho writes the SSE response headers that describe how meta is stored,
// exactly as S3 echoes them.
func setEcho(h http.Header, meta objstore.ObjectMeta) {
	switch meta.SSE {
	case objstore.SSEC:
		h.Set(hSSECAlg, "AES256")
		h.Set(hSSECMD5, meta.SSECKeyMD5)
	case objstore.SSEKMS:
		if meta.KMSKeyID == sseS3KeyID {
			h.Set(hSSE, "AES256")
			return
		}
		h.Set(hSSE, "aws:kms")
		h.Set(hKMSKeyID, meta.KMSKeyID)
	}
}

// etag returns the quoted ETag clients see for meta. In the aws profile the
// ETag of an SSE-C or SSE-KMS object is not the MD5 of its content.
func (s *Server) etag(meta objstore.ObjectMeta) string {
	return `"` + s.etagFor(meta.SSE, meta.KMSKeyID, meta.Bucket+"/"+meta.Key, meta.ETag) + `"`
}

// etagFor derives the visible ETag from the stored one (unquoted).
func (s *Server) etagFor(mode objstore.SSEMode, kmsID, name, stored string) string {
	if s.rules.etagIsPlainMD5 || mode == objstore.SSENone || (mode == objstore.SSEKMS && kmsID == sseS3KeyID) {
		return stored
	}
	if strings.Contains(stored, "-") {
		return stored // multipart ETags are never a content MD5
	}
	sum := md5.Sum([]byte("ssefs-refbackend-sse-etag\x00" + name + "\x00" + stored))
	return hex.EncodeToString(sum[:])
}

// md5OfKey returns the base64 MD5 of a raw key.
func md5OfKey(key []byte) string {
	sum := md5.Sum(key)
	return base64.StdEncoding.EncodeToString(sum[:])
}
