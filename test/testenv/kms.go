package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"path"
	"slices"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

// KeyManager returns a gophercloud key-manager client logged in as the
// backend's demo user (the OS_* variables it printed).
func (b *Backend) KeyManager(t testing.TB) *gophercloud.ServiceClient {
	t.Helper()
	ctx := context.Background()
	projectDomain := b.Env["OS_PROJECT_DOMAIN_NAME"]
	if projectDomain == "" {
		projectDomain = b.Env["OS_USER_DOMAIN_NAME"]
	}
	provider, err := openstack.NewClient(b.Env["OS_AUTH_URL"])
	if err != nil {
		t.Fatalf("keystone client: %v", err)
	}
	provider.HTTPClient = *b.httpClient()
	err = openstack.Authenticate(ctx, provider, gophercloud.AuthOptions{
		IdentityEndpoint: b.Env["OS_AUTH_URL"],
		Username:         b.Env["OS_USERNAME"],
		Password:         b.Env["OS_PASSWORD"],
		DomainName:       b.Env["OS_USER_DOMAIN_NAME"],
		Scope:            &gophercloud.AuthScope{ProjectName: b.Env["OS_PROJECT_NAME"], DomainName: projectDomain},
	})
	if err != nil {
		t.Fatalf("keystone auth: %v", err)
	}
	km, err := openstack.NewKeyManagerV1(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatalf("key-manager client: %v", err)
	}
	return km
}

// CreateKMSKey stores 32 random bytes as a Barbican secret, puts the
// object store's service user on its read ACL, and returns the secret's
// UUID: the key id for SSE-KMS. On the real-stack lab the secret is deleted
// when the test ends.
func (b *Backend) CreateKMSKey(t testing.TB, name string) string {
	t.Helper()
	km := b.KeyManager(t)
	ctx := context.Background()
	raw := make([]byte, 32)
	rand.Read(raw)
	ref, err := secrets.Create(ctx, km, secrets.CreateOpts{
		Name:                   name,
		Payload:                base64.StdEncoding.EncodeToString(raw),
		PayloadContentType:     "application/octet-stream",
		PayloadContentEncoding: "base64",
		Algorithm:              "aes",
		BitLength:              256,
		Mode:                   "cbc",
		SecretType:             secrets.SymmetricSecret,
	}).Extract()
	if err != nil {
		t.Fatalf("create secret: %v", err)
	}
	id := path.Base(ref.SecretRef)
	// The backend's key manager holds it by design; nothing else may.
	suite.registerKey("SSE-KMS key "+id, raw, true)
	if b.external {
		t.Cleanup(func() { _ = secrets.Delete(context.Background(), km, id).ExtractErr() })
	}
	GrantRead(t, km, id, b.Env["SSEFS_KMS_SERVICE_USER_ID"])
	return id
}

// GrantRead puts user on the secret's read ACL and keeps whoever is on it
// already: GET the ACL, add the user, PUT the whole list back, as
// `openstack acl user add` does (Barbican's PATCH replaces an operation's
// user list with the one sent).
func GrantRead(t testing.TB, km *gophercloud.ServiceClient, id, user string) {
	t.Helper()
	ctx := context.Background()
	acl, err := acls.GetSecretACL(ctx, km, id).Extract()
	if err != nil {
		t.Fatalf("get the ACL of secret %s: %v", id, err)
	}
	var users []string
	projectAccess := true
	if read, ok := (*acl)["read"]; ok {
		users, projectAccess = read.Users, read.ProjectAccess
	}
	if !slices.Contains(users, user) {
		users = append(users, user)
	}
	if _, err := acls.SetSecretACL(ctx, km, id, acls.SetOpts{{Type: "read", Users: &users, ProjectAccess: &projectAccess}}).Extract(); err != nil {
		t.Fatalf("grant %s read access to secret %s: %v", user, id, err)
	}
}

// DeleteKMSKey deletes the Barbican secret.
func (b *Backend) DeleteKMSKey(t testing.TB, id string) {
	t.Helper()
	if err := secrets.Delete(context.Background(), b.KeyManager(t), id).ExtractErr(); err != nil {
		t.Fatalf("delete secret %s: %v", id, err)
	}
}
