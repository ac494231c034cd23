#!/usr/bin/python3
"""Create (or find) the lab's Keystone projects, users, roles and the
key-manager catalog entry, with one admin token and the stdlib only: each
`openstack` CLI call would cost a Python start and a bcrypt'd token.

Reads from the environment: KS_URL (http://127.0.0.1:PORT), ADMIN_PASSWORD,
BARBICAN_URL, BARBICAN_PASSWORD, RGW_PASSWORD, DEMO_PASSWORD, OTHER_PASSWORD.
Prints shell assignments of the ids the lab needs (RGW_USER_ID, ...).
Running it again changes nothing except resetting the passwords above.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

KS = os.environ["KS_URL"].rstrip("/") + "/v3"
DOMAIN = "default"


def call(method, path, body=None, token=None, ok=(200, 201, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(KS + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            raw = resp.read()
            return resp.status, resp.headers, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        if e.code in ok:
            return e.code, e.headers, None
        raise SystemExit("%s %s: %d %s" % (method, path, e.code, e.read()[:500]))


def admin_token():
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": DOMAIN},
            "password": os.environ["ADMIN_PASSWORD"]}}},
        "scope": {"project": {"name": "admin", "domain": {"id": DOMAIN}}}}}
    _, headers, _ = call("POST", "/auth/tokens", body)
    return headers["X-Subject-Token"]


def find(tok, kind, **query):
    """Returns the single entity of kind (e.g. "projects") matching query."""
    _, _, out = call("GET", "/%s?%s" % (kind, urllib.parse.urlencode(query)),
                     token=tok)
    items = out[kind]
    if len(items) > 1:
        raise SystemExit("more than one %s matches %r" % (kind, query))
    return items[0] if items else None


def ensure_role(tok, name):
    r = find(tok, "roles", name=name)
    if r is None:
        r = call("POST", "/roles", {"role": {"name": name}}, tok)[2]["role"]
    return r["id"]


def ensure_project(tok, name):
    p = find(tok, "projects", name=name, domain_id=DOMAIN)
    if p is None:
        p = call("POST", "/projects", {"project": {
            "name": name, "domain_id": DOMAIN,
            "description": "ssefs realstack lab"}}, tok)[2]["project"]
    return p["id"]


def ensure_user(tok, name, password, project_id):
    u = find(tok, "users", name=name, domain_id=DOMAIN)
    if u is None:
        u = call("POST", "/users", {"user": {
            "name": name, "domain_id": DOMAIN, "password": password,
            "default_project_id": project_id}}, tok)[2]["user"]
    else:
        # Keep the password in step with the lab's secrets file.
        call("PATCH", "/users/" + u["id"], {"user": {"password": password}},
             tok)
    return u["id"]


def grant(tok, project_id, user_id, role_id):
    call("PUT", "/projects/%s/users/%s/roles/%s" % (project_id, user_id,
                                                    role_id), token=tok)


def ensure_key_manager(tok, url):
    s = find(tok, "services", type="key-manager")
    if s is None:
        s = call("POST", "/services", {"service": {
            "type": "key-manager", "name": "barbican"}}, tok)[2]["service"]
    e = find(tok, "endpoints", service_id=s["id"], interface="public")
    if e is None:
        call("POST", "/endpoints", {"endpoint": {
            "service_id": s["id"], "interface": "public", "url": url,
            "region_id": "RegionOne"}}, tok)
    elif e["url"] != url:
        call("PATCH", "/endpoints/" + e["id"], {"endpoint": {"url": url}}, tok)


def main():
    env = os.environ
    tok = admin_token()
    admin = ensure_role(tok, "admin")
    member = ensure_role(tok, "member")
    # Barbican's (Zed) policy lets only admin or creator create secrets.
    creator = ensure_role(tok, "creator")

    service = ensure_project(tok, "service")
    barbican = ensure_user(tok, "barbican", env["BARBICAN_PASSWORD"], service)
    grant(tok, service, barbican, admin)
    rgw = ensure_user(tok, "rgw", env["RGW_PASSWORD"], service)
    grant(tok, service, rgw, member)

    demo_p = ensure_project(tok, "demo")
    demo = ensure_user(tok, "demo", env["DEMO_PASSWORD"], demo_p)
    grant(tok, demo_p, demo, creator)
    grant(tok, demo_p, demo, member)

    other_p = ensure_project(tok, "other")
    other = ensure_user(tok, "other", env["OTHER_PASSWORD"], other_p)
    grant(tok, other_p, other, member)

    ensure_key_manager(tok, env["BARBICAN_URL"])
    print("RGW_USER_ID=%s" % rgw)
    print("DEMO_USER_ID=%s" % demo)
    print("OTHER_USER_ID=%s" % other)


if __name__ == "__main__":
    sys.exit(main())
