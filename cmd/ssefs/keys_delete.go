package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/ssefs/ssefs/ssekeys"
)

// deleteOptions are the flags of `ssefs keys delete`.
type deleteOptions struct {
	Yes    bool
	Bucket string
	Prefix string
	S3     scanS3Options
}

func newKeysDeleteCommand(o *keysOptions) *cobra.Command {
	var d deleteOptions
	cmd := &cobra.Command{
		Use:   "delete ID [--yes] [--bucket BUCKET [--endpoint URL ...]]",
		Short: "Delete a secret: every object encrypted with it becomes unrecoverable",
		Long: `Delete a Barbican secret. Every object encrypted with it becomes unrecoverable
(unless the key is restored from a backup, under a new id).

On a terminal it asks you to type "yes"; scripts must pass --yes, and without
a terminal and without --yes nothing is deleted. With --bucket it first lists
the bucket (or --prefix of it) and HEADs each object, and refuses if any
object is still encrypted with the key, or could not be checked.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runKeysDelete(cmd, o, &d, args[0])
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&d.Yes, "yes", "y", false, "delete without asking (for scripts)")
	f.StringVar(&d.Bucket, "bucket", "", "first make sure no object of this bucket is encrypted with the key")
	f.StringVar(&d.Prefix, "prefix", "", "with --bucket: check only the objects under this prefix")
	f.StringVar(&d.S3.Endpoint, "endpoint", "", "with --bucket: S3 endpoint URL (default: AWS_ENDPOINT_URL or AWS)")
	f.StringVar(&d.S3.Region, "region", "", "with --bucket: region for request signing (default: from the AWS config, else us-east-1)")
	f.StringVar(&d.S3.Profile, "profile", "", "with --bucket: AWS shared config profile for credentials")
	f.StringVar(&d.S3.PasswdFile, "passwd-file", "", "with --bucket: file with ACCESS_KEY:SECRET_KEY (or BUCKET:ACCESS_KEY:SECRET_KEY), mode 0600")
	f.StringVar(&d.S3.CAFile, "ca-file", "", "with --bucket: PEM file of CA certificates to trust")
	return cmd
}

func runKeysDelete(cmd *cobra.Command, o *keysOptions, d *deleteOptions, arg string) error {
	id, err := ssekeys.ParseSecretID(arg)
	if err != nil {
		return err
	}
	stdin := cmd.InOrStdin()
	interactive := isTerminal(stdin)
	if !d.Yes && !interactive {
		return fmt.Errorf("refusing to delete secret %s without confirmation: stdin is not a terminal; pass --yes if every object encrypted with it may become unrecoverable", id)
	}
	if d.Bucket == "" && (d.Prefix != "" || d.S3 != (scanS3Options{})) {
		return errors.New("--prefix, --endpoint, --region, --profile, --passwd-file and --ca-file only go with --bucket")
	}
	ctx := cmd.Context()
	m, err := o.connect(cmd)
	if err != nil {
		return err
	}
	s, err := m.Show(ctx, id)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if d.Bucket != "" {
		fmt.Fprintf(stderr, "checking s3://%s/%s for objects encrypted with %s...\n", d.Bucket, d.Prefix, id)
		res, err := scanBucketForKMSKey(ctx, &d.S3, d.Bucket, d.Prefix, id)
		if err != nil {
			return err
		}
		if err := res.refusal(d.Bucket, id); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "checked %d objects: none is encrypted with %s\n", res.Checked, id)
	}
	fmt.Fprintf(stderr, "Deleting secret %s (%q) makes every object encrypted with it unrecoverable.\n", id, s.Name)
	if !d.Yes {
		fmt.Fprintf(stderr, "Type yes to delete it: ")
		if !readYes(stdin) {
			return fmt.Errorf("secret %s not deleted", id)
		}
	}
	if err := m.Delete(ctx, id); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "deleted secret %s (%q)\n", id, s.Name)
	return nil
}

// readYes reads one line and reports whether it is "yes".
func readYes(r io.Reader) bool {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(line), "yes")
}

// isTerminal reports whether r is a terminal (not a pipe, file or /dev/null).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// scanResult is what a bucket scan found.
type scanResult struct {
	Checked   int
	Using     []string // objects encrypted with the key
	Unchecked []string // objects whose HEAD failed: they may use it
	FirstErr  error    // the first HEAD failure, to say why
}

// refusal explains why the key must not be deleted, or returns nil.
func (r *scanResult) refusal(bucket, id string) error {
	if len(r.Using) > 0 {
		return fmt.Errorf("refusing to delete secret %s: %d object(s) in bucket %s are encrypted with it and would become unrecoverable: %s",
			id, len(r.Using), bucket, sample(r.Using))
	}
	if len(r.Unchecked) > 0 {
		return fmt.Errorf("refusing to delete secret %s: %d object(s) in bucket %s could not be checked and may be encrypted with it: %s (first error: %v)",
			id, len(r.Unchecked), bucket, sample(r.Unchecked), r.FirstErr)
	}
	return nil
}

// sample lists up to five names.
func sample(names []string) string {
	if len(names) <= 5 {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:5], ", ") + fmt.Sprintf(" and %d more", len(names)-5)
}

// scanS3Options say how to reach the bucket to scan: the connection flags
// of `ssefs mount`, nothing about encryption (the scan sends no key).
type scanS3Options struct {
	Endpoint   string
	Region     string
	Profile    string
	PasswdFile string
	CAFile     string
}

// scanWorkers is how many HEADs are in flight at once.
const scanWorkers = 8

// scanBucketForKMSKey lists bucket (under prefix) and HEADs each object,
// reporting those whose SSE-KMS key id is id, and those it could not check.
// An SSE-C object answers a HEAD without its key with 400: it is not under
// id and counts as checked.
func scanBucketForKMSKey(ctx context.Context, o *scanS3Options, bucket, prefix, id string) (*scanResult, error) {
	client, err := newScanClient(ctx, o, bucket)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	keys := make(chan string)
	type verdict struct {
		key string
		use bool
		err error
	}
	verdicts := make(chan verdict)
	var wg sync.WaitGroup
	for range scanWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				use, err := objectUsesKMSKey(ctx, client, bucket, k, id)
				select {
				case verdicts <- verdict{k, use, err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	listErr := make(chan error, 1)
	go func() {
		defer close(keys)
		p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				listErr <- fmt.Errorf("listing bucket %s: %w", bucket, err)
				return
			}
			for _, obj := range page.Contents {
				select {
				case keys <- aws.ToString(obj.Key):
				case <-ctx.Done():
					return
				}
			}
		}
		listErr <- nil
	}()
	go func() { wg.Wait(); close(verdicts) }()
	res := &scanResult{}
	for v := range verdicts {
		switch {
		case v.err != nil:
			res.Unchecked = append(res.Unchecked, v.key)
			if res.FirstErr == nil {
				res.FirstErr = v.err
			}
		case v.use:
			res.Checked++
			res.Using = append(res.Using, v.key)
		default:
			res.Checked++
		}
	}
	if err := <-listErr; err != nil {
		return nil, err
	}
	sort.Strings(res.Using)
	sort.Strings(res.Unchecked)
	return res, nil
}

// objectUsesKMSKey HEADs one object and compares its SSE-KMS key id with id.
func objectUsesKMSKey(ctx context.Context, c *s3.Client, bucket, key, id string) (bool, error) {
	out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			switch re.HTTPStatusCode() {
			case http.StatusBadRequest:
				return false, nil // SSE-C: needs its own key, so not under id
			case http.StatusNotFound:
				return false, nil // deleted since the listing
			}
		}
		return false, fmt.Errorf("HEAD %s: %w", key, err)
	}
	if out.ServerSideEncryption != s3types.ServerSideEncryptionAwsKms {
		return false, nil
	}
	got, err := ssekeys.ParseKMSKeyID(aws.ToString(out.SSEKMSKeyId))
	return err == nil && got == id, nil
}

// newScanClient builds a plain S3 client from the connection flags, the
// AWS_* variables and the shared AWS config, path-style as ssefs mounts.
func newScanClient(ctx context.Context, o *scanS3Options, bucket string) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("CA file: %w", err)
		}
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	if o.PasswdFile != "" {
		access, secret, err := readScanPasswdFile(o.PasswdFile, bucket)
		if err != nil {
			return nil, err
		}
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(access, secret, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(strings.TrimRight(o.Endpoint, "/"))
		}
		so.UsePathStyle = true
	}), nil
}

// readScanPasswdFile reads ACCESS_KEY:SECRET_KEY, or the
// BUCKET:ACCESS_KEY:SECRET_KEY line for bucket, from a 0600 file.
func readScanPasswdFile(file, bucket string) (string, string, error) {
	st, err := os.Stat(file)
	if err != nil {
		return "", "", fmt.Errorf("passwd file: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("passwd file %s: permissions %04o are too open; run chmod 600 %s", file, st.Mode().Perm(), file)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", "", fmt.Errorf("passwd file: %w", err)
	}
	var access, secret string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		switch {
		case len(f) == 3 && f[0] == bucket:
			return f[1], f[2], nil
		case len(f) == 2 && access == "":
			access, secret = f[0], f[1]
		}
	}
	if access == "" {
		return "", "", fmt.Errorf("passwd file %s: no ACCESS_KEY:SECRET_KEY line (or BUCKET:ACCESS_KEY:SECRET_KEY for %s)", file, bucket)
	}
	return access, secret, nil
}
