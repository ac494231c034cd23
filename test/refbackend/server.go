// Package refbackend is the S3 side of ssefs's reference backend: a
// path-style S3 server over the objstore storage engine that implements
// SSE-C and SSE-KMS for real, following the rules of DESIGN.md section 3.
//
// Two behaviour profiles exist: ProfileAWS (the default) answers as Amazon S3
// does, and ProfileRGW reproduces Ceph RGW 16 with Barbican as its key store,
// its silent failures included, so that ssefs's own defences can be tested.
// Requests are authenticated with SigV4 by package s3auth; SSE-KMS keys are
// fetched through a KeyFetcher (a *keymanager.SecretClient in practice) as the
// object store's service user.
package refbackend

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/ssefs/ssefs/test/refbackend/objstore"
	"github.com/ssefs/ssefs/test/refbackend/s3auth"
)

// Profile selects whose behaviour the server reproduces where Amazon S3 and
// Ceph RGW differ.
type Profile string

const (
	// ProfileAWS answers as Amazon S3 does (the default).
	ProfileAWS Profile = "aws"
	// ProfileRGW answers as Ceph RGW 16.2 with Barbican does.
	ProfileRGW Profile = "rgw"
)

// ParseProfile returns the profile named s ("" means aws).
func ParseProfile(s string) (Profile, error) {
	switch s {
	case "", "aws":
		return ProfileAWS, nil
	case "rgw":
		return ProfileRGW, nil
	}
	return "", fmt.Errorf("unknown profile %q (want aws or rgw)", s)
}

// KeyFetcher fetches the 32-byte secret of an SSE-KMS key id from the key
// manager. *keymanager.SecretClient satisfies it; its errors
// (keymanager.ErrSecretNotFound, ErrSecretForbidden, ErrBadSecret,
// ErrKeyManagerUnavailable) decide the S3 answer.
type KeyFetcher interface {
	FetchKey(ctx context.Context, id string) ([]byte, error)
}

// Config configures a Server.
type Config struct {
	// DataDir is the directory of the object store (created if missing).
	DataDir string
	// Profile is ProfileAWS (default) or ProfileRGW.
	Profile Profile
	// AccessKey and SecretKey are the S3 credentials the server accepts.
	AccessKey, SecretKey string
	// KMS fetches SSE-KMS secrets. Without it every SSE-KMS request fails
	// as if the key manager were down.
	KMS KeyFetcher
	// TLS records that the server is served over HTTPS (informational: each
	// request's own transport decides what RequireSSL refuses).
	TLS bool
	// RequireSSL refuses SSE requests that arrive over plain HTTP with 400
	// InvalidRequest, like RGW's "rgw crypt require ssl" and like AWS. It is
	// off by default so the local demo works over HTTP.
	RequireSSL bool
	// DefaultKMSKeyID is the key id used, in the aws profile, for an
	// SSE-KMS PUT without a key id (AWS's account default key). Empty: such
	// a PUT answers 400 InvalidArgument.
	DefaultKMSKeyID string
	// SSES3Key is the 32-byte master key of SSE-S3 (x-amz-server-side-encryption:
	// AES256) in the aws profile. Nil: a random key for this process only.
	SSES3Key []byte
	// MaxHeaderBytes is the largest request header section accepted before
	// answering 400 RequestHeaderSectionTooLarge (default 16 KiB).
	MaxHeaderBytes int
	// Logger receives one line per request when Verbose is set, and
	// internal errors always. Nil: the standard logger.
	Logger *log.Logger
	// Verbose logs every request (method, path, status, duration; never keys).
	Verbose bool
	// Now is the clock (nil: time.Now), used for signature checks.
	Now func() time.Time
}

// Server is the reference S3 server. Create it with New, serve Handler, and
// Close it when done.
type Server struct {
	cfg      Config
	rules    *rules
	store    *objstore.Store
	verifier *s3auth.Verifier
	log      *log.Logger
	sses3    []byte
}

// DefaultMaxHeaderBytes is the default limit of a request's header section.
const DefaultMaxHeaderBytes = 16 << 10

// New opens the object store in cfg.DataDir and returns a server.
func New(cfg Config) (*Server, error) {
	p, err := ParseProfile(string(cfg.Profile))
	if err != nil {
		return nil, err
	}
	cfg.Profile = p
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return nil, errors.New("refbackend: S3 credentials are required")
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	sses3 := cfg.SSES3Key
	if sses3 == nil {
		sses3 = make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, sses3); err != nil {
			return nil, err
		}
	} else if len(sses3) != 32 {
		return nil, errors.New("refbackend: SSES3Key must be 32 bytes")
	}
	st, err := objstore.Open(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	lg := cfg.Logger
	if lg == nil {
		lg = log.Default()
	}
	s := &Server{cfg: cfg, rules: rulesFor(cfg.Profile), store: st, log: lg, sses3: sses3}
	s.verifier = &s3auth.Verifier{
		Lookup: func(ak string) (string, bool) {
			if ak == cfg.AccessKey {
				return cfg.SecretKey, true
			}
			return "", false
		},
		Now: cfg.Now,
	}
	return s, nil
}

// Store returns the underlying object store (tests inspect how objects rest).
func (s *Server) Store() *objstore.Store { return s.store }

// Profile returns the server's behaviour profile.
func (s *Server) Profile() Profile { return s.cfg.Profile }

// Close closes the object store. Stop serving first.
func (s *Server) Close() error { return s.store.Close() }

// HTTPServer returns an http.Server for addr that serves this server with
// sensible limits: a hard header limit well above Config.MaxHeaderBytes so
// oversized headers still get an S3 XML answer, and read-header timeouts.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.Handler(),
		MaxHeaderBytes:    1 << 20,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          s.log,
	}
}
