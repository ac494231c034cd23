package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	ssefsfs "github.com/ssefs/ssefs/fs"
	"github.com/ssefs/ssefs/objcache"
	"github.com/ssefs/ssefs/ssekeys"
)

// memoryHeadroom is the heap allowed beyond --cache-size (FUSE buffers,
// the SDK, metadata caches) before the GC works harder.
const memoryHeadroom = 64 << 20

// cacheConfig is the data-path configuration the options ask for.
func (o *mountOptions) cacheConfig() objcache.CacheConfig {
	return objcache.CacheConfig{CacheSize: int64(o.CacheSize), BlockSize: int64(o.BlockSize), Readahead: int64(o.Readahead)}
}

// mountConfig is a validated mount request.
type mountConfig struct {
	opts       *mountOptions
	bucket     string
	prefix     string
	mountpoint string
	encryption ssekeys.Config
}

// prepare validates everything that can be checked without the network, so
// that bad input fails before anything is started.
func prepare(o *mountOptions, source, mountpoint string) (*mountConfig, error) {
	bucket, prefix, err := parseSource(source)
	if err != nil {
		return nil, err
	}
	mp, err := checkMountpoint(mountpoint)
	if err != nil {
		return nil, err
	}
	cfg := &mountConfig{opts: o, bucket: bucket, prefix: prefix, mountpoint: mp}
	if o.SSECKeyFile != "" {
		ring, err := ssekeys.LoadKeyFile(o.SSECKeyFile)
		if err != nil {
			return nil, err
		}
		cfg.encryption.Keys = ring
	}
	if o.SSEKMSKeyID != "" {
		id, err := ssekeys.ParseKMSKeyID(o.SSEKMSKeyID)
		if err != nil {
			return nil, err
		}
		cfg.encryption.KMSKeyID = id
	}
	if err := cfg.encryption.Validate(); err != nil {
		return nil, err
	}
	if o.StagingLimit <= 0 {
		return nil, errors.New("staging-limit must be positive")
	}
	if err := o.cacheConfig().Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkMountpoint resolves the mountpoint and refuses what cannot be mounted
// on, with the fix in the message.
func checkMountpoint(mp string) (string, error) {
	abs, err := filepath.Abs(mp)
	if err != nil {
		return "", err
	}
	st, err := os.Stat(abs)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return "", fmt.Errorf("mountpoint %s is a stale FUSE mount (its process is gone): run `umount %s` and mount again", abs, abs)
	case errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("mountpoint %s does not exist", abs)
	case err != nil:
		return "", fmt.Errorf("mountpoint %s: %v", abs, err)
	case !st.IsDir():
		return "", fmt.Errorf("mountpoint %s is not a directory", abs)
	}
	return abs, nil
}

// serve connects to the bucket, mounts, reports readiness and serves until
// unmounted or signalled. ready is the daemon's pipe to its parent (nil in
// the foreground).
func serve(cfg *mountConfig, ready *os.File) error {
	log, closeLog := newLogger(cfg.opts, ready != nil)
	defer closeLog()
	fail := func(err error) error {
		log.Error("mount failed", "err", err)
		if ready != nil {
			reportReady(ready, err)
			return exitError(1)
		}
		return err
	}

	if cfg.encryption.Keys != nil && !ssekeys.KeysLocked() {
		log.Warn("the SSE-C keys could not be locked in memory, so the kernel may swap them to disk: raise RLIMIT_MEMLOCK (ulimit -l, or LimitMEMLOCK= in a systemd unit)")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := cfg.opts
	client, err := objcache.NewClient(ctx, objcache.ClientConfig{
		Endpoint:      o.Endpoint,
		Region:        o.Region,
		Bucket:        cfg.bucket,
		Prefix:        cfg.prefix,
		PathStyle:     true,
		CAFile:        o.CAFile,
		Profile:       o.Profile,
		PasswdFile:    o.PasswdFile,
		Encryption:    cfg.encryption,
		AllowHTTPKeys: o.AllowHTTPKeys,
		Logger:        log,

		ResponseTimeout: o.Timeout,
	})
	if err != nil {
		return fail(err)
	}
	check := client.Check // includes an SSE round trip with a probe object
	if o.ReadOnly {
		check = client.CheckAccess // writes nothing
	}
	if err := check(ctx); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(o.StagingDir, 0o700); err != nil {
		return fail(fmt.Errorf("staging dir: %w", err))
	}
	staging, err := objcache.NewStaging(o.StagingDir, int64(o.StagingLimit))
	if err != nil {
		return fail(fmt.Errorf("staging dir %s: %w", o.StagingDir, err))
	}

	cached, err := objcache.NewCached(client, o.cacheConfig())
	if err != nil {
		return fail(err)
	}
	// Cached blocks and upload buffers are the bulk of the heap: have the
	// GC keep the process near that bound rather than at twice the live
	// heap.
	debug.SetMemoryLimit(int64(o.CacheSize) + memoryHeadroom)

	umask := uint32(o.Umask)
	fsOpts := ssefsfs.Options{
		UID:      o.UID,
		GID:      o.GID,
		FileMode: os.FileMode(0o666 &^ umask),
		DirMode:  os.FileMode(0o777 &^ umask),
		AttrTTL:  o.AttrTTL,
		ReadOnly: o.ReadOnly,
		Staging:  staging,
		Logger:   log,

		NoAttrIndex: !o.AttrIndex,
		DirectIO:    o.DirectIO,
	}
	// Root.Mount adds the settings for speed (fs.MountOptions) and raises
	// the kernel's readahead for the mount.
	fuseOpts := fuse.MountOptions{
		FsName:                   "ssefs#" + cfg.bucket,
		Name:                     "ssefs",
		AllowOther:               o.AllowOther,
		DirectMount:              os.Geteuid() == 0,
		Debug:                    false,
		DisableXAttrs:            true,
		ExplicitDataCacheControl: false,
	}
	if o.DefaultPermissions {
		fuseOpts.Options = append(fuseOpts.Options, "default_permissions")
	}
	if o.ReadOnly {
		fuseOpts.Options = append(fuseOpts.Options, "ro")
	}
	root := ssefsfs.NewRoot(cached, fsOpts).(*ssefsfs.Root)
	server, err := root.Mount(cfg.mountpoint, fuseOpts)
	if err != nil {
		return fail(fmt.Errorf("mounting on %s: %w", cfg.mountpoint, err))
	}
	log.Info("mounted", "bucket", cfg.bucket, "prefix", cfg.prefix, "mountpoint", cfg.mountpoint,
		"endpoint", o.Endpoint, "encryption", cfg.encryption.Describe())
	reportReady(ready, nil)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-sigs
		log.Info("signal received: uploading dirty files, then unmounting", "signal", sig.String())
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Minute)
		if err := root.FlushAll(fctx); err != nil {
			log.Error("uploading dirty files before exit", "err", err)
		}
		fcancel()
		unmount(server, cfg.mountpoint, log)
	}()
	server.Wait()
	root.WaitBackground(30 * time.Second) // attribute index saves
	log.Info("unmounted", "mountpoint", cfg.mountpoint)
	return nil
}

// unmount detaches the mount. If files are still open, a plain unmount is
// refused (EBUSY); then the mount is detached lazily and the process exits
// at once, since the kernel would keep the connection (and server.Wait)
// alive until the last open file is closed. Dirty data was uploaded before.
func unmount(srv *fuse.Server, mountpoint string, log *slog.Logger) {
	err := srv.Unmount()
	if err == nil {
		return
	}
	log.Warn("files are still open: detaching the mount lazily", "err", err)
	if err := syscall.Unmount(mountpoint, syscall.MNT_DETACH); err != nil {
		// Without privileges, fusermount3 (setuid) detaches our own mount.
		if out, ferr := exec.Command("fusermount3", "-u", "-z", mountpoint).CombinedOutput(); ferr != nil {
			log.Error("lazy unmount failed", "err", err, "fusermount3", strings.TrimSpace(string(out)))
			os.Exit(1)
		}
	}
	log.Info("unmounted (lazily)", "mountpoint", mountpoint)
	os.Exit(0)
}

// newLogger logs to stderr in the foreground; a daemon logs to --log-file,
// else to syslog when there is one.
func newLogger(o *mountOptions, daemon bool) (*slog.Logger, func()) {
	level := slog.LevelInfo
	if o.Debug {
		level = slog.LevelDebug
	}
	hopts := &slog.HandlerOptions{Level: level}
	var w io.Writer = os.Stderr
	closeFn := func() {}
	switch {
	case o.LogFile != "":
		f, err := os.OpenFile(o.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err == nil {
			w, closeFn = f, func() { f.Close() }
		}
	case daemon:
		if sl, err := syslog.New(syslog.LOG_DAEMON|syslog.LOG_INFO, "ssefs"); err == nil {
			w, closeFn = sl, func() { sl.Close() }
		} else {
			w = io.Discard
		}
	}
	return slog.New(slog.NewTextHandler(w, hopts)), closeFn
}
