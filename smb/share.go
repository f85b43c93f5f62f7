package smb

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"

	smb2 "github.com/oiweiwei/go-smb2.fork"

	derrors "github.com/nxdeploy/deployer/errors"
)

// Share is a connected share of a Session. Its methods are safe for
// concurrent use. Paths inside a share use `\` or `/` and no leading
// separator, e.g. `nxdeploy\run-1\setup.msi`.
type Share struct {
	s    *Session
	name string
	fs   *smb2.Share
}

// Name returns the share's name, e.g. "ADMIN$".
func (sh *Share) Name() string { return sh.name }

// Session returns the session the share belongs to.
func (sh *Share) Session() *Session { return sh.s }

// Raw returns go-smb2's share bound to ctx, for operations this package
// does not wrap (reading a log file, listing a directory). Its errors are
// go-smb2's; classify them with derrors.Wrap.
func (sh *Share) Raw(ctx context.Context) *smb2.Share { return sh.fs.WithContext(ctx) }

// Space is the size and free space of the volume behind a share, in bytes.
type Space struct {
	Total     uint64 // the volume's size
	Free      uint64 // free space on the volume
	Available uint64 // free space the session's user may use (quotas)
}

// Statfs returns the size and free space of the volume behind the share.
func (sh *Share) Statfs(ctx context.Context) (Space, error) {
	rctx, cancel := sh.s.requestContext(ctx)
	defer cancel()
	fi, err := sh.fs.WithContext(rctx).Statfs(".")
	if err != nil {
		return Space{}, sh.s.wrap(derrors.StepTreeConnect, err)
	}
	bs := fi.BlockSize() * fi.FragmentSize()
	return Space{
		Total:     fi.TotalBlockCount() * bs,
		Free:      fi.FreeBlockCount() * bs,
		Available: fi.AvailableBlockCount() * bs,
	}, nil
}

// Stat returns a file's information. A missing file's error matches
// fs.ErrNotExist.
func (sh *Share) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	rctx, cancel := sh.s.requestContext(ctx)
	defer cancel()
	fi, err := sh.fs.WithContext(rctx).Stat(name)
	if err != nil {
		return nil, sh.s.wrap(derrors.StepUpload, err)
	}
	return fi, nil
}

// MkdirAll creates a directory and its parents.
func (sh *Share) MkdirAll(ctx context.Context, dir string) error {
	rctx, cancel := sh.s.requestContext(ctx)
	defer cancel()
	if err := sh.fs.WithContext(rctx).MkdirAll(dir, 0o755); err != nil {
		return sh.s.wrap(derrors.StepUpload, err)
	}
	return nil
}

// Rename renames a file within the share; it fails if newname exists.
func (sh *Share) Rename(ctx context.Context, oldname, newname string) error {
	rctx, cancel := sh.s.requestContext(ctx)
	defer cancel()
	if err := sh.fs.WithContext(rctx).Rename(oldname, newname); err != nil {
		return sh.s.wrap(derrors.StepUpload, err)
	}
	return nil
}

// Retry policy of Remove.
const (
	removeFirstBackoff = 50 * time.Millisecond
	removeMaxBackoff   = 2 * time.Second
	removeAttempts     = 10
)

// NTSTATUS values that make Remove retry: the file is still open elsewhere
// or being deleted.
const (
	statusSharingViolation = 0xC0000043
	statusDeletePending    = 0xC0000056
	statusCannotDelete     = 0xC0000121
)

// Remove deletes a file or an empty directory. A file that is already gone
// is not an error. A file still in use (sharing violation, delete pending)
// is retried with backoff, up to 10 attempts or ctx's end: a service that
// just stopped may hold its executable for a moment.
func (sh *Share) Remove(ctx context.Context, name string) error {
	backoff := removeFirstBackoff
	var err, inUse error
	for attempt := 0; attempt < removeAttempts; attempt++ {
		err = sh.removeOnce(ctx, name)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if ctx.Err() != nil && inUse != nil {
			// The deadline cut the last attempt short: the reason is
			// still the file being in use.
			return sh.s.wrap(derrors.StepCleanup, errors.Join(inUse, err))
		}
		if !retryableRemove(err) {
			break
		}
		inUse = err
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return sh.s.wrap(derrors.StepCleanup, errors.Join(err, ctx.Err()))
		case <-t.C:
		}
		backoff = min(2*backoff, removeMaxBackoff)
	}
	return sh.s.wrap(derrors.StepCleanup, err)
}

func (sh *Share) removeOnce(ctx context.Context, name string) error {
	rctx, cancel := sh.s.requestContext(ctx)
	defer cancel()
	return sh.fs.WithContext(rctx).Remove(name)
}

func retryableRemove(err error) bool {
	var re *smb2.ResponseError
	if errors.As(err, &re) {
		switch re.Code {
		case statusSharingViolation, statusDeletePending, statusCannotDelete:
			return true
		}
	}
	return false
}

// RemoveAll deletes a directory tree; a missing one is not an error.
func (sh *Share) RemoveAll(ctx context.Context, dir string) error {
	rctx, cancel := sh.s.requestContext(ctx)
	defer cancel()
	if err := sh.fs.WithContext(rctx).RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return sh.s.wrap(derrors.StepCleanup, err)
	}
	return nil
}

// Close disconnects the share.
func (sh *Share) Close(ctx context.Context) error {
	rctx, cancel := sh.s.requestContext(ctx)
	defer cancel()
	if err := sh.fs.WithContext(rctx).Umount(); err != nil {
		return sh.s.wrap(derrors.StepCleanup, err)
	}
	return nil
}

// splitPath splits a share path into directory and base name.
func splitPath(p string) (dir, base string) {
	p = strings.ReplaceAll(p, "/", `\`)
	i := strings.LastIndexByte(p, '\\')
	if i < 0 {
		return "", p
	}
	return p[:i], p[i+1:]
}

func joinPath(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + `\` + base
}
