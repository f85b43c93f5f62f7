package deployer

// The Engine's side of the remote service's files (package
// internal/remotesvc/job): the deployment directory, closed to everyone but
// SYSTEM and Administrators before anything is written into it; the job
// file; the progress and result files the service writes; and what a host
// must be for the service to run there.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/remotesvc"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
)

// cancelGrace is how long the remote service lets Windows Installer roll
// back after a stop request (or the install's timeout) before it ends its
// own process, so that a cancelled deployment's stop, rollback and cleanup
// fit in the cleanup's 30 s.
const cancelGrace = 20 * time.Second

// The oldest Windows the remote service runs on: Vista / Server 2008.
const (
	minWindowsMajor = 6
	minWindowsMinor = 0
)

// ServiceBinary returns the deployer's own remote service for a host of
// architecture arch ("amd64", "386" or "arm64", or Windows' "AMD64", "x86",
// "ARM64"): the bytes to sign with your code-signing certificate and give
// back as ServiceSpec.Binary (or InstallOptions.Service.Binary). ARM64
// hosts run the x86 build under Windows' emulation, so "arm64" and "386"
// return the same binary.
func ServiceBinary(arch string) ([]byte, error) { return remotesvc.Binary(arch) }

// checkWindows refuses a host whose Windows the remote service cannot run
// on, from the version its NTLM challenge announced or srvsvc reports. A
// host that tells neither is not refused.
func (c *Conn) checkWindows(ctx context.Context) error {
	v, err := c.sess.WindowsVersion(ctx)
	if err != nil || v.IsZero() {
		return nil
	}
	if int(v.Major) < minWindowsMajor || int(v.Major) == minWindowsMajor && int(v.Minor) < minWindowsMinor {
		e := derrors.New(c.label, derrors.StepUpload, derrors.WindowsError,
			fmt.Errorf("the computer runs Windows %d.%d; the remote service needs %d.%d (Vista / Server 2008) or later",
				v.Major, v.Minor, minWindowsMajor, minWindowsMinor))
		e.Reason = derrors.ReasonWindowsTooOld
		return e
	}
	return nil
}

// serviceBinary returns the binary a deployment pushes for spec: the
// caller's, which must be a build (signed or not) of this deployer's
// service for the host's architecture, or the deployer's own.
func (c *Conn) serviceBinary(ctx context.Context, spec ServiceSpec) ([]byte, error) {
	arch := spec.Arch
	if arch == "" {
		var err error
		if arch, err = detectArch(ctx, c); err != nil {
			return nil, err
		}
	}
	if spec.Binary == nil && len(spec.Binaries) == 0 {
		b, err := remotesvc.Binary(arch)
		if err != nil {
			return nil, derrors.New(c.label, derrors.StepUpload, derrors.UnknownError, err)
		}
		return b, nil
	}
	want, err := remotesvc.BuildFor(arch)
	if err != nil {
		return nil, derrors.New(c.label, derrors.StepUpload, derrors.UnknownError, err)
	}
	mismatch := func(err error) error {
		e := derrors.New(c.label, derrors.StepUpload, derrors.InstallationError, fmt.Errorf("service binary: %w", err))
		e.Reason = derrors.ReasonServiceBinaryMismatch
		return e
	}
	if spec.Binary != nil {
		got, _, err := remotesvc.Identify(spec.Binary)
		if err == nil && got != want {
			err = fmt.Errorf("it is the %s build, and the computer (%s) runs the %s build", got, arch, want)
		}
		if err != nil {
			return nil, mismatch(err)
		}
		return spec.Binary, nil
	}
	for _, b := range spec.Binaries {
		if got, _, err := remotesvc.Identify(b); err == nil && got == want {
			return b, nil
		}
	}
	return nil, mismatch(fmt.Errorf("none of the %d binaries given is the %s build the computer (%s) runs", len(spec.Binaries), want, arch))
}

// prepareDir creates the deployment directory of id (makeDeploymentDir)
// and restricts it to SYSTEM and Administrators, inherited by everything
// created inside, before anything is written into it. fresh reports that
// the directory did not exist.
func (c *Conn) prepareDir(ctx context.Context, id string) (fresh bool, err error) {
	if fresh, err = c.makeDeploymentDir(ctx, id); err != nil {
		return false, err
	}
	if err := c.sess.SetSecurity(ctx, "ADMIN$", c.shareDir(id), smb.AdminOnly()); err != nil {
		e := derrors.Wrap(c.label, derrors.StepUpload, err)
		e.Kind, e.Reason = derrors.WindowsError, derrors.ReasonDirectoryUnprotected
		return false, e
	}
	return fresh, nil
}

// jobProperties are the job's properties from the caller's, the ones named
// in secret marked so.
func jobProperties(props []msi.Property, secret []string) []job.Property {
	out := make([]job.Property, len(props))
	for i, p := range props {
		out[i] = job.Property{Name: p.Name, Value: p.Value, Secret: slices.Contains(secret, p.Name)}
	}
	return out
}

// writeJob writes the job file into dir (fresh: just created).
func (c *Conn) writeJob(ctx context.Context, dir string, fresh bool, j job.Job) error {
	b, err := j.Encode()
	if err != nil {
		return derrors.New(c.label, derrors.StepUpload, derrors.InstallationError, err)
	}
	return c.writeFile(ctx, path.Join(dir, job.FileJob), fresh, bytes.NewReader(b), int64(len(b)), smb.UploadOptions{})
}

// writeFile writes a file of the deployment directory: directly in a
// directory this run created (nothing can be in the way), otherwise under a
// temporary name renamed over what is there, so an existing file (or link)
// is replaced rather than written through.
func (c *Conn) writeFile(ctx context.Context, rel string, fresh bool, src io.ReaderAt, size int64, opts smb.UploadOptions) error {
	if fresh {
		return c.admin.Put(ctx, rel, src, size, opts)
	}
	opts.Overwrite = true
	_, err := c.admin.Upload(ctx, rel, src, size, opts)
	return err
}

// removeRun removes a run whose service has stopped, in as few requests as
// that takes: its program, the files it left (left: the log and result of
// a failure; the remote service deletes the job, the package and the
// progress file itself, and everything after a success) and its directory
// first, then the service (or task). In that order, a cleanup cut short
// leaves the stopped service, which still says how the run ended
// (settleDeployment), never a service without its record. Where that is
// not enough (a file it does not know, a service still there),
// removeDeployment removes everything.
func (c *Conn) removeRun(ctx context.Context, rs *RemoteService, left []string) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	fallback := func() error {
		err := removeDeployment(ctx, c, rs.DeploymentID, rs.svc)
		rs.svc = nil // removeDeployment closed it
		return err
	}
	files := append([]string{serviceExe}, left...)
	for i, f := range files {
		if slices.Contains(files[:i], f) {
			continue
		}
		if err := c.admin.Remove(ctx, path.Join(rs.Dir, f)); err != nil {
			return fallback()
		}
	}
	if err := c.admin.Remove(ctx, rs.Dir); err != nil {
		return fallback()
	}
	if rs.task {
		if err := c.tasks.Delete(ctx, rs.Name); err != nil {
			return removeDeployment(ctx, c, rs.DeploymentID, nil)
		}
		return nil
	}
	if err := rs.svc.Delete(ctx); err != nil {
		return fallback()
	}
	if err := rs.CloseContext(ctx); err != nil {
		return removeDeployment(ctx, c, rs.DeploymentID, nil)
	}
	return nil
}

// readProgress reads the service's progress file in dir.
func (c *Conn) readProgress(ctx context.Context, dir string) (job.Progress, bool) {
	b, err := c.admin.ReadFile(ctx, path.Join(dir, job.FileProgress), job.MaxProgressSize)
	if err != nil {
		return job.Progress{}, false
	}
	p, err := job.DecodeProgress(b)
	return p, err == nil
}

// readResult reads the service's result file in dir.
func (c *Conn) readResult(ctx context.Context, dir string) (job.Result, bool) {
	b, err := c.admin.ReadFile(ctx, path.Join(dir, job.FileResult), job.MaxResultSize)
	if err != nil {
		return job.Result{}, false
	}
	r, err := job.DecodeResult(b)
	return r, err == nil
}

// runOutput is what a stopped run left in its directory besides its
// program, as far as the Engine needs it.
type runOutput struct {
	// log summarises Windows Installer's log, when the remote service kept
	// it (job.KeepsLog) and it could be read.
	log *msi.LogSummary
	// result is the result file, when it was read; nil otherwise.
	result *job.Result
	// files are the files to remove before the directory.
	files []string
}

// readRunOutput reads, once each, what the run of j that ended with code
// left in dir: the log when the remote service kept it, and the result file
// when the Engine needs it (the message of the remote service's own codes;
// the version the host had, after a check the remote service made) unless
// result already is it (follow's fallback read it).
func (c *Conn) readRunOutput(ctx context.Context, j job.Job, code uint32, result *job.Result, dir string,
	progress func(InstallProgress)) runOutput {
	out := runOutput{result: result}
	if result != nil {
		out.files = append(out.files, job.FileResult)
	}
	if j.KeepsLog(code) {
		out.log = c.readLog(ctx, dir, progress)
		out.files = append(out.files, job.FileLog, job.FileResult)
	}
	needed := job.IsServiceCode(code) || j.SkipIfInstalled != "" && code != job.CodeAlreadyInstalled
	if out.result == nil && needed {
		// After a success, the result is there only when the host had
		// another version before (job.LeavesResult).
		if r, ok := c.readResult(ctx, dir); ok {
			out.result = &r
			out.files = append(out.files, job.FileResult)
		}
	}
	return out
}

// serviceFailure is the error of a job the service ended with one of its
// own codes rather than a Windows Installer result; r is its result file,
// nil when it could not be read.
func (c *Conn) serviceFailure(code uint32, r *job.Result) *derrors.Error {
	what := job.CodeName(code)
	if r != nil && r.Error != "" {
		what += ": " + r.Error
	}
	e := derrors.New(c.label, derrors.StepMSIExec, derrors.InstallationError,
		fmt.Errorf("the remote service could not complete the installation: %s (0x%08X)", what, code))
	if code == job.CodeTimeout {
		e.Reason = derrors.ReasonInstallTimeout
	}
	return e
}
