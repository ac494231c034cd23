package keymanager

import (
	"errors"
	"net/http"
	"slices"
	"time"
)

// Barbican secret ACLs: GET, PUT (replace), PATCH (change the fields given:
// a users list given replaces the users, as Barbican does), DELETE. Only the
// "read" operation exists.

// aclRequest is the body of PUT and PATCH: {"read": {"users": [...], "project-access": bool}}.
type aclRequest map[string]struct {
	Users         *[]string `json:"users"`
	ProjectAccess *bool     `json:"project-access"`
}

const msgBadACL = "Provided object does not match schema 'ACL': only the 'read' operation with 'users' (list of strings) and 'project-access' (boolean) is supported"

// parseACL decodes and checks an ACL request body.
func parseACL(r *http.Request) (aclRequest, bool) {
	var req aclRequest
	if err := readJSON(r, &req); err != nil {
		return nil, false
	}
	for op := range req {
		if op != "read" {
			return nil, false
		}
	}
	return req, true
}

// serveACL handles /v1/secrets/{id}/acl.
func (s *server) serveACL(w http.ResponseWriter, r *http.Request, id *identity, sec *secretRecord) {
	action := map[string]string{http.MethodGet: "SecretACL(s) retrieval", http.MethodPut: "SecretACL(s) Update",
		http.MethodPatch: "SecretACL(s) Update", http.MethodDelete: "SecretACL(s) deletion"}[r.Method]
	if action == "" {
		barbicanError(w, http.StatusMethodNotAllowed, "")
		return
	}
	if unscoped(w, id, action) {
		return
	}
	switch r.Method {
	case http.MethodGet:
		if !canGetACL(id, sec) {
			forbid(w, "SecretACL(s) retrieval")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"read": aclBody(sec.ACL)})
	case http.MethodPut, http.MethodPatch:
		if !canManageSecret(id, sec) {
			forbid(w, "SecretACL(s) Update")
			return
		}
		req, ok := parseACL(r)
		if !ok {
			barbicanError(w, http.StatusBadRequest, msgBadACL)
			return
		}
		replace := r.Method == http.MethodPut
		_, err := s.m.st.updateSecret(sec.ID, func(rec *secretRecord) error {
			applyACL(rec, req, replace, time.Now().UTC())
			return nil
		})
		if !s.aclStored(w, err) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"acl_ref": s.secretRef(sec.ID) + "/acl"})
	case http.MethodDelete:
		if !canManageSecret(id, sec) {
			forbid(w, "SecretACL(s) deletion")
			return
		}
		_, err := s.m.st.updateSecret(sec.ID, func(rec *secretRecord) error {
			rec.ACL = nil
			rec.Updated = time.Now().UTC()
			return nil
		})
		if !s.aclStored(w, err) {
			return
		}
		writeJSON(w, http.StatusOK, nil) // Barbican's body: null
	}
}

// aclStored answers an error from storing an ACL change, if any.
func (s *server) aclStored(w http.ResponseWriter, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, errNotFound):
		barbicanError(w, http.StatusNotFound, msgSecretNotFound)
	default:
		barbicanError(w, http.StatusInternalServerError, err.Error())
	}
	return false
}

// applyACL applies a PUT (replace) or PATCH request to rec's read ACL.
// Users are kept in the order given, without duplicates. A PUT without
// "read" removes the ACL, a PATCH without it changes nothing.
func applyACL(rec *secretRecord, req aclRequest, replace bool, now time.Time) {
	read, ok := req["read"]
	if !ok {
		if replace && rec.ACL != nil {
			rec.ACL = nil
			rec.Updated = now
		}
		return
	}
	acl := rec.ACL
	if acl == nil || replace {
		created := now
		if acl != nil {
			created = acl.Created
		}
		acl = &aclRecord{ProjectAccess: true, Users: []string{}, Created: created}
	}
	if read.Users != nil {
		acl.Users = []string{}
		for _, u := range *read.Users {
			if !slices.Contains(acl.Users, u) {
				acl.Users = append(acl.Users, u)
			}
		}
	}
	if read.ProjectAccess != nil {
		acl.ProjectAccess = *read.ProjectAccess
	}
	acl.Updated = now
	rec.ACL = acl
	rec.Updated = now
}

// aclBody renders a read ACL as Barbican's GET does; nil means the default.
func aclBody(acl *aclRecord) map[string]any {
	if acl == nil {
		return map[string]any{"project-access": true}
	}
	return map[string]any{
		"project-access": acl.ProjectAccess,
		"users":          append([]string{}, acl.Users...),
		"created":        barbicanTime(acl.Created),
		"updated":        barbicanTime(acl.Updated),
	}
}
