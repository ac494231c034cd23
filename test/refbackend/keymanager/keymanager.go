// Package keymanager is the reference backend's key manager: a small server
// that speaks enough Keystone v3 (password, token and application credential
// auth, token validation, catalog) and Barbican v1 (secrets, payloads, read
// ACLs, Zed default policy) for gophercloud's ordinary client and the
// openstack CLI to work against it unchanged, plus SecretClient, the client
// the S3 side uses to fetch SSE-KMS keys the way Ceph RGW does.
//
// State lives in one directory: master.key (32 random bytes, 0600) and a bbolt
// file whose every value is sealed with AES-256-GCM under that key.
package keymanager

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Account is one Keystone user with its project.
type Account struct {
	UserName    string // Keystone user name (OS_USERNAME)
	UserID      string // Keystone user id: what goes on a secret's read ACL
	Password    string // random, created on first start (OS_PASSWORD)
	ProjectName string // OS_PROJECT_NAME
	ProjectID   string // the project owning the secrets this user creates
	DomainName  string // always "Default" (OS_USER_DOMAIN_NAME, OS_PROJECT_DOMAIN_NAME)
}

// Accounts are the users created on first start (random passwords, persisted
// in the data dir).
type Accounts struct {
	Demo    Account // "demo", role admin in project "demo": creates and manages secrets
	Other   Account // "other", role admin in project "other": a second tenant for ACL tests
	Service Account // "objectstore", role member in project "service": the S3 side's service user (like RGW's Keystone user)
}

// The one domain, as Keystone bootstraps it.
const (
	domainID   = "default"
	domainName = "Default"
	regionID   = "RegionOne"
)

// tokenTTL is how long issued tokens live (Keystone's default).
const tokenTTL = time.Hour

// user is one Keystone user with its single role assignment.
type user struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Password  string `json:"password"`
	ProjectID string `json:"project_id"` // also its default project (auth without a scope)
	Role      string `json:"role"`       // role name on ProjectID
}

// project is one Keystone project in the default domain.
type project struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// directory is the Keystone side's fixed content, created on first start.
type directory struct {
	Users    []user            `json:"users"`
	Projects []project         `json:"projects"`
	Roles    map[string]string `json:"roles"`       // role name -> id
	Services map[string]string `json:"service_ids"` // service type -> id (catalog ids)
}

// impliedRoles are Keystone's default implications (admin > member > reader).
var impliedRoles = map[string][]string{
	"admin":  {"admin", "member", "reader"},
	"member": {"member", "reader"},
}

// Manager is an open key manager: its store, its Keystone directory and the
// in-memory token revocation list.
type Manager struct {
	st  *store
	dir directory

	mu      sync.Mutex
	revoked map[string]int64 // audit id -> token expiry (Unix ns)
}

// Open opens or creates the key manager's state in dir (created 0700). On
// first start it creates the master key, the projects demo, other and service,
// and the users of Accounts with random passwords.
func Open(dir string) (*Manager, error) {
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	m := &Manager{st: st, revoked: map[string]int64{}}
	err = st.get(bucketDirectory, "directory", &m.dir)
	if errors.Is(err, errNotFound) {
		m.dir = newDirectory()
		err = st.put(bucketDirectory, "directory", &m.dir)
	}
	if err != nil {
		_ = st.close()
		return nil, err
	}
	return m, nil
}

// newDirectory builds the first-start users, projects, roles and services.
func newDirectory() directory {
	d := directory{Roles: map[string]string{}, Services: map[string]string{}}
	for _, r := range []string{"admin", "member", "reader", "creator", "observer", "audit", "service"} {
		d.Roles[r] = newID()
	}
	for _, s := range []string{"identity", "key-manager"} {
		d.Services[s] = newID()
	}
	for _, a := range []struct{ user, project, role string }{
		{"demo", "demo", "admin"},
		{"other", "other", "admin"},
		{"objectstore", "service", "member"},
	} {
		p := project{ID: newID(), Name: a.project}
		d.Projects = append(d.Projects, p)
		d.Users = append(d.Users, user{ID: newID(), Name: a.user, Password: newPassword(), ProjectID: p.ID, Role: a.role})
	}
	return d
}

// Accounts returns the users created on first start.
func (m *Manager) Accounts() Accounts {
	acct := func(name string) Account {
		u := m.userByName(name)
		p := m.projectByID(u.ProjectID)
		return Account{UserName: u.Name, UserID: u.ID, Password: u.Password,
			ProjectName: p.Name, ProjectID: p.ID, DomainName: domainName}
	}
	return Accounts{Demo: acct("demo"), Other: acct("other"), Service: acct("objectstore")}
}

// Close closes the store. Handlers must not be used afterwards.
func (m *Manager) Close() error { return m.st.close() }

// Handler serves Keystone v3 under /v3 and Barbican v1 under /v1 (and
// Barbican's version document at /) on one listener. publicURL is how clients
// reach it, e.g. "http://127.0.0.1:40123": the token catalog lists identity at
// publicURL+"/v3" and key-manager at publicURL, region RegionOne, interface
// public, and secret refs are built from it.
func (m *Manager) Handler(publicURL string) http.Handler {
	return &server{m: m, base: strings.TrimSuffix(publicURL, "/")}
}

// server is one Handler: the manager plus the URL it is published under.
type server struct {
	m    *Manager
	base string
}

// ServeHTTP routes to Keystone or Barbican.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/v3" || strings.HasPrefix(p, "/v3/"):
		s.serveKeystone(w, r, strings.TrimPrefix(p, "/v3"))
	case p == "/" || p == "":
		s.barbicanVersions(w, r)
	case p == "/v1" || strings.HasPrefix(p, "/v1/"):
		s.serveBarbican(w, r, strings.TrimPrefix(p, "/v1"))
	default:
		barbicanError(w, http.StatusNotFound, "The resource could not be found.")
	}
}

func (m *Manager) userByName(name string) *user {
	for i := range m.dir.Users {
		if m.dir.Users[i].Name == name {
			return &m.dir.Users[i]
		}
	}
	return nil
}

func (m *Manager) userByID(id string) *user {
	for i := range m.dir.Users {
		if m.dir.Users[i].ID == id {
			return &m.dir.Users[i]
		}
	}
	return nil
}

func (m *Manager) projectByID(id string) *project {
	for i := range m.dir.Projects {
		if m.dir.Projects[i].ID == id {
			return &m.dir.Projects[i]
		}
	}
	return nil
}

func (m *Manager) projectByName(name string) *project {
	for i := range m.dir.Projects {
		if m.dir.Projects[i].Name == name {
			return &m.dir.Projects[i]
		}
	}
	return nil
}

// rolesOn returns the names of the roles u holds on project id, implied roles
// included; nil if none.
func (m *Manager) rolesOn(u *user, projectID string) []string {
	if u.ProjectID != projectID {
		return nil
	}
	if r, ok := impliedRoles[u.Role]; ok {
		return r
	}
	return []string{u.Role}
}

// newID returns a Keystone-style id: 32 lower-case hex digits.
func newID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newUUID returns a random RFC 4122 version 4 UUID, as Barbican names secrets.
func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newPassword returns a random password safe in shells and env files.
func newPassword() string {
	b := make([]byte, 18)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
