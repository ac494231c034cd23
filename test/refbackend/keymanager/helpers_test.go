package keymanager

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"path/filepath"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

// testEnv is one key manager served over real HTTP: an in-process Manager,
// or with REALSTACK_ENV set a real Keystone + Barbican (realstack_test.go).
type testEnv struct {
	m    *Manager         // nil against a real stack
	srv  *httptest.Server // the in-process server; against a real stack only the proxy of newEnv's wrap
	acct Accounts
	dir  string

	real      bool
	ks, bb    string   // Keystone and Barbican base URLs (one listener in process, two for real)
	demoRoles []string // the roles of a demo token, implied ones included, sorted
}

// newEnv opens a key manager in a temporary directory and serves it, through
// wrap if given. With REALSTACK_ENV set it points at the real lab instead.
func newEnv(t *testing.T, wrap ...func(http.Handler) http.Handler) *testEnv {
	t.Helper()
	if realEnvFile != "" {
		return newRealEnv(t, wrap...)
	}
	dir := filepath.Join(t.TempDir(), "km") // Open creates it
	m, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{m: m, dir: dir, acct: m.Accounts(), demoRoles: []string{"admin", "member", "reader"}}
	e.serve(wrap...)
	t.Cleanup(func() {
		e.srv.Close()
		_ = e.m.Close()
	})
	return e
}

// serve starts an httptest server around e.m's handler, through wrap if given.
func (e *testEnv) serve(wrap ...func(http.Handler) http.Handler) {
	e.srv = httptest.NewUnstartedServer(nil)
	h := e.m.Handler("http://" + e.srv.Listener.Addr().String())
	for _, w := range wrap {
		h = w(h)
	}
	e.srv.Config.Handler = h
	e.srv.Start()
	e.ks, e.bb = e.srv.URL, e.srv.URL
}

// authURL is the Keystone v3 URL (OS_AUTH_URL).
func (e *testEnv) authURL() string { return e.ks + "/v3" }

// barbicanURL is the key-manager endpoint of the catalog (no /v1).
func (e *testEnv) barbicanURL() string { return e.bb }

// keyManager returns a gophercloud key-manager client logged in as a.
func (e *testEnv) keyManager(t *testing.T, a Account) *gophercloud.ServiceClient {
	t.Helper()
	ctx := context.Background()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: e.authURL(), Username: a.UserName, Password: a.Password,
		DomainName: a.DomainName, TenantName: a.ProjectName,
	})
	if err != nil {
		t.Fatalf("authenticate %s: %v", a.UserName, err)
	}
	c, err := openstack.NewKeyManagerV1(provider, gophercloud.EndpointOpts{Region: "RegionOne"})
	if err != nil {
		t.Fatalf("key-manager client: %v", err)
	}
	return c
}

// randomKey returns n random bytes.
func randomKey(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// createKey stores payload as a binary AES secret and returns its UUID.
func createKey(t *testing.T, c *gophercloud.ServiceClient, name string, payload []byte) string {
	t.Helper()
	sec, err := secrets.Create(context.Background(), c, secrets.CreateOpts{
		Name: name, Algorithm: "aes", BitLength: len(payload) * 8, Mode: "cbc",
		SecretType: secrets.SymmetricSecret, Payload: base64.StdEncoding.EncodeToString(payload),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64",
	}).Extract()
	if err != nil {
		t.Fatalf("create secret %s: %v", name, err)
	}
	return path.Base(sec.SecretRef)
}

// wantStatus fails unless err is a gophercloud error carrying HTTP status.
func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	if !gophercloud.ResponseCodeIs(err, status) {
		t.Fatalf("%s: got %v, want HTTP %d", what, err, status)
	}
}

// rawResponse is an HTTP answer read whole.
type rawResponse struct {
	status int
	header http.Header
	body   []byte
}

// json decodes the body into a generic map.
func (r rawResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

// do sends a raw request; body is JSON-encoded unless nil.
func do(t *testing.T, method, url string, headers map[string]string, body any) rawResponse {
	t.Helper()
	r, err := rawDo(method, url, headers, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// rawDo is do returning its error.
func rawDo(method, url string, headers map[string]string, body any) (rawResponse, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return rawResponse{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return rawResponse{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return rawResponse{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return rawResponse{}, err
	}
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// jsonUnmarshal decodes b into v, quoting b in the error.
func jsonUnmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("body %q: %w", b, err)
	}
	return nil
}

// passwordAuth is a Keystone password auth body; scope nil means none
// given (Keystone then scopes to the user's default project), "unscoped"
// asks for an unscoped token.
func passwordAuth(a Account, scope any) map[string]any {
	auth := map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{
			"name": a.UserName, "domain": map[string]string{"name": a.DomainName}, "password": a.Password}}}}
	if scope != nil {
		auth["scope"] = scope
	}
	return map[string]any{"auth": auth}
}

// projectScope scopes to a's project by name and domain.
func projectScope(a Account) map[string]any {
	return map[string]any{"project": map[string]any{"name": a.ProjectName, "domain": map[string]string{"name": "Default"}}}
}

// token returns a project-scoped token for a.
func (e *testEnv) token(t *testing.T, a Account) string {
	t.Helper()
	r := do(t, "POST", e.authURL()+"/auth/tokens", nil, passwordAuth(a, projectScope(a)))
	if r.status != http.StatusCreated {
		t.Fatalf("auth %s: %d %s", a.UserName, r.status, r.body)
	}
	return r.header.Get("X-Subject-Token")
}
