package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/ssefs/ssefs/test/refbackend"
	"github.com/ssefs/ssefs/test/refbackend/objstore"
)

// runLocate implements `ssefs-refbackend locate --data DIR BUCKET KEY`: it
// prints the paths of the files holding an object's content, one a line.
// It asks the running server (as its env.sh describes it) and, when none
// answers, reads the stopped store directly.
func runLocate(args []string) error {
	fs := flag.NewFlagSet("locate", flag.ContinueOnError)
	data := fs.String("data", "", "data directory of the backend")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *data == "" || fs.NArg() != 2 {
		return errors.New("usage: ssefs-refbackend locate --data DIR BUCKET KEY")
	}
	bucket, key := fs.Arg(0), fs.Arg(1)
	paths, err := locateRemote(*data, bucket, key)
	var unreachable *unreachableError
	if errors.As(err, &unreachable) {
		paths, err = locateLocal(*data, bucket, key)
	}
	if err != nil {
		return err
	}
	for _, p := range paths {
		fmt.Println(p)
	}
	return nil
}

// unreachableError marks a server that does not answer at all.
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }

// readEnv parses the export lines of DIR/env.sh.
func readEnv(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "env.sh"))
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			env[k] = strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(v, "'"), "'"), `'\''`, "'")
		}
	}
	return env, nil
}

func locateRemote(dir, bucket, key string) ([]string, error) {
	env, err := readEnv(dir)
	if err != nil {
		return nil, &unreachableError{err}
	}
	var segs []string
	for _, s := range strings.Split(key, "/") {
		segs = append(segs, url.PathEscape(s))
	}
	u := env["AWS_ENDPOINT_URL"] + "/" + url.PathEscape(bucket) + "/" + strings.Join(segs, "/") + "?" + refbackend.DataFilesQuery + "="
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(nil)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	signer := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true })
	creds := aws.Credentials{AccessKeyID: env["AWS_ACCESS_KEY_ID"], SecretAccessKey: env["AWS_SECRET_ACCESS_KEY"]}
	if err := signer.SignHTTP(context.Background(), creds, req, hash, "s3", "us-east-1", time.Now()); err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if ca := env["AWS_CA_BUNDLE"]; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &unreachableError{err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s/%s: %s: %s", bucket, key, resp.Status, strings.TrimSpace(string(body)))
	}
	return strings.Fields(string(body)), nil
}

func locateLocal(dir, bucket, key string) ([]string, error) {
	st, err := objstore.Open(filepath.Join(dir, "s3"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.DataFiles(bucket, key)
}
