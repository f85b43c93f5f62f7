package smb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
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

// Retry policy of MkdirAll.
const (
	mkdirFirstBackoff = 20 * time.Millisecond
	mkdirMaxBackoff   = 500 * time.Millisecond
	mkdirAttempts     = 8
)

// MkdirAll creates a directory and its parents. A parent that another
// client deletes at the same moment (an empty directory being removed:
// STATUS_DELETE_PENDING, or gone between the check and the create:
// STATUS_OBJECT_PATH_NOT_FOUND) is retried with backoff, up to 8 attempts
// or ctx's end, and created again. Each attempt is bounded by the session's
// request timeout.
func (sh *Share) MkdirAll(ctx context.Context, dir string) error {
	backoff := mkdirFirstBackoff
	var err error
	for attempt := 0; attempt < mkdirAttempts; attempt++ {
		rctx, cancel := sh.s.requestContext(ctx)
		err = sh.fs.WithContext(rctx).MkdirAll(dir, 0o755)
		cancel()
		if err == nil {
			return nil
		}
		if !retryableMkdir(err) || ctx.Err() != nil {
			break
		}
		if werr := pause(ctx, &backoff, mkdirMaxBackoff); werr != nil {
			return sh.s.wrap(derrors.StepUpload, fmt.Errorf("%w (%w)", err, werr))
		}
	}
	return sh.s.wrap(derrors.StepUpload, err)
}

// pause waits *backoff, then doubles it up to max; it returns ctx's error
// when ctx ends first.
func pause(ctx context.Context, backoff *time.Duration, max time.Duration) error {
	t := time.NewTimer(*backoff)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	*backoff = min(2**backoff, max)
	return nil
}

// retryableMkdir reports the failures a concurrent removal of a parent
// directory causes: the parent being deleted (STATUS_DELETE_PENDING) or
// gone between MkdirAll's check and its create (STATUS_OBJECT_PATH_NOT_FOUND,
// which go-smb2 reports as fs.ErrNotExist).
func retryableMkdir(err error) bool {
	var re *smb2.ResponseError
	if errors.As(err, &re) && re.Code == statusDeletePending {
		return true
	}
	return errors.Is(err, fs.ErrNotExist)
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
			return sh.s.wrap(derrors.StepCleanup, fmt.Errorf("%w; then %w", inUse, err))
		}
		if !retryableRemove(err) {
			break
		}
		inUse = err
		if werr := pause(ctx, &backoff, removeMaxBackoff); werr != nil {
			return sh.s.wrap(derrors.StepCleanup, fmt.Errorf("%w (%w)", err, werr))
		}
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

// Close disconnects the share (an SMB TREE_DISCONNECT), waiting at most
// Config.RequestTimeout for the answer, as io.Closer does.
func (sh *Share) Close() error { return sh.CloseContext(context.Background()) }

// CloseContext is Close bounded by ctx as well: every type whose Close sends
// a request to the host has one, named so.
func (sh *Share) CloseContext(ctx context.Context) error {
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

// File attributes a listing reports ([MS-FSCC] 2.6).
const (
	// AttrReadOnly is FILE_ATTRIBUTE_READONLY.
	AttrReadOnly uint32 = 0x00000001
	// AttrDirectory is FILE_ATTRIBUTE_DIRECTORY.
	AttrDirectory uint32 = 0x00000010
	// AttrReparsePoint is FILE_ATTRIBUTE_REPARSE_POINT: a junction, a
	// symbolic link, a mount point, or a file another filter owns.
	AttrReparsePoint uint32 = 0x00000400
)

// FileInfo is what the host says about one file or directory entry, as a
// directory listing (or Lstat) reports it: the entry itself, not what a
// link points to.
type FileInfo struct {
	// Name is the entry's name in its directory.
	Name string
	// Size is the file's size in bytes (0 for a directory).
	Size int64
	// ModTime is the last write time.
	ModTime time.Time
	// Attributes are the FILE_ATTRIBUTE_* flags (AttrDirectory, ...).
	Attributes uint32
}

// IsDir reports whether the entry is a directory (which may also be a
// reparse point: see IsReparsePoint).
func (fi FileInfo) IsDir() bool { return fi.Attributes&AttrDirectory != 0 }

// IsReparsePoint reports whether the entry is a reparse point (a junction or
// a symbolic link): what it points to may be anywhere on the host.
func (fi FileInfo) IsReparsePoint() bool { return fi.Attributes&AttrReparsePoint != 0 }

func fileInfoOf(fi fs.FileInfo) FileInfo {
	out := FileInfo{Name: fi.Name(), Size: fi.Size(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*smb2.FileStat); ok {
		out.Attributes = st.FileAttributes
	} else if fi.IsDir() {
		out.Attributes = AttrDirectory
	}
	return out
}

// ErrTooManyEntries is wrapped by the error of ReadDir and RemoveAll when a
// directory holds more entries than the caller allows.
var ErrTooManyEntries = errors.New("smb: too many directory entries")

// readDirBatch is how many entries ReadDir asks for at a time.
const readDirBatch = 256

// ReadDir lists a directory (without "." and ".."), in the order the host
// returns. It fails with an error wrapping ErrTooManyEntries as soon as the
// directory holds more than max entries (max <= 0 means no limit), so a
// hostile listing cannot make it allocate without bound. Every request
// (open, each QUERY_DIRECTORY, close) is bounded by the session's request
// timeout. A missing directory's error matches fs.ErrNotExist.
func (sh *Share) ReadDir(ctx context.Context, dir string, max int) ([]FileInfo, error) {
	octx, ocancel := sh.s.requestContext(ctx)
	fsDir := sh.fs.WithContext(octx)
	f, err := fsDir.Open(dir)
	ocancel()
	if err != nil {
		return nil, sh.s.wrap("", err)
	}
	defer func() {
		cctx, ccancel := sh.s.cleanupContext(ctx)
		*fsDir = *fsDir.WithContext(cctx)
		_ = f.Close()
		ccancel()
	}()
	var out []FileInfo
	for {
		rctx, rcancel := sh.s.requestContext(ctx)
		*fsDir = *fsDir.WithContext(rctx)
		batch, err := f.Readdir(readDirBatch)
		rcancel()
		for _, fi := range batch {
			out = append(out, fileInfoOf(fi))
		}
		if max > 0 && len(out) > max {
			return nil, sh.s.wrap("", fmt.Errorf("%w: %s has more than %d", ErrTooManyEntries, dir, max))
		}
		if errors.Is(err, io.EOF) || (err == nil && len(batch) < readDirBatch) {
			return out, nil
		}
		if err != nil {
			return nil, sh.s.wrap("", err)
		}
	}
}

// Lstat returns what the host says about name itself: a link (reparse
// point) is not followed. It is one request, bounded by the session's
// request timeout. A missing file's error matches fs.ErrNotExist.
func (sh *Share) Lstat(ctx context.Context, name string) (FileInfo, error) {
	rctx, cancel := sh.s.requestContext(ctx)
	defer cancel()
	fi, err := sh.fs.WithContext(rctx).Lstat(name)
	if err != nil {
		return FileInfo{}, sh.s.wrap("", err)
	}
	info := fileInfoOf(fi)
	_, info.Name = splitPath(name)
	return info, nil
}

// readChunk is the size of each READ request of ReadAt.
const readChunk = 1 << 20

// ReadAt reads up to max bytes of a file from offset on: fewer when the file
// ends first (nil at or past its end). Every request (open, each read of at
// most 1 MiB, close) is bounded by the session's request timeout, so a host
// that stops answering fails the read within it. A missing file's error
// matches fs.ErrNotExist.
func (sh *Share) ReadAt(ctx context.Context, name string, offset int64, max int) ([]byte, error) {
	if offset < 0 || max < 0 {
		return nil, derrors.New(sh.s.label, "", derrors.UnknownError, fmt.Errorf("smb: read of %s at %d, %d bytes", name, offset, max))
	}
	if err := ctx.Err(); err != nil {
		return nil, sh.s.wrap("", err)
	}
	octx, ocancel := sh.s.openContext(ctx)
	fsFile := sh.fs.WithContext(octx)
	f, err := fsFile.Open(name)
	if err != nil {
		ocancel()
		return nil, sh.s.wrap("", err)
	}
	defer func() {
		cctx, ccancel := sh.s.cleanupContext(ctx)
		*fsFile = *fsFile.WithContext(cctx)
		_ = f.Close()
		ccancel()
	}()
	ocancel()
	// A small file (a progress or result file) is read with one READ; only
	// a file that fills the first read has its size asked for.
	var buf, lent []byte
	if max >= firstReadSize {
		p := firstReads.Get().(*[]byte)
		defer firstReads.Put(p)
		buf, lent = *p, *p
	} else {
		buf = make([]byte, max)
	}
	// own returns the bytes read in a slice of their own, never in the
	// lent buffer.
	own := func(b []byte) []byte {
		if lent != nil && len(b) > 0 && &b[0] == &lent[0] {
			return bytes.Clone(b)
		}
		return b
	}
	read, eof := 0, false
	readInto := func(b []byte) error {
		for read < len(b) {
			want := min(len(b)-read, readChunk)
			rctx, rcancel := sh.s.requestContext(ctx)
			*fsFile = *fsFile.WithContext(rctx)
			m, err := f.ReadAt(b[read:read+want], offset+int64(read))
			rcancel()
			if m > 0 {
				read += m
			}
			if errors.Is(err, io.EOF) || err == nil && m < want {
				eof = true // a short read ends at the file's end
				return nil
			}
			if err != nil {
				return sh.s.wrap("", err)
			}
		}
		return nil
	}
	if err := readInto(buf); err != nil {
		return nil, err
	}
	if read == 0 {
		return nil, nil
	}
	if eof || len(buf) == max {
		return own(buf[:read]), nil
	}
	sctx, scancel := sh.s.requestContext(ctx)
	*fsFile = *fsFile.WithContext(sctx)
	st, err := f.Stat()
	scancel()
	if err != nil {
		return nil, sh.s.wrap("", err)
	}
	n := min(st.Size()-offset, int64(max))
	if n <= int64(read) {
		return own(buf[:read]), nil
	}
	buf = append(buf[:read], make([]byte, n-int64(read))...)
	if err := readInto(buf); err != nil {
		return nil, err
	}
	return buf[:read], nil
}

// firstReadSize is what ReadAt reads before it asks for the file's size.
const firstReadSize = 64 << 10

// firstReads lend ReadAt the buffer of its first read; what it returns is
// a copy of the bytes read, usually a small file's few hundred.
var firstReads = sync.Pool{New: func() any { b := make([]byte, firstReadSize); return &b }}

// ReadFile reads a whole file of up to max bytes, as ReadAt from offset 0.
func (sh *Share) ReadFile(ctx context.Context, name string, max int) ([]byte, error) {
	return sh.ReadAt(ctx, name, 0, max)
}

// RemoveAllOptions bound what RemoveAll deletes.
type RemoveAllOptions struct {
	// MaxDepth is how many directory levels below the root may be entered;
	// 0 means 16.
	MaxDepth int
	// MaxEntries is how many entries the whole tree may hold; 0 means 10000.
	MaxEntries int
}

// Defaults of RemoveAllOptions.
const (
	DefaultRemoveMaxDepth   = 16
	DefaultRemoveMaxEntries = 10000
)

// ErrTreeTooDeep is wrapped by RemoveAll's error for a tree deeper than
// RemoveAllOptions.MaxDepth.
var ErrTreeTooDeep = errors.New("smb: directory tree too deep")

// ErrUnsafePath is wrapped by the error of a destructive call on the share's
// root or on a path with a "." or ".." element.
var ErrUnsafePath = errors.New("smb: unsafe path")

// RemoveAll deletes dir and everything in it; a missing dir is not an
// error. It first lists the whole tree and deletes nothing when the tree is
// deeper or holds more entries than opts allow. It never follows a reparse
// point (a junction or symbolic link): the link itself is removed, never
// what it points to, and a dir that is itself a link is removed as a link.
// It refuses the share's root and any path with a "." or ".." element.
// Every request is bounded by the session's request timeout; files still in
// use are retried as Remove does.
func (sh *Share) RemoveAll(ctx context.Context, dir string, opts RemoveAllOptions) error {
	if err := checkTreePath(dir); err != nil {
		return derrors.New(sh.s.label, derrors.StepCleanup, derrors.UnknownError, err)
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultRemoveMaxDepth
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultRemoveMaxEntries
	}
	root, err := sh.Lstat(ctx, dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return derrors.Wrap(sh.s.label, derrors.StepCleanup, err)
	}
	if !root.IsDir() || root.IsReparsePoint() {
		return sh.Remove(ctx, dir)
	}
	// Walk first: the removal order, children before their directory.
	var order []string
	entries := 0
	var walk func(d string, depth int) error
	walk = func(d string, depth int) error {
		if depth > opts.MaxDepth {
			return fmt.Errorf("%w: %s is more than %d levels below %s", ErrTreeTooDeep, d, opts.MaxDepth, dir)
		}
		list, err := sh.ReadDir(ctx, d, opts.MaxEntries-entries)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		entries += len(list)
		for _, e := range list {
			p := joinPath(d, e.Name)
			if err := checkTreePath(p); err != nil {
				return err // a name such as ".." from a hostile listing
			}
			if e.IsDir() && !e.IsReparsePoint() {
				if err := walk(p, depth+1); err != nil {
					return err
				}
				continue
			}
			order = append(order, p)
		}
		if entries > opts.MaxEntries {
			return fmt.Errorf("%w: %s holds more than %d", ErrTooManyEntries, dir, opts.MaxEntries)
		}
		order = append(order, d)
		return nil
	}
	if err := walk(strings.ReplaceAll(dir, "/", `\`), 0); err != nil {
		return derrors.Wrap(sh.s.label, derrors.StepCleanup, err)
	}
	for _, p := range order {
		if err := sh.Remove(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// checkTreePath refuses the share's root and paths with an empty, "." or
// ".." element, which would reach outside the tree they name.
func checkTreePath(p string) error {
	p = strings.ReplaceAll(p, "/", `\`)
	if p == "" {
		return fmt.Errorf("%w: the share's root", ErrUnsafePath)
	}
	for _, el := range strings.Split(p, `\`) {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("%w: %q", ErrUnsafePath, p)
		}
	}
	return nil
}
