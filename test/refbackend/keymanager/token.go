package keymanager

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// Tokens are stateless, like Keystone's fernet tokens: the claims in JSON,
// signed with an HMAC key derived from the master key. They survive a restart
// of the key manager and cost no storage; revocation is kept in memory.

// claims is what a token carries.
type claims struct {
	UserID    string   `json:"u"`
	ProjectID string   `json:"p,omitempty"` // empty: unscoped
	AppCredID string   `json:"a,omitempty"`
	Methods   []string `json:"m"`
	Issued    int64    `json:"i"` // Unix nanoseconds
	Expires   int64    `json:"e"` // Unix nanoseconds
	AuditID   string   `json:"x"`
}

// identity is a validated token: who, on what, with which roles.
type identity struct {
	claims
	token   string
	user    *user
	project *project // nil for an unscoped token
	roles   []string // effective role names on project
	appCred *appCredRecord
}

var errBadToken = errors.New("keymanager: invalid token")

// hasRole reports whether id holds any of names on its project.
func (id *identity) hasRole(names ...string) bool {
	for _, n := range names {
		if slices.Contains(id.roles, n) {
			return true
		}
	}
	return false
}

// projectID returns the token's project id, "" if unscoped.
func (id *identity) projectID() string {
	if id.project == nil {
		return ""
	}
	return id.project.ID
}

// deriveKey returns HMAC-SHA256(master, label).
func deriveKey(master []byte, label string) []byte {
	h := hmac.New(sha256.New, master)
	h.Write([]byte(label))
	return h.Sum(nil)
}

// issue mints a token for c, filling in issue time, expiry (tokenTTL from now,
// or c.Expires if earlier) and audit id.
func (m *Manager) issue(c claims) (string, claims) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	c.Issued = now.UnixNano()
	if exp := now.Add(tokenTTL).UnixNano(); c.Expires == 0 || c.Expires > exp {
		c.Expires = exp
	}
	audit := make([]byte, 16)
	if _, err := rand.Read(audit); err != nil {
		panic(err)
	}
	c.AuditID = base64.RawURLEncoding.EncodeToString(audit)[:22]
	body, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	enc := base64.RawURLEncoding.EncodeToString(body)
	return "gA" + enc + "." + base64.RawURLEncoding.EncodeToString(m.sign(enc)), c
}

func (m *Manager) sign(s string) []byte {
	h := hmac.New(sha256.New, m.st.mac)
	h.Write([]byte(s))
	return h.Sum(nil)
}

// validate checks a token's signature, expiry and revocation, and resolves its
// user, project, roles and application credential as they are now.
func (m *Manager) validate(tok string) (*identity, error) {
	enc, sig, ok := strings.Cut(strings.TrimPrefix(tok, "gA"), ".")
	if !ok || !strings.HasPrefix(tok, "gA") {
		return nil, errBadToken
	}
	mac, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(mac, m.sign(enc)) {
		return nil, errBadToken
	}
	body, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, errBadToken
	}
	id := &identity{token: tok}
	if err := json.Unmarshal(body, &id.claims); err != nil {
		return nil, errBadToken
	}
	if time.Now().UnixNano() >= id.Expires || m.isRevoked(id.AuditID) {
		return nil, errBadToken
	}
	if id.user = m.userByID(id.UserID); id.user == nil {
		return nil, errBadToken
	}
	if id.ProjectID != "" {
		if id.project = m.projectByID(id.ProjectID); id.project == nil {
			return nil, errBadToken
		}
		id.roles = m.rolesOn(id.user, id.ProjectID)
	}
	if id.AppCredID != "" {
		ac, err := m.appCred(id.AppCredID)
		if err != nil || ac.UserID != id.UserID {
			return nil, errBadToken
		}
		id.appCred = ac
		id.roles = intersect(id.roles, ac.Roles)
	}
	return id, nil
}

// revoke invalidates every token sharing c's audit id.
func (m *Manager) revoke(c claims) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now().UnixNano()
	for k, exp := range m.revoked {
		if exp < now {
			delete(m.revoked, k)
		}
	}
	m.revoked[c.AuditID] = c.Expires
}

func (m *Manager) isRevoked(audit string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.revoked[audit]
	return ok
}

// intersect returns the elements of a that are also in b, in a's order.
func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
