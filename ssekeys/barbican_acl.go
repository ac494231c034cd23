package ssekeys

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
)

// Read ACLs of Barbican secrets: who besides the owning project may read a
// key. The object store's service user must be on it for SSE-KMS to work.

// readACL returns the secret's read ACL (project access on and no users
// when none was ever set).
func (m *KeyManager) readACL(ctx context.Context, id string) (acls.ACLDetails, error) {
	acl, err := acls.GetSecretACL(ctx, m.client, id).Extract()
	if err != nil {
		return acls.ACLDetails{}, err
	}
	if acl == nil {
		return acls.ACLDetails{ProjectAccess: true}, nil
	}
	read, ok := (*acl)["read"]
	if !ok {
		return acls.ACLDetails{ProjectAccess: true}, nil
	}
	return read, nil
}

// Grant puts users on secret id's read ACL, keeping every user already there,
// and returns the ACL's users afterwards and whether it changed. Barbican's
// PATCH would replace the user list, so this reads the ACL and PUTs the
// merged list in full, as `openstack acl user add` does.
func (m *KeyManager) Grant(ctx context.Context, id string, users ...string) ([]string, bool, error) {
	return m.editACL(ctx, id, "granting read access to secret "+id, func(cur []string) []string {
		for _, u := range users {
			if !slices.Contains(cur, u) {
				cur = append(cur, u)
			}
		}
		return cur
	}, users)
}

// Revoke takes users off secret id's read ACL, keeping the others, and
// returns the ACL's users afterwards and whether it changed.
func (m *KeyManager) Revoke(ctx context.Context, id string, users ...string) ([]string, bool, error) {
	return m.editACL(ctx, id, "revoking read access to secret "+id, func(cur []string) []string {
		return slices.DeleteFunc(cur, func(u string) bool { return slices.Contains(users, u) })
	}, users)
}

// editACL reads the read ACL, applies edit to its user list and PUTs the
// whole list back with project access unchanged. Nothing is written when the
// list is unchanged.
func (m *KeyManager) editACL(ctx context.Context, id, action string, edit func([]string) []string, users []string) ([]string, bool, error) {
	id, err := ParseSecretID(id)
	if err != nil {
		return nil, false, err
	}
	if len(users) == 0 {
		return nil, false, errors.New("no user id given")
	}
	for _, u := range users {
		if err := checkUserID(u); err != nil {
			return nil, false, err
		}
	}
	cur, err := m.readACL(ctx, id)
	if err != nil {
		return nil, false, m.explain(err, action, id, roleManage)
	}
	before := slices.Clone(cur.Users)
	after := edit(slices.Clone(cur.Users))
	if after == nil {
		after = []string{}
	}
	if slices.Equal(before, after) {
		return after, false, nil
	}
	access := cur.ProjectAccess
	if _, err := acls.SetSecretACL(ctx, m.client, id, acls.SetOpts{{Type: "read", Users: &after, ProjectAccess: &access}}).Extract(); err != nil {
		return nil, false, m.explain(err, action, id, roleManage)
	}
	return after, true, nil
}

// checkUserID refuses what cannot be a Keystone user id.
func checkUserID(u string) error {
	if strings.TrimSpace(u) == "" || strings.ContainsAny(u, " \t\n/") {
		return fmt.Errorf("%q is not a Keystone user id", u)
	}
	return nil
}
