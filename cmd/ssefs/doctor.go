package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
)

// doctorTimeout bounds a whole doctor run.
const doctorTimeout = 2 * time.Minute

// doctorOptions are the flags of `ssefs doctor`: mount's connection and
// encryption flags, plus what only the doctor checks.
type doctorOptions struct {
	conn           connOptions
	SSECKeyFile    string
	SSEKMSKeyID    string
	KMSServiceUser string
	OSCloud        string
}

func newDoctorCommand() *cobra.Command {
	var o doctorOptions
	cmd := &cobra.Command{
		Use:   "doctor [mount flags] BUCKET[:/PREFIX]",
		Short: "Check a bucket, the server and the keys before (or instead of) mounting",
		Long: `Check everything a mount with the same flags depends on, and report each check
on one line (✓ fine, i note, ! warning, ✗ failure) with the fix:

  the key file's permissions and keys; the endpoint (reachable, TLS certificate
  valid); the credentials; the bucket; the SSE-KMS key in the key manager and,
  with --kms-service-user, that the object store's user is on its read ACL; an
  SSE round trip of a probe object (put, head, get, delete, encryption echo
  checked); whether the server refuses server-side copies of encrypted objects;
  whether it stores plain objects copied with encryption requested unencrypted;
  and whether bucket replication is configured (replication plus object
  encryption can lose data).

Probe objects are named .ssefs-probe-* under the prefix and deleted afterwards.
The exit status is non-zero when a check failed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDoctor(cmd, &o, args[0])
		},
	}
	f := cmd.Flags()
	f.SortFlags = false
	o.conn.register(f)
	f.StringVar(&o.SSECKeyFile, "sse-c-key-file", "", "SSE-C key file, as for mount")
	f.StringVar(&o.SSEKMSKeyID, "sse-kms-key-id", "", "SSE-KMS key id (Barbican secret UUID or href), as for mount")
	f.StringVar(&o.KMSServiceUser, "kms-service-user", "", "Keystone user id of the object store's service user: check that it is on the key's read ACL")
	f.StringVar(&o.OSCloud, "os-cloud", "", "use cloud NAME of clouds.yaml instead of the OS_* variables to check the KMS key (default $OS_CLOUD)")
	return cmd
}

func runDoctor(cmd *cobra.Command, o *doctorOptions, source string) error {
	bucket, prefix, err := parseS3URL(source)
	if err != nil {
		return err
	}
	if o.KMSServiceUser != "" && o.SSEKMSKeyID == "" {
		return errors.New("--kms-service-user needs --sse-kms-key-id: it checks that key's read ACL")
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), doctorTimeout)
	defer cancel()
	out := cmd.OutOrStdout()
	r := &doctorReport{out: out, tty: out == os.Stdout && isTerminal(os.Stdout)}
	d := &doctor{opts: o, r: r, bucket: bucket, prefix: prefix}
	d.run(ctx)
	fmt.Fprintln(out, r.summary())
	if r.failures > 0 {
		return exitError(1)
	}
	return nil
}

// doctor runs the checks in order; later checks are skipped when what they
// need failed.
type doctor struct {
	opts           *doctorOptions
	r              *doctorReport
	bucket, prefix string
	enc            ssekeys.Config
}

func (d *doctor) run(ctx context.Context) {
	encOK := d.checkEncryptionConfig()
	c, err := d.opts.conn.client(ctx, d.bucket, d.prefix, d.enc, nil)
	if err != nil {
		d.r.fail("cannot set up the S3 client: "+err.Error(), "")
		d.r.skip("endpoint, credentials, bucket and SSE checks: no client")
		return
	}
	accessOK := d.checkAccess(ctx, c)
	if d.enc.KMSKeyID != "" {
		d.checkKMSKey(ctx)
	}
	if !accessOK {
		d.r.skip("SSE round trip, copy probes and replication: the bucket cannot be reached")
		return
	}
	if encOK {
		d.checkSSE(ctx, c)
	} else {
		d.r.skip("SSE round trip and copy probes: the encryption configuration is broken")
	}
	d.checkReplication(ctx, c)
}

// checkEncryptionConfig checks the key file (permissions, keys) or the KMS
// key id, and sets d.enc. It reports false when the configuration cannot be
// used at all.
func (d *doctor) checkEncryptionConfig() bool {
	o := d.opts
	if o.SSECKeyFile != "" && o.SSEKMSKeyID != "" {
		d.r.fail("both --sse-c-key-file and --sse-kms-key-id given", "choose SSE-C (a key file) or SSE-KMS (a key id)")
		return false
	}
	switch {
	case o.SSECKeyFile != "":
		ring, ok := d.checkKeyFile(o.SSECKeyFile)
		if ring != nil {
			d.enc.Keys = ring
		}
		return ok || ring != nil
	case o.SSEKMSKeyID != "":
		id, err := ssekeys.ParseKMSKeyID(o.SSEKMSKeyID)
		if err != nil {
			d.r.fail(err.Error(), "pass the secret's UUID or href (ssefs keys list)")
			return false
		}
		d.enc.KMSKeyID = id
		return true
	}
	d.r.warn("no encryption configured: new objects would be stored unencrypted", "pass --sse-c-key-file FILE or --sse-kms-key-id ID, as for mount")
	return true
}

// checkKeyFile reports the key file's permissions and contents. It returns
// the keyring when the keys parse, even if the permissions are wrong, so
// the other checks can still run; ok is false on any failure.
func (d *doctor) checkKeyFile(path string) (*ssekeys.Keyring, bool) {
	st, err := os.Stat(path)
	if err != nil {
		d.r.fail(fmt.Sprintf("key file %s: %v", path, errors.Unwrap(err)), "create one with `ssefs keys gen "+path+"`, or fix the path")
		return nil, false
	}
	ok := true
	perm := st.Mode().Perm()
	if perm&0o077 != 0 {
		d.r.fail(fmt.Sprintf("key file %s has mode %04o: other users can read the key, and mount refuses it", path, perm), "chmod 600 "+path)
		ok = false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		d.r.fail(fmt.Sprintf("key file %s: %v", path, errors.Unwrap(err)), "make it readable by the user who mounts")
		return nil, false
	}
	ring, err := ssekeys.ParseKeys(data)
	clear(data)
	if err != nil {
		var kfe *ssekeys.KeyFileError
		if errors.As(err, &kfe) {
			kfe.Path = path
		}
		d.r.fail(err.Error(), "one key per line: 64 hex digits or base64 of 32 bytes (ssefs keys gen FILE writes a good one)")
		return nil, false
	}
	if ok {
		d.r.ok("key file %s: mode %04o, %d key(s), new objects written with %s", path, perm, ring.Len(), ring.Write().Fingerprint())
	}
	return ring, ok
}

// checkAccess reports the endpoint, the credentials and the bucket, from
// one listing request. It reports whether the bucket can be used.
func (d *doctor) checkAccess(ctx context.Context, c *objcache.Client) bool {
	ep := c.Endpoint()
	err := c.CheckAccess(ctx)
	var re *objcache.RequestError
	switch {
	case err == nil:
		d.endpointOK(ep)
		d.r.ok("credentials accepted")
		d.r.ok("bucket %s exists and can be listed", d.bucket)
		return true
	case !errors.As(err, &re):
		d.r.skip("endpoint " + ep + ": not contacted")
		d.r.fail(err.Error(), "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or pass --profile or --passwd-file")
	case re.Status == 0:
		d.r.fail(err.Error(), "check --endpoint (scheme, host, port) and the network; for a private CA pass --ca-file")
		d.r.skip("credentials and bucket: the endpoint cannot be reached")
	case re.Code == "SignatureDoesNotMatch" || re.Code == "InvalidAccessKeyId":
		d.endpointOK(ep)
		d.r.fail(err.Error(), "check the access and secret key (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, --profile or --passwd-file)")
		d.r.skip("bucket: the credentials were refused")
	case errors.Is(err, objcache.ErrNotFound):
		d.endpointOK(ep)
		d.r.ok("credentials accepted")
		d.r.fail(err.Error(), fmt.Sprintf("check the bucket name, --endpoint and --region, or create it (aws s3 mb s3://%s)", d.bucket))
	case errors.Is(err, objcache.ErrAccessDenied):
		d.endpointOK(ep)
		d.r.ok("credentials accepted")
		d.r.fail(err.Error(), "give these credentials list, read and write access to the bucket")
	default:
		d.endpointOK(ep)
		d.r.fail(err.Error(), "")
	}
	return false
}

// endpointOK reports a reachable endpoint, and warns about plain HTTP.
func (d *doctor) endpointOK(ep string) {
	u, _ := url.Parse(ep)
	if u == nil || u.Scheme != "http" {
		d.r.ok("endpoint %s reachable, TLS certificate valid", ep)
		return
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		d.r.ok("endpoint %s reachable (plain HTTP, on this machine)", ep)
		return
	}
	d.r.warn(fmt.Sprintf("endpoint %s reachable over plain HTTP: servers refuse SSE there, and keys and data cross the network in clear", ep), "use the https:// endpoint")
}
