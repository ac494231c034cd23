package objcache

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/ssefs/ssefs/ssekeys"
)

// openedCacheSize bounds how many objects' encryptions are remembered.
const openedCacheSize = 1 << 16

// Client is the Bucket implementation over aws-sdk-go-v2. Every request
// carries the SSE parameters ssekeys decides for its class, and every write
// checks the server's encryption echo.
type Client struct {
	cfg    ClientConfig
	s3     *s3.Client
	log    *slog.Logger
	write  ssekeys.SSE // what new objects and copies get
	opened *lru.Cache[string, ssekeys.SSE]

	// copyObjectRefused is set once the server answers CopyObject of an
	// encrypted source with 501 (Ceph RGW before 2025): from then on copies
	// go straight to part copies.
	copyObjectRefused atomic.Bool
	copyRefusedLog    sync.Once
}

var _ Bucket = (*Client)(nil)

// NewClient builds a client from cfg. It makes no request: credentials are
// resolved lazily and the endpoint is first contacted by Check or the first
// operation. It refuses a configuration that would send SSE-C keys over
// plain HTTP to another machine.
func NewClient(ctx context.Context, cfg ClientConfig) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	httpClient, err := newHTTPClient(cfg.CAFile, cfg.ResponseTimeout)
	if err != nil {
		return nil, err
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer { return newRetryer(cfg.MaxAttempts) }),
		// RGW over HTTPS answers 411 to aws-chunked bodies with trailing
		// checksums, which current SDKs send by default.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(cfg.Profile))
	}
	if cfg.PasswdFile != "" {
		access, secret, err := readPasswdFile(cfg.PasswdFile, cfg.Bucket)
		if err != nil {
			return nil, err
		}
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(access, secret, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	api := newS3(awsCfg, cfg)
	if cfg.Endpoint == "" {
		// AWS_ENDPOINT_URL(_S3) or a profile's endpoint_url may name the
		// endpoint: the key transport rule applies to it as well.
		if ep := aws.ToString(api.Options().BaseEndpoint); ep != "" {
			if cfg, err = cfg.withEndpoint(ep); err != nil {
				return nil, err
			}
			api = newS3(awsCfg, cfg)
		}
	}
	return newClient(cfg, api), nil
}

func newS3(awsCfg aws.Config, cfg ClientConfig) *s3.Client {
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(strings.TrimRight(cfg.Endpoint, "/"))
		}
		o.UsePathStyle = cfg.PathStyle
		o.DisableLogOutputChecksumValidationSkipped = true
		o.APIOptions = append(o.APIOptions, fastListDecoding)
		// Wrapped here, after the config loader has added AWS_CA_BUNDLE
		// to the client it built.
		o.HTTPClient = logRequests(watchBodies(o.HTTPClient, cfg.ResponseTimeout), cfg.Logger)
	})
}

func newClient(cfg ClientConfig, api *s3.Client) *Client {
	opened, _ := lru.New[string, ssekeys.SSE](openedCacheSize) // size > 0: never fails
	return &Client{
		cfg:    cfg,
		s3:     api,
		log:    cfg.Logger,
		write:  cfg.Encryption.Write(),
		opened: opened,
	}
}

// newHTTPClient trusts the system roots plus caFile (AWS_CA_BUNDLE is added
// on top by the SDK's config loader) and bounds connecting, the TLS
// handshake, the wait for response headers and every write (stalls.go).
func newHTTPClient(caFile string, responseTimeout time.Duration) (*awshttp.BuildableClient, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate found", caFile)
		}
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return awshttp.NewBuildableClient().
		WithTransportOptions(func(tr *http.Transport) {
			tr.DialContext = dialWithWriteDeadlines(dialer, responseTimeout)
			tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			tr.MaxIdleConnsPerHost = 64
			tr.TLSHandshakeTimeout = 10 * time.Second
			tr.ResponseHeaderTimeout = responseTimeout
		}), nil
}

// fullKey is the bucket key of a key relative to the mount's prefix.
func (c *Client) fullKey(key string) string { return c.cfg.Prefix + key }

// remember records which encryption opens key (after a successful read
// probe or our own write).
func (c *Client) remember(key string, sse ssekeys.SSE) { c.opened.Add(key, sse) }

// forget drops what is remembered about key (after a delete, or when the
// remembered encryption stopped working).
func (c *Client) forget(key string) { c.opened.Remove(key) }

// remembered returns the encryption that last opened key, if known.
func (c *Client) remembered(key string) (ssekeys.SSE, bool) { return c.opened.Get(key) }
