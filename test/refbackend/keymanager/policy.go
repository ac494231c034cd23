package keymanager

import (
	"net/http"
	"slices"
)

// Barbican's authentication (keystonemiddleware's answer to a missing or bad
// token) and its Zed default policy, with the deprecated rules in force as
// they are when enforce_new_defaults is false (Zed's default):
//
//	secrets:post        admin or creator on the token's project
//	secrets:get (list)  admin, observer or creator on the token's project
//	secret:get          on the read ACL; or project admin; or the creator
//	                    holding role creator; or (admin|observer|creator|audit)
//	                    on the secret's project while project-access is on
//	secret:decrypt      the same, audit excluded
//	secret:delete, secret_acls:put_patch/delete
//	                    project admin, or the creator holding role creator
//	secret_acls:get     (admin|observer|creator) on the secret's project

// authenticate validates the request's X-Auth-Token; on failure it answers
// 401 with keystonemiddleware's WWW-Authenticate header and returns nil.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) *identity {
	id, err := s.m.validate(r.Header.Get("X-Auth-Token"))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+s.base+`/v3"`)
		keystoneError(w, http.StatusUnauthorized, msgAuthRequired)
		return nil
	}
	return id
}

// projectRole reports whether id is scoped to projectID with one of roles.
func projectRole(id *identity, projectID string, roles ...string) bool {
	return projectID != "" && id.projectID() == projectID && id.hasRole(roles...)
}

func canCreateSecret(id *identity) bool {
	return projectRole(id, id.projectID(), "admin", "creator")
}

func canListSecrets(id *identity) bool {
	return projectRole(id, id.projectID(), "admin", "observer", "creator")
}

// owns reports project admin, or creator-role holder who created sec.
func owns(id *identity, sec *secretRecord) bool {
	if projectRole(id, sec.ProjectID, "admin") {
		return true
	}
	return projectRole(id, sec.ProjectID, "creator") && sec.CreatorID == id.UserID
}

// onReadACL reports whether id's user is on sec's read ACL.
func onReadACL(id *identity, sec *secretRecord) bool {
	return sec.ACL != nil && slices.Contains(sec.ACL.Users, id.UserID)
}

// projectAccess reports whether sec is readable by its project's members.
func projectAccess(sec *secretRecord) bool {
	return sec.ACL == nil || sec.ACL.ProjectAccess
}

func canGetSecret(id *identity, sec *secretRecord) bool {
	return onReadACL(id, sec) || owns(id, sec) ||
		(projectAccess(sec) && projectRole(id, sec.ProjectID, "admin", "observer", "creator", "audit"))
}

func canDecryptSecret(id *identity, sec *secretRecord) bool {
	return onReadACL(id, sec) || owns(id, sec) ||
		(projectAccess(sec) && projectRole(id, sec.ProjectID, "admin", "observer", "creator"))
}

func canManageSecret(id *identity, sec *secretRecord) bool { return owns(id, sec) }

func canGetACL(id *identity, sec *secretRecord) bool {
	return projectRole(id, sec.ProjectID, "admin", "observer", "creator")
}

// forbid answers 403 in Barbican's words for action ("Secret retrieval", ...).
func forbid(w http.ResponseWriter, action string) {
	barbicanError(w, http.StatusForbidden, action+" attempt not allowed - please review your user/project privileges")
}
