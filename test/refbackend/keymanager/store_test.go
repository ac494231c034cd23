package keymanager

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

func TestPersistenceAcrossReopen(t *testing.T) {
	requireInProcess(t, "reopens the data dir")
	e := newEnv(t)
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	key := randomKey(t, 32)
	id := createKey(t, demo, "survivor", key)
	users := []string{e.acct.Service.UserID}
	if _, err := acls.SetSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		t.Fatal(err)
	}
	c := NewSecretClient(e.authURL(), e.acct.Service, nil)
	if _, err := c.FetchKey(ctx, id); err != nil {
		t.Fatal(err)
	}
	oldToken := e.token(t, e.acct.Demo)

	e.srv.Close()
	if err := e.m.Close(); err != nil {
		t.Fatal(err)
	}
	checkAtRest(t, e.dir, key, e.acct)

	m, err := Open(e.dir)
	if err != nil {
		t.Fatal(err)
	}
	e.m = m
	if got := m.Accounts(); got != e.acct {
		t.Fatalf("accounts changed across reopen:\n%+v\n%+v", got, e.acct)
	}
	e.serve() // a new port: tokens are stateless and still valid
	r := do(t, "GET", e.srv.URL+"/v1/secrets/"+id, map[string]string{"X-Auth-Token": oldToken}, nil)
	if r.status != 200 {
		t.Errorf("token issued before reopen: %d %s", r.status, r.body)
	}

	demo = e.keyManager(t, e.acct.Demo)
	got, err := secrets.GetPayload(ctx, demo, id, secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract()
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("payload after reopen: %x %v", got, err)
	}
	acl, err := acls.GetSecretACL(ctx, demo, id).Extract()
	if err != nil || len((*acl)["read"].Users) != 1 || (*acl)["read"].Users[0] != e.acct.Service.UserID {
		t.Fatalf("ACL after reopen: %+v %v", acl, err)
	}
	c = NewSecretClient(e.authURL(), e.acct.Service, nil)
	if got, err := c.FetchKey(ctx, id); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("service user after reopen: %x %v", got, err)
	}
}

// checkAtRest checks file modes and that neither the key (raw, hex or
// base64) nor any password appears in any file under dir.
func checkAtRest(t *testing.T, dir string, key []byte, acct Accounts) {
	t.Helper()
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v %v, want 0700", st.Mode(), err)
	}
	mk, err := os.Stat(filepath.Join(dir, "master.key"))
	if err != nil || mk.Mode().Perm() != 0o600 || mk.Size() != 32 {
		t.Errorf("master.key: %v size %d %v, want 0600, 32 bytes", mk.Mode(), mk.Size(), err)
	}
	needles := map[string][]byte{
		"raw key": key, "hex key": []byte(hex.EncodeToString(key)),
		"base64 key":    []byte(base64.StdEncoding.EncodeToString(key)),
		"demo password": []byte(acct.Demo.Password), "service password": []byte(acct.Service.Password),
	}
	var files int
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for what, needle := range needles {
			if bytes.Contains(data, needle) {
				t.Errorf("%s found in %s", what, p)
			}
		}
		if info, _ := d.Info(); info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v", p, info.Mode())
		}
		return nil
	})
	if err != nil || files < 2 {
		t.Errorf("walked %d files: %v", files, err)
	}
}

func TestOpenRejectsWrongMasterKey(t *testing.T) {
	requireInProcess(t, "checks the master key file")
	dir := t.TempDir()
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Close()
	if err := os.WriteFile(filepath.Join(dir, "master.key"), randomKey(t, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if m, err := Open(dir); err == nil {
		_ = m.Close()
		t.Fatal("Open with another master key succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "master.key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if m, err := Open(dir); err == nil {
		_ = m.Close()
		t.Fatal("Open with a 5-byte master key succeeded")
	}
}
