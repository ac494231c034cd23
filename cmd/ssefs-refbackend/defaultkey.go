package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/ssefs/ssefs/test/refbackend/keymanager"
)

// defaultKeyFile holds the id of the aws profile's default SSE-KMS key.
const defaultKeyFile = "default-kms-key-id"

// ensureDefaultKMSKey returns the id of the secret the aws profile uses for
// SSE-KMS PUTs without a key id (AWS's account default key). On first start
// it creates it in the key manager as the demo user, with the object store's
// service user on its read ACL, exactly as a user would with gophercloud.
func ensureDefaultKMSKey(ctx context.Context, dir, authURL string, accts keymanager.Accounts, hc *http.Client) (string, error) {
	p := filepath.Join(dir, defaultKeyFile)
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	pc, err := openstack.NewClient(authURL)
	if err != nil {
		return "", err
	}
	pc.HTTPClient = *hc
	demo := accts.Demo
	err = openstack.Authenticate(ctx, pc, gophercloud.AuthOptions{
		IdentityEndpoint: authURL, Username: demo.UserName, Password: demo.Password,
		DomainName: demo.DomainName, TenantName: demo.ProjectName,
	})
	if err != nil {
		return "", fmt.Errorf("authenticate as %s: %w", demo.UserName, err)
	}
	km, err := openstack.NewKeyManagerV1(pc, gophercloud.EndpointOpts{})
	if err != nil {
		return "", err
	}
	payload := make([]byte, 32)
	if _, err := rand.Read(payload); err != nil {
		return "", err
	}
	ref, err := secrets.Create(ctx, km, secrets.CreateOpts{
		Name: "ssefs-refbackend-default", Payload: base64.StdEncoding.EncodeToString(payload),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64",
		Algorithm: "aes", BitLength: 256, Mode: "cbc", SecretType: secrets.SymmetricSecret,
	}).Extract()
	if err != nil {
		return "", fmt.Errorf("create the default key: %w", err)
	}
	id := path.Base(ref.SecretRef)
	users := []string{accts.Service.UserID}
	if _, err := acls.UpdateSecretACL(ctx, km, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		return "", fmt.Errorf("grant the default key: %w", err)
	}
	return id, writeFileAtomic(p, []byte(id+"\n"), 0o600)
}
