// Command ssefs-refbackend runs ssefs's reference backend: an S3-compatible
// server that really encrypts at rest (SSE-C, SSE-KMS) and a local Keystone
// v3 + Barbican v1 compatible key manager, each on its own listener.
//
//	ssefs-refbackend --data DIR --s3-listen 127.0.0.1:PORT --kms-listen 127.0.0.1:PORT [--tls] [--profile aws|rgw] [--require-ssl] [--bucket NAME,...] [--verbose]
//	ssefs-refbackend locate --data DIR BUCKET KEY
//
// Port 0 picks a free port. --bucket creates buckets at start. locate prints
// the data files that hold an object's content. Once both listeners accept requests it prints the
// export lines a client needs on stdout, writes them to DIR/env.sh (0600) and
// prints "ready" on stderr. SIGTERM or SIGINT stops it gracefully.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ssefs/ssefs/test/refbackend"
	"github.com/ssefs/ssefs/test/refbackend/keymanager"
	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

type options struct {
	data, s3Listen, kmsListen, profile, buckets string
	tls, requireSSL, verbose                    bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "locate" {
		if err := runLocate(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "ssefs-refbackend locate:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	flag.StringVar(&o.data, "data", "", "data directory (created 0700 on first start)")
	flag.StringVar(&o.s3Listen, "s3-listen", "127.0.0.1:0", "address of the S3 listener (port 0: any free port)")
	flag.StringVar(&o.kmsListen, "kms-listen", "127.0.0.1:0", "address of the key manager listener (port 0: any free port)")
	flag.BoolVar(&o.tls, "tls", false, "serve HTTPS with a certificate from a self-signed CA kept in the data dir (ca.pem)")
	flag.StringVar(&o.profile, "profile", "aws", "behaviour profile: aws or rgw")
	flag.BoolVar(&o.requireSSL, "require-ssl", false, "refuse SSE requests over plain HTTP (400 InvalidRequest)")
	flag.BoolVar(&o.verbose, "verbose", false, "log one line per request to stderr")
	flag.StringVar(&o.buckets, "bucket", "", "comma-separated buckets to create at start if missing")
	flag.Parse()
	if o.data == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: ssefs-refbackend --data DIR [--s3-listen ADDR] [--kms-listen ADDR] [--tls] [--profile aws|rgw] [--require-ssl] [--bucket NAME,...] [--verbose]")
		fmt.Fprintln(os.Stderr, "       ssefs-refbackend locate --data DIR BUCKET KEY")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ssefs-refbackend:", err)
		os.Exit(1)
	}
}

// publicURL is how clients reach a listener.
func publicURL(scheme string, ln net.Listener) string {
	a := ln.Addr().(*net.TCPAddr)
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, fmt.Sprint(a.Port))
}

func run(o options) error {
	profile, err := refbackend.ParseProfile(o.profile)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	dir, err := filepath.Abs(o.data)
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	creds, err := loadOrCreateCredentials(dir)
	if err != nil {
		return err
	}
	sses3, err := loadOrCreateKey(filepath.Join(dir, "sse-s3.key"))
	if err != nil {
		return err
	}

	scheme := "http"
	var tlsCfg *tls.Config
	hc := &http.Client{Timeout: 30 * time.Second}
	if o.tls {
		scheme = "https"
		ca, caKey, err := loadOrCreateCA(dir)
		if err != nil {
			return fmt.Errorf("TLS CA: %w", err)
		}
		cert, err := serverCert(ca, caKey)
		if err != nil {
			return err
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		pool := x509.NewCertPool()
		pool.AddCert(ca)
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}

	s3ln, err := net.Listen("tcp", o.s3Listen)
	if err != nil {
		return err
	}
	kmsln, err := net.Listen("tcp", o.kmsListen)
	if err != nil {
		s3ln.Close()
		return err
	}
	s3URL, kmsURL := publicURL(scheme, s3ln), publicURL(scheme, kmsln)

	km, err := keymanager.Open(filepath.Join(dir, "kms"))
	if err != nil {
		return fmt.Errorf("key manager: %w", err)
	}
	defer km.Close()
	accts := km.Accounts()
	authURL := kmsURL + "/v3"

	cfg := refbackend.Config{
		DataDir: filepath.Join(dir, "s3"), Profile: profile,
		AccessKey: creds.AccessKey, SecretKey: creds.SecretKey,
		KMS: keymanager.NewSecretClient(authURL, accts.Service, hc),
		TLS: o.tls, RequireSSL: o.requireSSL, SSES3Key: sses3,
		Logger: logger, Verbose: o.verbose,
	}
	kmsSrv := &http.Server{Handler: km.Handler(kmsURL), ReadHeaderTimeout: 30 * time.Second, ErrorLog: logger}
	if o.verbose {
		kmsSrv.Handler = logRequests(logger, "kms", kmsSrv.Handler)
	}
	errc := make(chan error, 2)
	serve := func(srv *http.Server, ln net.Listener) {
		if tlsCfg != nil {
			srv.TLSConfig = tlsCfg
			ln = tls.NewListener(ln, tlsCfg)
		}
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}
	go serve(kmsSrv, kmsln)

	if profile == refbackend.ProfileAWS {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		id, err := ensureDefaultKMSKey(ctx, dir, authURL, accts, hc)
		cancel()
		if err != nil {
			logger.Printf("no default SSE-KMS key (SSE-KMS PUTs must name a key): %v", err)
		}
		cfg.DefaultKMSKeyID = id
	}
	srv, err := refbackend.New(cfg)
	if err != nil {
		kmsSrv.Close()
		return err
	}
	for _, b := range strings.Split(o.buckets, ",") {
		if b = strings.TrimSpace(b); b == "" {
			continue
		}
		if err := srv.Store().CreateBucket(b); err != nil && !errors.Is(err, objstore.ErrBucketExists) {
			srv.Close()
			kmsSrv.Close()
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	s3Srv := srv.HTTPServer("")
	go serve(s3Srv, s3ln)

	if err := waitServing(hc, s3URL, kmsURL+"/v3"); err != nil {
		return err
	}
	env := [][2]string{
		{"AWS_ENDPOINT_URL", s3URL},
		{"AWS_ACCESS_KEY_ID", creds.AccessKey},
		{"AWS_SECRET_ACCESS_KEY", creds.SecretKey},
		{"AWS_REGION", "us-east-1"},
		{"OS_AUTH_URL", authURL},
		{"OS_USERNAME", accts.Demo.UserName},
		{"OS_PASSWORD", accts.Demo.Password},
		{"OS_PROJECT_NAME", accts.Demo.ProjectName},
		{"OS_USER_DOMAIN_NAME", accts.Demo.DomainName},
		{"OS_PROJECT_DOMAIN_NAME", accts.Demo.DomainName},
		{"OS_DOMAIN_NAME", accts.Demo.DomainName},
		{"OS_IDENTITY_API_VERSION", "3"},
		{"SSEFS_KMS_SERVICE_USER_ID", accts.Service.UserID},
	}
	if o.tls {
		env = append(env, [2]string{"AWS_CA_BUNDLE", filepath.Join(dir, caCertFile)})
	}
	var b strings.Builder
	for _, kv := range env {
		fmt.Fprintf(&b, "export %s=%s\n", kv[0], shellQuote(kv[1]))
	}
	if err := writeFileAtomic(filepath.Join(dir, "env.sh"), []byte(b.String()), 0o600); err != nil {
		return err
	}
	os.Stdout.WriteString(b.String())
	fmt.Fprintln(os.Stderr, "ready")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var runErr error
	select {
	case s := <-sig:
		logger.Printf("%v: shutting down", s)
	case runErr = <-errc:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, hs := range []*http.Server{s3Srv, kmsSrv} {
		wg.Add(1)
		go func() { defer wg.Done(); _ = hs.Shutdown(ctx) }()
	}
	wg.Wait()
	if err := srv.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// waitServing returns once every URL answers an HTTP request.
func waitServing(hc *http.Client, urls ...string) error {
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range urls {
		for {
			resp, err := hc.Get(u)
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s does not answer: %w", u, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// logRequests logs one line per key manager request (never bodies or tokens).
func logRequests(l *log.Logger, name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(sw, r)
		l.Printf("%s %s %s -> %d (%s)", name, r.Method, r.URL.Path, sw.status, time.Since(start).Round(time.Millisecond))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(c int) { w.status = c; w.ResponseWriter.WriteHeader(c) }
