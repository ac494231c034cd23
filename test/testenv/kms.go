package testenv

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"path"
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
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: b.Env["OS_AUTH_URL"],
		Username:         b.Env["OS_USERNAME"],
		Password:         b.Env["OS_PASSWORD"],
		DomainName:       b.Env["OS_USER_DOMAIN_NAME"],
		TenantName:       b.Env["OS_PROJECT_NAME"],
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
// UUID: the key id for SSE-KMS.
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
	users := []string{b.Env["SSEFS_KMS_SERVICE_USER_ID"]}
	if _, err := acls.UpdateSecretACL(ctx, km, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		t.Fatalf("grant the object store read access to secret %s: %v", id, err)
	}
	return id
}

// DeleteKMSKey deletes the Barbican secret.
func (b *Backend) DeleteKMSKey(t testing.TB, id string) {
	t.Helper()
	if err := secrets.Delete(context.Background(), b.KeyManager(t), id).ExtractErr(); err != nil {
		t.Fatalf("delete secret %s: %v", id, err)
	}
}
