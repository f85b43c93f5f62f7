package smb

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"

	derrors "github.com/nxdeploy/deployer/errors"
)

// Put writes size bytes of src to dst in the share, replacing dst, with the
// writes of Upload (many in flight) but none of its extra requests: no
// temporary name, no read-back, no rename. It suits files in a directory
// nothing else reads until the writer says so (a deployment's directory,
// whose service starts after its files are written); a failed Put may leave
// dst partly written. A small file costs three requests (CREATE, WRITE,
// CLOSE). Errors are *derrors.Error at the upload step.
func (sh *Share) Put(ctx context.Context, dst string, src io.ReaderAt, size int64, opts UploadOptions) error {
	if size < 0 {
		return derrors.New(sh.s.label, derrors.StepUpload, derrors.UnknownError, errors.New("smb: negative size"))
	}
	chunk, conc := sh.writeSizes(size, opts)
	if err := ctx.Err(); err != nil {
		return sh.s.wrap(derrors.StepUpload, err)
	}
	octx, ocancel := sh.s.openContext(ctx)
	fsFile := sh.fs.WithContext(octx)
	f, err := fsFile.OpenFile(joinPath(splitPath(dst)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	ocancel()
	if err != nil {
		return sh.s.wrap(derrors.StepUpload, err)
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
	if werr != nil {
		return sh.s.wrap(derrors.StepUpload, werr)
	}
	return nil
}

// Mkdir creates the directory name (its parent must exist) and reports
// whether it was created; an existing directory is not an error. Errors
// are *derrors.Error at the upload step.
func (sh *Share) Mkdir(ctx context.Context, name string) (created bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, sh.s.wrap(derrors.StepUpload, err)
	}
	// Not abandoned when ctx ends (see openContext): the host would still
	// create the directory, after a cancelled run's cleanup removed it.
	rctx, cancel := sh.s.openContext(ctx)
	defer cancel()
	err = sh.fs.WithContext(rctx).Mkdir(name, 0o755)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrExist) {
		return false, nil
	}
	return false, sh.s.wrap(derrors.StepUpload, err)
}

// writeSizes returns the chunk size and the number of writes in flight for
// a file of size bytes: the options' (or the defaults), capped by the
// server's largest write, and for a small file no larger than the file
// and no more than its chunks (memory is conc × chunk).
func (sh *Share) writeSizes(size int64, opts UploadOptions) (chunk, conc int) {
	chunk = opts.ChunkSize
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	if m := int(sh.s.info.MaxWriteSize); m > 0 && chunk > m {
		chunk = m
	}
	conc = opts.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	if size > 0 && int64(chunk) > size {
		chunk = int(size)
	}
	if n := (size + int64(chunk) - 1) / int64(chunk); int64(conc) > n {
		conc = int(max(n, 1))
	}
	return chunk, conc
}
