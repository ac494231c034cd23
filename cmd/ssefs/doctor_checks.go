package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
)

// The doctor checks that talk to the object store's SSE and the key manager.

// checkSSE reports the round trip and the two copy probes.
func (d *doctor) checkSSE(ctx context.Context, c *objcache.Client) {
	want := c.Target()
	name := want.Kind.String()
	diag := c.DiagnoseSSE(ctx)
	if err := diag.RoundTrip; err != nil {
		d.r.fail(fmt.Sprintf("%s round trip of a probe object failed: %v", name, err), d.roundTripFix(c, err))
		return
	}
	if want.Kind == ssekeys.None {
		d.r.ok("round trip of an unencrypted probe object: put, head, get, delete")
		return
	}
	d.r.ok("%s round trip of a probe object: put, head (encryption echoed), get, delete", name)

	switch {
	case diag.CopyRefused:
		d.r.note("server refuses CopyObject of encrypted objects (501 NotImplemented, as Ceph RGW before 2025): rename, chmod, chown and touch use part copies (UploadPartCopy) or GET + PUT instead, slower for large files")
	case diag.CopyErr != nil:
		d.r.warn(fmt.Sprintf("server-side copy of an encrypted probe object failed: %v", diag.CopyErr), "rename and chmod fall back to part copies or GET + PUT; check the server's logs")
	case diag.CopyTested:
		d.r.ok("server-side copy of an encrypted object works (encryption echoed)")
	}

	switch {
	case diag.PlainCopyUnencrypted:
		d.r.warn(fmt.Sprintf("this server stores a plain object copied with %s requested UNENCRYPTED and answers 200 without the encryption echo (as Ceph RGW does): ssefs checks the echo and repairs such copies itself, but other tools (s3fs, aws s3 cp/mv, rclone) leave plaintext behind", name),
			fmt.Sprintf("copy into this bucket through ssefs only; find plaintext left behind with `ssefs rekey s3://%s/%s --from-none %s --dry-run`", d.bucket, d.prefix, d.rekeyTargetFlag()))
	case diag.PlainCopyErr != nil:
		d.warnPlainCopy(diag.PlainCopyErr)
	case diag.PlainCopyTested:
		d.r.ok("a plain object copied with %s requested is stored encrypted (encryption echoed)", name)
	}
}

func (d *doctor) warnPlainCopy(err error) {
	d.r.warn(fmt.Sprintf("could not test a plain-to-encrypted copy: %v", err), "")
}

// rekeyTargetFlag is the --to-... flag matching the configured encryption.
func (d *doctor) rekeyTargetFlag() string {
	if d.enc.Keys != nil {
		return "--to-sse-c-key-file " + d.opts.SSECKeyFile
	}
	return "--to-sse-kms-key-id " + d.enc.KMSKeyID
}

// roundTripFix suggests the usual cause of a failed round trip.
func (d *doctor) roundTripFix(c *objcache.Client, err error) string {
	var re *objcache.RequestError
	errors.As(err, &re)
	switch {
	case errors.Is(err, objcache.ErrEncryptionNotHonoured):
		return "this server does not apply the requested encryption: do not store sensitive data here"
	case d.enc.KMSKeyID != "" && re != nil && (re.Status == http.StatusForbidden || re.Status == http.StatusNotFound):
		fix := "check the key id and put the object store's service user on the secret's read ACL: ssefs keys grant " + d.enc.KMSKeyID + " USER_ID"
		if d.opts.KMSServiceUser != "" {
			fix = "ssefs keys grant " + d.enc.KMSKeyID + " " + d.opts.KMSServiceUser + " (and check that the key exists)"
		}
		return fix
	case re != nil && re.Status == http.StatusBadRequest && strings.HasPrefix(c.Endpoint(), "http:"):
		return "servers refuse SSE over plain HTTP: use the https:// endpoint"
	}
	return "check that the server supports " + c.Target().Kind.String() + " and that the credentials may write to the bucket"
}

// checkReplication reports bucket replication, with the data-loss warning
// when objects are encrypted.
func (d *doctor) checkReplication(ctx context.Context, c *objcache.Client) {
	configured, rules, err := c.BucketReplication(ctx)
	switch {
	case err != nil:
		d.r.warn(fmt.Sprintf("could not read the bucket's replication configuration: %v", err), "check it by hand: replication plus object encryption can lose data")
	case !configured:
		d.r.ok("no bucket replication configured")
	case d.enc.Keys == nil && d.enc.KMSKeyID == "":
		d.r.ok("bucket replication configured (%d rule(s)); objects written unencrypted replicate as usual", rules)
	default:
		d.r.warn(fmt.Sprintf("bucket replication is configured (%d rule(s)): replication plus object encryption can lose data: replicas of SSE-C objects cannot be made (the destination never gets the key), and SSE-KMS replicas need the same key in the destination's key manager", rules),
			"exclude the encrypted objects from replication, or (SSE-KMS) make sure the key exists, with the same bytes, where the replicas go; keep key backups (ssefs keys backup)")
	}
}

// checkKMSKey reports whether the SSE-KMS key can be read from the key
// manager, and (--kms-service-user) whether the object store's user is on
// its read ACL.
func (d *doctor) checkKMSKey(ctx context.Context) {
	id := d.enc.KMSKeyID
	user := d.opts.KMSServiceUser
	notChecked := func(msg, fix string) {
		if user != "" {
			d.r.fail(msg, fix)
		} else {
			d.r.warn(msg, fix)
		}
	}
	if !ssekeys.IsBarbicanID(id) {
		d.r.skip("KMS key " + id + ": not a Barbican secret id, not checked in a key manager")
		return
	}
	creds, err := ssekeys.LoadCredentials(d.opts.OSCloud)
	if err != nil {
		notChecked("KMS key "+id+" not checked in the key manager: "+err.Error(), "source your openrc file (OS_* variables) or pass --os-cloud NAME")
		return
	}
	m, err := ssekeys.ConnectKeyManager(ctx, creds)
	if err != nil {
		notChecked("KMS key "+id+" not checked: "+err.Error(), "check the OS_* variables (or --os-cloud) and that the cloud has a key-manager endpoint")
		return
	}
	s, err := m.Show(ctx, id)
	if err != nil {
		d.r.fail("KMS key "+id+" cannot be read: "+err.Error(), "check the id with `ssefs keys list`; objects under a deleted key are lost unless it is restored from a backup")
		return
	}
	if _, err := m.FetchKey(ctx, id); err != nil {
		d.r.fail("KMS key "+id+" cannot be used: "+err.Error(), "store a 32-byte key (ssefs keys create, or ssefs keys restore FILE)")
		return
	}
	d.r.ok("KMS key %s (%q, %s) readable: a 32-byte key", id, s.Name, s.Status)
	if user == "" {
		return
	}
	switch {
	case !s.ACLKnown:
		d.r.warn("cannot read the read ACL of secret "+id+", so the service user "+user+" was not checked", "run `ssefs keys show "+id+"` as the secret's owner")
	case slices.Contains(s.ReadUsers, user):
		d.r.ok("service user %s is on the read ACL of secret %s", user, id)
	default:
		d.r.fail(fmt.Sprintf("service user %s is not on the read ACL of secret %s: the object store cannot fetch the key, so SSE-KMS reads and writes fail with 403", user, id),
			"ssefs keys grant "+id+" "+user)
	}
}
