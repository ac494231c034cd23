package keymanager

import (
	"net/http"
	"slices"
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
	slices.Sort(roles)
	if !slices.Equal(roles, e.demoRoles) {
		t.Errorf("roles %v, want %v (implied roles included)", roles, e.demoRoles)
	}
	for _, f := range []string{"expires_at", "issued_at"} {
		if _, err := time.Parse("2006-01-02T15:04:05.000000Z", tok[f].(string)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	urls := map[string]string{}
	for _, x := range tok["catalog"].([]any) {
		entry := x.(map[string]any)
		for _, y := range entry["endpoints"].([]any) {
			if ep := y.(map[string]any); ep["interface"] == "public" && ep["region_id"] == "RegionOne" {
				urls[entry["type"].(string)] = ep["url"].(string)
			}
		}
	}
	if urls["identity"] != e.authURL() || urls["key-manager"] != e.barbicanURL() {
		t.Errorf("catalog %v", urls)
	}

	// Validation: a user may look at its own tokens; another user (not
	// admin, no role service) may not, nor revoke them.
	subject := r.header.Get("X-Subject-Token")
	v := do(t, "GET", e.authURL()+"/auth/tokens", map[string]string{
		"X-Auth-Token": e.token(t, e.acct.Demo), "X-Subject-Token": subject}, nil)
	if v.status != http.StatusOK || v.header.Get("X-Subject-Token") != subject ||
		v.json(t)["token"].(map[string]any)["user"].(map[string]any)["name"] != e.acct.Demo.UserName {
		t.Errorf("validate: %d %s", v.status, v.body)
	}
	svc := e.token(t, e.acct.Service)
	for _, method := range []string{"GET", "HEAD", "DELETE"} {
		v = do(t, method, e.authURL()+"/auth/tokens", map[string]string{"X-Auth-Token": svc, "X-Subject-Token": subject}, nil)
		if v.status != http.StatusForbidden {
			t.Errorf("%s another user's token: %d %s", method, v.status, v.body)
		}
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

	// No scope: the user's default project.
	r := do(t, "POST", url, nil, passwordAuth(demo, nil))
	if r.status != http.StatusCreated || r.json(t)["token"].(map[string]any)["project"].(map[string]any)["id"] != demo.ProjectID {
		t.Errorf("default project: %d %s", r.status, r.body)
	}
	// Unscoped: no project, no roles, no catalog.
	r = do(t, "POST", url, nil, passwordAuth(demo, "unscoped"))
	tok := r.json(t)["token"].(map[string]any)
	if r.status != http.StatusCreated || tok["project"] != nil || tok["catalog"] != nil {
		t.Errorf("unscoped: %d %s", r.status, r.body)
	}
	// Barbican needs a project-scoped token: it fails with 500 on an unscoped one.
	c := do(t, "POST", e.barbicanURL()+"/v1/secrets", map[string]string{"X-Auth-Token": r.header.Get("X-Subject-Token")},
		map[string]any{"payload": "eA==", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})
	if c.status != http.StatusInternalServerError || c.json(t)["code"] != 500.0 {
		t.Errorf("create with unscoped token: %d %s", c.status, c.body)
	}

	// Rescope with the token method.
	rescope := map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"token"}, "token": map[string]any{"id": r.header.Get("X-Subject-Token")}},
		"scope":    projectScope(demo)}}
	if r := do(t, "POST", url, nil, rescope); r.status != http.StatusCreated ||
		r.json(t)["token"].(map[string]any)["project"].(map[string]any)["name"] != demo.ProjectName {
		t.Errorf("rescope: %d %s", r.status, r.body)
	}

	wrong := demo
	wrong.Password = "nope"
	for name, body := range map[string]any{
		"wrong password":    passwordAuth(wrong, projectScope(demo)),
		"someone's project": passwordAuth(demo, projectScope(e.acct.Other)),
		"unknown user":      passwordAuth(Account{UserName: "ghost", DomainName: "Default"}, nil),
		"wrong domain":      passwordAuth(Account{UserName: demo.UserName, Password: demo.Password, DomainName: "Other"}, nil),
		"no methods at all": map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{}}}},
		"domain scope":      passwordAuth(demo, map[string]any{"domain": map[string]string{"name": "Default"}}),
	} {
		r := do(t, "POST", url, nil, body)
		errBody, _ := r.json(t)["error"].(map[string]any)
		if r.status != http.StatusUnauthorized || errBody["code"] != 401.0 || errBody["title"] != "Unauthorized" || errBody["message"] == "" {
			t.Errorf("%s: %d %s", name, r.status, r.body)
		}
	}
	for name, body := range map[string]any{
		"no auth":                  map[string]any{},
		"no identity":              map[string]any{"auth": map[string]any{}},
		"password method, no user": map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"}}}},
		"project without domain":   passwordAuth(demo, map[string]any{"project": map[string]string{"name": demo.ProjectName}}),
	} {
		r := do(t, "POST", url, nil, body)
		errBody, _ := r.json(t)["error"].(map[string]any)
		if r.status != http.StatusBadRequest || errBody["code"] != 400.0 || errBody["title"] != "Bad Request" {
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
	c := do(t, "GET", e.barbicanURL()+"/v1/secrets", map[string]string{"X-Auth-Token": r.header.Get("X-Subject-Token")}, nil)
	if c.status != http.StatusOK {
		t.Errorf("list with app cred token: %d %s", c.status, c.body)
	}
	if r := auth("wrong"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", r.status)
	}
	if r := do(t, "DELETE", base+"/"+ac["id"].(string), map[string]string{"X-Auth-Token": tok}, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := auth(ac["secret"].(string)); r.status != http.StatusNotFound {
		t.Errorf("after delete: %d %s", r.status, r.body)
	}
}

func TestVersionDocumentsAndAuthErrors(t *testing.T) {
	e := newEnv(t)
	r := do(t, "GET", e.authURL(), nil, nil)
	if r.status != http.StatusOK || r.json(t)["version"].(map[string]any)["id"] != "v3.14" {
		t.Errorf("GET /v3: %d %s", r.status, r.body)
	}
	r = do(t, "GET", e.barbicanURL()+"/", nil, nil)
	v := r.json(t)["versions"].(map[string]any)["values"].([]any)[0].(map[string]any)
	if r.status != http.StatusMultipleChoices || v["id"] != "v1" {
		t.Errorf("GET /: %d %s", r.status, r.body)
	}
	// Only / is open: keystonemiddleware guards all of /v1.
	r = do(t, "GET", e.barbicanURL()+"/v1", nil, nil)
	if r.status != http.StatusUnauthorized {
		t.Errorf("GET /v1 without a token: %d %s", r.status, r.body)
	}
	r = do(t, "GET", e.barbicanURL()+"/v1", map[string]string{"X-Auth-Token": e.token(t, e.acct.Demo)}, nil)
	if r.status != http.StatusOK || r.json(t)["version"].(map[string]any)["id"] != "v1" {
		t.Errorf("GET /v1: %d %s", r.status, r.body)
	}

	for _, tok := range []string{"", "garbage", e.token(t, e.acct.Demo) + "x"} {
		r = do(t, "GET", e.barbicanURL()+"/v1/secrets", map[string]string{"X-Auth-Token": tok}, nil)
		if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Keystone uri="`+e.authURL()+`"` {
			t.Errorf("token %q: %d %v", tok, r.status, r.header)
		}
	}

	// Barbican's error JSON: 404 for a missing secret, 403 for another project's.
	tok := e.token(t, e.acct.Demo)
	for _, id := range []string{newUUID(), "not-a-uuid"} {
		r = do(t, "GET", e.barbicanURL()+"/v1/secrets/"+id, map[string]string{"X-Auth-Token": tok}, nil)
		if b := r.json(t); r.status != http.StatusNotFound || b["code"] != 404.0 || b["title"] != "Not Found" || b["description"] == "" {
			t.Errorf("missing secret %s: %d %s", id, r.status, r.body)
		}
	}
	c := do(t, "POST", e.barbicanURL()+"/v1/secrets", map[string]string{"X-Auth-Token": tok},
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
	// Barbican takes the Accept header whole as the one media type wanted:
	// text/plain works for any secret whose bytes are UTF-8.
	for accept, want := range map[string]int{"text/plain": 200, "*/*": 200, "application/pkcs8": 200,
		"application/json": 406, "text/*": 406, "text/plain, */*": 406, "TEXT/PLAIN": 400} {
		r = do(t, "GET", ref+"/payload", map[string]string{"X-Auth-Token": tok, "Accept": accept}, nil)
		if r.status != want || want == 200 && string(r.body) != "x" || want != 200 && r.json(t)["code"] != float64(want) {
			t.Errorf("Accept %s: %d %s, want %d", accept, r.status, r.body, want)
		}
	}
	c = do(t, "POST", e.barbicanURL()+"/v1/secrets", map[string]string{"X-Auth-Token": tok},
		map[string]any{"payload": "/w==", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"})
	r = do(t, "GET", c.json(t)["secret_ref"].(string)+"/payload", map[string]string{"X-Auth-Token": tok, "Accept": "text/plain"}, nil)
	if r.status != http.StatusNotAcceptable || r.json(t)["code"] != 406.0 {
		t.Errorf("text/plain payload of a non-UTF-8 secret: %d %s", r.status, r.body)
	}
}
