package keymanager

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
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
	Auth *struct {
		Identity *struct {
			Methods  *[]string `json:"methods"`
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

// badRequest answers Keystone's 400 "Expecting to find ..." error.
func badRequest(w http.ResponseWriter, what string) {
	keystoneError(w, http.StatusBadRequest, "Expecting to find "+what+". The server could not comply with the request "+
		"since it is either malformed or otherwise incorrect. The client is assumed to be in error.")
}

// createToken handles POST /v3/auth/tokens.
func (s *server) createToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	switch err := readJSON(r, &req); {
	case err != nil:
		badRequest(w, "valid JSON in request body")
		return
	case req.Auth == nil:
		badRequest(w, "auth in request body")
		return
	case req.Auth.Identity == nil:
		keystoneError(w, http.StatusBadRequest, "'identity' is a required property")
		return
	case req.Auth.Identity.Methods == nil:
		keystoneError(w, http.StatusBadRequest, "'methods' is a required property")
		return
	}
	ident := req.Auth.Identity
	methods := *ident.Methods
	for _, m := range methods {
		if m == "password" && ident.Password == nil || m == "token" && ident.Token == nil ||
			m == "application_credential" && ident.ApplicationCredential == nil {
			badRequest(w, m+" in identity")
			return
		}
	}
	var c claims
	switch {
	case slices.Contains(methods, "password"):
		u := s.m.findUser(&ident.Password.User)
		if u == nil || subtle.ConstantTimeCompare([]byte(u.Password), []byte(ident.Password.User.Password)) != 1 {
			keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
			return
		}
		c = claims{UserID: u.ID, Methods: []string{"password"}}
	case slices.Contains(methods, "token"):
		prev, err := s.m.validate(ident.Token.ID)
		if err != nil || prev.AppCredID != "" {
			keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
			return
		}
		c = claims{UserID: prev.UserID, Methods: slices.Clone(prev.Methods), Expires: prev.Expires}
		if !slices.Contains(c.Methods, "token") {
			c.Methods = append(c.Methods, "token")
		}
	case slices.Contains(methods, "application_credential"):
		ac := ident.ApplicationCredential
		rec, err := s.m.authAppCred(ac.ID, ac.Name, ac.Secret, ac.User)
		if errors.Is(err, errAppCredNotFound) {
			keystoneError(w, http.StatusNotFound, "Could not find Application Credential: "+cmp.Or(ac.ID, ac.Name)+".")
			return
		}
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
		switch status {
		case 0:
		case http.StatusBadRequest:
			badRequest(w, "domain in project")
			return
		default:
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
// userID ("" for unscoped), or an HTTP status to refuse it with. Without a
// scope the token is scoped to the user's default project, as Keystone does
// (every user here has its project as default project); the scope
// "unscoped" asks for an unscoped token.
func (m *Manager) resolveScope(raw json.RawMessage, userID string) (string, int) {
	if string(raw) == `"unscoped"` {
		return "", 0
	}
	if len(raw) == 0 || string(raw) == "null" {
		u := m.userByID(userID)
		if len(m.rolesOn(u, u.ProjectID)) == 0 {
			return "", 0
		}
		return u.ProjectID, 0
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
	switch {
	case sc.Project.ID != "":
		p = m.projectByID(sc.Project.ID)
	case sc.Project.Domain == nil:
		return "", http.StatusBadRequest
	case sc.Project.Domain.isDefault():
		p = m.projectByName(sc.Project.Name)
	}
	if p == nil || len(m.rolesOn(m.userByID(userID), p.ID)) == 0 {
		return "", http.StatusUnauthorized
	}
	return p.ID, 0
}

// tokenPolicy enforces Keystone's (Zed) default policy on token validation
// and revocation: the caller must be the subject's user or hold role admin;
// for GET (validate_token) role service suffices too. It answers 403 and
// returns false otherwise.
func tokenPolicy(w http.ResponseWriter, r *http.Request, caller, subject *identity) bool {
	if caller.UserID == subject.UserID || caller.hasRole("admin") ||
		r.Method == http.MethodGet && caller.hasRole("service") {
		return true
	}
	action := map[string]string{http.MethodGet: "validate_token", http.MethodHead: "check_token",
		http.MethodDelete: "revoke_token"}[r.Method]
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		return false
	}
	keystoneError(w, http.StatusForbidden, "You are not authorized to perform the requested action: identity:"+action+".")
	return false
}

// checkToken handles GET and HEAD /v3/auth/tokens: X-Auth-Token must be valid,
// X-Subject-Token is the token to describe.
func (s *server) checkToken(w http.ResponseWriter, r *http.Request) {
	caller, err := s.m.validate(r.Header.Get("X-Auth-Token"))
	if err != nil {
		keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
		return
	}
	subject := r.Header.Get("X-Subject-Token")
	id, err := s.m.validate(subject)
	if err != nil {
		keystoneError(w, http.StatusNotFound, "Could not find token: "+subject+".")
		return
	}
	if !tokenPolicy(w, r, caller, id) {
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
	caller, err := s.m.validate(r.Header.Get("X-Auth-Token"))
	if err != nil {
		keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
		return
	}
	id, err := s.m.validate(r.Header.Get("X-Subject-Token"))
	if err != nil {
		keystoneError(w, http.StatusNotFound, "Could not find token.")
		return
	}
	if !tokenPolicy(w, r, caller, id) {
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
