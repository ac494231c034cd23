package refbackend

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ssefs/ssefs/test/refbackend/keymanager"
)

// kmsTimeout bounds one key fetch.
const kmsTimeout = 20 * time.Second

// kmsKeyID checks and normalizes an SSE-KMS key id sent by a client. The rgw
// profile passes it verbatim to the key manager as RGW does, so a full href
// or upper-case letters find nothing (404 NoSuchKey, even on PUT); the aws
// profile accepts an href and keeps its last path element.
func (s *Server) kmsKeyID(id string) (string, error) {
	if s.rules.strictKMSKeyID {
		if strings.Contains(id, "/") || strings.ToLower(id) != id {
			return "", s.rules.kmsFailure(kmsNotFound, id)
		}
		return id, nil
	}
	if i := strings.LastIndexByte(strings.TrimRight(id, "/"), '/'); i >= 0 {
		id = strings.TrimRight(id, "/")[i+1:]
	}
	if id == "" || id == sseS3KeyID {
		return "", s.rules.kmsFailure(kmsNotFound, id)
	}
	return id, nil
}

// fetchKMS fetches the secret of key id from the key manager as the object
// store's service user, mapping failures to the profile's answers.
func (s *Server) fetchKMS(rq *request, id string) ([]byte, error) {
	if s.cfg.KMS == nil {
		return nil, s.rules.kmsFailure(kmsUnavailable, id)
	}
	ctx, cancel := context.WithTimeout(rq.r.Context(), kmsTimeout)
	defer cancel()
	key, err := s.cfg.KMS.FetchKey(ctx, id)
	if err == nil && len(key) != 32 {
		err = keymanager.ErrBadSecret
	}
	if err != nil {
		kind := kmsUnavailable
		switch {
		case errors.Is(err, keymanager.ErrSecretNotFound):
			kind = kmsNotFound
		case errors.Is(err, keymanager.ErrSecretForbidden):
			kind = kmsForbidden
		case errors.Is(err, keymanager.ErrBadSecret):
			kind = kmsBadSecret
		}
		if kind == kmsUnavailable {
			s.log.Printf("refbackend: key manager: fetching key %s: %v", id, err)
		}
		return nil, s.rules.kmsFailure(kind, id)
	}
	return key, nil
}
