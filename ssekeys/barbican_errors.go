package ssekeys

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
)

// Roles Barbican's default policy wants for each kind of call.
const (
	roleCreate = "needs role admin or creator in project %s"
	roleList   = "needs role admin, creator or observer in project %s"
	roleRead   = "needs the user on the secret's read ACL, or role admin or creator in the secret's project (the token is scoped to project %s)"
	roleManage = "needs role admin in the secret's project, or role creator and to be its creator (the token is scoped to project %s)"
)

// explain turns a key-manager error into a message saying what was refused.
func (m *KeyManager) explain(err error, action, id, roleHint string) error {
	var code gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &code) {
		return fmt.Errorf("%s: %w", action, err)
	}
	desc := barbicanDescription(code.Body)
	switch code.Actual {
	case http.StatusUnauthorized:
		return fmt.Errorf("%s: the key manager refused the token of %s (401)%s", action, m.who, desc)
	case http.StatusForbidden:
		return fmt.Errorf("not allowed: %s as %s (%s)%s", action, m.who, fmt.Sprintf(roleHint, m.project), desc)
	case http.StatusNotFound:
		if id != "" {
			return fmt.Errorf("%s: no secret %s in the key manager at %s (unknown id, deleted, or another region)", action, id, m.client.Endpoint)
		}
	}
	return fmt.Errorf("%s: the key manager answered %d%s", action, code.Actual, desc)
}

// barbicanDescription extracts the description of a Barbican JSON error
// body, as ": description", or "".
func barbicanDescription(body []byte) string {
	var e struct {
		Description string `json:"description"`
		Title       string `json:"title"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	if d := strings.TrimSpace(e.Description); d != "" {
		return ": " + d
	}
	if t := strings.TrimSpace(e.Title); t != "" {
		return ": " + t
	}
	return ""
}
