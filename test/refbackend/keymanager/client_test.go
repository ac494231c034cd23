package keymanager

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
)

// SecretClient is what the S3 side uses, as RGW does: the service user reads
// a secret only once the owner has put it on the secret's read ACL.
func TestSecretClientFollowsACLAndLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	key := randomKey(t, 32)
	id := createKey(t, demo, "sse-kms", key)
	c := NewSecretClient(e.authURL(), e.acct.Service, nil)

	if _, err := c.FetchKey(ctx, id); !errors.Is(err, ErrSecretForbidden) {
		t.Fatalf("before ACL: %v, want ErrSecretForbidden", err)
	}
	users := []string{e.acct.Service.UserID}
	if _, err := acls.UpdateSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		t.Fatal(err)
	}
	got, err := c.FetchKey(ctx, id)
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("after ACL: %x %v", got, err)
	}

	if err := secrets.Delete(ctx, demo, id).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchKey(ctx, id); !errors.Is(err, ErrSecretNotFound) {
		t.Fatalf("after delete: %v, want ErrSecretNotFound", err)
	}
	// RGW answers 404 for an upper-case or malformed id as well.
	if _, err := c.FetchKey(ctx, "NOT-A-UUID/../x"); !errors.Is(err, ErrSecretNotFound) {
		t.Fatalf("malformed id: %v, want ErrSecretNotFound", err)
	}

	short := createKey(t, demo, "aes-128", randomKey(t, 16))
	if _, err := acls.SetSecretACL(ctx, demo, short, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.FetchKey(ctx, short); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("16-byte secret: %v, want ErrBadSecret", err)
	}
}

func TestSecretClientServerGone(t *testing.T) {
	requireInProcess(t, "closes the server")
	e := newEnv(t)
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	id := createKey(t, demo, "sse-kms", randomKey(t, 32))
	users := []string{e.acct.Service.UserID}
	if _, err := acls.SetSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		t.Fatal(err)
	}
	c := NewSecretClient(e.authURL(), e.acct.Service, nil)
	if _, err := c.FetchKey(ctx, id); err != nil {
		t.Fatal(err)
	}

	e.srv.Close()
	if _, err := c.FetchKey(ctx, id); !errors.Is(err, ErrKeyManagerUnavailable) {
		t.Fatalf("server closed: %v, want ErrKeyManagerUnavailable", err)
	}
	fresh := NewSecretClient(e.authURL(), e.acct.Service, nil)
	if _, err := fresh.FetchKey(ctx, id); !errors.Is(err, ErrKeyManagerUnavailable) {
		t.Fatalf("server closed, no cached token: %v, want ErrKeyManagerUnavailable", err)
	}
}

// countingHandler counts token requests on the way to the key manager and can
// fail Barbican requests with 503.
type countingHandler struct {
	next   http.Handler
	auths  atomic.Int32
	failed atomic.Bool
}

func (h *countingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == "/v3/auth/tokens" {
		h.auths.Add(1)
	}
	if h.failed.Load() && r.URL.Path != "/v3/auth/tokens" {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	h.next.ServeHTTP(w, r)
}

func TestSecretClientCachesTokenAndMaps5xx(t *testing.T) {
	h := &countingHandler{}
	e := newEnv(t, func(next http.Handler) http.Handler { h.next = next; return h })
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	key := randomKey(t, 32)
	id := createKey(t, demo, "cached", key)
	users := []string{e.acct.Service.UserID}
	if _, err := acls.SetSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract(); err != nil {
		t.Fatal(err)
	}

	c := NewSecretClient(e.authURL(), e.acct.Service, nil)
	before := h.auths.Load()
	for range 5 {
		if got, err := c.FetchKey(ctx, id); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("fetch: %x %v", got, err)
		}
	}
	if n := h.auths.Load() - before; n != 1 {
		t.Errorf("5 fetches authenticated %d times, want 1 (token cached)", n)
	}

	// A token near expiry is replaced.
	c.mu.Lock()
	c.expires = time.Now().Add(time.Minute)
	c.mu.Unlock()
	if _, err := c.FetchKey(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := h.auths.Load() - before; n != 2 {
		t.Errorf("after near-expiry: %d auths, want 2", n)
	}

	// A revoked token (401) is replaced once, transparently.
	c.mu.Lock()
	tok := c.token
	c.mu.Unlock()
	r := do(t, "DELETE", e.authURL()+"/auth/tokens", map[string]string{"X-Auth-Token": tok, "X-Subject-Token": tok}, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if _, err := c.FetchKey(ctx, id); err != nil {
		t.Fatalf("after revocation: %v", err)
	}

	if e.real {
		t.Log("real stack: Barbican is reached directly (from the catalog), no 503 can be injected; the rest passed")
		return
	}
	h.failed.Store(true)
	if _, err := c.FetchKey(ctx, id); !errors.Is(err, ErrKeyManagerUnavailable) {
		t.Fatalf("503: %v, want ErrKeyManagerUnavailable", err)
	}
}

func TestSecretClientWrongPasswordAndTimeout(t *testing.T) {
	e := newEnv(t)
	bad := e.acct.Service
	bad.Password = "wrong"
	_, err := NewSecretClient(e.authURL(), bad, nil).FetchKey(context.Background(), newUUID())
	if !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong password: %v, want ErrAuthFailed", err)
	}

	stall := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-stall }))
	defer slow.Close()
	defer close(stall)
	c := NewSecretClient(slow.URL+"/v3", e.acct.Service, &http.Client{Timeout: 100 * time.Millisecond})
	if _, err := c.FetchKey(context.Background(), newUUID()); !errors.Is(err, ErrKeyManagerUnavailable) {
		t.Fatalf("timeout: %v, want ErrKeyManagerUnavailable", err)
	}
}
