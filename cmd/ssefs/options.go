package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/ssefs/ssefs/objcache"
)

// mountOptions is everything `ssefs mount` can be told. Each field is a
// long flag; every long flag also has an -o spelling with '_' for '-'
// (--sse-c-key-file = -o sse_c_key_file=...), so the command line and
// /etc/fstab say the same things.
type mountOptions struct {
	Endpoint      string
	Region        string
	Profile       string
	PasswdFile    string
	CAFile        string
	SSECKeyFile   string
	SSEKMSKeyID   string
	AllowHTTPKeys bool

	Foreground bool
	Debug      bool
	LogFile    string

	UID                uint32
	GID                uint32
	Umask              octal
	AllowOther         bool
	DefaultPermissions bool
	ReadOnly           bool
	AttrTTL            time.Duration
	AttrIndex          bool
	Timeout            time.Duration

	StagingDir   string
	StagingLimit byteSize

	CacheSize byteSize
	BlockSize byteSize
	Readahead byteSize
	DirectIO  bool
}

// newMountFlags registers the mount options on a flag set.
func newMountFlags(o *mountOptions) *pflag.FlagSet {
	f := pflag.NewFlagSet("mount", pflag.ContinueOnError)
	f.SortFlags = false
	f.StringVar(&o.Endpoint, "endpoint", "", "S3 endpoint URL, e.g. https://s3.example.com (default: AWS)")
	f.StringVar(&o.Region, "region", "", "region for request signing (default: from the AWS config, else us-east-1)")
	f.StringVar(&o.Profile, "profile", "", "AWS shared config profile for credentials")
	f.StringVar(&o.PasswdFile, "passwd-file", "", "file with ACCESS_KEY:SECRET_KEY (or BUCKET:ACCESS_KEY:SECRET_KEY), mode 0600")
	f.StringVar(&o.CAFile, "ca-file", "", "PEM file of CA certificates to trust (AWS_CA_BUNDLE is honoured too)")
	f.StringVar(&o.SSECKeyFile, "sse-c-key-file", "", "SSE-C key file: 32 raw bytes, or lines of base64/hex keys (first writes, others read)")
	f.StringVar(&o.SSEKMSKeyID, "sse-kms-key-id", "", "SSE-KMS key id: Barbican secret UUID or href, or an AWS KMS key id")
	f.BoolVar(&o.AllowHTTPKeys, "allow-http-keys", false, "allow sending SSE-C keys over plain HTTP to a non-loopback endpoint (unsafe)")
	f.BoolVarP(&o.Foreground, "foreground", "f", false, "stay in the foreground and log to stderr")
	f.BoolVar(&o.Debug, "debug", false, "log every S3 request and every failure (never keys, headers or file contents)")
	f.StringVar(&o.LogFile, "log-file", "", "append the daemon's log to this file (default: syslog when available)")
	f.Uint32Var(&o.UID, "uid", uint32(os.Getuid()), "owner of objects that carry no uid")
	f.Uint32Var(&o.GID, "gid", uint32(os.Getgid()), "group of objects that carry no gid")
	o.Umask = 0o022
	f.Var(&o.Umask, "umask", "umask for objects that carry no mode (octal)")
	f.BoolVar(&o.AllowOther, "allow-other", false, "let other users access the mount (implies default-permissions)")
	f.BoolVar(&o.DefaultPermissions, "default-permissions", false, "let the kernel check permissions against mode, uid and gid")
	f.BoolVar(&o.ReadOnly, "read-only", false, "mount read-only (-o ro)")
	f.DurationVar(&o.AttrTTL, "attr-ttl", time.Second, "how long attributes and listings are cached")
	f.BoolVar(&o.AttrIndex, "attr-index", true, "keep an encrypted index of file attributes per large directory under .ssefs-attrs/, so ls -l and rsync need no HEAD per file")
	f.DurationVar(&o.Timeout, "timeout", objcache.DefaultResponseTimeout, "longest wait for a server's answer, or for more of a response body, before a request is retried")
	f.StringVar(&o.StagingDir, "staging-dir", defaultStagingDir(), "where written data is staged, encrypted with a per-mount key, before upload")
	o.StagingLimit = 10 << 30
	f.Var(&o.StagingLimit, "staging-limit", "most bytes staged at once; past it writes fail with ENOSPC (e.g. 512M, 10G)")
	o.CacheSize = objcache.DefaultCacheSize
	f.Var(&o.CacheSize, "cache-size", "memory for cached blocks, reads in flight and upload part buffers (up to half of it; never on disk)")
	f.Var(&o.BlockSize, "block-size", fmt.Sprintf("size of a cached block and of a readahead GET, 1M to 16M (default %dM, less when cache-size holds fewer than 4)", objcache.DefaultBlockSize>>20))
	o.Readahead = objcache.DefaultReadahead
	f.Var(&o.Readahead, "readahead", "largest readahead window of a sequential reader (at most half of cache-size, and 8 blocks: the GETs in flight)")
	f.BoolVar(&o.DirectIO, "direct-io", false, "bypass the kernel's page cache: large sequential reads (bulk copies, backups) cost about half the kernel CPU per byte, but re-reads are not cached by the kernel and small reads each go to ssefs")
	return f
}

func defaultStagingDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return dir + "/ssefs/staging"
	}
	return os.TempDir() + "/ssefs-staging"
}

// ignoredMountOptions are meant for mount(8), systemd or the kernel's
// generic mount flags; ssefs accepts and ignores them.
var ignoredMountOptions = map[string]bool{
	"_netdev": true, "nofail": true, "noauto": true, "auto": true, "user": true, "users": true,
	"nouser": true, "defaults": true, "dev": true, "nodev": true, "suid": true, "nosuid": true,
	"exec": true, "noexec": true, "atime": true, "noatime": true, "relatime": true,
	"nodiratime": true, "async": true, "sync": true, "comment": true,
}

// oAliases maps standard mount option names onto ssefs flags.
var oAliases = map[string]string{"ro": "read-only", "allow_other": "allow-other", "default_permissions": "default-permissions"}

// applyDashO applies one -o argument (comma-separated name[=value] items)
// to the flag set. An unknown option is an error that names it.
func applyDashO(f *pflag.FlagSet, arg string) error {
	for _, item := range strings.Split(arg, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, hasValue := strings.Cut(item, "=")
		switch {
		case ignoredMountOptions[name] || strings.HasPrefix(name, "x-systemd.") || strings.HasPrefix(name, "x-"):
			continue
		case name == "rw":
			if err := f.Set("read-only", "false"); err != nil {
				return err
			}
			continue
		}
		flagName := strings.ReplaceAll(name, "_", "-")
		if alias, ok := oAliases[name]; ok {
			flagName = alias
		}
		fl := f.Lookup(flagName)
		if fl == nil || flagName == "foreground" && hasValue {
			return fmt.Errorf("unknown mount option %q", name)
		}
		if !hasValue {
			if fl.Value.Type() != "bool" {
				return fmt.Errorf("mount option %q needs a value (%s=...)", name, name)
			}
			value = "true"
		}
		if err := f.Set(flagName, value); err != nil {
			return fmt.Errorf("mount option %s: %v", name, err)
		}
	}
	return nil
}

// octal is a flag value written in octal, like a umask.
type octal uint32

func (o *octal) String() string { return fmt.Sprintf("%04o", uint32(*o)) }

// Set parses an octal number.
func (o *octal) Set(s string) error {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return fmt.Errorf("%q is not an octal mode", s)
	}
	*o = octal(v)
	return nil
}

// Type names the value for help output.
func (o *octal) Type() string { return "octal" }

// byteSize is a flag value with an optional K, M, G or T suffix (powers of 1024).
type byteSize int64

// String gives the size in the largest unit that holds it exactly (16M,
// not 16777216), in a form Set parses back.
func (b *byteSize) String() string {
	v := int64(*b)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if v != 0 && v%(1<<u.shift) == 0 {
			return strconv.FormatInt(v>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

// Set parses a size such as 4096, 512M or 10G.
func (b *byteSize) Set(s string) error {
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

// Type names the value for help output.
func (b *byteSize) Type() string { return "size" }

func parseByteSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 4096, 512M, 10G)", s)
	}
	return v * mult, nil
}

// parseSource splits BUCKET or BUCKET:/PREFIX. The fstab `fuse` type's
// "/path/to/ssefs#BUCKET" form arrives here as BUCKET already.
func parseSource(src string) (bucket, prefix string, err error) {
	if i := strings.LastIndex(src, "#"); i >= 0 {
		src = src[i+1:]
	}
	bucket, prefix, _ = strings.Cut(src, ":")
	prefix = strings.Trim(prefix, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("no bucket in %q: expected BUCKET or BUCKET:/PREFIX", src)
	}
	if strings.ContainsAny(bucket, "/ ") {
		return "", "", fmt.Errorf("%q is not a bucket name", bucket)
	}
	if prefix != "" {
		prefix += "/"
	}
	return bucket, prefix, nil
}
