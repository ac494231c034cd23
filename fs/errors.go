package fs

import (
	"context"
	"errors"
	"log/slog"
	"syscall"

	"github.com/ssefs/ssefs/objcache"
)

// toErrno maps a Bucket or staging error to what the caller of the system
// call sees (DESIGN section 4).
func toErrno(err error) syscall.Errno {
	var errno syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &errno):
		return errno
	case errors.Is(err, objcache.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, objcache.ErrAccessDenied), errors.Is(err, objcache.ErrKeyRefused):
		return syscall.EACCES
	case errors.Is(err, objcache.ErrNoSpace):
		return syscall.ENOSPC
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	default:
		return syscall.EIO
	}
}

// fail logs a failed operation on key and returns its errno. Not-found is
// routine (every create starts with a failed lookup) and logged at debug
// level. Errors from Bucket name the object, never key material.
func (fsys *filesys) fail(op, key string, err error) syscall.Errno {
	errno := toErrno(err)
	level := slog.LevelWarn
	if errno == syscall.ENOENT || errno == syscall.EINTR {
		level = slog.LevelDebug
	}
	fsys.log.Log(context.Background(), level, "fs: "+op+" failed",
		"key", key, "errno", errno.Error(), "err", err)
	return errno
}
