package objcache

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ssefs/ssefs/ssekeys"
)

// Defaults of ClientConfig's tunables.
const (
	DefaultRegion      = "us-east-1"
	DefaultMaxAttempts = 5
	DefaultPartSize    = 16 << 20
	DefaultConcurrency = 4
	// DefaultResponseTimeout bounds the wait for a response's headers once
	// a request is sent, so a server that accepts a connection and never
	// answers cannot hang the mount (the attempt fails and is retried).
	DefaultResponseTimeout = time.Minute
)

// S3 limits the client works within.
const (
	minPartSize     = 5 << 20  // smallest part but the last
	maxCopyPartSize = 5 << 30  // largest part (and CopyObject source)
	maxParts        = 10000    // parts per upload
	maxPutPartSize  = 64 << 20 // cap on a part buffered in memory
)

// ClientConfig says how to reach the bucket and how to encrypt. Only Bucket
// is required.
type ClientConfig struct {
	// Endpoint is the S3 service URL, e.g. https://s3.example.com; empty
	// means AWS.
	Endpoint string
	// Region signs requests; default us-east-1.
	Region string
	// Bucket is the bucket to mount.
	Bucket string
	// Prefix mounts a key prefix as the root: keys given to and returned by
	// the client are relative to it.
	Prefix string
	// PathStyle addresses the bucket in the URL path rather than the host
	// name. It is implied for endpoints given as an IP address or localhost.
	PathStyle bool
	// CAFile is a PEM file of extra trusted CAs (AWS_CA_BUNDLE is honoured
	// too). Certificates are always verified.
	CAFile string
	// Profile is the shared config profile to take credentials from.
	Profile string
	// PasswdFile holds s3fs-style "ACCESS:SECRET" or "BUCKET:ACCESS:SECRET"
	// lines; it must not be readable by group or others.
	PasswdFile string
	// Encryption is the mount's SSE: what new objects get, and the keys
	// tried when opening objects.
	Encryption ssekeys.Config
	// AllowHTTPKeys permits SSE-C keys over plain HTTP to a non-loopback
	// endpoint (a warning is logged).
	AllowHTTPKeys bool
	// Logger receives warnings (refused keys, server quirks); default
	// slog.Default().
	Logger *slog.Logger
	// MaxAttempts bounds attempts per request, retries included; default 5.
	MaxAttempts int
	// PartSize is the largest single PUT and the multipart part size;
	// default 16 MiB.
	PartSize int64
	// Concurrency is the number of parts in flight per upload; default 4.
	Concurrency int
	// ResponseTimeout bounds the wait for response headers per attempt,
	// and the silence of a response body being read (a stalled body is
	// dropped and the read resumed where it stopped); default
	// DefaultResponseTimeout.
	ResponseTimeout time.Duration
}

// withDefaults validates cfg and fills in defaults. It makes no request.
func (cfg ClientConfig) withDefaults() (ClientConfig, error) {
	if cfg.Bucket == "" {
		return cfg, errors.New("no bucket given")
	}
	if err := cfg.Encryption.Validate(); err != nil {
		return cfg, err
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.ResponseTimeout <= 0 {
		cfg.ResponseTimeout = DefaultResponseTimeout
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = DefaultPartSize
	}
	if cfg.PartSize < minPartSize {
		return cfg, fmt.Errorf("part size %d is below S3's minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.PartSize > maxPutPartSize {
		return cfg, fmt.Errorf("part size %d is above the %d MiB this client buffers per part", cfg.PartSize, maxPutPartSize>>20)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	cfg.Prefix = normalizePrefix(cfg.Prefix)
	return cfg.withEndpoint(cfg.Endpoint)
}

// withEndpoint validates endpoint (empty: AWS) and makes it cfg's: an IP
// address or localhost implies path-style addressing, and SSE-C keys must
// not travel in clear text to another machine.
func (cfg ClientConfig) withEndpoint(endpoint string) (ClientConfig, error) {
	cfg.Endpoint = endpoint
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return cfg, fmt.Errorf("endpoint %q: want https://HOST[:PORT] or http://HOST[:PORT]", cfg.Endpoint)
		}
		if isLoopbackOrIP(u.Hostname()) {
			cfg.PathStyle = true
		}
	}
	if err := cfg.checkKeyTransport(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// checkKeyTransport refuses to send SSE-C keys in clear text to anything but
// this machine, unless explicitly allowed. It looks at the configured URL
// only (no DNS lookup), so it holds before any packet is sent.
func (cfg ClientConfig) checkKeyTransport() error {
	if cfg.Encryption.Keys == nil || cfg.Endpoint == "" {
		return nil
	}
	u, _ := url.Parse(cfg.Endpoint)
	if u.Scheme == "https" || isLoopback(u.Hostname()) {
		return nil
	}
	if !cfg.AllowHTTPKeys {
		return fmt.Errorf("refusing to send SSE-C keys over plain HTTP to %s: use https://, or allow it explicitly (--allow-http-keys)", cfg.Endpoint)
	}
	cfg.Logger.Warn("SSE-C keys will be sent over plain HTTP: anyone on the network path can read them", "endpoint", cfg.Endpoint)
	return nil
}

// endpointName is the endpoint as messages show it.
func (cfg ClientConfig) endpointName() string {
	if cfg.Endpoint != "" {
		return strings.TrimRight(cfg.Endpoint, "/")
	}
	return "https://s3." + cfg.Region + ".amazonaws.com"
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isLoopbackOrIP(host string) bool {
	return isLoopback(host) || net.ParseIP(host) != nil
}

// normalizePrefix turns "/a/b", "a/b/" or "a/b" into "a/b/", and "/" or ""
// into "".
func normalizePrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// readPasswdFile returns the access and secret key for bucket from an
// s3fs-style passwd file: a "BUCKET:ACCESS:SECRET" line for this bucket
// wins over a generic "ACCESS:SECRET" line. Messages never quote a line.
func readPasswdFile(path, bucket string) (access, secret string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("passwd file %s: %w", path, err)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return "", "", fmt.Errorf("passwd file %s: permissions %04o are too open: other users could read the secret; run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("passwd file %s: %w", path, err)
	}
	var genericA, genericS string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		switch {
		case len(f) == 2 && f[0] != "" && f[1] != "":
			if genericA == "" {
				genericA, genericS = f[0], f[1]
			}
		case len(f) == 3 && f[1] != "" && f[2] != "":
			if f[0] == bucket {
				return f[1], f[2], nil
			}
		default:
			return "", "", fmt.Errorf("passwd file %s, line %d: want ACCESS:SECRET or BUCKET:ACCESS:SECRET", path, n)
		}
	}
	if genericA == "" {
		return "", "", fmt.Errorf("passwd file %s: no line for bucket %q and no ACCESS:SECRET line", path, bucket)
	}
	return genericA, genericS, nil
}
