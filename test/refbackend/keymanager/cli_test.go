package keymanager

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// openstackCLI is Debian's python3-openstackclient + python3-barbicanclient.
const openstackCLI = "/usr/bin/openstack"

// TestOpenstackCLI runs the openstack CLI against the key manager the way an
// operator would: store a key, show it, save its payload, put the S3 side's
// service user on its ACL, list and delete. The CI installs the CLI and sets
// SSEFS_REQUIRE_OPENSTACK_CLI=1, so a missing binary fails there.
func TestOpenstackCLI(t *testing.T) {
	if _, err := os.Stat(openstackCLI); err != nil {
		if os.Getenv("SSEFS_REQUIRE_OPENSTACK_CLI") == "1" {
			t.Fatalf("%s is required (SSEFS_REQUIRE_OPENSTACK_CLI=1): %v", openstackCLI, err)
		}
		t.Skipf("%s not installed (apt-get install python3-openstackclient python3-barbicanclient)", openstackCLI)
	}
	e := newEnv(t)
	ctx := context.Background()
	env := cliEnv(e.authURL(), e.acct.Demo)
	run := func(args ...string) string {
		t.Helper()
		out, err := runCLI(ctx, env, args...)
		if err != nil {
			t.Fatalf("openstack %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	key := randomKey(t, 32)
	href := strings.TrimSpace(run("secret", "store", "--name", "cli-key",
		"--payload-content-type", "application/octet-stream", "--payload-content-encoding", "base64",
		"--payload", base64.StdEncoding.EncodeToString(key), "--algorithm", "aes", "--bit-length", "256",
		"--mode", "cbc", "--secret-type", "symmetric", "-f", "value", "-c", "Secret href"))
	id := filepath.Base(href)
	if href != e.barbicanURL()+"/v1/secrets/"+id || !uuidRE.MatchString(id) {
		t.Fatalf("secret href %q", href)
	}

	var shown map[string]any
	mustJSON(t, run("secret", "get", href, "-f", "json"), &shown)
	if shown["Name"] != "cli-key" || shown["Status"] != "ACTIVE" || shown["Algorithm"] != "aes" ||
		shown["Bit length"] != 256.0 || shown["Secret type"] != "symmetric" || shown["Mode"] != "cbc" {
		t.Errorf("secret get: %v", shown)
	}

	out := filepath.Join(t.TempDir(), "key.bin")
	run("secret", "get", "--payload_content_type", "application/octet-stream", "--file", out, href)
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("payload file: %x %v, want %x", got, err, key)
	}

	c := NewSecretClient(e.authURL(), e.acct.Service, nil)
	if _, err := c.FetchKey(ctx, id); !errors.Is(err, ErrSecretForbidden) {
		t.Fatalf("service user before the ACL: %v", err)
	}
	run("acl", "user", "add", "--user", e.acct.Service.UserID, href)
	if got, err := c.FetchKey(ctx, id); err != nil || !bytes.Equal(got, key) {
		t.Fatalf("service user after acl user add: %x %v", got, err)
	}

	var acl []map[string]any
	mustJSON(t, run("acl", "get", href, "-f", "json"), &acl)
	if len(acl) != 1 || acl[0]["Operation Type"] != "read" || acl[0]["Project Access"] != true ||
		!slices.Contains(toStrings(acl[0]["Users"]), e.acct.Service.UserID) {
		t.Errorf("acl get: %v", acl)
	}

	var list []map[string]any
	mustJSON(t, run("secret", "list", "-f", "json"), &list)
	if len(list) != 1 || list[0]["Secret href"] != href || list[0]["Name"] != "cli-key" {
		t.Errorf("secret list: %v", list)
	}

	run("secret", "delete", href)
	if out, err := runCLI(ctx, env, "secret", "get", href); err == nil || !strings.Contains(out, "Not Found") {
		t.Errorf("secret get after delete: %v\n%s", err, out)
	}
	if _, err := c.FetchKey(ctx, id); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("service user after delete: %v", err)
	}
}

// cliEnv is the process environment with the usual openrc variables for a,
// and no other OS_* variable (no clouds.yaml selection leaks in).
func cliEnv(authURL string, a Account) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OS_") {
			env = append(env, kv)
		}
	}
	return append(env,
		"OS_AUTH_URL="+authURL, "OS_IDENTITY_API_VERSION=3",
		"OS_USERNAME="+a.UserName, "OS_PASSWORD="+a.Password, "OS_PROJECT_NAME="+a.ProjectName,
		"OS_USER_DOMAIN_NAME="+a.DomainName, "OS_PROJECT_DOMAIN_NAME="+a.DomainName,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
}

// runCLI runs the openstack CLI, returning its combined output.
func runCLI(ctx context.Context, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, openstackCLI, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustJSON(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("CLI output %q: %v", s, err)
	}
}

// toStrings reads the CLI's rendering of a user list: a JSON array, or
// Python's repr of a list when the formatter does not convert it.
func toStrings(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, s := range x {
			out = append(out, s.(string))
		}
	case string:
		for _, s := range strings.Split(strings.Trim(x, "[]"), ",") {
			out = append(out, strings.Trim(strings.TrimSpace(s), `'"`))
		}
	}
	return out
}
