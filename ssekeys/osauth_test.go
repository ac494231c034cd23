package ssekeys

import (
	"context"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
)

// canCreate connects with the credentials LoadCredentials(cloud) finds and
// creates and deletes a secret: the whole path a user's command takes.
func canCreate(t *testing.T, cloud string) {
	t.Helper()
	ctx := context.Background()
	creds, err := LoadCredentials(cloud)
	if err != nil {
		t.Fatal(err)
	}
	m, err := ConnectKeyManager(ctx, creds)
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := m.CreateKey(ctx, "auth-check", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Delete(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
}

// TestAuthFromOpenrc: the variable sets real openrc files use all log in.
func TestAuthFromOpenrc(t *testing.T) {
	k := newKMServer(t, false)
	demo := k.acct.Demo
	cases := map[string]map[string]string{
		"names and domain names": {},
		"ids, no domains": {"OS_USERNAME": "", "OS_USER_DOMAIN_NAME": "", "OS_PROJECT_NAME": "", "OS_PROJECT_DOMAIN_NAME": "",
			"OS_USER_ID": demo.UserID, "OS_PROJECT_ID": demo.ProjectID},
		"domain ids":             {"OS_USER_DOMAIN_NAME": "", "OS_PROJECT_DOMAIN_NAME": "", "OS_USER_DOMAIN_ID": "default", "OS_PROJECT_DOMAIN_ID": "default"},
		"OS_DOMAIN_NAME only":    {"OS_USER_DOMAIN_NAME": "", "OS_PROJECT_DOMAIN_NAME": "", "OS_DOMAIN_NAME": "Default"},
		"no domain at all":       {"OS_USER_DOMAIN_NAME": "", "OS_PROJECT_DOMAIN_NAME": ""},
		"v2-style tenant":        {"OS_PROJECT_NAME": "", "OS_TENANT_NAME": demo.ProjectName},
		"no region, versionless": {"OS_REGION_NAME": "", "OS_AUTH_URL": k.srv.URL + "/v3/"},
	}
	for name, over := range cases {
		t.Run(name, func(t *testing.T) {
			k.setOpenrc(t, demo)
			for v, val := range over {
				t.Setenv(v, val)
			}
			canCreate(t, "")
		})
	}
}

// TestAuthApplicationCredential: OS_AUTH_TYPE=v3applicationcredential with
// an id, or a name and its owner, as Horizon's openrc download sets them.
func TestAuthApplicationCredential(t *testing.T) {
	k := newKMServer(t, false)
	ctx := context.Background()
	demo := k.acct.Demo
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{IdentityEndpoint: k.authURL(),
		Username: demo.UserName, Password: demo.Password, DomainName: demo.DomainName, TenantName: demo.ProjectName})
	if err != nil {
		t.Fatal(err)
	}
	identity, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	ac, err := applicationcredentials.Create(ctx, identity, demo.UserID, applicationcredentials.CreateOpts{Name: "ssefs-ci"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"OS_AUTH_URL": k.authURL(), "OS_AUTH_TYPE": "v3applicationcredential",
		"OS_APPLICATION_CREDENTIAL_SECRET": ac.Secret, "OS_REGION_NAME": "RegionOne", "OS_INTERFACE": "public"}
	for name, over := range map[string]map[string]string{
		"by id":   {"OS_APPLICATION_CREDENTIAL_ID": ac.ID},
		"by name": {"OS_APPLICATION_CREDENTIAL_NAME": "ssefs-ci", "OS_USERNAME": demo.UserName, "OS_USER_DOMAIN_NAME": "Default"},
	} {
		t.Run(name, func(t *testing.T) {
			clearOSEnv(t)
			for _, m := range []map[string]string{base, over} {
				for v, val := range m {
					t.Setenv(v, val)
				}
			}
			canCreate(t, "")
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		clearOSEnv(t)
		for v, val := range base {
			t.Setenv(v, val)
		}
		t.Setenv("OS_APPLICATION_CREDENTIAL_ID", ac.ID)
		t.Setenv("OS_APPLICATION_CREDENTIAL_SECRET", "wrong-secret")
		creds, err := LoadCredentials("")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ConnectKeyManager(ctx, creds)
		if err == nil || !strings.Contains(err.Error(), "Keystone refused the credentials for application credential "+ac.ID) ||
			strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("wrong application credential secret: %v", err)
		}
	})
}

// writeClouds writes a clouds.yaml (and the secure.yaml beside it when
// secure is not empty) and points OS_CLIENT_CONFIG_FILE at it.
func writeClouds(t *testing.T, clouds, secure string) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "clouds.yaml")
	if err := os.WriteFile(file, []byte(clouds), 0o600); err != nil {
		t.Fatal(err)
	}
	if secure != "" {
		if err := os.WriteFile(filepath.Join(dir, "secure.yaml"), []byte(secure), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("OS_CLIENT_CONFIG_FILE", file)
}

// TestAuthFromCloudsYAML: --os-cloud NAME (or OS_CLOUD) with a clouds.yaml,
// the password inline or in secure.yaml.
func TestAuthFromCloudsYAML(t *testing.T) {
	k := newKMServer(t, false)
	demo := k.acct.Demo
	cloud := func(password string) string {
		pw := ""
		if password != "" {
			pw = "      password: " + password + "\n"
		}
		return fmt.Sprintf(`clouds:
  lab:
    region_name: RegionOne
    interface: public
    identity_api_version: 3
    auth:
      auth_url: %s
      username: %s
%s      project_name: %s
      user_domain_name: Default
      project_domain_name: Default
`, k.authURL(), demo.UserName, pw, demo.ProjectName)
	}
	t.Run("--os-cloud", func(t *testing.T) {
		clearOSEnv(t)
		writeClouds(t, cloud(demo.Password), "")
		canCreate(t, "lab")
	})
	t.Run("OS_CLOUD", func(t *testing.T) {
		clearOSEnv(t)
		writeClouds(t, cloud(demo.Password), "")
		t.Setenv("OS_CLOUD", "lab")
		canCreate(t, "")
	})
	t.Run("secure.yaml", func(t *testing.T) {
		clearOSEnv(t)
		writeClouds(t, cloud(""), "clouds:\n  lab:\n    auth:\n      password: "+demo.Password+"\n")
		canCreate(t, "lab")
	})
	t.Run("unknown cloud", func(t *testing.T) {
		clearOSEnv(t)
		writeClouds(t, cloud(demo.Password), "")
		if _, err := LoadCredentials("nowhere"); err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
			t.Errorf("unknown cloud: %v", err)
		}
	})
	t.Run("no password", func(t *testing.T) {
		clearOSEnv(t)
		writeClouds(t, cloud(""), "")
		if _, err := LoadCredentials("lab"); err == nil || !strings.Contains(err.Error(), "password") {
			t.Errorf("cloud without a password: %v", err)
		}
	})
}

// TestAuthOverTLS: OS_CACERT makes a private CA trusted; without it the
// certificate is refused.
func TestAuthOverTLS(t *testing.T) {
	k := newKMServer(t, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	k.setOpenrc(t, k.acct.Demo)
	creds, err := LoadCredentials("")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ConnectKeyManager(context.Background(), creds); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate was accepted: %v", err)
	}
	t.Setenv("OS_CACERT", ca)
	canCreate(t, "")
}

// TestAuthErrors: each missing variable and each refusal is named.
func TestAuthErrors(t *testing.T) {
	k := newKMServer(t, false)
	demo := k.acct.Demo
	missing := map[string]string{
		"OS_AUTH_URL":     "OS_AUTH_URL is not set",
		"OS_PASSWORD":     "OS_PASSWORD is not set",
		"OS_USERNAME":     "OS_USERNAME (or OS_USER_ID) is not set",
		"OS_PROJECT_NAME": "OS_PROJECT_NAME (or OS_PROJECT_ID) is not set",
	}
	for v, want := range missing {
		t.Run("missing "+v, func(t *testing.T) {
			k.setOpenrc(t, demo)
			t.Setenv(v, "")
			if _, err := LoadCredentials(""); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want %q", err, want)
			}
		})
	}
	t.Run("app cred without secret", func(t *testing.T) {
		k.setOpenrc(t, demo)
		t.Setenv("OS_AUTH_TYPE", "v3applicationcredential")
		t.Setenv("OS_APPLICATION_CREDENTIAL_ID", "abc")
		if _, err := LoadCredentials(""); err == nil || !strings.Contains(err.Error(), "OS_APPLICATION_CREDENTIAL_SECRET is not set") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("unsupported auth type", func(t *testing.T) {
		k.setOpenrc(t, demo)
		t.Setenv("OS_AUTH_TYPE", "v3oidcpassword")
		if _, err := LoadCredentials(""); err == nil || !strings.Contains(err.Error(), "OS_AUTH_TYPE=v3oidcpassword is not supported") {
			t.Errorf("got %v", err)
		}
	})

	connectErr := func(t *testing.T) error {
		t.Helper()
		creds, err := LoadCredentials("")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ConnectKeyManager(context.Background(), creds)
		if err == nil {
			t.Fatal("connected")
		}
		return err
	}
	t.Run("wrong password", func(t *testing.T) {
		k.setOpenrc(t, demo)
		t.Setenv("OS_PASSWORD", "not-the-password")
		err := connectErr(t)
		if !strings.Contains(err.Error(), "Keystone refused the credentials for user demo") || strings.Contains(err.Error(), "not-the-password") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("project without a role", func(t *testing.T) {
		k.setOpenrc(t, demo)
		t.Setenv("OS_PROJECT_NAME", k.acct.Other.ProjectName)
		if err := connectErr(t); !strings.Contains(err.Error(), "Keystone refused the credentials for user demo on project other") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("no key manager in the region", func(t *testing.T) {
		k.setOpenrc(t, demo)
		t.Setenv("OS_REGION_NAME", "Elsewhere")
		if err := connectErr(t); !strings.Contains(err.Error(), "no key-manager (Barbican) endpoint in region Elsewhere") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		k.setOpenrc(t, demo)
		t.Setenv("OS_AUTH_URL", "http://127.0.0.1:1/v3")
		if err := connectErr(t); !strings.Contains(err.Error(), "cannot log in to Keystone at http://127.0.0.1:1/v3") ||
			strings.Contains(err.Error(), demo.Password) {
			t.Errorf("got %v", err)
		}
	})
	// The password never shows in what the credentials print.
	k.setOpenrc(t, demo)
	creds, err := LoadCredentials("")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{creds.String(), fmt.Sprint(creds), fmt.Sprintf("%+v", creds), fmt.Sprintf("%#v", *creds)} {
		if strings.Contains(s, demo.Password) {
			t.Fatalf("printing the credentials shows the password: %s", s)
		}
	}
}
