package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
)

// connOptions are the connection flags `ssefs rekey` and `ssefs doctor`
// share with `ssefs mount` (same names, same meaning).
type connOptions struct {
	Endpoint      string
	Region        string
	Profile       string
	PasswdFile    string
	CAFile        string
	AllowHTTPKeys bool
}

// register adds the connection flags to f.
func (o *connOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.Endpoint, "endpoint", "", "S3 endpoint URL, e.g. https://s3.example.com (default: AWS_ENDPOINT_URL, else AWS)")
	f.StringVar(&o.Region, "region", "", "region for request signing (default: from the AWS config, else us-east-1)")
	f.StringVar(&o.Profile, "profile", "", "AWS shared config profile for credentials")
	f.StringVar(&o.PasswdFile, "passwd-file", "", "file with ACCESS_KEY:SECRET_KEY (or BUCKET:ACCESS_KEY:SECRET_KEY), mode 0600")
	f.StringVar(&o.CAFile, "ca-file", "", "PEM file of CA certificates to trust (AWS_CA_BUNDLE is honoured too)")
	f.BoolVar(&o.AllowHTTPKeys, "allow-http-keys", false, "allow sending SSE-C keys over plain HTTP to a non-loopback endpoint (unsafe)")
}

// client builds an objcache client for bucket and prefix that writes with
// enc. Warnings go to log (nil: discarded).
func (o *connOptions) client(ctx context.Context, bucket, prefix string, enc ssekeys.Config, log *slog.Logger) (*objcache.Client, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return objcache.NewClient(ctx, objcache.ClientConfig{
		Endpoint:      o.Endpoint,
		Region:        o.Region,
		Bucket:        bucket,
		Prefix:        prefix,
		PathStyle:     true,
		CAFile:        o.CAFile,
		Profile:       o.Profile,
		PasswdFile:    o.PasswdFile,
		Encryption:    enc,
		AllowHTTPKeys: o.AllowHTTPKeys,
		Logger:        log,
	})
}
