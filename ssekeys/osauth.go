package ssekeys

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
)

// OpenStackCredentials say how to log in to Keystone and where to find the
// key manager. Make them with CredentialsFromEnv, CredentialsFromCloud or
// LoadCredentials. They hold a password or an application credential
// secret: they never print it.
type OpenStackCredentials struct {
	auth     gophercloud.AuthOptions
	endpoint gophercloud.EndpointOpts
	tls      *tls.Config
	source   string // "the OS_* variables" or "cloud NAME in clouds.yaml"
}

// String describes the credentials without their secret.
func (c OpenStackCredentials) String() string {
	return fmt.Sprintf("%s at %s (from %s)", c.who(), c.auth.IdentityEndpoint, c.source)
}

// GoString describes the credentials without their secret, so %#v is safe.
func (c OpenStackCredentials) GoString() string {
	return "ssekeys.OpenStackCredentials(" + c.String() + ")"
}

// Format prints String whatever the verb, so no verb prints the secret.
func (c OpenStackCredentials) Format(f fmt.State, verb rune) { fmt.Fprint(f, c.String()) }

// who names the identity the credentials log in as.
func (c OpenStackCredentials) who() string {
	a := &c.auth
	switch {
	case a.ApplicationCredentialID != "":
		return "application credential " + a.ApplicationCredentialID
	case a.ApplicationCredentialName != "":
		return "application credential " + a.ApplicationCredentialName
	case a.Username != "":
		return "user " + a.Username
	case a.UserID != "":
		return "user " + a.UserID
	}
	return "the given token"
}

// project names the project the credentials ask for, if known.
func (c OpenStackCredentials) project() string {
	if s := c.auth.Scope; s != nil {
		if s.ProjectName != "" {
			return s.ProjectName
		}
		return s.ProjectID
	}
	if c.auth.TenantName != "" {
		return c.auth.TenantName
	}
	return c.auth.TenantID
}

// LoadCredentials returns the credentials of cloud in clouds.yaml when cloud
// (or else OS_CLOUD) is set, and otherwise those of the OS_* variables.
func LoadCredentials(cloud string) (*OpenStackCredentials, error) {
	if cloud == "" {
		cloud = os.Getenv("OS_CLOUD")
	}
	if cloud != "" {
		return CredentialsFromCloud(cloud)
	}
	return CredentialsFromEnv(os.Getenv)
}

// CredentialsFromCloud reads cloud NAME from clouds.yaml (OS_CLIENT_CONFIG_FILE,
// ./clouds.yaml, ~/.config/openstack/clouds.yaml or /etc/openstack/clouds.yaml,
// with secure.yaml beside it), as the openstack CLI does.
func CredentialsFromCloud(name string) (*OpenStackCredentials, error) {
	ao, eo, tlsConf, err := clouds.Parse(clouds.WithCloudName(name))
	if err != nil {
		return nil, fmt.Errorf("OpenStack cloud %q: %w", name, err)
	}
	if tlsConf != nil && tlsConf.InsecureSkipVerify {
		return nil, fmt.Errorf("OpenStack cloud %q in clouds.yaml sets verify: false; ssefs always verifies certificates: name the CA with cacert instead", name)
	}
	c := &OpenStackCredentials{auth: ao, endpoint: eo, tls: tlsConf, source: fmt.Sprintf("cloud %q in clouds.yaml", name)}
	if ao.IdentityEndpoint == "" {
		return nil, fmt.Errorf("OpenStack cloud %q in clouds.yaml has no auth.auth_url", name)
	}
	if ao.ApplicationCredentialSecret == "" && ao.TokenID == "" {
		if ao.Username == "" && ao.UserID == "" {
			return nil, fmt.Errorf("OpenStack cloud %q in clouds.yaml has no auth.username (or auth.user_id)", name)
		}
		if ao.Password == "" {
			return nil, fmt.Errorf("OpenStack cloud %q in clouds.yaml has no auth.password (nor in secure.yaml)", name)
		}
		if ao.Scope == nil || ao.Scope.ProjectID == "" && ao.Scope.ProjectName == "" {
			return nil, fmt.Errorf("OpenStack cloud %q in clouds.yaml names no project (auth.project_name or auth.project_id): Barbican needs a project-scoped token", name)
		}
		if ao.Username != "" && ao.DomainID == "" && ao.DomainName == "" {
			c.auth.DomainID = "default"
		}
		if s := c.auth.Scope; s.ProjectName != "" && s.DomainID == "" && s.DomainName == "" {
			s.DomainID = "default"
		}
	}
	// AuthOptions carries the project twice (TenantName and Scope); the
	// Scope, built by clouds.Parse with the project's domain, is the one
	// Keystone must see.
	if c.auth.Scope != nil {
		c.auth.TenantID, c.auth.TenantName = "", ""
	}
	return c, nil
}

// CredentialsFromEnv reads the variables an openrc file sets (getenv is
// usually os.Getenv): OS_AUTH_URL; OS_USERNAME or OS_USER_ID with
// OS_PASSWORD; OS_PROJECT_NAME or OS_PROJECT_ID (OS_TENANT_NAME,
// OS_TENANT_ID); OS_USER_DOMAIN_NAME/_ID and OS_PROJECT_DOMAIN_NAME/_ID,
// falling back to OS_DOMAIN_NAME/_ID and then to the "default" domain as the
// openstack CLI does; or OS_AUTH_TYPE=v3applicationcredential with
// OS_APPLICATION_CREDENTIAL_ID (or _NAME with the user) and
// OS_APPLICATION_CREDENTIAL_SECRET. OS_REGION_NAME, OS_INTERFACE and
// OS_CACERT are honoured. A missing variable is an error that names it.
func CredentialsFromEnv(getenv func(string) string) (*OpenStackCredentials, error) {
	env := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	c := &OpenStackCredentials{source: "the OS_* variables"}
	a := &c.auth
	a.IdentityEndpoint = env("OS_AUTH_URL")
	if a.IdentityEndpoint == "" {
		return nil, errors.New("OS_AUTH_URL is not set: source your project's openrc file, or use --os-cloud NAME with a clouds.yaml")
	}
	a.UserID = env("OS_USER_ID")
	if a.UserID == "" {
		a.Username = env("OS_USERNAME")
	}
	defaultDomain := env("OS_DEFAULT_DOMAIN")
	if defaultDomain == "" {
		defaultDomain = "default"
	}
	userDomainID, userDomainName := env("OS_USER_DOMAIN_ID", "OS_DOMAIN_ID"), env("OS_USER_DOMAIN_NAME", "OS_DOMAIN_NAME")
	if a.Username != "" && userDomainID == "" && userDomainName == "" {
		userDomainID = defaultDomain
	}
	if a.Username != "" {
		a.DomainID, a.DomainName = userDomainID, userDomainName
		if a.DomainID != "" {
			a.DomainName = ""
		}
	}

	switch authType := strings.ToLower(env("OS_AUTH_TYPE")); authType {
	case "v3applicationcredential", "applicationcredential", "v3applicationcredentials":
		a.ApplicationCredentialID = env("OS_APPLICATION_CREDENTIAL_ID")
		a.ApplicationCredentialName = env("OS_APPLICATION_CREDENTIAL_NAME")
		a.ApplicationCredentialSecret = env("OS_APPLICATION_CREDENTIAL_SECRET")
		if a.ApplicationCredentialID == "" && a.ApplicationCredentialName == "" {
			return nil, errors.New("OS_APPLICATION_CREDENTIAL_ID (or OS_APPLICATION_CREDENTIAL_NAME) is not set, and OS_AUTH_TYPE is v3applicationcredential")
		}
		if a.ApplicationCredentialID == "" && a.Username == "" && a.UserID == "" {
			return nil, errors.New("OS_APPLICATION_CREDENTIAL_NAME needs its owner: set OS_USERNAME (with OS_USER_DOMAIN_NAME) or OS_USER_ID, or use OS_APPLICATION_CREDENTIAL_ID")
		}
		if a.ApplicationCredentialSecret == "" {
			return nil, errors.New("OS_APPLICATION_CREDENTIAL_SECRET is not set")
		}
		if a.ApplicationCredentialID != "" {
			a.UserID, a.Username, a.DomainID, a.DomainName = "", "", "", ""
		}
		// An application credential is bound to its project: no scope.
	case "", "password", "v3password":
		if a.Username == "" && a.UserID == "" {
			return nil, errors.New("OS_USERNAME (or OS_USER_ID) is not set: source your project's openrc file, or use --os-cloud NAME")
		}
		a.Password = getenv("OS_PASSWORD")
		if a.Password == "" {
			return nil, fmt.Errorf("OS_PASSWORD is not set (the password of %s)", c.who())
		}
		projectID, projectName := env("OS_PROJECT_ID", "OS_TENANT_ID"), env("OS_PROJECT_NAME", "OS_TENANT_NAME")
		switch {
		case projectID != "":
			a.Scope = &gophercloud.AuthScope{ProjectID: projectID}
		case projectName != "":
			s := &gophercloud.AuthScope{ProjectName: projectName,
				DomainID: env("OS_PROJECT_DOMAIN_ID", "OS_DOMAIN_ID"), DomainName: env("OS_PROJECT_DOMAIN_NAME", "OS_DOMAIN_NAME")}
			if s.DomainID != "" {
				s.DomainName = ""
			} else if s.DomainName == "" {
				s.DomainID = defaultDomain
			}
			a.Scope = s
		default:
			return nil, errors.New("OS_PROJECT_NAME (or OS_PROJECT_ID) is not set: Barbican needs a token scoped to the project that owns the secrets")
		}
	default:
		return nil, fmt.Errorf("OS_AUTH_TYPE=%s is not supported: use password (the default) or v3applicationcredential", authType)
	}

	c.endpoint.Region = env("OS_REGION_NAME")
	switch iface := strings.ToLower(env("OS_INTERFACE", "OS_ENDPOINT_TYPE")); iface {
	case "", "public", "publicurl":
		c.endpoint.Availability = gophercloud.AvailabilityPublic
	case "internal", "internalurl":
		c.endpoint.Availability = gophercloud.AvailabilityInternal
	case "admin", "adminurl":
		c.endpoint.Availability = gophercloud.AvailabilityAdmin
	default:
		return nil, fmt.Errorf("OS_INTERFACE=%s: want public, internal or admin", iface)
	}
	if caFile := env("OS_CACERT"); caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("OS_CACERT: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("OS_CACERT=%s holds no PEM certificate", caFile)
		}
		c.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return c, nil
}

// ConnectKeyManager logs in to Keystone and returns a KeyManager for the
// key-manager (Barbican) endpoint of the token's catalog. Errors say what
// Keystone refused, or that the catalog has no key manager.
func ConnectKeyManager(ctx context.Context, c *OpenStackCredentials) (*KeyManager, error) {
	provider, err := newProvider(ctx, c)
	if err != nil {
		return nil, err
	}
	eo := c.endpoint
	client, err := openstack.NewKeyManagerV1(provider, eo)
	if err != nil {
		var nf1 *gophercloud.ErrEndpointNotFound
		var nf2 *openstack.ErrEndpointNotFound
		var nf3 *gophercloud.ErrServiceNotFound
		if errors.As(err, &nf1) || errors.As(err, &nf2) || errors.As(err, &nf3) {
			region := ""
			if eo.Region != "" {
				region = " in region " + eo.Region
			}
			return nil, fmt.Errorf("the service catalog of %s has no key-manager (Barbican) endpoint%s for the %s interface: this cloud offers no secret store to this project", c.auth.IdentityEndpoint, region, availabilityName(eo.Availability))
		}
		return nil, fmt.Errorf("key-manager endpoint: %w", err)
	}
	m := &KeyManager{client: client, who: c.who(), project: c.project()}
	if res, ok := provider.GetAuthResult().(tokens.CreateResult); ok {
		if u, err := res.ExtractUser(); err == nil && u != nil {
			m.userID = u.ID
			if u.Name != "" && m.who == "user "+u.ID {
				m.who = "user " + u.Name
			}
		}
		if p, err := res.ExtractProject(); err == nil && p != nil {
			m.projectID = p.ID
			if p.Name != "" {
				m.project = p.Name
			}
		}
	}
	return m, nil
}

func availabilityName(a gophercloud.Availability) string {
	if a == "" {
		return "public"
	}
	return string(a)
}

// newProvider authenticates and maps Keystone's refusals to messages.
func newProvider(ctx context.Context, c *OpenStackCredentials) (*gophercloud.ProviderClient, error) {
	provider, err := openstack.NewClient(c.auth.IdentityEndpoint)
	if err != nil {
		return nil, fmt.Errorf("auth URL %q: %w", c.auth.IdentityEndpoint, err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if c.tls != nil {
		transport.TLSClientConfig = c.tls
	}
	provider.HTTPClient = http.Client{Transport: transport, Timeout: httpTimeout}
	if err := openstack.Authenticate(ctx, provider, c.auth); err != nil {
		return nil, c.authError(err)
	}
	return provider, nil
}

// httpTimeout bounds each Keystone and Barbican request.
const httpTimeout = 60 * time.Second

// authError explains a failed Keystone login.
func (c *OpenStackCredentials) authError(err error) error {
	project := c.project()
	scope := ""
	if project != "" {
		scope = " on project " + project
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		switch code.Actual {
		case http.StatusUnauthorized:
			return fmt.Errorf("Keystone refused the credentials for %s%s (%s, from %s): wrong password or secret, unknown user or domain, or no role on the project", c.who(), scope, c.auth.IdentityEndpoint, c.source)
		case http.StatusForbidden:
			return fmt.Errorf("Keystone at %s refused to issue a token for %s%s (403)", c.auth.IdentityEndpoint, c.who(), scope)
		case http.StatusNotFound:
			return fmt.Errorf("no Keystone v3 at %s (404): check OS_AUTH_URL (it usually ends in /v3)", c.auth.IdentityEndpoint)
		}
		return fmt.Errorf("Keystone at %s answered %d to the login of %s", c.auth.IdentityEndpoint, code.Actual, c.who())
	}
	return fmt.Errorf("cannot log in to Keystone at %s as %s: %w", c.auth.IdentityEndpoint, c.who(), err)
}
