package ssekeys

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

// KeyManager manages SSE-KMS keys stored as Barbican secrets: 32-byte
// symmetric secrets whose UUID is the key id S3 (Ceph RGW) wants, and whose
// read ACL must hold the object store's service user. Make one with ConnectKeyManager.
type KeyManager struct {
	client    *gophercloud.ServiceClient
	who       string // "user demo": for messages
	userID    string // the logged-in user's id, when the token said
	project   string // project name (or id) the token is scoped to
	projectID string
}

// Secret is a Barbican secret's metadata and, when it could be read, its
// read ACL. It never holds the payload.
type Secret struct {
	ID           string // the UUID: the SSE-KMS key id
	Href         string // the secret_ref
	Name         string
	Status       string
	SecretType   string
	Algorithm    string
	BitLength    int
	Mode         string
	CreatorID    string
	ContentTypes map[string]string
	Created      time.Time
	Updated      time.Time
	Expiration   time.Time // zero: never expires

	// ACLKnown is false when the read ACL could not be read (the caller may
	// read the secret, e.g. through its ACL, but not its ACL).
	ACLKnown bool
	// ReadUsers are the user ids on the read ACL.
	ReadUsers []string
	// ProjectAccess is whether the project's members may read the secret
	// (Barbican's default, true, when no ACL was ever set).
	ProjectAccess bool
}

// ProjectID is the id of the project the KeyManager's token is scoped to.
func (m *KeyManager) ProjectID() string { return m.projectID }

// UserID is the id of the logged-in user.
func (m *KeyManager) UserID() string { return m.userID }

// ParseSecretID turns a secret UUID or href into the bare lower-case UUID,
// refusing anything that is not a Barbican secret id.
func ParseSecretID(s string) (string, error) {
	id, err := ParseKMSKeyID(s)
	if err != nil {
		return "", err
	}
	if !IsBarbicanID(id) {
		return "", fmt.Errorf("%q is not a Barbican secret id: expected a UUID or an href ending in /secrets/<uuid>", s)
	}
	return id, nil
}

// Create stores key as a new symmetric AES-256 secret named name
// (secret_type symmetric, algorithm aes, bit_length 256, mode cbc, base64
// octet-stream payload) and returns it.
func (m *KeyManager) Create(ctx context.Context, name string, key *Key) (*Secret, error) {
	if strings.TrimSpace(name) == "" {
		return nil, errors.New("a secret needs a name (--name)")
	}
	raw := key.Bytes()
	defer clear(raw)
	payload := base64.StdEncoding.EncodeToString(raw)
	res, err := secrets.Create(ctx, m.client, secrets.CreateOpts{
		Name:                   name,
		Payload:                payload,
		PayloadContentType:     "application/octet-stream",
		PayloadContentEncoding: "base64",
		Algorithm:              "aes",
		BitLength:              256,
		Mode:                   "cbc",
		SecretType:             secrets.SymmetricSecret,
	}).Extract()
	if err != nil {
		return nil, m.explain(err, "creating a secret", "", roleCreate)
	}
	id, err := ParseSecretID(res.SecretRef)
	if err != nil {
		return nil, fmt.Errorf("the key manager answered an unexpected secret_ref %q", res.SecretRef)
	}
	return &Secret{ID: id, Href: res.SecretRef, Name: name, SecretType: string(secrets.SymmetricSecret),
		Algorithm: "aes", BitLength: 256, Mode: "cbc", Status: "ACTIVE"}, nil
}

// CreateKey makes a new random key and stores it as a secret named name.
// With backupFile, the key is first written there (mode 0600, never
// overwriting), so no secret exists without its backup; each user of grant
// is then put on the read ACL. When a step fails, what the earlier steps
// made (the secret, the backup file) is removed again.
func (m *KeyManager) CreateKey(ctx context.Context, name string, grant []string, backupFile string) (*Secret, *Key, error) {
	if strings.TrimSpace(name) == "" {
		return nil, nil, errors.New("a secret needs a name (--name)")
	}
	for _, u := range grant {
		if err := checkUserID(u); err != nil {
			return nil, nil, err
		}
	}
	k, err := GenerateKey()
	if err != nil {
		return nil, nil, err
	}
	if backupFile != "" {
		if err := WriteKeyFile(backupFile, k); err != nil {
			return nil, nil, err
		}
	}
	undoBackup := func() {
		if backupFile != "" {
			os.Remove(backupFile)
		}
	}
	s, err := m.Create(ctx, name, k)
	if err != nil {
		undoBackup()
		return nil, nil, err
	}
	if len(grant) > 0 {
		users, _, err := m.Grant(ctx, s.ID, grant...)
		if err != nil {
			if derr := m.Delete(context.WithoutCancel(ctx), s.ID); derr != nil {
				return nil, nil, fmt.Errorf("%w; and removing the new secret %s failed too: %v", err, s.ID, derr)
			}
			undoBackup()
			return nil, nil, fmt.Errorf("%w (the new secret was removed again)", err)
		}
		s.ACLKnown, s.ReadUsers, s.ProjectAccess = true, users, true
	}
	return s, k, nil
}

// List returns every secret the project can list, with no ACLs.
func (m *KeyManager) List(ctx context.Context) ([]Secret, error) {
	pages, err := secrets.List(m.client, secrets.ListOpts{Limit: 100}).AllPages(ctx)
	if err != nil {
		return nil, m.explain(err, "listing secrets", "", roleList)
	}
	all, err := secrets.ExtractSecrets(pages)
	if err != nil {
		return nil, fmt.Errorf("reading the key manager's secret list: %w", err)
	}
	out := make([]Secret, 0, len(all))
	for i := range all {
		out = append(out, fromBarbican(&all[i]))
	}
	return out, nil
}

// Show returns secret id's metadata and read ACL. id may be a UUID or href.
func (m *KeyManager) Show(ctx context.Context, id string) (*Secret, error) {
	id, err := ParseSecretID(id)
	if err != nil {
		return nil, err
	}
	res, err := secrets.Get(ctx, m.client, id).Extract()
	if err != nil {
		return nil, m.explain(err, "reading secret "+id, id, roleRead)
	}
	s := fromBarbican(res)
	if s.ID == "" {
		s.ID = id
	}
	acl, err := m.readACL(ctx, id)
	switch {
	case err == nil:
		s.ACLKnown, s.ReadUsers, s.ProjectAccess = true, acl.Users, acl.ProjectAccess
	case gophercloud.ResponseCodeIs(err, http.StatusForbidden):
		// Readable (say through the ACL) but the ACL itself is not.
	default:
		return nil, m.explain(err, "reading the ACL of secret "+id, id, roleRead)
	}
	return &s, nil
}

// fromBarbican copies gophercloud's secret metadata.
func fromBarbican(b *secrets.Secret) Secret {
	id, _ := ParseSecretID(b.SecretRef)
	return Secret{ID: id, Href: b.SecretRef, Name: b.Name, Status: b.Status, SecretType: b.SecretType,
		Algorithm: b.Algorithm, BitLength: b.BitLength, Mode: b.Mode, CreatorID: b.CreatorID,
		ContentTypes: b.ContentTypes, Created: b.Created, Updated: b.Updated, Expiration: b.Expiration}
}

// FetchKey reads secret id's payload as an SSE key and checks that it is
// exactly 32 bytes, as S3 servers need.
func (m *KeyManager) FetchKey(ctx context.Context, id string) (*Key, error) {
	id, err := ParseSecretID(id)
	if err != nil {
		return nil, err
	}
	raw, err := secrets.GetPayload(ctx, m.client, id, secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract()
	if err != nil {
		return nil, m.explain(err, "reading the payload of secret "+id, id, roleRead)
	}
	defer clear(raw)
	if len(raw) != KeySize {
		return nil, fmt.Errorf("secret %s holds %d bytes, not a %d-byte key: S3 servers cannot encrypt with it", id, len(raw), KeySize)
	}
	return NewKey(raw)
}

// Backup writes secret id's key to file as a raw 32-byte key file of mode
// 0600, refusing to overwrite an existing file. The file is a valid SSE-C
// key file and the input of Restore.
func (m *KeyManager) Backup(ctx context.Context, id, file string) (*Key, error) {
	if err := refuseExisting(file); err != nil {
		return nil, err
	}
	k, err := m.FetchKey(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := WriteKeyFile(file, k); err != nil {
		return nil, err
	}
	return k, nil
}

// Restore stores the key of backup file (a 0600 key file holding exactly one
// key, as Backup writes) as a new secret named name. The new secret has a new
// id; objects keep naming the old id, so the restored secret serves them only
// where the server can be told the new id.
func (m *KeyManager) Restore(ctx context.Context, file, name string) (*Secret, *Key, error) {
	ring, err := LoadKeyFile(file)
	if err != nil {
		return nil, nil, err
	}
	if ring.Len() != 1 {
		return nil, nil, fmt.Errorf("key file %s holds %d keys; a backup holds exactly one", file, ring.Len())
	}
	s, err := m.Create(ctx, name, ring.Write())
	if err != nil {
		return nil, nil, err
	}
	return s, ring.Write(), nil
}

// Delete deletes secret id. Every object encrypted with it becomes
// unrecoverable unless the key is restored from a backup.
func (m *KeyManager) Delete(ctx context.Context, id string) error {
	id, err := ParseSecretID(id)
	if err != nil {
		return err
	}
	if err := secrets.Delete(ctx, m.client, id).ExtractErr(); err != nil {
		return m.explain(err, "deleting secret "+id, id, roleManage)
	}
	return nil
}

// refuseExisting fails when path exists, before anything is changed.
func refuseExisting(file string) error {
	if file == "" {
		return errors.New("no backup file given")
	}
	if _, err := os.Lstat(file); err == nil {
		return fmt.Errorf("%s already exists; refusing to overwrite a key file", file)
	}
	return nil
}
