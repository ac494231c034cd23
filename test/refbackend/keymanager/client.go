package keymanager

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Errors of SecretClient.FetchKey; test with errors.Is.
var (
	// ErrSecretNotFound: Barbican answered 404 (no such secret, deleted or expired).
	ErrSecretNotFound = errors.New("keymanager: secret not found")
	// ErrSecretForbidden: Barbican answered 403 (the service user is not on the secret's read ACL).
	ErrSecretForbidden = errors.New("keymanager: secret access forbidden")
	// ErrBadSecret: the secret's payload is not a 32-byte key.
	ErrBadSecret = errors.New("keymanager: secret payload is not a 32-byte key")
	// ErrKeyManagerUnavailable: Keystone or Barbican could not be reached or answered 5xx.
	ErrKeyManagerUnavailable = errors.New("keymanager: key manager unavailable")
	// ErrAuthFailed: Keystone refused the service user's credentials, or a
	// fresh token was refused by Barbican.
	ErrAuthFailed = errors.New("keymanager: authentication failed")
)

// tokenMargin is how long before expiry a cached token is replaced.
const tokenMargin = 2 * time.Minute

// SecretClient fetches SSE-KMS keys from Barbican the way Ceph RGW does: it
// authenticates to Keystone as a service user (project-scoped password auth,
// token cached until near expiry) and reads a secret's payload as that user.
// It is safe for concurrent use.
type SecretClient struct {
	authURL string
	acct    Account
	hc      *http.Client

	mu       sync.Mutex
	token    string
	expires  time.Time
	endpoint string // key-manager URL from the catalog, no trailing slash
}

// NewSecretClient returns a client that authenticates at authURL (the
// Keystone v3 URL, ending in /v3) as acct. hc nil means a client with a 30 s
// timeout.
func NewSecretClient(authURL string, acct Account, hc *http.Client) *SecretClient {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &SecretClient{authURL: strings.TrimSuffix(authURL, "/"), acct: acct, hc: hc}
}

// FetchKey returns the 32-byte payload of secret id (a bare UUID). Errors
// match ErrSecretNotFound, ErrSecretForbidden, ErrBadSecret,
// ErrKeyManagerUnavailable or ErrAuthFailed.
func (c *SecretClient) FetchKey(ctx context.Context, id string) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		token, endpoint, err := c.auth(ctx)
		if err != nil {
			return nil, err
		}
		key, status, err := c.fetch(ctx, token, endpoint, id)
		if status == http.StatusUnauthorized && attempt == 0 {
			// The key manager may have restarted with new signing keys, or
			// revoked the token: authenticate again once.
			c.forget(token)
			continue
		}
		return key, err
	}
}

// fetch performs one payload GET; it returns the HTTP status (0 if none).
func (c *SecretClient) fetch(ctx context.Context, token, endpoint, id string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		endpoint+"/v1/secrets/"+url.PathEscape(id)+"/payload", nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Accept", "application/octet-stream")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrKeyManagerUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("%w: reading secret %s: %w", ErrKeyManagerUnavailable, id, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		if len(body) != 32 {
			return nil, resp.StatusCode, fmt.Errorf("%w: secret %s holds %d bytes", ErrBadSecret, id, len(body))
		}
		return body, resp.StatusCode, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, resp.StatusCode, fmt.Errorf("%w: %s", ErrSecretNotFound, id)
	case resp.StatusCode == http.StatusForbidden:
		return nil, resp.StatusCode, fmt.Errorf("%w: %s as user %s", ErrSecretForbidden, id, c.acct.UserName)
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, resp.StatusCode, fmt.Errorf("%w: Barbican refused the token", ErrAuthFailed)
	case resp.StatusCode == http.StatusNotAcceptable:
		return nil, resp.StatusCode, fmt.Errorf("%w: secret %s is not binary", ErrBadSecret, id)
	case resp.StatusCode >= 500:
		return nil, resp.StatusCode, fmt.Errorf("%w: Barbican answered %s", ErrKeyManagerUnavailable, resp.Status)
	default:
		return nil, resp.StatusCode, fmt.Errorf("keymanager: fetching secret %s: Barbican answered %s: %s", id, resp.Status, bytes.TrimSpace(body))
	}
}

// forget drops the cached token if it is still token.
func (c *SecretClient) forget(token string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token == token {
		c.token = ""
	}
}

// auth returns a valid cached token and the key-manager endpoint,
// authenticating first if the cache is empty or near expiry.
func (c *SecretClient) auth(ctx context.Context) (string, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && time.Until(c.expires) > tokenMargin {
		return c.token, c.endpoint, nil
	}
	token, expires, endpoint, err := c.login(ctx)
	if err != nil {
		return "", "", err
	}
	c.token, c.expires, c.endpoint = token, expires, endpoint
	return token, endpoint, nil
}

// login performs project-scoped password auth and finds the public
// key-manager endpoint in the catalog.
func (c *SecretClient) login(ctx context.Context) (string, time.Time, string, error) {
	dom := map[string]string{"name": c.acct.DomainName}
	if c.acct.DomainName == "" {
		dom = map[string]string{"id": domainID}
	}
	body, _ := json.Marshal(map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": c.acct.UserName, "domain": dom, "password": c.acct.Password}}},
		"scope": map[string]any{"project": map[string]any{"name": c.acct.ProjectName, "domain": dom}},
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.authURL+"/auth/tokens", bytes.NewReader(body))
	if err != nil {
		return "", time.Time{}, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", time.Time{}, "", fmt.Errorf("%w: %w", ErrKeyManagerUnavailable, err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token struct {
			ExpiresAt time.Time `json:"expires_at"`
			Catalog   []struct {
				Type      string `json:"type"`
				Endpoints []struct {
					Interface string `json:"interface"`
					URL       string `json:"url"`
				} `json:"endpoints"`
			} `json:"catalog"`
		} `json:"token"`
	}
	switch {
	case resp.StatusCode >= 500:
		return "", time.Time{}, "", fmt.Errorf("%w: Keystone answered %s", ErrKeyManagerUnavailable, resp.Status)
	case resp.StatusCode != http.StatusCreated:
		return "", time.Time{}, "", fmt.Errorf("%w: Keystone answered %s for user %s", ErrAuthFailed, resp.Status, c.acct.UserName)
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		return "", time.Time{}, "", fmt.Errorf("%w: bad token body: %w", ErrKeyManagerUnavailable, err)
	}
	for _, e := range tok.Token.Catalog {
		if e.Type != "key-manager" {
			continue
		}
		for _, ep := range e.Endpoints {
			if ep.Interface == "public" {
				return resp.Header.Get("X-Subject-Token"), tok.Token.ExpiresAt, strings.TrimSuffix(ep.URL, "/"), nil
			}
		}
	}
	return "", time.Time{}, "", fmt.Errorf("%w: no public key-manager endpoint in the token's catalog", ErrKeyManagerUnavailable)
}
