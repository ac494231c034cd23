package ssekeys

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

// rawPayload reads a secret's payload with plain gophercloud, to check
// KeyManager against what Barbican really stores.
func rawPayload(t *testing.T, m *KeyManager, id string) []byte {
	t.Helper()
	b, err := secrets.GetPayload(context.Background(), m.client, id, secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract()
	if err != nil {
		t.Fatalf("payload of %s: %v", id, err)
	}
	return b
}

// checkKeyFile checks that file is a 0600 file of exactly want.
func checkKeyFile(t *testing.T, file string, want []byte) {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %04o, want 0600", file, st.Mode().Perm())
	}
	got, _ := os.ReadFile(file)
	if len(got) != KeySize || !bytes.Equal(got, want) {
		t.Errorf("%s holds %d bytes, not the secret's 32-byte payload", file, len(got))
	}
}

// TestKeyLifecycle: create (with a grant and a backup) -> show -> grant
// merges -> revoke -> backup -> restore -> delete, against the reference
// key manager over HTTP, checked with plain gophercloud where it matters.
func TestKeyLifecycle(t *testing.T) {
	k := newKMServer(t, false)
	ctx := context.Background()
	m := k.connectAs(t, k.acct.Demo)
	dir := t.TempDir()
	service, other := k.acct.Service.UserID, k.acct.Other.UserID

	backup1 := filepath.Join(dir, "photos-kms.key")
	s, key, err := m.CreateKey(ctx, "photos", []string{service}, backup1)
	if err != nil {
		t.Fatal(err)
	}
	if !IsBarbicanID(s.ID) || !strings.HasSuffix(s.Href, "/v1/secrets/"+s.ID) || !strings.HasPrefix(s.Href, k.srv.URL) {
		t.Fatalf("create: id %q href %q", s.ID, s.Href)
	}
	payload := rawPayload(t, m, s.ID)
	if !bytes.Equal(payload, key.Bytes()) {
		t.Fatal("the stored payload is not the key CreateKey returned")
	}
	checkKeyFile(t, backup1, payload)

	// show: metadata as asked for, and the granted user on the ACL.
	got, err := m.Show(ctx, s.Href)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != s.ID || got.Name != "photos" || got.SecretType != "symmetric" || got.Algorithm != "aes" ||
		got.BitLength != 256 || got.Mode != "cbc" || got.Status != "ACTIVE" || got.ContentTypes["default"] != "application/octet-stream" {
		t.Errorf("show: %+v", got)
	}
	if !got.ACLKnown || !slices.Equal(got.ReadUsers, []string{service}) || !got.ProjectAccess {
		t.Errorf("show ACL: known %v users %v project-access %v", got.ACLKnown, got.ReadUsers, got.ProjectAccess)
	}
	// The ACL really works: the member-only service user reads the key.
	svc := k.connectAs(t, k.acct.Service)
	if sk, err := svc.FetchKey(ctx, s.ID); err != nil || !sk.Equal(key) {
		t.Fatalf("the service user on the ACL cannot read the key: %v", err)
	}

	// grant merges: a user put there by another client stays too.
	extra := "0123456789abcdef0123456789abcdef"
	users := []string{service, extra}
	if _, err := acls.SetSecretACL(ctx, m.client, s.ID, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		t.Fatal(err)
	}
	after, changed, err := m.Grant(ctx, strings.ToUpper(s.ID), other)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	want := []string{service, extra, other}
	if !slices.Equal(after, want) {
		t.Errorf("grant returned %v, want %v", after, want)
	}
	if again, changed, err := m.Grant(ctx, s.ID, other, service); err != nil || changed || !slices.Equal(again, want) {
		t.Errorf("granting users already there: %v %v", again, err)
	}
	if got, _ := m.Show(ctx, s.ID); !slices.Equal(got.ReadUsers, want) {
		t.Errorf("after grant the ACL is %v, want %v", got.ReadUsers, want)
	}

	// revoke removes only the named user.
	after, changed, err = m.Revoke(ctx, s.ID, other, extra)
	if err != nil || !changed {
		t.Fatal(changed, err)
	}
	if _, changed, err := m.Revoke(ctx, s.ID, other); err != nil || changed {
		t.Errorf("revoking a user not on the ACL: changed %v, %v", changed, err)
	}
	if got, _ := m.Show(ctx, s.ID); !slices.Equal(after, []string{service}) || !slices.Equal(got.ReadUsers, []string{service}) {
		t.Errorf("after revoke: returned %v, ACL %v; want only the service user", after, got.ReadUsers)
	}
	if _, err := svc.FetchKey(ctx, s.ID); err != nil {
		t.Errorf("revoking others took the service user's access: %v", err)
	}

	// backup: a new 0600 file of the 32 payload bytes; never overwrites.
	backup2 := filepath.Join(dir, "backup2.key")
	if _, err := m.Backup(ctx, s.ID, backup2); err != nil {
		t.Fatal(err)
	}
	checkKeyFile(t, backup2, payload)
	if _, err := m.Backup(ctx, s.ID, backup1); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("backup onto an existing file: %v", err)
	}
	checkKeyFile(t, backup1, payload)

	// restore: a new secret with the same bytes.
	r, rk, err := m.Restore(ctx, backup2, "photos-restored")
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == s.ID || !rk.Equal(key) || !bytes.Equal(rawPayload(t, m, r.ID), payload) {
		t.Errorf("restore: id %s (old %s), payload differs or reused id", r.ID, s.ID)
	}
	if rs, err := m.Show(ctx, r.ID); err != nil || rs.Name != "photos-restored" || rs.BitLength != 256 {
		t.Errorf("restored secret: %+v %v", rs, err)
	}

	// list shows both.
	list, err := m.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, x := range list {
		ids = append(ids, x.ID)
	}
	if !slices.Contains(ids, s.ID) || !slices.Contains(ids, r.ID) {
		t.Errorf("list: %v lacks %s or %s", ids, s.ID, r.ID)
	}

	// delete: gone for good.
	for _, id := range []string{s.ID, r.ID} {
		if err := m.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Show(ctx, s.ID); err == nil || !strings.Contains(err.Error(), "no secret "+s.ID) {
		t.Errorf("show after delete: %v", err)
	}
	if err := m.Delete(ctx, s.ID); err == nil || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("deleting twice: %v", err)
	}
}

// TestRestoreRefusesBadBackups: a group-readable file, a file of two keys,
// and a missing file are refused before anything is created.
func TestRestoreRefusesBadBackups(t *testing.T) {
	k := newKMServer(t, false)
	ctx := context.Background()
	m := k.connectAs(t, k.acct.Demo)
	dir := t.TempDir()

	open := filepath.Join(dir, "open.key")
	if _, err := GenerateKeyFile(open); err != nil {
		t.Fatal(err)
	}
	os.Chmod(open, 0o644)
	two := filepath.Join(dir, "two.key")
	a, _ := GenerateKey()
	b, _ := GenerateKey()
	os.WriteFile(two, []byte(a.Base64()+"\n"+b.Base64()+"\n"), 0o600)

	for file, want := range map[string]string{
		open:                         "too open",
		two:                          "holds 2 keys",
		filepath.Join(dir, "absent"): "does not exist",
	} {
		if _, _, err := m.Restore(ctx, file, "restored"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("restore %s: %v, want %q", filepath.Base(file), err, want)
		}
	}
	if list, err := m.List(ctx); err != nil || len(list) != 0 {
		t.Errorf("a refused restore created secrets: %v %v", list, err)
	}
}

// TestCreateKeyChecksFirst: an existing backup file or a bad user id is
// refused with nothing created.
func TestCreateKeyChecksFirst(t *testing.T) {
	k := newKMServer(t, false)
	ctx := context.Background()
	m := k.connectAs(t, k.acct.Demo)
	exists := filepath.Join(t.TempDir(), "exists.key")
	os.WriteFile(exists, []byte("keep me"), 0o600)
	if _, _, err := m.CreateKey(ctx, "x", nil, exists); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("create onto an existing backup: %v", err)
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Error("the existing file was changed")
	}
	if _, _, err := m.CreateKey(ctx, "x", []string{"not a user"}, ""); err == nil || !strings.Contains(err.Error(), "not a Keystone user id") {
		t.Errorf("create with a bad user id: %v", err)
	}
	if _, _, err := m.CreateKey(ctx, " ", nil, ""); err == nil {
		t.Error("create without a name succeeded")
	}
	if list, _ := m.List(ctx); len(list) != 0 {
		t.Errorf("refused creates left %d secrets", len(list))
	}
}

// TestKeyManagerErrors: Barbican's refusals become messages that say what
// was refused and why.
func TestKeyManagerErrors(t *testing.T) {
	k := newKMServer(t, false)
	ctx := context.Background()
	demo := k.connectAs(t, k.acct.Demo)
	s, _, err := demo.CreateKey(ctx, "private", nil, "")
	if err != nil {
		t.Fatal(err)
	}

	svc := k.connectAs(t, k.acct.Service)
	backup := filepath.Join(t.TempDir(), "nope.key")
	_, _, err = svc.CreateKey(ctx, "nope", nil, backup)
	t.Logf("member creating a secret: %v", err)
	if _, serr := os.Stat(backup); serr == nil {
		t.Error("a refused create left its backup file behind")
	}
	if err == nil || !strings.Contains(err.Error(), "not allowed: creating a secret") ||
		!strings.Contains(err.Error(), "needs role admin or creator in project service") {
		t.Errorf("member creating a secret: %v", err)
	}
	if _, err := svc.FetchKey(ctx, s.ID); err == nil || !strings.Contains(err.Error(), "not allowed") || !strings.Contains(err.Error(), "read ACL") {
		t.Errorf("reading a secret of another project off its ACL: %v", err)
	}
	other := k.connectAs(t, k.acct.Other)
	if _, _, err := other.Grant(ctx, s.ID, k.acct.Other.UserID); err == nil || !strings.Contains(err.Error(), "not allowed") {
		t.Errorf("another project granting itself access: %v", err)
	}

	unknown := "00000000-0000-4000-8000-000000000000"
	if _, err := demo.Show(ctx, unknown); err == nil || !strings.Contains(err.Error(), "no secret "+unknown) {
		t.Errorf("unknown id: %v", err)
	}
	for _, bad := range []string{"https://kms.example/v1/containers/" + unknown, "photos", "http://x/v1/secrets/not-a-uuid"} {
		if _, err := demo.Show(ctx, bad); err == nil || !strings.Contains(err.Error(), "secret") {
			t.Errorf("malformed id %q: %v", bad, err)
		}
	}
	if _, err := demo.Backup(ctx, unknown, filepath.Join(t.TempDir(), "b.key")); err == nil || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("backup of an unknown id: %v", err)
	}
}
