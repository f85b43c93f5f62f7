package smb

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	smb2 "github.com/oiweiwei/go-smb2.fork"
	"golang.org/x/sync/errgroup"

	derrors "github.com/nxdeploy/deployer/errors"
)

// Upload defaults.
const (
	DefaultChunkSize   = 1 << 20
	DefaultConcurrency = 16
)

// UploadOptions tunes Upload. The zero value uploads 1 MiB chunks, 16 in
// flight, without read-back verification, and fails if the target exists.
type UploadOptions struct {
	// ChunkSize is the size of each write request; 0 means 1 MiB. It is
	// capped by the server's maximum write size.
	ChunkSize int
	// Concurrency is the number of write requests in flight; 0 means 16.
	// Memory is bounded by Concurrency × ChunkSize per copy: this package's
	// read buffers, go-smb2's encoded request and, when encrypting, its
	// sealed copy; about 48 MiB live at the defaults (measured peak heap
	// 72–92 MiB including garbage not yet collected). The session's
	// MaxCredits also caps it: a 1 MiB write costs 16 credits.
	Concurrency int
	// Progress, when set, is called after each chunk is acknowledged, with
	// the bytes written so far and the total. Calls are serialised and
	// written never decreases; a slow callback slows the upload.
	Progress func(written, total int64)
	// VerifySHA256 reads the file back after writing it and compares its
	// SHA-256 with the source's before making it visible.
	VerifySHA256 bool
	// Overwrite replaces an existing target; without it an existing target
	// fails the upload.
	Overwrite bool
}

// UploadResult describes a completed upload.
type UploadResult struct {
	// Path is the file's path in the share.
	Path string
	// Size is the number of bytes written.
	Size int64
	// SHA256 is the hex digest verified by reading back, when VerifySHA256
	// was set.
	SHA256 string
	// Duration is the time the upload took, verification included.
	Duration time.Duration
}

// errWriteStalled is the cause when no write completed within the request
// timeout.
type errWriteStalled struct{ d time.Duration }

func (e errWriteStalled) Error() string {
	return fmt.Sprintf("smb: no write completed within %v", e.d)
}

// Timeout reports true, so derrors classifies it as a connection timeout.
func (e errWriteStalled) Timeout() bool { return true }

// Upload copies size bytes of src to dst in the share. It keeps many write
// requests in flight on disjoint chunks (one sequential Write would wait a
// round trip per chunk), writes under a temporary name in dst's directory,
// checks the size (and, with VerifySHA256, the content), then renames the
// file to dst. A failed or cancelled upload deletes the temporary file, so
// it never leaves a partial file behind. dst's directory must exist (see
// MkdirAll). Errors are *derrors.Error at the upload step.
func (sh *Share) Upload(ctx context.Context, dst string, src io.ReaderAt, size int64, opts UploadOptions) (*UploadResult, error) {
	start := time.Now()
	if size < 0 {
		return nil, derrors.New(sh.s.label, derrors.StepUpload, derrors.UnknownError, fmt.Errorf("smb: negative upload size %d", size))
	}
	chunk, conc := sh.writeSizes(size, opts)
	dir, base := splitPath(dst)
	dst = joinPath(dir, base)
	tmp, err := tempName(dir, base)
	if err != nil {
		return nil, derrors.New(sh.s.label, derrors.StepUpload, derrors.UnknownError, err)
	}

	// The file handle is bound to fsFile; its context is swapped from the
	// open request's to the writers' to the cleanup's, so a cancelled
	// upload can still close and delete its temporary file.
	if err := ctx.Err(); err != nil {
		return nil, sh.s.wrap(derrors.StepUpload, err)
	}
	octx, ocancel := sh.s.openContext(ctx)
	fsFile := sh.fs.WithContext(octx)
	f, err := fsFile.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	ocancel()
	if err != nil {
		return nil, sh.s.wrap(derrors.StepUpload, err)
	}

	wctx, wcancel := context.WithCancelCause(ctx)
	*fsFile = *fsFile.WithContext(wctx)
	werr := sh.writeChunks(wctx, wcancel, f, src, size, chunk, conc, opts.Progress)
	wcancel(nil)

	cctx, ccancel := sh.s.cleanupContext(ctx)
	defer ccancel()
	*fsFile = *fsFile.WithContext(cctx)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	fail := func(err error) (*UploadResult, error) {
		_ = sh.Remove(cctx, tmp)
		return nil, sh.s.wrap(derrors.StepUpload, err)
	}
	if werr != nil {
		return fail(werr)
	}

	fi, err := sh.fs.WithContext(cctx).Stat(tmp)
	if err != nil {
		return fail(err)
	}
	if fi.Size() != size {
		return fail(fmt.Errorf("smb: %s has %d bytes after upload, want %d", tmp, fi.Size(), size))
	}

	res := &UploadResult{Path: dst, Size: size}
	if opts.VerifySHA256 {
		var cost int64
		if b := sh.s.cfg.UploadBudget; b != nil {
			// The read-back holds conc chunks at once.
			if cost = min(int64(conc)*int64(chunk), b.size); b.acquire(ctx, cost) != nil {
				return fail(ctx.Err())
			}
		}
		sum, err := verifySHA256(ctx, sh.s, sh.fs, tmp, src, size, chunk, conc)
		if cost > 0 {
			sh.s.cfg.UploadBudget.release(cost)
		}
		if err != nil {
			return fail(err)
		}
		res.SHA256 = sum
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	if opts.Overwrite {
		if err := sh.Remove(ctx, dst); err != nil {
			_ = sh.Remove(cctx, tmp)
			return nil, err
		}
	}
	rctx, rcancel := sh.s.requestContext(ctx)
	defer rcancel()
	if err := sh.fs.WithContext(rctx).Rename(tmp, dst); err != nil {
		return fail(err)
	}
	res.Duration = time.Since(start)
	return res, nil
}

// UploadFile uploads the local file at path to dst, as Upload does.
func (sh *Share) UploadFile(ctx context.Context, dst, path string, opts UploadOptions) (*UploadResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, derrors.New(sh.s.label, derrors.StepUpload, derrors.UnknownError, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, derrors.New(sh.s.label, derrors.StepUpload, derrors.UnknownError, err)
	}
	return sh.Upload(ctx, dst, f, fi.Size(), opts)
}

// writeChunks writes src to f with conc writers. A write that does not
// complete within the request timeout cancels all of them.
func (sh *Share) writeChunks(ctx context.Context, cancel context.CancelCauseFunc, f *smb2.File, src io.ReaderAt, size int64, chunk, conc int, progress func(int64, int64)) error {
	if size == 0 {
		return nil
	}
	nChunks := (size + int64(chunk) - 1) / int64(chunk)
	conc = int(min(int64(conc), nChunks))

	// The watchdog counts a stall only while a write is on the wire: a
	// chunk waiting for its place in a shared budget is not stalled.
	stall := sh.s.cfg.requestTimeout()
	var (
		inflight atomic.Int32
		watchdog *time.Timer
	)
	watchdog = time.AfterFunc(stall, func() {
		if inflight.Load() == 0 {
			watchdog.Reset(stall)
			return
		}
		cancel(errWriteStalled{stall})
	})
	defer watchdog.Stop()

	var (
		next    atomic.Int64
		mu      sync.Mutex
		written int64
	)
	budget := sh.s.cfg.UploadBudget
	var g errgroup.Group
	for range conc {
		g.Go(func() (err error) {
			defer sh.s.recoverReply(derrors.StepUpload, &err)
			var buf []byte
			if budget == nil {
				buf = make([]byte, chunk)
			}
			for {
				i := next.Add(1) - 1
				if i >= nChunks {
					return nil
				}
				if err := ctx.Err(); err != nil {
					return writeCause(ctx)
				}
				off := i * int64(chunk)
				n := min(int64(chunk), size-off)
				if budget != nil {
					// The chunk's memory exists only while it holds its
					// place in the shared budget.
					cost := budget.chunkCost(int(n))
					if err := budget.acquire(ctx, cost); err != nil {
						return writeCause(ctx)
					}
					if inflight.Add(1) == 1 {
						watchdog.Reset(stall) // the first write after a wait
					}
					err := writeChunk(ctx, cancel, f, src, make([]byte, n), off)
					inflight.Add(-1)
					budget.release(cost)
					if err != nil {
						return err
					}
				} else {
					inflight.Add(1)
					err := writeChunk(ctx, cancel, f, src, buf[:n], off)
					inflight.Add(-1)
					if err != nil {
						return err
					}
				}
				watchdog.Reset(stall)
				if progress != nil {
					mu.Lock()
					written += n
					progress(written, size)
					mu.Unlock()
				}
			}
		})
	}
	return g.Wait()
}

// writeChunk reads b from src at off and writes it to f at off; a failure
// cancels the other writers.
func writeChunk(ctx context.Context, cancel context.CancelCauseFunc, f *smb2.File, src io.ReaderAt, b []byte, off int64) error {
	if n, err := src.ReadAt(b, off); n < len(b) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		err = fmt.Errorf("smb: reading the source at offset %d: %w", off, err)
		cancel(err)
		return err
	}
	if _, err := f.WriteAt(b, off); err != nil {
		if ctx.Err() != nil {
			return writeCause(ctx)
		}
		cancel(err)
		return err
	}
	return nil
}

// writeCause returns why the writers' context ended: a stalled write, the
// caller's cancellation, or another writer's error.
func writeCause(ctx context.Context) error {
	cause := context.Cause(ctx)
	if cause == nil {
		return ctx.Err()
	}
	return cause
}

// verifySHA256 reads name back with conc concurrent reads and compares its
// SHA-256 with src's. It returns the hex digest.
func verifySHA256(ctx context.Context, s *Session, share *smb2.Share, name string, src io.ReaderAt, size int64, chunk, conc int) (string, error) {
	want := sha256.New()
	if _, err := io.Copy(want, io.NewSectionReader(src, 0, size)); err != nil {
		return "", fmt.Errorf("smb: hashing the source: %w", err)
	}
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	fsRead := share.WithContext(rctx)
	f, err := fsRead.Open(name)
	if err != nil {
		return "", err
	}
	got := sha256.New()
	bufs := make([][]byte, conc)
	for i := range bufs {
		bufs[i] = make([]byte, chunk)
	}
	var readErr error
	for off := int64(0); off < size && readErr == nil; off += int64(conc * chunk) {
		var g errgroup.Group
		lens := make([]int, conc)
		for i := range conc {
			o := off + int64(i*chunk)
			if o >= size {
				break
			}
			b := bufs[i][:min(int64(chunk), size-o)]
			g.Go(func() (err error) {
				defer s.recoverReply(derrors.StepUpload, &err)
				n, err := f.ReadAt(b, o)
				lens[i] = n
				if n == len(b) {
					return nil
				}
				if err == nil || errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			})
		}
		readErr = g.Wait()
		for i := range conc {
			got.Write(bufs[i][:lens[i]])
		}
	}
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer ccancel()
	*fsRead = *fsRead.WithContext(cctx)
	_ = f.Close()
	if readErr != nil {
		return "", fmt.Errorf("smb: reading back %s: %w", name, readErr)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		return "", fmt.Errorf("smb: %s: SHA-256 after upload is %x, want %x", name, got.Sum(nil), want.Sum(nil))
	}
	return hex.EncodeToString(got.Sum(nil)), nil
}

// tempName returns a unique hidden-looking name beside base in dir.
func tempName(dir, base string) (string, error) {
	var r [6]byte
	if _, err := rand.Read(r[:]); err != nil {
		return "", fmt.Errorf("smb: temporary name: %w", err)
	}
	return joinPath(dir, "~"+base+"."+hex.EncodeToString(r[:])+".partial"), nil
}
