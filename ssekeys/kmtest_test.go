package ssekeys

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssefs/ssefs/test/refbackend/keymanager"
)

// kmServer is the reference backend's key manager (Keystone /v3 and
// Barbican /v1) served in-process over real HTTP.
type kmServer struct {
	srv  *httptest.Server
	acct keymanager.Accounts
}

// newKMServer opens a key manager in a temporary directory and serves it,
// over TLS when useTLS is set.
func newKMServer(t *testing.T, useTLS bool) *kmServer {
	t.Helper()
	m, err := keymanager.Open(filepath.Join(t.TempDir(), "km"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(nil)
	scheme := "http://"
	if useTLS {
		scheme = "https://"
	}
	srv.Config.Handler = m.Handler(scheme + srv.Listener.Addr().String())
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		_ = m.Close()
	})
	return &kmServer{srv: srv, acct: m.Accounts()}
}

func (k *kmServer) authURL() string { return k.srv.URL + "/v3" }

// clearOSEnv blanks every OS_* variable for the test (an empty variable
// counts as unset), so the caller's own cloud never leaks in.
func clearOSEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "OS_") {
			t.Setenv(name, "")
		}
	}
}

// setOpenrc sets the variables a Keystone v3 openrc file sets for a.
func (k *kmServer) setOpenrc(t *testing.T, a keymanager.Account) {
	t.Helper()
	clearOSEnv(t)
	for name, v := range map[string]string{
		"OS_AUTH_URL":             k.authURL(),
		"OS_USERNAME":             a.UserName,
		"OS_PASSWORD":             a.Password,
		"OS_PROJECT_NAME":         a.ProjectName,
		"OS_USER_DOMAIN_NAME":     a.DomainName,
		"OS_PROJECT_DOMAIN_NAME":  a.DomainName,
		"OS_REGION_NAME":          "RegionOne",
		"OS_IDENTITY_API_VERSION": "3",
		"OS_INTERFACE":            "public",
	} {
		t.Setenv(name, v)
	}
}

// connectAs logs in as a with openrc-style variables.
func (k *kmServer) connectAs(t *testing.T, a keymanager.Account) *KeyManager {
	t.Helper()
	k.setOpenrc(t, a)
	creds, err := LoadCredentials("")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ConnectKeyManager(context.Background(), creds)
	if err != nil {
		t.Fatalf("connect as %s: %v", a.UserName, err)
	}
	return m
}
