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
	"unicode/utf8"
)

// Barbican v1 secrets: version documents, create, show, payload, list and
// delete. ACLs are in acl.go, policy in policy.go.

const (
	msgSecretNotFound = "Secret not found."
	msgBadSecretID    = "Not Found. Provided secret id is invalid."
	msgNoPayload      = "Not Found. Sorry but your secret has no payload."
	msgWrongAccept    = "Wrong payload content-type."
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
// Everything under /v1 needs a token, as Barbican's paste pipeline puts
// keystonemiddleware in front of it (only / is open).
func (s *server) serveBarbican(w http.ResponseWriter, r *http.Request, p string) {
	id := s.authenticate(w, r)
	if id == nil {
		return
	}
	p = strings.TrimSuffix(p, "/")
	if p == "" {
		writeJSON(w, http.StatusOK, map[string]any{"version": s.barbicanVersion()})
		return
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if parts[0] != "secrets" || len(parts) > 3 {
		barbicanError(w, http.StatusNotFound, "")
		return
	}
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodPost:
			s.createSecret(w, r, id)
		case http.MethodGet:
			s.listSecrets(w, r, id)
		default:
			barbicanError(w, http.StatusMethodNotAllowed, "")
		}
		return
	}
	sec, ok := s.loadSecret(w, parts[1])
	if !ok {
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		if wantsMetadata(r.Header) {
			s.showSecret(w, id, sec)
		} else {
			s.secretPayload(w, r, id, sec, "Secret retrieval")
		}
	case len(parts) == 2 && r.Method == http.MethodDelete:
		s.deleteSecret(w, id, sec)
	case len(parts) == 3 && parts[2] == "payload" && r.Method == http.MethodGet:
		s.secretPayload(w, r, id, sec, "Secret payload retrieval")
	case len(parts) == 3 && parts[2] == "acl":
		s.serveACL(w, r, id, sec)
	case len(parts) == 3 && parts[2] != "payload" && parts[2] != "acl":
		barbicanError(w, http.StatusNotFound, "")
	default:
		barbicanError(w, http.StatusMethodNotAllowed, "")
	}
}

// loadSecret fetches a live secret by id, answering 404 if there is none.
func (s *server) loadSecret(w http.ResponseWriter, id string) (*secretRecord, bool) {
	if !uuidRE.MatchString(id) {
		barbicanError(w, http.StatusNotFound, msgBadSecretID)
		return nil, false
	}
	sec := new(secretRecord)
	err := s.m.st.get(bucketSecrets, id, sec)
	if err == nil && !sec.expired(time.Now()) {
		return sec, true
	}
	if err != nil && !errors.Is(err, errNotFound) {
		barbicanError(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	barbicanError(w, http.StatusNotFound, msgSecretNotFound)
	return nil, false
}

// wantsMetadata reports whether GET /v1/secrets/{id} asks for metadata (JSON)
// rather than the payload, as older clients use it: Barbican answers
// metadata when there is no Accept header, or when it is exactly
// application/json or */*.
func wantsMetadata(h http.Header) bool {
	v, ok := h["Accept"]
	if !ok {
		return true
	}
	accept := strings.Join(v, ", ")
	return accept == "application/json" || accept == "*/*"
}

// unscoped answers a request with an unscoped token as Barbican does: its
// policy check trips over the missing project and it answers 500 (a Barbican
// bug; clients must use project-scoped tokens).
func unscoped(w http.ResponseWriter, id *identity, action string) bool {
	if id.project != nil {
		return false
	}
	barbicanError(w, http.StatusInternalServerError, action+" failure seen - please contact site administrator.")
	return true
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
	if unscoped(w, id, "Secret creation") {
		return
	}
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
	enc := req.PayloadContentEncoding
	switch {
	case req.PayloadContentType == "":
		return schema + "If 'payload' is supplied, 'payload_content_type' must also be supplied."
	case ct == "":
		return schema + "payload_content_type is not one of ['text/plain', 'text/plain;charset=utf-8', " +
			"'text/plain; charset=utf-8', 'application/octet-stream', 'application/pkcs8']. Invalid property: 'payload_content_type'"
	case ct == "text/plain" && enc != "":
		return schema + "payload_content_encoding is not one of None. Invalid property: 'payload_content_encoding'"
	case ct != "text/plain" && enc != "base64":
		return schema + "payload_content_encoding is not one of ['base64']. Invalid property: 'payload_content_encoding'"
	}
	payload := []byte(*req.Payload)
	if enc == "base64" {
		var ok bool
		if payload, ok = decodeBase64Loose(*req.Payload); !ok {
			return schema + "Invalid payload for payload_content_encoding. Invalid property: 'payload'"
		}
	}
	sec.ContentType, sec.Payload = ct, payload
	return ""
}

// decodeBase64Loose decodes base64 as Python's b64decode does without
// validation, which is what Barbican uses: characters outside the alphabet
// are dropped first, padding is required. The result may be empty ("!!!").
func decodeBase64Loose(s string) ([]byte, bool) {
	clean := strings.Map(func(r rune) rune {
		if r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '/' || r == '=' {
			return r
		}
		return -1
	}, s)
	b, err := base64.StdEncoding.DecodeString(clean)
	return b, err == nil
}

// normalizeContentType maps a payload content type to the form Barbican
// stores, or "" if Barbican does not accept it: the media type is compared
// without case, a charset must be utf-8.
func normalizeContentType(ct string) string {
	mime, params, _ := strings.Cut(ct, ";")
	mime = strings.ToLower(strings.TrimSpace(mime))
	if params != "" {
		k, v, ok := strings.Cut(params, "=")
		if !ok || strings.TrimSpace(strings.ToLower(k)) != "charset" || strings.TrimSpace(strings.ToLower(v)) != "utf-8" {
			return ""
		}
	}
	switch mime {
	case "text/plain", "application/octet-stream", "application/pkcs8":
		return mime
	}
	return ""
}

// Media types Barbican hands payloads out as; the Accept header must be one
// of them exactly (it is not parsed as a list of media ranges).
var (
	plainTextTypes = []string{"text/plain", "text/plain;charset=utf-8", "text/plain; charset=utf-8"}
	binaryTypes    = []string{"application/octet-stream", "application/pkcs8"}
)

// showSecret answers a secret's metadata.
func (s *server) showSecret(w http.ResponseWriter, id *identity, sec *secretRecord) {
	if unscoped(w, id, "Secret retrieval") {
		return
	}
	if !canGetSecret(id, sec) {
		forbid(w, "Secret retrieval")
		return
	}
	writeJSON(w, http.StatusOK, s.secretBody(sec))
}

// secretPayload answers a secret's payload as Barbican does: the Accept
// header (application/octet-stream if absent or empty; the stored type if
// */*) must be exactly one of plainTextTypes or binaryTypes, else 406 (400
// if it only differs in case); as text the payload must be UTF-8, else 406.
// The bytes are the same either way; the Content-Type echoes Accept. action
// names the request in error descriptions.
func (s *server) secretPayload(w http.ResponseWriter, r *http.Request, id *identity, sec *secretRecord, action string) {
	if unscoped(w, id, action) {
		return
	}
	if !canDecryptSecret(id, sec) {
		forbid(w, "Secret payload retrieval")
		return
	}
	accept := strings.Join(r.Header["Accept"], ", ")
	if accept == "" {
		accept = "application/octet-stream"
	}
	if sec.ContentType == "" {
		barbicanError(w, http.StatusNotFound, msgNoPayload)
		return
	}
	ct := accept
	if ct == "*/*" {
		ct = sec.ContentType
	}
	switch {
	case normalizeContentType(ct) == "":
		barbicanError(w, http.StatusNotAcceptable, action+" issue seen - "+msgWrongAccept)
		return
	case slices.Contains(plainTextTypes, ct):
		if !utf8.Valid(sec.Payload) {
			barbicanError(w, http.StatusNotAcceptable, action+" issue seen - "+msgWrongAccept)
			return
		}
	case !slices.Contains(binaryTypes, ct):
		barbicanError(w, http.StatusBadRequest, action+" issue seen - content-type of '"+ct+"' not supported.")
		return
	}
	if accept == "text/plain" {
		accept = "text/plain; charset=UTF-8"
	}
	if len(sec.Payload) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", accept)
	w.Header().Set("Content-Length", strconv.Itoa(len(sec.Payload)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(sec.Payload)
}

// deleteSecret handles DELETE /v1/secrets/{id}.
func (s *server) deleteSecret(w http.ResponseWriter, id *identity, sec *secretRecord) {
	if unscoped(w, id, "Secret deletion") {
		return
	}
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
// filtered by name, alg and mode (SQL LIKE patterns, as Barbican's query
// uses), bits and secret_type, paged by limit/offset.
func (s *server) listSecrets(w http.ResponseWriter, r *http.Request, id *identity) {
	q := r.URL.Query()
	aclOnly := strings.EqualFold(q.Get("acl_only"), "true")
	if unscoped(w, id, "Secret(s) retrieval") {
		return
	}
	if !canListSecrets(id) {
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
			q.Get("name") != "" && !sqlLike(sec.Name, q.Get("name")),
			q.Get("alg") != "" && !sqlLike(sec.Algorithm, q.Get("alg")),
			q.Get("mode") != "" && !sqlLike(sec.Mode, q.Get("mode")),
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
		body["next"] = s.pageHref(limit, offset+limit)
	}
	if offset > 0 {
		body["previous"] = s.pageHref(limit, max(0, offset-limit))
	}
	writeJSON(w, http.StatusOK, body)
}

// pageParams reads limit (default 10 if absent, empty or not a number; at
// least 1, at most 100) and offset (default 0), clamping bad values as
// Barbican does.
func pageParams(q url.Values) (limit, offset int) {
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil {
		limit = defaultListLimit
	}
	limit = min(max(limit, 1), maxListLimit)
	offset, err = strconv.Atoi(q.Get("offset"))
	if err != nil || offset < 0 {
		offset = 0
	}
	return limit, offset
}

// pageHref is the list URL for another page. Like Barbican it carries only
// limit and offset: the filters of the request are lost.
func (s *server) pageHref(limit, offset int) string {
	return s.base + "/v1/secrets?limit=" + strconv.Itoa(limit) + "&offset=" + strconv.Itoa(offset)
}

// sqlLike reports whether s matches the SQL LIKE pattern as SQLite (the
// database of the reference Barbican) evaluates it: % is any run, _ any one
// character, ASCII letters match without case, no escape character.
func sqlLike(s, pattern string) bool {
	str, pat := []rune(s), []rune(pattern)
	fold := func(r rune) rune {
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return r
	}
	// Iterative matcher with backtracking to the last %.
	si, pi, star, mark := 0, 0, -1, 0
	for si < len(str) {
		switch {
		case pi < len(pat) && pat[pi] == '%':
			star, mark = pi, si
			pi++
		case pi < len(pat) && (pat[pi] == '_' || fold(pat[pi]) == fold(str[si])):
			si++
			pi++
		case star >= 0:
			mark++
			si, pi = mark, star+1
		default:
			return false
		}
	}
	for pi < len(pat) && pat[pi] == '%' {
		pi++
	}
	return pi == len(pat)
}
