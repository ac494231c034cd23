package keymanager

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Real-stack mode: with REALSTACK_ENV naming the env.sh of a test/realstack
// lab (real Keystone + Barbican), newEnv points the same tests at that lab
// instead of an in-process Manager. The lab's secrets.env, beside env.sh,
// gives the admin password (to make a fresh demo and other project for each
// test, so that listings see only the test's own secrets, as with a fresh
// Manager) and the rgw user's password (the Service account: RGW's Keystone
// user, role member in project service).

// realEnvFile is REALSTACK_ENV: empty means the in-process mode.
var realEnvFile = os.Getenv("REALSTACK_ENV")

// requireInProcess skips a test that needs the in-process Manager.
func requireInProcess(t *testing.T, why string) {
	t.Helper()
	if realEnvFile != "" {
		t.Skipf("needs the in-process key manager (%s); REALSTACK_ENV is set", why)
	}
}

// realLab is what every test shares in real-stack mode.
type realLab struct {
	keystone string // Keystone base URL, without /v3
	barbican string // Barbican base URL from the catalog, without /v1
	admin    Account
	service  Account
	roles    map[string]string // role name -> id

	mu         sync.Mutex
	adminToken string
	adminUntil time.Time
}

var (
	labOnce sync.Once
	lab     *realLab
	labErr  error
)

// theLab loads the lab named by REALSTACK_ENV once.
func theLab(t *testing.T) *realLab {
	t.Helper()
	labOnce.Do(func() { lab, labErr = loadLab(realEnvFile) })
	if labErr != nil {
		t.Fatalf("REALSTACK_ENV=%s: %v", realEnvFile, labErr)
	}
	return lab
}

// readShellVars reads NAME=VALUE lines (optionally after "export", VALUE
// optionally in single quotes with '\” escapes, as start.sh writes them).
func readShellVars(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "export ")
		name, val, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		if len(val) >= 2 && val[0] == '\'' && val[len(val)-1] == '\'' {
			val = strings.ReplaceAll(val[1:len(val)-1], `'\''`, `'`)
		}
		vars[name] = val
	}
	return vars, sc.Err()
}

func loadLab(envFile string) (*realLab, error) {
	env, err := readShellVars(envFile)
	if err != nil {
		return nil, err
	}
	secrets, err := readShellVars(filepath.Join(filepath.Dir(envFile), "secrets.env"))
	if err != nil {
		return nil, fmt.Errorf("the lab's secrets.env (admin and rgw passwords): %w", err)
	}
	for _, v := range []string{"OS_AUTH_URL", "SSEFS_KMS_SERVICE_USER_ID"} {
		if env[v] == "" {
			return nil, fmt.Errorf("%s is not set in %s", v, envFile)
		}
	}
	for _, v := range []string{"ADMIN_PASSWORD", "RGW_PASSWORD"} {
		if secrets[v] == "" {
			return nil, fmt.Errorf("%s is not set in secrets.env", v)
		}
	}
	l := &realLab{keystone: strings.TrimSuffix(strings.TrimSuffix(env["OS_AUTH_URL"], "/"), "/v3"),
		admin:   Account{UserName: "admin", Password: secrets["ADMIN_PASSWORD"], ProjectName: "admin", DomainName: domainName},
		service: Account{UserName: "rgw", Password: secrets["RGW_PASSWORD"], ProjectName: "service", DomainName: domainName},
	}
	if err := l.login(&l.service); err != nil {
		return nil, err
	}
	if l.service.UserID != env["SSEFS_KMS_SERVICE_USER_ID"] {
		return nil, fmt.Errorf("rgw's id %s is not SSEFS_KMS_SERVICE_USER_ID %s", l.service.UserID, env["SSEFS_KMS_SERVICE_USER_ID"])
	}
	tok, err := l.token()
	if err != nil {
		return nil, err
	}
	var roles struct {
		Roles []struct{ ID, Name string } `json:"roles"`
	}
	if err := l.call("GET", "/roles", tok, nil, &roles, http.StatusOK); err != nil {
		return nil, err
	}
	l.roles = map[string]string{}
	for _, r := range roles.Roles {
		l.roles[r.Name] = r.ID
	}
	if l.roles["creator"] == "" || l.roles["member"] == "" {
		return nil, fmt.Errorf("roles creator and member must exist: %v", l.roles)
	}
	return l, nil
}

// call sends a JSON request to Keystone and decodes a JSON answer into out
// (if not nil); any status but want is an error.
func (l *realLab) call(method, path, token string, body, out any, want int) error {
	r, err := rawDo(method, l.keystone+"/v3"+path, map[string]string{"X-Auth-Token": token}, body)
	if err != nil {
		return err
	}
	if r.status != want {
		return fmt.Errorf("%s %s: %d %s", method, path, r.status, r.body)
	}
	if out != nil {
		return jsonUnmarshal(r.body, out)
	}
	return nil
}

// login fills a's UserID and ProjectID from a project-scoped token; for the
// admin account it also caches the token and finds Barbican in the catalog.
func (l *realLab) login(a *Account) error {
	r, err := rawDo("POST", l.keystone+"/v3/auth/tokens", nil, passwordAuth(*a, projectScope(*a)))
	if err != nil {
		return err
	}
	if r.status != http.StatusCreated {
		return fmt.Errorf("auth %s: %d %s", a.UserName, r.status, r.body)
	}
	var tok struct {
		Token struct {
			ExpiresAt time.Time           `json:"expires_at"`
			User      struct{ ID string } `json:"user"`
			Project   struct{ ID string } `json:"project"`
			Catalog   []struct {
				Type      string
				Endpoints []struct{ Interface, URL string }
			} `json:"catalog"`
		} `json:"token"`
	}
	if err := jsonUnmarshal(r.body, &tok); err != nil {
		return err
	}
	a.UserID, a.ProjectID = tok.Token.User.ID, tok.Token.Project.ID
	for _, c := range tok.Token.Catalog {
		for _, ep := range c.Endpoints {
			if c.Type == "key-manager" && ep.Interface == "public" {
				l.barbican = strings.TrimSuffix(ep.URL, "/")
			}
		}
	}
	if l.barbican == "" {
		return fmt.Errorf("no public key-manager endpoint in %s's catalog", a.UserName)
	}
	if a.UserName == l.admin.UserName {
		l.adminToken, l.adminUntil = r.header.Get("X-Subject-Token"), tok.Token.ExpiresAt
	}
	return nil
}

// token returns a valid admin token.
func (l *realLab) token() (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.adminToken == "" || time.Until(l.adminUntil) < 5*time.Minute {
		if err := l.login(&l.admin); err != nil {
			return "", err
		}
	}
	return l.adminToken, nil
}

// freshAccount creates a project and a user of the same name, the user with
// roles creator and member on it (as the lab's demo user), and deletes both
// when the test ends.
func (l *realLab) freshAccount(t *testing.T, name string) Account {
	t.Helper()
	tok, err := l.token()
	if err != nil {
		t.Fatal(err)
	}
	a := Account{UserName: name, Password: newPassword(), ProjectName: name, DomainName: domainName}
	var p struct{ Project struct{ ID string } }
	if err := l.call("POST", "/projects", tok, map[string]any{"project": map[string]any{
		"name": name, "domain_id": domainID, "description": "keymanager test"}}, &p, http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	a.ProjectID = p.Project.ID
	t.Cleanup(func() {
		if err := l.call("DELETE", "/projects/"+a.ProjectID, tok, nil, nil, http.StatusNoContent); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	var u struct{ User struct{ ID string } }
	if err := l.call("POST", "/users", tok, map[string]any{"user": map[string]any{"name": name, "domain_id": domainID,
		"password": a.Password, "default_project_id": a.ProjectID}}, &u, http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	a.UserID = u.User.ID
	t.Cleanup(func() {
		if err := l.call("DELETE", "/users/"+a.UserID, tok, nil, nil, http.StatusNoContent); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	for _, role := range []string{"creator", "member"} {
		if err := l.call("PUT", "/projects/"+a.ProjectID+"/users/"+a.UserID+"/roles/"+l.roles[role],
			tok, nil, nil, http.StatusNoContent); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// newRealEnv is newEnv against the lab: a fresh demo and other account (see
// freshAccount), rgw as the Service account. With wrap, Keystone and Barbican
// are reached through a local reverse proxy wrapped by it (the catalog still
// sends key-manager clients to Barbican directly).
func newRealEnv(t *testing.T, wrap ...func(http.Handler) http.Handler) *testEnv {
	t.Helper()
	l := theLab(t)
	run := newID()[:8]
	e := &testEnv{real: true, ks: l.keystone, bb: l.barbican, demoRoles: []string{"creator", "member", "reader"},
		acct: Accounts{Demo: l.freshAccount(t, "km-"+run+"-demo"), Other: l.freshAccount(t, "km-"+run+"-other"), Service: l.service}}
	if len(wrap) > 0 {
		ks, _ := url.Parse(l.keystone)
		bb, _ := url.Parse(l.barbican)
		toKS, toBB := httputil.NewSingleHostReverseProxy(ks), httputil.NewSingleHostReverseProxy(bb)
		var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/v3" || strings.HasPrefix(r.URL.Path, "/v3/") {
				toKS.ServeHTTP(w, r)
			} else {
				toBB.ServeHTTP(w, r)
			}
		})
		for _, w := range wrap {
			h = w(h)
		}
		e.srv = httptest.NewServer(h)
		e.ks = e.srv.URL
		t.Cleanup(e.srv.Close)
	}
	return e
}
