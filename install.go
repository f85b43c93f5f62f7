package deployer

import (
	"context"
	"fmt"
	"os"
	"path"
	"strings"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// Package is the MSI to install.
type Package struct {
	// Path is the local .msi file. RunInstaller pushes it into ADMIN$
	// (verified by SHA-256) and runs it from the host's own disk: no share on
	// the Engine and no double hop. The default mode.
	Path string
	// UNC, when set, runs the package from a share instead, the seed's mode:
	// \\Engine_IP\nxshare\NEXThink_Updater.msi. A host that cannot read it
	// fails with "file access failure".
	UNC string
}

// InstallOptions tune RunInstaller.
type InstallOptions struct {
	// DeploymentID names the deployment on the host; "" means a fresh one.
	DeploymentID string
	// Properties are public MSI properties passed on msiexec's command line.
	Properties []msi.Property
	// Timeout bounds msiexec's run on the host; the remote service kills it
	// after that. 0 means DefaultInstallTimeout.
	Timeout time.Duration
	// Service overrides the remote service binary (Binary, Arch); its
	// DeploymentID and Args are set by RunInstaller.
	Service ServiceSpec
	// Progress, when set, is called as the installation advances.
	Progress func(InstallProgress)
	// PollInterval is the first interval between status queries; it backs
	// off to 2 s. 0 means 250 ms.
	PollInterval time.Duration
}

// DefaultInstallTimeout bounds an installation when InstallOptions.Timeout is 0.
const DefaultInstallTimeout = 30 * time.Minute

// InstallProgress reports how far an installation is.
type InstallProgress struct {
	// Phase is "upload", "start", "install" or "cleanup".
	Phase string
	// Uploaded and Total count the package's bytes pushed so far.
	Uploaded, Total int64
	// Action is the last action msiexec's log started, e.g. "InstallFiles".
	Action string
	// LogBytes is how much of msiexec's log has been read.
	LogBytes int64
}

// InstallResult is what an installation did.
type InstallResult struct {
	// DeploymentID names the deployment.
	DeploymentID string
	// ExitCode is msiexec's exit code.
	ExitCode uint32
	// Outcome is what the exit code means.
	Outcome derrors.MSIOutcome
	// RebootNeeded is set for 3010 and 1641; Notice then carries the seed's
	// "successful installation(reboot needed)".
	RebootNeeded bool
	Notice       *derrors.Error
	// Log summarises msiexec's verbose log, when it could be read.
	Log *msi.LogSummary
	// Duration is the time from upload to the service's stop.
	Duration time.Duration
	// CleanupErr is the failure to remove the service or files afterwards,
	// if any: the installation's own outcome stands.
	CleanupErr error
}

// Files a deployment keeps in its directory.
const (
	packageFile = "package.msi"
	logFile     = "install.log"
	resultFile  = "result.json"
)

// maxLogRead bounds how much of msiexec's log is read back.
const maxLogRead = 16 << 20

// RunInstaller installs pkg on the host: it pushes the package (unless it is
// on a share), pushes and starts the remote service with the msiexec job,
// follows the service's status and the MSI log until msiexec exits, and
// always removes the service and the deployment's files afterwards, even
// when ctx is cancelled.
//
// It returns the result and nil on success (exit code 0, or 3010/1641 with
// RebootNeeded); otherwise a *derrors.Error: "MSI error (<code>)" with the
// log excerpt as Detail (1618 is retryable), "installation error" when the
// job could not run, "file access failure" when the host cannot read a UNC
// package, or the failing step's error.
func RunInstaller(ctx context.Context, c *Conn, pkg Package, opts InstallOptions) (res *InstallResult, err error) {
	started := time.Now()
	id := opts.DeploymentID
	if id == "" {
		id = NewDeploymentID()
	}
	if !idPattern.MatchString(id) {
		return nil, derrors.New(c.label, derrors.StepUpload, derrors.UnknownError, fmt.Errorf("invalid deployment id %q", id))
	}
	res = &InstallResult{DeploymentID: id}
	progress := opts.Progress
	if progress == nil {
		progress = func(InstallProgress) {}
	}
	dir := c.shareDir(id)
	var rs *RemoteService
	defer func() {
		progress(InstallProgress{Phase: "cleanup"})
		var cerr error
		if rs != nil {
			cerr = rs.Remove(ctx)
		} else {
			cctx, cancel := cleanupContext(ctx)
			cerr = removeDeployment(cctx, c, id, nil)
			cancel()
		}
		if cerr != nil {
			// This connection may be what failed (a dropped session): try
			// once more over a fresh one before leaving anything behind.
			cerr = c.cleanupFresh(ctx, id)
		}
		res.CleanupErr = cerr
		if err == nil && cerr != nil {
			err = cerr
		}
		err = relabel(err, c.label)
		res.Duration = time.Since(started)
	}()

	winPkg, err := c.stagePackage(ctx, pkg, dir, progress)
	if err != nil {
		return res, err
	}
	cmd := msi.InstallCommand{
		Executable: "msiexec.exe",
		Package:    winPkg,
		LogPath:    c.windowsPath(path.Join(dir, logFile)),
		UI:         msi.UINone,
		Restart:    msi.RestartNever,
		Properties: opts.Properties,
	}
	argv, err := cmd.Args()
	if err != nil {
		return res, derrors.New(c.label, derrors.StepMSIExec, derrors.InstallationError, err)
	}
	line, err := cmd.Line()
	if err != nil {
		return res, derrors.New(c.label, derrors.StepMSIExec, derrors.InstallationError, err)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultInstallTimeout
	}
	j := job.Job{ID: id, Command: argv, CmdLine: line, LogPath: cmd.LogPath,
		ResultPath: c.windowsPath(path.Join(dir, resultFile)), Timeout: timeout}
	b64, err := j.EncodeBase64()
	if err != nil {
		return res, derrors.New(c.label, derrors.StepMSIExec, derrors.InstallationError, err)
	}

	progress(InstallProgress{Phase: "start"})
	spec := opts.Service
	spec.DeploymentID, spec.Args = id, []string{"--job-b64", b64}
	if rs, err = PushService(ctx, c, spec); err != nil {
		return res, err
	}
	progress(InstallProgress{Phase: "install"})
	code, logSum, err := c.follow(ctx, rs, dir, opts.PollInterval, timeout, progress)
	res.Log = logSum
	if err != nil {
		return res, err
	}
	return res, c.judge(res, pkg, code)
}

// cleanupContext returns ctx, or a short fresh context (keeping ctx's
// values) when ctx is already done, so cleanup runs after a cancellation.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return ctx, func() {}
	}
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// cleanupFresh removes deployment id over a new connection to the host, for
// when this one can no longer be used.
func (c *Conn) cleanupFresh(ctx context.Context, id string) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	nc, err := Connect(ctx, c.host, c.cfg)
	if err != nil {
		return derrors.Wrap(c.label, derrors.StepCleanup, err)
	}
	defer nc.Close()
	return removeDeployment(ctx, nc, id, nil)
}

// stagePackage returns the Windows path msiexec opens: the pushed copy, or
// the UNC path.
func (c *Conn) stagePackage(ctx context.Context, pkg Package, dir string, progress func(InstallProgress)) (string, error) {
	if pkg.UNC != "" {
		if !strings.HasPrefix(pkg.UNC, `\\`) || strings.ContainsAny(pkg.UNC, "\"\x00\r\n") {
			return "", derrors.New(c.label, derrors.StepUpload, derrors.FileAccessFailure,
				fmt.Errorf("package %q is not a UNC path (\\\\server\\share\\file.msi)", pkg.UNC))
		}
		return pkg.UNC, nil
	}
	f, err := os.Open(pkg.Path)
	if err != nil {
		return "", derrors.New(c.label, derrors.StepUpload, derrors.InstallationError, fmt.Errorf("package: %w", err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", derrors.New(c.label, derrors.StepUpload, derrors.InstallationError, fmt.Errorf("package: %w", err))
	}
	if _, err := msi.InspectReader(f, st.Size()); err != nil {
		return "", derrors.New(c.label, derrors.StepUpload, derrors.InstallationError, fmt.Errorf("package %s: %w", pkg.Path, err))
	}
	if err := c.admin.MkdirAll(ctx, dir); err != nil {
		return "", err
	}
	dst := path.Join(dir, packageFile)
	_, err = c.admin.Upload(ctx, dst, f, st.Size(), smb.UploadOptions{
		Overwrite:    true,
		VerifySHA256: true,
		Progress: func(written, total int64) {
			progress(InstallProgress{Phase: "upload", Uploaded: written, Total: total})
		},
	})
	if err != nil {
		return "", err
	}
	return c.windowsPath(dst), nil
}

// follow polls the service until it stops, tailing msiexec's log, and
// returns the job's exit code. When the service's status cannot be read, the
// result file the remote service writes is the fallback.
func (c *Conn) follow(ctx context.Context, rs *RemoteService, dir string, interval, timeout time.Duration,
	progress func(InstallProgress)) (uint32, *msi.LogSummary, error) {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	// The job's own timeout is enforced on the host; this one only catches a
	// service that stopped answering altogether.
	deadline := time.Now().Add(timeout + 2*time.Minute)
	var (
		parser  msi.Parser
		offset  int64
		lastErr error
		fails   int
	)
	logPath := path.Join(dir, logFile)
	tail := func() {
		b, err := c.readFrom(ctx, logPath, offset, 1<<20)
		if err == nil && len(b) > 0 && offset+int64(len(b)) <= maxLogRead {
			parser.Feed(b)
			offset += int64(len(b))
			action, _, _ := parser.Progress()
			progress(InstallProgress{Phase: "install", Action: action, LogBytes: offset})
		}
	}
	for {
		st, err := rs.Status(ctx)
		if err == nil {
			fails = 0
			if st.State == svcctl.Stopped {
				tail()
				code, err := c.exitCode(ctx, rs, st, dir)
				return code, parser.Close(), err
			}
		} else {
			if ctx.Err() != nil {
				return 0, parser.Summary(), derrors.Wrap(c.label, derrors.StepQueryService, ctx.Err())
			}
			lastErr, fails = err, fails+1
			if code, ok := c.readResult(ctx, dir); ok {
				tail()
				return code, parser.Close(), nil
			}
			if fails >= 5 {
				return 0, parser.Summary(), lastErr
			}
		}
		if time.Now().After(deadline) {
			return 0, parser.Summary(), derrors.New(c.label, derrors.StepMSIExec, derrors.InstallationError,
				fmt.Errorf("the remote service did not finish within %v", timeout))
		}
		tail()
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, parser.Summary(), derrors.Wrap(c.label, derrors.StepMSIExec, ctx.Err())
		case <-t.C:
		}
		interval = min(2*interval, 2*time.Second)
	}
}

// exitCode reads the job's exit code from a stopped service's status: 0, or
// ERROR_SERVICE_SPECIFIC_ERROR with the code as the service-specific exit
// code. Any other Win32 exit code means the service itself failed.
func (c *Conn) exitCode(ctx context.Context, rs *RemoteService, st svcctl.Status, dir string) (uint32, error) {
	switch st.Win32ExitCode {
	case 0:
		return 0, nil
	case derrors.ErrorServiceSpecificError:
		return st.ServiceSpecificExitCode, nil
	}
	if code, ok := c.readResult(ctx, dir); ok {
		return code, nil
	}
	e := derrors.New(c.label, derrors.StepMSIExec, derrors.WindowsError,
		fmt.Errorf("the remote service stopped with Win32 exit code %d", st.Win32ExitCode))
	e.Code = derrors.Win32Code(st.Win32ExitCode)
	return 0, e
}

// readResult reads the result file the remote service writes beside the log.
func (c *Conn) readResult(ctx context.Context, dir string) (uint32, bool) {
	b, err := c.readFile(ctx, path.Join(dir, resultFile), 64<<10)
	if err != nil {
		return 0, false
	}
	r, err := job.DecodeResult(b)
	if err != nil {
		return 0, false
	}
	return r.ExitCode, true
}

// judge maps the job's exit code to the result and the seed's error.
func (c *Conn) judge(res *InstallResult, pkg Package, code uint32) error {
	res.ExitCode = code
	if job.IsServiceCode(code) {
		res.Outcome = derrors.MSIFailed
		e := derrors.New(c.label, derrors.StepMSIExec, derrors.InstallationError,
			fmt.Errorf("the remote service could not run msiexec: %s (0x%08X)", job.CodeName(code), code))
		e.Detail = excerpt(res.Log)
		return e
	}
	res.Outcome = derrors.ClassifyMSIExit(code)
	e := derrors.FromMSIExit(c.label, code, "")
	switch {
	case e == nil:
		return nil
	case res.Outcome == derrors.MSISuccessReboot:
		res.RebootNeeded, res.Notice = true, e
		return nil
	}
	e.Detail = excerpt(res.Log)
	if pkg.UNC != "" && (code == derrors.ErrorInstallPackageOpenFailed || code == 2 || code == 3) {
		e.Kind, e.Reason = derrors.FileAccessFailure, derrors.ReasonPackageUnreadable
	}
	return e
}

func excerpt(s *msi.LogSummary) string {
	if s == nil {
		return ""
	}
	return s.Excerpt(20)
}
