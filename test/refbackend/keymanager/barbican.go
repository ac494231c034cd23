package keymanager

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Barbican v1 secrets: version documents, create, show, payload, list and
// delete. ACLs are in acl.go, policy in policy.go.

const (
	msgSecretNotFound = "Not Found. Sorry but your secret is in another castle."
	msgNoPayload      = "Not Found. Sorry but your secret has no payload."
	defaultListLimit  = 10
	maxListLimit      = 100
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// secretTypes are the types Barbican accepts.
var secretTypes = []string{"symmetric", "public", "private", "passphrase", "certificate", "opaque"}

// barbicanVersion is the v1 entry of Barbican's version documents.
func (s *server) barbicanVersion() map[string]any {
	return map[string]any{
		"id": "v1", "status": "stable",
		"links": []map[string]string{
			{"rel": "self", "href": s.base + "/v1/"},
			{"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"},
		},
		"media-types": []map[string]string{{
			"base": "application/json", "type": "application/vnd.openstack.key-manager-v1+json"}},
	}
}

// barbicanVersions answers GET / as Barbican does (300 Multiple Choices).
func (s *server) barbicanVersions(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMultipleChoices, map[string]any{
		"versions": map[string]any{"values": []any{s.barbicanVersion()}}})
}

// serveBarbican routes a request under /v1; p is the path after "/v1".
func (s *server) serveBarbican(w http.ResponseWriter, r *http.Request, p string) {
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		writeJSON(w, http.StatusOK, map[string]any{"version": s.barbicanVersion()})
		return
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if parts[0] != "secrets" || len(parts) > 3 {
		barbicanError(w, http.StatusNotFound, "The resource could not be found.")
		return
	}
	id := s.authenticate(w, r)
	if id == nil {
		return
	}
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodPost:
			s.createSecret(w, r, id)
		case http.MethodGet:
			s.listSecrets(w, r, id)
		default:
			barbicanError(w, http.StatusMethodNotAllowed, "Method not allowed.")
		}
		return
	}
	sec, ok := s.loadSecret(w, parts[1])
	if !ok {
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		if wantsMetadata(r.Header.Get("Accept")) {
			s.showSecret(w, id, sec)
		} else {
			s.secretPayload(w, r, id, sec)
		}
	case len(parts) == 2 && r.Method == http.MethodDelete:
		s.deleteSecret(w, id, sec)
	case len(parts) == 3 && parts[2] == "payload" && r.Method == http.MethodGet:
		s.secretPayload(w, r, id, sec)
	case len(parts) == 3 && parts[2] == "acl":
		s.serveACL(w, r, id, sec)
	case len(parts) == 3 && parts[2] != "payload" && parts[2] != "acl":
		barbicanError(w, http.StatusNotFound, "The resource could not be found.")
	default:
		barbicanError(w, http.StatusMethodNotAllowed, "Method not allowed.")
	}
}

// loadSecret fetches a live secret by id, answering 404 if there is none.
func (s *server) loadSecret(w http.ResponseWriter, id string) (*secretRecord, bool) {
	sec := new(secretRecord)
	if uuidRE.MatchString(id) {
		err := s.m.st.get(bucketSecrets, id, sec)
		if err == nil && !sec.expired(time.Now()) {
			return sec, true
		}
		if err != nil && !errors.Is(err, errNotFound) {
			barbicanError(w, http.StatusInternalServerError, err.Error())
			return nil, false
		}
	}
	barbicanError(w, http.StatusNotFound, msgSecretNotFound)
	return nil, false
}

// wantsMetadata reports whether GET /v1/secrets/{id} with this Accept header
// asks for metadata (JSON) rather than the payload, as older clients use it:
// it does when the first media range is absent, */* or application/json.
func wantsMetadata(accept string) bool {
	first, _, _ := strings.Cut(accept, ",")
	first, _, _ = strings.Cut(first, ";")
	first = strings.ToLower(strings.TrimSpace(first))
	return first == "" || first == "*/*" || first == "application/json"
}

func (s *server) secretRef(id string) string { return s.base + "/v1/secrets/" + id }

// secretBody renders sec's metadata as Barbican does.
func (s *server) secretBody(sec *secretRecord) map[string]any {
	orNil := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	b := map[string]any{
		"status": "ACTIVE", "created": barbicanTime(sec.Created), "updated": barbicanTime(sec.Updated),
		"expiration": nil, "name": orNil(sec.Name), "secret_type": sec.SecretType,
		"algorithm": orNil(sec.Algorithm), "mode": orNil(sec.Mode), "bit_length": nil,
		"creator_id": sec.CreatorID, "secret_ref": s.secretRef(sec.ID),
	}
	if sec.BitLength > 0 {
		b["bit_length"] = sec.BitLength
	}
	if sec.Expiration != nil {
		b["expiration"] = barbicanTime(*sec.Expiration)
	}
	if sec.ContentType != "" {
		b["content_types"] = map[string]string{"default": sec.ContentType}
	}
	return b
}

// createSecretRequest is the body of POST /v1/secrets.
type createSecretRequest struct {
	Name                   string  `json:"name"`
	Payload                *string `json:"payload"`
	PayloadContentType     string  `json:"payload_content_type"`
	PayloadContentEncoding string  `json:"payload_content_encoding"`
	Algorithm              string  `json:"algorithm"`
	BitLength              *int    `json:"bit_length"`
	Mode                   string  `json:"mode"`
	SecretType             string  `json:"secret_type"`
	Expiration             *string `json:"expiration"`
}

// createSecret handles POST /v1/secrets.
func (s *server) createSecret(w http.ResponseWriter, r *http.Request, id *identity) {
	if !canCreateSecret(id) {
		forbid(w, "Secret creation")
		return
	}
	var req createSecretRequest
	if err := readJSON(r, &req); err != nil {
		barbicanError(w, http.StatusBadRequest, "Provided object does not match schema 'Secret': "+err.Error())
		return
	}
	now := time.Now().UTC()
	sec := &secretRecord{ID: newUUID(), Name: req.Name, Algorithm: req.Algorithm, Mode: req.Mode,
		SecretType: req.SecretType, ProjectID: id.projectID(), CreatorID: id.UserID, Created: now, Updated: now}
	if msg := fillSecret(sec, &req, now); msg != "" {
		barbicanError(w, http.StatusBadRequest, msg)
		return
	}
	if err := s.m.st.put(bucketSecrets, sec.ID, sec); err != nil {
		barbicanError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Location", s.secretRef(sec.ID))
	writeJSON(w, http.StatusCreated, map[string]string{"secret_ref": s.secretRef(sec.ID)})
}

// fillSecret validates req as Barbican's secret validator does and copies the
// payload, type, bit length and expiration into sec; it returns the 400
// description on failure.
func fillSecret(sec *secretRecord, req *createSecretRequest, now time.Time) string {
	const schema = "Provided object does not match schema 'Secret': "
	if len(req.Name) > 255 || len(req.Algorithm) > 255 || len(req.Mode) > 255 {
		return schema + "a field is longer than 255 characters"
	}
	if sec.SecretType == "" {
		sec.SecretType = "opaque"
	}
	if !slices.Contains(secretTypes, sec.SecretType) {
		return schema + "secret_type is not one of " + strings.Join(secretTypes, ", ")
	}
	if req.BitLength != nil {
		if *req.BitLength < 0 {
			return schema + "bit_length must be greater than or equal to 0"
		}
		sec.BitLength = *req.BitLength
	}
	if req.Expiration != nil && *req.Expiration != "" {
		t, err := parseTimeLoose(*req.Expiration)
		if err != nil {
			return schema + "Invalid date for 'expiration'"
		}
		if !t.After(now) {
			return schema + "'expiration' is before current time"
		}
		sec.Expiration = &t
	}
	if req.Payload == nil {
		if req.PayloadContentType != "" || req.PayloadContentEncoding != "" {
			return schema + "payload must be provided when payload_content_type or payload_content_encoding is specified"
		}
		return ""
	}
	if strings.TrimSpace(*req.Payload) == "" {
		return schema + "If 'payload' specified, must be non empty"
	}
	ct := normalizeContentType(req.PayloadContentType)
	enc := strings.ToLower(strings.TrimSpace(req.PayloadContentEncoding))
	switch {
	case req.PayloadContentType == "":
		return schema + "If 'payload' is supplied, 'payload_content_type' must also be supplied."
	case ct == "":
		return "Provided field value is not supported: payload_content_type"
	case ct != "text/plain" && enc != "base64":
		return "Provided field value is not supported: payload_content_encoding"
	case enc != "" && enc != "base64":
		return "Provided field value is not supported: payload_content_encoding"
	}
	payload := []byte(*req.Payload)
	if enc == "base64" {
		var err error
		if payload, err = base64.StdEncoding.DecodeString(*req.Payload); err != nil || len(payload) == 0 {
			return "Provided field value is not supported: payload_content_encoding is base64 but the payload is not"
		}
	}
	sec.ContentType, sec.Payload = ct, payload
	return ""
}

// normalizeContentType maps a payload content type to the form Barbican
// stores, or "" if Barbican does not accept it.
func normalizeContentType(ct string) string {
	ct = strings.ToLower(strings.ReplaceAll(ct, " ", ""))
	switch ct {
	case "text/plain", "text/plain;charset=utf-8":
		return "text/plain"
	case "application/octet-stream", "application/pkcs8", "application/pkix-cert":
		return ct
	}
	return ""
}

// accepts reports whether an Accept header admits content type ct.
func accepts(accept, ct string) bool {
	if strings.TrimSpace(accept) == "" {
		return true
	}
	major, _, _ := strings.Cut(ct, "/")
	for _, r := range strings.Split(accept, ",") {
		r, _, _ = strings.Cut(r, ";")
		r = strings.ToLower(strings.TrimSpace(r))
		if r == "*/*" || r == ct || r == major+"/*" {
			return true
		}
	}
	return false
}

// showSecret answers a secret's metadata.
func (s *server) showSecret(w http.ResponseWriter, id *identity, sec *secretRecord) {
	if !canGetSecret(id, sec) {
		forbid(w, "Secret retrieval")
		return
	}
	writeJSON(w, http.StatusOK, s.secretBody(sec))
}

// secretPayload answers a secret's payload in its own content type, or 406
// if the Accept header does not admit it.
func (s *server) secretPayload(w http.ResponseWriter, r *http.Request, id *identity, sec *secretRecord) {
	if !canDecryptSecret(id, sec) {
		forbid(w, "Secret payload retrieval")
		return
	}
	if sec.ContentType == "" {
		barbicanError(w, http.StatusNotFound, msgNoPayload)
		return
	}
	if !accepts(r.Header.Get("Accept"), sec.ContentType) {
		barbicanError(w, http.StatusNotAcceptable, "Wrong payload content-type")
		return
	}
	ct := sec.ContentType
	if ct == "text/plain" {
		ct = "text/plain;charset=utf-8"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", strconv.Itoa(len(sec.Payload)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(sec.Payload)
}

// deleteSecret handles DELETE /v1/secrets/{id}.
func (s *server) deleteSecret(w http.ResponseWriter, id *identity, sec *secretRecord) {
	if !canManageSecret(id, sec) {
		forbid(w, "Secret deletion")
		return
	}
	if err := s.m.st.delete(bucketSecrets, sec.ID); err != nil && !errors.Is(err, errNotFound) {
		barbicanError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listSecrets handles GET /v1/secrets: the token's project's secrets (or,
// with acl_only=true, those whose read ACL names the user), oldest first,
// filtered by name, alg, mode, bits and secret_type, paged by limit/offset.
func (s *server) listSecrets(w http.ResponseWriter, r *http.Request, id *identity) {
	q := r.URL.Query()
	aclOnly := strings.EqualFold(q.Get("acl_only"), "true")
	if !aclOnly && !canListSecrets(id) {
		forbid(w, "Secret(s) retrieval")
		return
	}
	all, err := s.m.st.allSecrets()
	if err != nil {
		barbicanError(w, http.StatusInternalServerError, err.Error())
		return
	}
	now := time.Now()
	bits, _ := strconv.Atoi(q.Get("bits"))
	var match []*secretRecord
	for _, sec := range all {
		switch {
		case sec.expired(now),
			aclOnly && !onReadACL(id, sec),
			!aclOnly && sec.ProjectID != id.projectID(),
			q.Get("name") != "" && sec.Name != q.Get("name"),
			q.Get("alg") != "" && !strings.EqualFold(sec.Algorithm, q.Get("alg")),
			q.Get("mode") != "" && !strings.EqualFold(sec.Mode, q.Get("mode")),
			q.Get("secret_type") != "" && sec.SecretType != q.Get("secret_type"),
			bits > 0 && sec.BitLength != bits:
			continue
		}
		match = append(match, sec)
	}
	sort.Slice(match, func(i, j int) bool {
		if !match[i].Created.Equal(match[j].Created) {
			return match[i].Created.Before(match[j].Created)
		}
		return match[i].ID < match[j].ID
	})
	limit, offset := pageParams(q)
	list := []map[string]any{}
	for i := offset; i < len(match) && i < offset+limit; i++ {
		list = append(list, s.secretBody(match[i]))
	}
	body := map[string]any{"secrets": list, "total": len(match)}
	if offset+limit < len(match) {
		body["next"] = s.pageHref(q, limit, offset+limit)
	}
	if offset > 0 {
		body["previous"] = s.pageHref(q, limit, max(0, offset-limit))
	}
	writeJSON(w, http.StatusOK, body)
}

// pageParams reads limit (default 10, at most 100) and offset (default 0),
// clamping bad values as Barbican does.
func pageParams(q url.Values) (limit, offset int) {
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit <= 0 {
		limit = defaultListLimit
	}
	limit = min(limit, maxListLimit)
	offset, err = strconv.Atoi(q.Get("offset"))
	if err != nil || offset < 0 {
		offset = 0
	}
	return limit, offset
}

// pageHref is the list URL for another page with the same filters.
func (s *server) pageHref(q url.Values, limit, offset int) string {
	v := url.Values{}
	for k, vals := range q {
		v[k] = vals
	}
	v.Set("limit", strconv.Itoa(limit))
	v.Set("offset", strconv.Itoa(offset))
	return s.base + "/v1/secrets?" + v.Encode()
}
