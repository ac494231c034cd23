package keymanager

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/acls"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// These tests drive the key manager with gophercloud v2, unchanged, as an
// operator's tooling would.

func TestGophercloudSecretLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	key := randomKey(t, 32)
	before := time.Now().UTC().Add(-time.Second)
	id := createKey(t, demo, "lifecycle", key)

	sec, err := secrets.Get(ctx, demo, id).Extract()
	if err != nil {
		t.Fatal(err)
	}
	if sec.Name != "lifecycle" || sec.Status != "ACTIVE" || sec.Algorithm != "aes" || sec.BitLength != 256 ||
		sec.Mode != "cbc" || sec.SecretType != "symmetric" || sec.CreatorID != e.acct.Demo.UserID ||
		sec.ContentTypes["default"] != "application/octet-stream" || sec.SecretRef != e.barbicanURL()+"/v1/secrets/"+id {
		t.Errorf("metadata: %+v", sec)
	}
	if sec.Created.Before(before) || sec.Created.After(time.Now().Add(time.Second)) || !sec.Expiration.IsZero() {
		t.Errorf("created %v expiration %v", sec.Created, sec.Expiration)
	}

	got, err := secrets.GetPayload(ctx, demo, id, secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract()
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("payload: %x, %v; want %x", got, err, key)
	}
	// gophercloud's default Accept is text/plain: Barbican answers 406 for a binary secret.
	_, err = secrets.GetPayload(ctx, demo, id, nil).Extract()
	wantStatus(t, "payload as text/plain", err, http.StatusNotAcceptable)

	if err := secrets.Delete(ctx, demo, id).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = secrets.Get(ctx, demo, id).Extract()
	wantStatus(t, "get after delete", err, http.StatusNotFound)
	err = secrets.Delete(ctx, demo, id).ExtractErr()
	wantStatus(t, "delete twice", err, http.StatusNotFound)
}

func TestGophercloudListPagesAndFilters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	var ids []string
	for i := range 12 {
		ids = append(ids, createKey(t, demo, fmt.Sprintf("k%02d", i), randomKey(t, 32)))
	}
	createKey(t, e.keyManager(t, e.acct.Other), "not-demo's", randomKey(t, 32))

	var pages int
	var listed []string
	err := secrets.List(demo, nil).EachPage(ctx, func(_ context.Context, p pagination.Page) (bool, error) {
		pages++
		s, err := secrets.ExtractSecrets(p)
		for _, sec := range s {
			listed = append(listed, sec.Name)
		}
		return true, err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09", "k10", "k11"}
	slices.Sort(listed) // Barbican's query has no ORDER BY
	if pages != 2 || !slices.Equal(listed, want) {
		t.Errorf("default paging: %d pages %v", pages, listed)
	}

	page, err := secrets.List(demo, secrets.ListOpts{Name: "k07"}).AllPages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := secrets.ExtractSecrets(page)
	if len(s) != 1 || s[0].SecretRef != e.barbicanURL()+"/v1/secrets/"+ids[7] {
		t.Errorf("name filter: %+v", s)
	}

	tok := map[string]string{"X-Auth-Token": e.token(t, e.acct.Demo)}
	r := do(t, "GET", e.barbicanURL()+"/v1/secrets?limit=5&offset=5", tok, nil)
	body := r.json(t)
	if body["total"] != 12.0 || len(body["secrets"].([]any)) != 5 ||
		body["next"] != e.barbicanURL()+"/v1/secrets?limit=5&offset=10" || body["previous"] != e.barbicanURL()+"/v1/secrets?limit=5&offset=0" {
		t.Errorf("raw page: %s", r.body)
	}
	// The name filter is an SQL LIKE pattern (case-insensitive on SQLite);
	// next and previous keep only limit and offset, losing the filter.
	r = do(t, "GET", e.barbicanURL()+"/v1/secrets?name=K0%25&limit=4&offset=4&alg=AES", tok, nil)
	body = r.json(t)
	if body["total"] != 10.0 || len(body["secrets"].([]any)) != 4 ||
		body["next"] != e.barbicanURL()+"/v1/secrets?limit=4&offset=8" || body["previous"] != e.barbicanURL()+"/v1/secrets?limit=4&offset=0" {
		t.Errorf("LIKE page: %s", r.body)
	}
	r = do(t, "GET", e.barbicanURL()+"/v1/secrets?name=k1_&limit=0", tok, nil)
	if body = r.json(t); body["total"] != 2.0 || len(body["secrets"].([]any)) != 1 || body["next"] != e.barbicanURL()+"/v1/secrets?limit=1&offset=1" {
		t.Errorf("limit=0 counts as 1: %s", r.body)
	}
}

func TestGophercloudOtherProjectNeedsACL(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	demo, other := e.keyManager(t, e.acct.Demo), e.keyManager(t, e.acct.Other)
	key := randomKey(t, 32)
	id := createKey(t, demo, "shared", key)
	octet := secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}

	_, err := secrets.Get(ctx, other, id).Extract()
	wantStatus(t, "other reads metadata", err, http.StatusForbidden)
	_, err = secrets.GetPayload(ctx, other, id, octet).Extract()
	wantStatus(t, "other reads payload", err, http.StatusForbidden)
	_, err = acls.GetSecretACL(ctx, other, id).Extract()
	wantStatus(t, "other reads ACL", err, http.StatusForbidden)

	acl, err := acls.GetSecretACL(ctx, demo, id).Extract()
	if err != nil || !(*acl)["read"].ProjectAccess || len((*acl)["read"].Users) != 0 {
		t.Fatalf("default ACL: %+v %v", acl, err)
	}

	users := []string{e.acct.Other.UserID}
	ref, err := acls.SetSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract()
	if err != nil || string(*ref) != e.barbicanURL()+"/v1/secrets/"+id+"/acl" {
		t.Fatalf("set ACL: %v %v", ref, err)
	}
	got, err := secrets.GetPayload(ctx, other, id, octet).Extract()
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("other on the ACL: %x %v", got, err)
	}
	if _, err := secrets.Get(ctx, other, id).Extract(); err != nil {
		t.Errorf("other reads metadata on the ACL: %v", err)
	}
	// ACL users read; they do not manage.
	err = secrets.Delete(ctx, other, id).ExtractErr()
	wantStatus(t, "other deletes", err, http.StatusForbidden)
	_, err = acls.SetSecretACL(ctx, other, id, acls.SetOpts{{Type: "read", Users: &users}}).Extract()
	wantStatus(t, "other sets ACL", err, http.StatusForbidden)

	// project-access false: the creator (project admin) and ACL users keep access.
	no := false
	if _, err := acls.UpdateSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", ProjectAccess: &no}}).Extract(); err != nil {
		t.Fatal(err)
	}
	acl, err = acls.GetSecretACL(ctx, demo, id).Extract()
	read := (*acl)["read"]
	if err != nil || read.ProjectAccess || !slices.Equal(read.Users, users) || read.Created.IsZero() || read.Updated.Before(read.Created) {
		t.Fatalf("after PATCH project-access: %+v %v", read, err)
	}
	for name, c := range map[string]*gophercloud.ServiceClient{"demo": demo, "other": other} {
		if _, err := secrets.GetPayload(ctx, c, id, octet).Extract(); err != nil {
			t.Errorf("%s after project-access false: %v", name, err)
		}
	}

	if err := acls.DeleteSecretACL(ctx, demo, id).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	_, err = secrets.GetPayload(ctx, other, id, octet).Extract()
	wantStatus(t, "other after ACL delete", err, http.StatusForbidden)
}

func TestGophercloudACLPutReplacesPatchMerges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	id := createKey(t, demo, "acl", randomKey(t, 32))
	no := false
	both := []string{e.acct.Other.UserID, e.acct.Service.UserID}
	if _, err := acls.SetSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &both, ProjectAccess: &no}}).Extract(); err != nil {
		t.Fatal(err)
	}
	read := func() acls.ACLDetails {
		acl, err := acls.GetSecretACL(ctx, demo, id).Extract()
		if err != nil {
			t.Fatal(err)
		}
		return (*acl)["read"]
	}
	if r := read(); r.ProjectAccess || !sameUsers(r.Users, both) {
		t.Fatalf("after PUT: %+v", r)
	}
	// PATCH with only project-access keeps the users.
	yes := true
	if _, err := acls.UpdateSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", ProjectAccess: &yes}}).Extract(); err != nil {
		t.Fatal(err)
	}
	if r := read(); !r.ProjectAccess || !sameUsers(r.Users, both) {
		t.Fatalf("after PATCH project-access: %+v", r)
	}
	// PATCH with users replaces the list (Barbican: "List of provided users replaces existing users").
	one := []string{e.acct.Service.UserID}
	if _, err := acls.UpdateSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &one}}).Extract(); err != nil {
		t.Fatal(err)
	}
	if r := read(); !r.ProjectAccess || !slices.Equal(r.Users, one) {
		t.Fatalf("after PATCH users: %+v", r)
	}
	// PUT without project-access resets it to true and replaces users.
	if _, err := acls.SetSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &both, ProjectAccess: &no}}).Extract(); err != nil {
		t.Fatal(err)
	}
	if _, err := acls.SetSecretACL(ctx, demo, id, acls.SetOpts{{Type: "read", Users: &one}}).Extract(); err != nil {
		t.Fatal(err)
	}
	if r := read(); !r.ProjectAccess || !slices.Equal(r.Users, one) {
		t.Fatalf("after second PUT: %+v", r)
	}
	// PUT without "read" removes the ACL: back to the default, no users, no dates.
	if _, err := acls.SetSecretACL(ctx, demo, id, acls.SetOpts{}).Extract(); err != nil {
		t.Fatal(err)
	}
	if r := read(); !r.ProjectAccess || r.Users != nil || !r.Created.IsZero() {
		t.Fatalf("after PUT {}: %+v", r)
	}
}

// sameUsers compares ACL user lists as sets: Barbican keeps no order.
func sameUsers(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestGophercloudMemberCannotCreateOrList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	svc := e.keyManager(t, e.acct.Service) // role member only, like RGW's user
	_, err := secrets.Create(ctx, svc, secrets.CreateOpts{Payload: base64.StdEncoding.EncodeToString(randomKey(t, 32)),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64"}).Extract()
	wantStatus(t, "member creates", err, http.StatusForbidden)
	_, err = secrets.List(svc, nil).AllPages(ctx)
	wantStatus(t, "member lists", err, http.StatusForbidden)
}

func TestGophercloudTextSecretAndBadRequests(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	sec, err := secrets.Create(ctx, demo, secrets.CreateOpts{Name: "pw", Payload: "hunter2",
		PayloadContentType: "text/plain", SecretType: secrets.PassphraseSecret}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	id := sec.SecretRef[len(sec.SecretRef)-36:]
	got, err := secrets.GetPayload(ctx, demo, id, nil).Extract()
	if err != nil || string(got) != "hunter2" {
		t.Fatalf("text payload: %q %v", got, err)
	}

	past := time.Now().Add(-time.Hour)
	for name, opts := range map[string]secrets.CreateOpts{
		"no content type":     {Payload: "eA=="},
		"octet without b64":   {Payload: "xx", PayloadContentType: "application/octet-stream"},
		"base64 unpadded":     {Payload: "eA", PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64"},
		"text as base64":      {Payload: "eA==", PayloadContentType: "text/plain", PayloadContentEncoding: "base64"},
		"unknown type":        {Payload: "eA==", PayloadContentType: "image/png", PayloadContentEncoding: "base64"},
		"certificate type":    {Payload: "eA==", PayloadContentType: "application/pkix-cert", PayloadContentEncoding: "base64"},
		"unknown secret_type": {Payload: "eA==", PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64", SecretType: "weird"},
		"expired":             {Payload: "eA==", PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64", Expiration: &past},
	} {
		_, err := secrets.Create(ctx, demo, opts).Extract()
		wantStatus(t, name, err, http.StatusBadRequest)
	}

	// Barbican decodes base64 as Python's b64decode does: characters outside
	// the alphabet are dropped, so "!!!" is an empty payload (GET: 204).
	for payload, want := range map[string]string{"e A=\n=": "x", "!!!": ""} {
		sec, err := secrets.Create(ctx, demo, secrets.CreateOpts{Payload: payload,
			PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64"}).Extract()
		if err != nil {
			t.Fatalf("base64 %q: %v", payload, err)
		}
		r := do(t, "GET", sec.SecretRef+"/payload", map[string]string{"X-Auth-Token": e.token(t, e.acct.Demo)}, nil)
		if string(r.body) != want || (want == "") != (r.status == http.StatusNoContent) {
			t.Errorf("base64 %q: %d %q, want %q", payload, r.status, r.body, want)
		}
	}
}

func TestExpiredSecretIsGone(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	demo := e.keyManager(t, e.acct.Demo)
	// A first request, so that a real Barbican has validated the token
	// (keystonemiddleware caches it) before the clock starts.
	if _, err := secrets.List(demo, nil).AllPages(ctx); err != nil {
		t.Fatal(err)
	}
	soon := time.Now().Add(2500 * time.Millisecond)
	sec, err := secrets.Create(ctx, demo, secrets.CreateOpts{Name: "short-lived", Expiration: &soon,
		Payload:            base64.StdEncoding.EncodeToString(randomKey(t, 32)),
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	id := sec.SecretRef[len(sec.SecretRef)-36:]
	got, err := secrets.Get(ctx, demo, id).Extract()
	if err != nil || got.Expiration.Sub(soon.UTC()).Abs() > time.Second {
		t.Fatalf("expiration %v (want %v): %v", got.Expiration, soon.UTC(), err)
	}
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	_, err = secrets.Get(ctx, demo, id).Extract()
	wantStatus(t, "expired secret", err, http.StatusNotFound)
}
