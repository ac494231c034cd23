package keymanager

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Keystone and Barbican wire shapes that clients other than gophercloud rely on.

func TestKeystoneTokenShape(t *testing.T) {
	e := newEnv(t)
	r := do(t, "POST", e.authURL()+"/auth/tokens", nil, passwordAuth(e.acct.Demo, projectScope(e.acct.Demo)))
	if r.status != http.StatusCreated || r.header.Get("X-Subject-Token") == "" {
		t.Fatalf("auth: %d %s", r.status, r.body)
	}
	tok := r.json(t)["token"].(map[string]any)
	if tok["user"].(map[string]any)["id"] != e.acct.Demo.UserID ||
		tok["project"].(map[string]any)["id"] != e.acct.Demo.ProjectID ||
		tok["project"].(map[string]any)["domain"].(map[string]any)["name"] != "Default" {
		t.Errorf("user/project: %s", r.body)
	}
	var roles []string
	for _, x := range tok["roles"].([]any) {
		roles = append(roles, x.(map[string]any)["name"].(string))
	}
	if strings.Join(roles, ",") != "admin,member,reader" {
		t.Errorf("roles %v, want admin with its implied roles", roles)
	}
	for _, f := range []string{"expires_at", "issued_at"} {
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z", tok[f].(string)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	urls := map[string]string{}
	for _, x := range tok["catalog"].([]any) {
		entry := x.(map[string]any)
		ep := entry["endpoints"].([]any)[0].(map[string]any)
		if ep["interface"] != "public" || ep["region_id"] != "RegionOne" {
			t.Errorf("endpoint %v", ep)
		}
		urls[entry["type"].(string)] = ep["url"].(string)
	}
	if urls["identity"] != e.srv.URL+"/v3" || urls["key-manager"] != e.srv.URL {
		t.Errorf("catalog %v", urls)
	}

	// Validation: any valid token may look at another.
	subject := r.header.Get("X-Subject-Token")
	v := do(t, "GET", e.authURL()+"/auth/tokens", map[string]string{
		"X-Auth-Token": e.token(t, e.acct.Service), "X-Subject-Token": subject}, nil)
	if v.status != http.StatusOK || v.header.Get("X-Subject-Token") != subject ||
		v.json(t)["token"].(map[string]any)["user"].(map[string]any)["name"] != "demo" {
		t.Errorf("validate: %d %s", v.status, v.body)
	}
	v = do(t, "GET", e.authURL()+"/auth/tokens", map[string]string{"X-Auth-Token": subject, "X-Subject-Token": subject + "x"}, nil)
	if v.status != http.StatusNotFound {
		t.Errorf("validate a forged token: %d", v.status)
	}
}

func TestKeystoneAuthVariants(t *testing.T) {
	e := newEnv(t)
	url := e.authURL() + "/auth/tokens"
	demo := e.acct.Demo

	// User and project by id.
	byID := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"id": demo.UserID, "password": demo.Password}}},
		"scope": map[string]any{"project": map[string]any{"id": demo.ProjectID}}}}
	if r := do(t, "POST", url, nil, byID); r.status != http.StatusCreated {
		t.Errorf("by id: %d %s", r.status, r.body)
	}

	// Unscoped: no project, no roles, no catalog.
	r := do(t, "POST", url, nil, passwordAuth(demo, nil))
	tok := r.json(t)["token"].(map[string]any)
	if r.status != http.StatusCreated || tok["project"] != nil || tok["catalog"] != nil {
		t.Errorf("unscoped: %d %s", r.status, r.body)
	}
	// Barbican needs a project-scoped token to create.
	c := do(t, "POST", e.srv.URL+"/v1/secrets", map[string]string{"X-Auth-Token": r.header.Get("X-Subject-Token")},
		map[string]any{"payload": "eA==", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})
	if c.status != http.StatusForbidden {
		t.Errorf("create with unscoped token: %d %s", c.status, c.body)
	}

	// Rescope with the token method.
	rescope := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": r.header.Get("X-Subject-Token")}},
		"scope":    projectScope(demo)}}
	if r := do(t, "POST", url, nil, rescope); r.status != http.StatusCreated ||
		r.json(t)["token"].(map[string]any)["project"].(map[string]any)["name"] != "demo" {
		t.Errorf("rescope: %d %s", r.status, r.body)
	}

	wrong := demo
	wrong.Password = "nope"
	for name, body := range map[string]any{
		"wrong password":    passwordAuth(wrong, projectScope(demo)),
		"someone's project": passwordAuth(demo, projectScope(e.acct.Other)),
		"unknown user":      passwordAuth(Account{UserName: "ghost", DomainName: "Default"}, nil),
		"wrong domain":      passwordAuth(Account{UserName: demo.UserName, Password: demo.Password, DomainName: "Other"}, nil),
		"no methods at all": map[string]any{"auth": map[string]any{}},
	} {
		r := do(t, "POST", url, nil, body)
		errBody, _ := r.json(t)["error"].(map[string]any)
		if r.status != http.StatusUnauthorized || errBody["code"] != 401.0 || errBody["title"] != "Unauthorized" || errBody["message"] == "" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
}

func TestApplicationCredentials(t *testing.T) {
	e := newEnv(t)
	tok := e.token(t, e.acct.Demo)
	base := e.authURL() + "/users/" + e.acct.Demo.UserID + "/application_credentials"
	r := do(t, "POST", base, map[string]string{"X-Auth-Token": tok},
		map[string]any{"application_credential": map[string]any{"name": "ci"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	ac := r.json(t)["application_credential"].(map[string]any)
	auth := func(secret string) rawResponse {
		return do(t, "POST", e.authURL()+"/auth/tokens", nil, map[string]any{"auth": map[string]any{"identity": map[string]any{
			"methods": []string{"application_credential"}, "application_credential": map[string]any{"id": ac["id"], "secret": secret}}}})
	}
	r = auth(ac["secret"].(string))
	if r.status != http.StatusCreated {
		t.Fatalf("auth: %d %s", r.status, r.body)
	}
	tk := r.json(t)["token"].(map[string]any)
	if tk["project"].(map[string]any)["id"] != e.acct.Demo.ProjectID || tk["application_credential"].(map[string]any)["name"] != "ci" {
		t.Errorf("token: %s", r.body)
	}
	// The token works against Barbican like a password token.
	c := do(t, "GET", e.srv.URL+"/v1/secrets", map[string]string{"X-Auth-Token": r.header.Get("X-Subject-Token")}, nil)
	if c.status != http.StatusOK {
		t.Errorf("list with app cred token: %d %s", c.status, c.body)
	}
	if r := auth("wrong"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", r.status)
	}
	if r := do(t, "DELETE", base+"/"+ac["id"].(string), map[string]string{"X-Auth-Token": tok}, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := auth(ac["secret"].(string)); r.status != http.StatusUnauthorized {
		t.Errorf("after delete: %d", r.status)
	}
}

func TestVersionDocumentsAndAuthErrors(t *testing.T) {
	e := newEnv(t)
	r := do(t, "GET", e.authURL(), nil, nil)
	if r.status != http.StatusOK || r.json(t)["version"].(map[string]any)["id"] != "v3.14" {
		t.Errorf("GET /v3: %d %s", r.status, r.body)
	}
	r = do(t, "GET", e.srv.URL+"/", nil, nil)
	v := r.json(t)["versions"].(map[string]any)["values"].([]any)[0].(map[string]any)
	if r.status != http.StatusMultipleChoices || v["id"] != "v1" {
		t.Errorf("GET /: %d %s", r.status, r.body)
	}
	r = do(t, "GET", e.srv.URL+"/v1", nil, nil)
	if r.status != http.StatusOK || r.json(t)["version"].(map[string]any)["id"] != "v1" {
		t.Errorf("GET /v1: %d %s", r.status, r.body)
	}

	for _, tok := range []string{"", "garbage", e.token(t, e.acct.Demo) + "x"} {
		r = do(t, "GET", e.srv.URL+"/v1/secrets", map[string]string{"X-Auth-Token": tok}, nil)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Keystone uri="`+e.authURL()+`"` {
			t.Errorf("token %q: %d %v", tok, r.status, r.header)
		}
	}

	// Barbican's error JSON: 404 for a missing secret, 403 for another project's.
	tok := e.token(t, e.acct.Demo)
	r = do(t, "GET", e.srv.URL+"/v1/secrets/"+newUUID(), map[string]string{"X-Auth-Token": tok}, nil)
	if b := r.json(t); r.status != http.StatusNotFound || b["code"] != 404.0 || b["title"] != "Not Found" || b["description"] == "" {
		t.Errorf("missing secret: %d %s", r.status, r.body)
	}
	c := do(t, "POST", e.srv.URL+"/v1/secrets", map[string]string{"X-Auth-Token": tok},
		map[string]any{"payload": "eA==", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})
	if c.status != http.StatusCreated || c.header.Get("Location") != c.json(t)["secret_ref"] {
		t.Fatalf("create: %d %v %s", c.status, c.header, c.body)
	}
	ref := c.json(t)["secret_ref"].(string)
	r = do(t, "GET", ref, map[string]string{"X-Auth-Token": e.token(t, e.acct.Other)}, nil)
	if b := r.json(t); r.status != http.StatusForbidden || b["code"] != 403.0 || b["title"] != "Forbidden" {
		t.Errorf("other project's secret: %d %s", r.status, r.body)
	}
	// Older clients ask GET /v1/secrets/{id} for the payload by Accept header.
	r = do(t, "GET", ref, map[string]string{"X-Auth-Token": tok, "Accept": "application/octet-stream"}, nil)
	if r.status != http.StatusOK || string(r.body) != "x" || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("payload via Accept: %d %q", r.status, r.body)
	}
	r = do(t, "GET", ref+"/payload", map[string]string{"X-Auth-Token": tok, "Accept": "text/plain"}, nil)
	if r.status != http.StatusNotAcceptable {
		t.Errorf("text/plain payload of a binary secret: %d", r.status)
	}
	if m := r.json(t); m["code"] != 406.0 {
		t.Errorf("406 body: %s", r.body)
	}
}
