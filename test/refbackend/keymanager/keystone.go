package keymanager

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Keystone v3: version document, POST/GET/HEAD/DELETE /v3/auth/tokens and
// application credentials (appcred.go).

const msgAuthRequired = "The request you have made requires authentication."

// serveKeystone routes a request under /v3; p is the path after "/v3".
func (s *server) serveKeystone(w http.ResponseWriter, r *http.Request, p string) {
	w.Header().Set("Vary", "X-Auth-Token")
	p = strings.TrimSuffix(p, "/")
	switch {
	case p == "":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			keystoneError(w, http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"version": s.identityVersion()})
	case p == "/auth/tokens":
		switch r.Method {
		case http.MethodPost:
			s.createToken(w, r)
		case http.MethodGet, http.MethodHead:
			s.checkToken(w, r)
		case http.MethodDelete:
			s.revokeToken(w, r)
		default:
			keystoneError(w, http.StatusMethodNotAllowed, "The method is not allowed for the requested URL.")
		}
	case strings.HasPrefix(p, "/users/"):
		s.serveAppCreds(w, r, strings.TrimPrefix(p, "/users/"))
	default:
		keystoneError(w, http.StatusNotFound, "The resource could not be found.")
	}
}

// identityVersion is Keystone's v3 version entry.
func (s *server) identityVersion() map[string]any {
	return map[string]any{
		"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
		"links": []map[string]string{{"rel": "self", "href": s.base + "/v3/"}},
		"media-types": []map[string]string{{
			"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}},
	}
}

// authRequest is the body of POST /v3/auth/tokens.
type authRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User userRef `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
			ApplicationCredential *struct {
				ID     string   `json:"id"`
				Name   string   `json:"name"`
				Secret string   `json:"secret"`
				User   *userRef `json:"user"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

// userRef names a user by id, or by name and domain.
type userRef struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Password string     `json:"password"`
	Domain   *domainRef `json:"domain"`
}

// domainRef names a domain by id or name.
type domainRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// isDefault reports whether d names the one domain.
func (d *domainRef) isDefault() bool {
	return d != nil && (d.ID == domainID || d.Name == domainName)
}

// authScope is the "scope" of an auth request.
type authScope struct {
	Project *struct {
		ID     string     `json:"id"`
		Name   string     `json:"name"`
		Domain *domainRef `json:"domain"`
	} `json:"project"`
	Domain *domainRef `json:"domain"`
	System any        `json:"system"`
}

// findUser resolves a userRef; nil if it names no user.
func (m *Manager) findUser(ref *userRef) *user {
	if ref == nil {
		return nil
	}
	if ref.ID != "" {
		return m.userByID(ref.ID)
	}
	if !ref.Domain.isDefault() {
		return nil
	}
	return m.userByName(ref.Name)
}

// createToken handles POST /v3/auth/tokens.
func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if err := readJSON(r, &req); err != nil {
		keystoneError(w, http.StatusBadRequest, "Expecting to find auth in request body. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
		return
	}
	ident := req.Auth.Identity
	var c claims
	switch {
	case slices.Contains(ident.Methods, "password") && ident.Password != nil:
		u := s.m.findUser(&ident.Password.User)
		if u == nil || subtle.ConstantTimeCompare([]byte(u.Password), []byte(ident.Password.User.Password)) != 1 {
			keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
			return
		}
		c = claims{UserID: u.ID, Methods: []string{"password"}}
	case slices.Contains(ident.Methods, "token") && ident.Token != nil:
		prev, err := s.m.validate(ident.Token.ID)
		if err != nil || prev.AppCredID != "" {
			keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
			return
		}
		c = claims{UserID: prev.UserID, Methods: slices.Clone(prev.Methods), Expires: prev.Expires}
		if !slices.Contains(c.Methods, "token") {
			c.Methods = append(c.Methods, "token")
		}
	case slices.Contains(ident.Methods, "application_credential") && ident.ApplicationCredential != nil:
		ac := ident.ApplicationCredential
		rec, err := s.m.authAppCred(ac.ID, ac.Name, ac.Secret, ac.User)
		if err != nil || len(req.Auth.Scope) > 0 {
			keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
			return
		}
		c = claims{UserID: rec.UserID, ProjectID: rec.ProjectID, AppCredID: rec.ID,
			Methods: []string{"application_credential"}}
		if rec.ExpiresAt != nil {
			c.Expires = rec.ExpiresAt.UnixNano()
		}
	default:
		keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
		return
	}
	if c.AppCredID == "" {
		projectID, status := s.m.resolveScope(req.Auth.Scope, c.UserID)
		if status != 0 {
			keystoneError(w, status, msgAuthRequired)
			return
		}
		c.ProjectID = projectID
	}
	tok, c := s.m.issue(c)
	id, err := s.m.validate(tok)
	if err != nil {
		keystoneError(w, http.StatusInternalServerError, err.Error())
		return
	}
	_, nocatalog := r.URL.Query()["nocatalog"]
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, http.StatusCreated, map[string]any{"token": s.tokenBody(id, !nocatalog)})
}

// resolveScope returns the project id an auth request's scope names for
// userID ("" for unscoped), or an HTTP status to refuse it with.
func (m *Manager) resolveScope(raw json.RawMessage, userID string) (string, int) {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `"unscoped"` {
		return "", 0
	}
	var sc authScope
	if err := json.Unmarshal(raw, &sc); err != nil {
		return "", http.StatusBadRequest
	}
	if sc.Project == nil {
		// Domain and system scopes: no user here holds roles on them.
		return "", http.StatusUnauthorized
	}
	var p *project
	if sc.Project.ID != "" {
		p = m.projectByID(sc.Project.ID)
	} else if sc.Project.Domain.isDefault() {
		p = m.projectByName(sc.Project.Name)
	}
	if p == nil || len(m.rolesOn(m.userByID(userID), p.ID)) == 0 {
		return "", http.StatusUnauthorized
	}
	return p.ID, 0
}

// checkToken handles GET and HEAD /v3/auth/tokens: X-Auth-Token must be valid,
// X-Subject-Token is the token to describe.
func (s *server) checkToken(w http.ResponseWriter, r *http.Request) {
	if _, err := s.m.validate(r.Header.Get("X-Auth-Token")); err != nil {
		keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
		return
	}
	subject := r.Header.Get("X-Subject-Token")
	id, err := s.m.validate(subject)
	if err != nil {
		keystoneError(w, http.StatusNotFound, "Could not find token: "+subject+".")
		return
	}
	w.Header().Set("X-Subject-Token", subject)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	_, nocatalog := r.URL.Query()["nocatalog"]
	writeJSON(w, http.StatusOK, map[string]any{"token": s.tokenBody(id, !nocatalog)})
}

// revokeToken handles DELETE /v3/auth/tokens.
func (s *server) revokeToken(w http.ResponseWriter, r *http.Request) {
	if _, err := s.m.validate(r.Header.Get("X-Auth-Token")); err != nil {
		keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
		return
	}
	id, err := s.m.validate(r.Header.Get("X-Subject-Token"))
	if err != nil {
		keystoneError(w, http.StatusNotFound, "Could not find token.")
		return
	}
	s.m.revoke(id.claims)
	w.WriteHeader(http.StatusNoContent)
}

// tokenBody renders a validated token as Keystone does.
func (s *server) tokenBody(id *identity, withCatalog bool) map[string]any {
	dom := map[string]string{"id": domainID, "name": domainName}
	t := map[string]any{
		"methods":    id.Methods,
		"user":       map[string]any{"domain": dom, "id": id.user.ID, "name": id.user.Name, "password_expires_at": nil},
		"audit_ids":  []string{id.AuditID},
		"expires_at": keystoneTime(id.Expires),
		"issued_at":  keystoneTime(id.Issued),
	}
	if id.project == nil {
		return t
	}
	roles := []map[string]string{}
	for _, name := range id.roles {
		roles = append(roles, map[string]string{"id": s.m.dir.Roles[name], "name": name})
	}
	t["project"] = map[string]any{"domain": dom, "id": id.project.ID, "name": id.project.Name}
	t["is_domain"] = false
	t["roles"] = roles
	if id.appCred != nil {
		t["application_credential"] = map[string]any{
			"id": id.appCred.ID, "name": id.appCred.Name, "restricted": !id.appCred.Unrestricted}
	}
	if withCatalog {
		t["catalog"] = s.catalog()
	}
	return t
}

// catalog lists identity and key-manager, public interface, RegionOne.
func (s *server) catalog() []map[string]any {
	entry := func(typ, name, url string) map[string]any {
		svc := s.m.dir.Services[typ]
		sum := sha256.Sum256([]byte(svc + "/public"))
		return map[string]any{"id": svc, "type": typ, "name": name, "endpoints": []map[string]string{{
			"id": hex.EncodeToString(sum[:16]), "interface": "public",
			"region_id": regionID, "region": regionID, "url": url,
		}}}
	}
	return []map[string]any{
		entry("identity", "keystone", s.base+"/v3"),
		entry("key-manager", "barbican", s.base),
	}
}
