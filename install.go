package deployer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
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
	// UNC, when set, runs the package from a share instead, the Deployer documentation's mode:
	// \\Engine_IP\nxshare\NEXThink_Updater.msi. A host that cannot read it
	// fails with "file access failure".
	UNC string

	// verified is the SHA-256 of Path a Deployer computed when it checked
	// the package (New), so its hosts do not read and hash it again. The
	// remote service checks the bytes it received against it: a file
	// changed since then fails the host instead of installing unknown bytes.
	verified []byte
}

// InstallOptions tune RunInstaller.
type InstallOptions struct {
	// DeploymentID names the deployment on the host; "" means a fresh one.
	DeploymentID string
	// Properties are the MSI properties of the installation (see
	// msi.ValidateProperties for the size limits). They travel in the job
	// file, in a directory only SYSTEM and Administrators may open, never on
	// a command line. Their values are treated as secrets: every error, log
	// excerpt, log summary and progress RunInstaller returns shows
	// "<NAME redacted>" in their place (see msi.Redactor).
	Properties []msi.Property
	// SecretProperties names the Properties whose values are also kept out
	// of Windows Installer's log (MsiHiddenProperties, and overwritten in
	// the log by the remote service), such as a tenant key.
	SecretProperties []string
	// Timeout bounds the installation on the host: the remote service
	// cancels it then and Windows Installer rolls the product back. 0 means
	// DefaultInstallTimeout.
	Timeout time.Duration
	// Service overrides the remote service binary (Binary, Arch); its
	// DeploymentID and Args are set by RunInstaller.
	Service ServiceSpec
	// Progress, when set, is called as the installation advances.
	Progress func(InstallProgress)
	// PollInterval is the first interval between status queries; it backs
	// off to 2 s. 0 means 250 ms.
	PollInterval time.Duration
	// ReadLogOnSuccess reads Windows Installer's log back after a
	// successful installation too (InstallResult.Log). By default the host
	// deletes the log of a success as soon as the installation ends (it
	// records the non-secret property values), and only a failure's log is
	// read, for its excerpt: six SMB requests fewer per host.
	ReadLogOnSuccess bool

	// skipIfInstalled, set by a Deployer whose installed check could not
	// read the registry, is the package's identity: the remote service
	// installs nothing when Windows Installer has its ProductCode in its
	// ProductVersion (InstallResult.AlreadyInstalled).
	skipIfInstalled *PackageIdentity
	// minorUpgrade, set by a Deployer whose registry check found the
	// package's ProductCode at an older version, makes the installation a
	// minor upgrade (minorUpgradeProperties): Windows Installer refuses a
	// second package of an installed ProductCode (1638) without it.
	minorUpgrade bool
}

// minorUpgradeProperties are the properties that make Windows Installer
// install a package over an older version of its ProductCode (a minor
// upgrade) instead of refusing it with 1638 (ERROR_PRODUCT_VERSION). They
// are added to a job only when the caller sets neither; the remote service
// adds the same when it finds the older version itself (SkipIfInstalled).
var minorUpgradeProperties = []job.Property{{Name: "REINSTALL", Value: "ALL"}, {Name: "REINSTALLMODE", Value: "vomus"}}

// withMinorUpgrade returns props with minorUpgradeProperties appended,
// unless props set REINSTALL or REINSTALLMODE (Windows Installer's
// property names are case-sensitive): the caller's choice stands.
func withMinorUpgrade(props []job.Property) []job.Property {
	for _, p := range props {
		for _, m := range minorUpgradeProperties {
			if p.Name == m.Name {
				return props
			}
		}
	}
	return append(slices.Clip(props), minorUpgradeProperties...)
}

// maxUNCLen bounds Package.UNC: Windows Installer opens packages by paths
// of at most MAX_PATH characters.
const maxUNCLen = 260

// DefaultInstallTimeout bounds an installation when InstallOptions.Timeout is 0.
const DefaultInstallTimeout = 30 * time.Minute

// InstallProgress reports how far an installation is.
type InstallProgress struct {
	// Phase is "upload", "start", "install" or "cleanup".
	Phase string
	// Uploaded and Total count the package's bytes pushed so far.
	Uploaded, Total int64
	// Percent is how far Windows Installer is through the current phase of
	// the installation, 0-100, from its progress messages; -1 before it said.
	Percent int
	// Action is the action Windows Installer runs, e.g. "InstallFiles".
	Action string
	// LogBytes is how much of the installation's log has been read.
	LogBytes int64
}

// InstallResult is what an installation did.
type InstallResult struct {
	// DeploymentID names the deployment.
	DeploymentID string
	// Exited reports that the installation ran to its end on the host:
	// ExitCode and Outcome are Windows Installer's result. When it is false
	// (a failure before or while it ran, or its result could not be read),
	// ExitCode is 0 and means nothing, and Outcome is MSIFailed.
	Exited bool
	// ExitCode is Windows Installer's result (MsiInstallProduct's), as
	// msiexec would have exited with it, when Exited.
	ExitCode uint32
	// Outcome is what the exit code means.
	Outcome derrors.MSIOutcome
	// RebootNeeded is set for 3010 and 1641; Notice then carries the Deployer documentation's
	// "successful installation(reboot needed)".
	RebootNeeded bool
	Notice       *derrors.Error
	// Log summarises Windows Installer's verbose log of a failed
	// installation (of any, with InstallOptions.ReadLogOnSuccess), when it
	// could be read; nil after a success, whose log the host deleted.
	Log *msi.LogSummary
	// NotInstalled is set by Uninstall when the host did not have the
	// product (Windows Installer's 1605): it is absent, as asked.
	NotInstalled bool
	// AlreadyInstalled is set when the remote service was asked to install
	// nothing if the host has the package's product in the package's
	// version, and it had: nothing was installed (the package was pushed
	// and removed). InstalledBefore is the version the host had before
	// the job, when it was asked ("" when it had none).
	AlreadyInstalled bool
	InstalledBefore  string
	// Duration is the time from upload to the service's stop.
	Duration time.Duration
	// CleanupErr is the failure to remove the service or files afterwards,
	// if any: the installation's own outcome stands. A successful
	// installation whose cleanup failed is still a success (RunInstaller
	// returns a nil error): the host keeps our service or files until a
	// later run or Sweep removes them. When the installation failed too,
	// RunInstaller's error carries this one as derrors.Error.Cleanup.
	CleanupErr error
}

// packageFile is the name of the package in the deployment directory; the
// job, progress, result and log files are the remote service's (package
// job).
const packageFile = "package.msi"

// maxLogRead bounds how much of the installation's log is read back.
const maxLogRead = 16 << 20

// RunInstaller installs pkg on the host: it creates the deployment's
// directory, closed to everyone but SYSTEM and Administrators, pushes the
// package (unless it is on a share) and the job file, pushes and starts the
// remote service, which installs through the Windows Installer API, follows
// the service's progress until it stops, and always removes the service and
// the deployment's files afterwards, even when ctx is cancelled (the
// service then cancels the installation, which Windows Installer rolls
// back). A host whose Windows the service cannot run on is refused before
// anything is pushed (ReasonWindowsTooOld). The service may run as a
// one-shot task of the Task Scheduler instead (ConnectConfig.Via): with the
// same files, results and cleanup; a cancelled task's program is asked to
// cancel through a stop file in its directory (Windows Installer rolls the
// product back, as for a service stop), and ended by the Task Scheduler
// (SchRpcStop) when it has not within the cancel grace period.
//
// It returns the result and nil on success (exit code 0, or 3010/1641 with
// RebootNeeded), even when the cleanup afterwards failed (see
// InstallResult.CleanupErr); otherwise a *derrors.Error: "MSI error
// (<code>)" with the log excerpt as Detail (1618 is retryable), "installation
// error" when the job could not run or timed out, "windows error
// (0xC0000005)" and the like when the installation or the service crashed,
// "file access failure" when the host cannot read a UNC package, or the
// failing step's error; a cleanup that failed as well is in its Cleanup
// field.
func RunInstaller(ctx context.Context, c *Conn, pkg Package, opts InstallOptions) (res *InstallResult, err error) {
	return runJob(ctx, c, pkg, "", opts)
}

// Uninstall removes the product whose ProductCode is productCode from the
// host, the way RunInstaller installs: the remote service, in a deployment
// directory closed to everyone but SYSTEM and Administrators, asks Windows
// Installer to remove the product (MsiConfigureProductEx, the API under
// msiexec /x), and everything is removed afterwards. opts.Properties go to
// the removal (a product's uninstall password, say); opts.Service,
// Timeout, Progress, DeploymentID and PollInterval work as for RunInstaller.
//
// The results and errors are RunInstaller's, with one difference: a
// product the host does not have (Windows Installer's 1605, "unknown
// product") is not an error: it is already absent, and the result says so
// with NotInstalled (ExitCode 1605).
func Uninstall(ctx context.Context, c *Conn, productCode string, opts InstallOptions) (*InstallResult, error) {
	code, err := msi.NormalizeProductCode(productCode)
	if err != nil {
		return nil, invalidInput(c.label, derrors.StepMSIExec, err)
	}
	return runJob(ctx, c, Package{}, code, opts)
}

// runJob runs the remote service's job: an installation of pkg, or, when
// productCode is set, the removal of that product.
func runJob(ctx context.Context, c *Conn, pkg Package, productCode string, opts InstallOptions) (res *InstallResult, err error) {
	started := time.Now()
	id := opts.DeploymentID
	if id == "" {
		id = NewDeploymentID()
	}
	if err := ValidateDeploymentID(id); err != nil {
		return nil, invalidInput(c.label, derrors.StepUpload, err)
	}
	if err := msi.ValidateProperties(opts.Properties); err != nil {
		return nil, invalidInput(c.label, derrors.StepMSIExec, err)
	}
	if n := len(pkg.UNC); n > maxUNCLen {
		return nil, invalidInput(c.label, derrors.StepUpload,
			fmt.Errorf("package path is %d characters long, more than Windows Installer opens (%d)", n, maxUNCLen))
	}
	res = &InstallResult{DeploymentID: id}
	// The caller's property values never leave: not in errors, log
	// excerpts, the log summary or progress.
	red := msi.NewRedactor(opts.Properties)
	progress := func(p InstallProgress) {
		if opts.Progress != nil {
			p.Action = red.String(p.Action)
			opts.Progress(p)
		}
	}
	dir := c.shareDir(id)
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultInstallTimeout
	}
	j := job.Job{ID: id, Operation: job.Install, Package: packageFile, Properties: jobProperties(opts.Properties, opts.SecretProperties),
		Timeout: timeout, Grace: cancelGrace, KeepLog: opts.ReadLogOnSuccess}
	if productCode != "" {
		j.Operation, j.Package, j.ProductCode = job.Uninstall, "", productCode
	} else if pkg.UNC != "" {
		if !strings.HasPrefix(pkg.UNC, `\\`) || strings.ContainsAny(pkg.UNC, "\"\x00\r\n") {
			return res, derrors.New(c.label, derrors.StepUpload, derrors.FileAccessFailure,
				fmt.Errorf("package %q is not a UNC path (\\\\server\\share\\file.msi)", pkg.UNC))
		}
		j.Package = pkg.UNC
	}
	upgraded := false
	if opts.minorUpgrade && productCode == "" {
		n := len(j.Properties)
		j.Properties = withMinorUpgrade(j.Properties)
		upgraded = len(j.Properties) > n
	}
	if s := opts.skipIfInstalled; productCode == "" && s != nil && s.ProductCode != "" {
		if _, ok := job.PackVersion(s.ProductVersion); ok {
			j.ProductCode, j.SkipIfInstalled = s.ProductCode, s.ProductVersion
		}
	}
	if _, err := j.Encode(); err != nil {
		return res, derrors.New(c.label, derrors.StepUpload, derrors.InstallationError, err)
	}
	if err := c.checkWindows(ctx); err != nil {
		return res, err
	}
	var (
		rs      *RemoteService
		stopped bool // the service was seen stopped
		// left is what the stopped service left in its directory besides
		// its program: the log and result of a failure.
		left runOutput
	)
	defer func() {
		progress(InstallProgress{Phase: "cleanup"})
		var cerr error
		switch {
		case rs != nil && stopped:
			cerr = c.removeRun(ctx, rs, left.files)
		case rs != nil:
			cerr = rs.Remove(ctx)
		default:
			cctx, cancel := cleanupContext(ctx)
			cerr = removeDeployment(cctx, c, id, nil)
			cancel()
		}
		if cerr != nil {
			// This connection may be what failed (a dropped session): try
			// once more over a fresh one before leaving anything behind.
			cerr = c.cleanupFresh(ctx, id, cerr)
		}
		res.CleanupErr = redactError(red, relabel(cerr, c.label))
		if err != nil && cerr != nil {
			e := derrors.Wrap(c.label, "", err)
			e.Cleanup = res.CleanupErr
			err = e
		}
		err = redactError(red, relabel(err, c.label))
		res.Log = red.Summary(res.Log)
		res.Duration = time.Since(started)
	}()

	fresh, err := c.prepareDir(ctx, id)
	if err != nil {
		return res, err
	}
	if productCode == "" {
		if j.PackageSHA256, err = c.stagePackage(ctx, pkg, dir, fresh, progress); err != nil {
			return res, err
		}
	}
	if err = c.writeJob(ctx, dir, fresh, j); err != nil {
		return res, err
	}

	progress(InstallProgress{Phase: "start", Percent: -1})
	spec := opts.Service
	spec.DeploymentID, spec.Args = id, []string{c.servicePath(dir)}
	dst := dirState{ready: true, fresh: fresh, taskLimit: timeout + cancelGrace + taskLimitMargin}
	if rs, err = pushService(ctx, c, spec, dst); err != nil {
		return res, err
	}
	progress(InstallProgress{Phase: "install", Percent: -1})
	code, result, err := c.follow(ctx, rs, dir, opts.PollInterval, timeout, progress)
	stopped = err == nil
	if err != nil {
		return res, err
	}
	left = c.readRunOutput(ctx, j, code, result, dir, progress)
	res.Log = left.log
	if j.SkipIfInstalled != "" {
		if code == job.CodeAlreadyInstalled {
			// The version the host has is the package's.
			res.AlreadyInstalled, res.InstalledBefore = true, j.SkipIfInstalled
			res.Exited, res.ExitCode, res.Outcome = true, 0, derrors.MSISuccess
			return res, nil
		}
		// What the host had before, if anything.
		if left.result != nil {
			res.InstalledBefore = left.result.Installed
		}
	}
	if productCode != "" && code == derrors.ErrorUnknownProduct {
		// Removing a product the host does not have: already absent.
		res.Exited, res.ExitCode, res.Outcome, res.NotInstalled = true, code, derrors.MSISuccess, true
		return res, nil
	}
	return res, withRepro(c.judge(res, pkg, code, left.result), pkg, productCode, opts.Properties, upgraded)
}

// reproLog is where the command of withRepro writes its verbose log: the
// error table's own C:/Temp/MSI_logs.txt, with Windows' separators.
const reproLog = `C:\Temp\MSI_logs.txt`

// withRepro sets, on an MSI failure, the msiexec command that reproduces it
// by hand on the computer with a verbose log: the package under its own
// name (copied next to the command) or its UNC path, or the product code
// to remove, and each property with a placeholder instead of its value,
// which never leaves RunInstaller; upgraded adds the minor upgrade's
// properties the Engine added (minorUpgradeProperties, not secret) as they
// were given.
func withRepro(err error, pkg Package, productCode string, props []msi.Property, upgraded bool) error {
	e, ok := derrors.As(err)
	if !ok || e.Kind != derrors.MSIError {
		return err
	}
	shown := make([]msi.Property, len(props))
	for i, p := range props {
		shown[i] = msi.Property{Name: p.Name, Value: "<" + p.Name + " value>"}
	}
	if upgraded {
		for _, p := range minorUpgradeProperties {
			shown = append(shown, msi.Property{Name: p.Name, Value: p.Value})
		}
	}
	var (
		line string
		lerr error
	)
	if productCode != "" {
		line, lerr = msi.UninstallCommand{Executable: "msiexec", ProductCode: productCode, LogPath: reproLog, Properties: shown}.Line()
	} else {
		name := pkg.UNC
		if name == "" {
			name = filepath.Base(pkg.Path)
		}
		line, lerr = msi.InstallCommand{Executable: "msiexec", Package: name, LogPath: reproLog, Properties: shown}.Line()
	}
	if lerr == nil {
		e.Repro = line
	}
	return err
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
func (c *Conn) cleanupFresh(ctx context.Context, id string, first error) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	nc, err := Connect(ctx, c.host, c.cfg)
	if err != nil {
		// Report the cleanup's own failure, and that the new connection
		// failed too.
		e := atStep(c.label, derrors.StepCleanup, first)
		e.Err = fmt.Errorf("%w; then over a new connection: %w", e.Err, err)
		return e
	}
	defer nc.Close()
	return removeDeployment(ctx, nc, id, nil)
}

// atStep returns err as a *derrors.Error at step, the operation that
// failed, keeping its kind, code and cause.
func atStep(host string, step derrors.Step, err error) *derrors.Error {
	e := derrors.Wrap(host, step, err)
	e.Step = step
	return e
}

// stagePackage pushes the package into dir, unless it is on a share, and
// returns its SHA-256, which the remote service checks before installing.
// A package a Deployer verified is neither inspected nor hashed again.
func (c *Conn) stagePackage(ctx context.Context, pkg Package, dir string, fresh bool, progress func(InstallProgress)) ([]byte, error) {
	if pkg.UNC != "" {
		return nil, nil
	}
	failed := func(err error) error {
		return derrors.New(c.label, derrors.StepUpload, derrors.InstallationError, fmt.Errorf("package %s: %w", pkg.Path, err))
	}
	f, err := os.Open(pkg.Path)
	if err != nil {
		return nil, failed(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, failed(err)
	}
	sum := pkg.verified
	if sum == nil {
		if _, err := msi.InspectReader(f, st.Size()); err != nil {
			return nil, failed(err)
		}
		if sum, err = packageSHA256(f, st.Size()); err != nil {
			return nil, failed(err)
		}
	}
	err = c.writeFile(ctx, path.Join(dir, packageFile), fresh, f, st.Size(), smb.UploadOptions{
		Progress: func(written, total int64) {
			progress(InstallProgress{Phase: "upload", Uploaded: written, Total: total, Percent: -1})
		},
	})
	return sum, err
}

// packageSHA256 is the SHA-256 of a package's size bytes: what the remote
// service checks the received copy against, and part of its identity.
func packageSHA256(r io.ReaderAt, size int64) ([]byte, error) {
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, size)); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// follow polls the service until it stops, reporting the progress file it
// keeps, and returns the job's exit code. When the service's status cannot
// be read, the result file the remote service writes is the fallback
// (result, nil when it was not read).
func (c *Conn) follow(ctx context.Context, rs *RemoteService, dir string, interval, timeout time.Duration,
	progress func(InstallProgress)) (code uint32, result *job.Result, err error) {
	if interval <= 0 {
		interval = 250 * time.Millisecond
	}
	// The job's own timeout is enforced on the host; this one only catches a
	// service that stopped answering altogether.
	deadline := time.Now().Add(timeout + cancelGrace + 2*time.Minute)
	var (
		lastErr error
		fails   int
		seen    = job.Progress{Percent: -1}
	)
	report := func() {
		p, ok := c.readProgress(ctx, dir)
		if ok && (p.Action != seen.Action || p.Percent != seen.Percent) {
			seen = p
			progress(InstallProgress{Phase: "install", Action: p.Action, Percent: p.Percent})
		}
	}
	for {
		st, err := rs.Status(ctx)
		if err == nil {
			fails = 0
			if st.State == svcctl.Stopped {
				return c.exitCode(ctx, rs, st, dir)
			}
		} else {
			if ctx.Err() != nil {
				return 0, nil, derrors.Wrap(c.label, derrors.StepQueryService, ctx.Err())
			}
			lastErr, fails = atStep(c.label, derrors.StepQueryService, err), fails+1
			if r, ok := c.readResult(ctx, dir); ok {
				return r.Code, &r, nil
			}
			// A host that stopped answering (the query timed out, and the
			// result file could not be read either) is not polled again:
			// each further query would only wait out another timeout.
			if fails >= 5 || derrors.Timeout(err) {
				return 0, nil, lastErr
			}
		}
		if time.Now().After(deadline) {
			return 0, nil, derrors.New(c.label, derrors.StepMSIExec, derrors.InstallationError,
				fmt.Errorf("the remote service did not finish within %v", timeout+cancelGrace))
		}
		report()
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, nil, derrors.Wrap(c.label, derrors.StepMSIExec, ctx.Err())
		case <-t.C:
		}
		interval = min(2*interval, 2*time.Second)
	}
}

// readLog reads the installation's log once the service stopped and
// summarises it; nil when it cannot be read.
func (c *Conn) readLog(ctx context.Context, dir string, progress func(InstallProgress)) *msi.LogSummary {
	b, err := c.admin.ReadFile(ctx, path.Join(dir, job.FileLog), maxLogRead)
	if err != nil || len(b) == 0 {
		return nil
	}
	var parser msi.Parser
	parser.Feed(b)
	progress(InstallProgress{Phase: "install", Action: parser.Summary().LastAction, Percent: -1, LogBytes: int64(len(b))})
	return parser.Close()
}

// exitCode reads the job's exit code from a stopped service's status: 0, or
// ERROR_SERVICE_SPECIFIC_ERROR with the code as the service-specific exit
// code. Any other Win32 exit code means the service itself failed, unless
// its result file (result, then not nil) says how the job ended.
func (c *Conn) exitCode(ctx context.Context, rs *RemoteService, st svcctl.Status, dir string) (code uint32, result *job.Result, err error) {
	switch st.Win32ExitCode {
	case 0:
		return 0, nil, nil
	case derrors.ErrorServiceSpecificError:
		return st.ServiceSpecificExitCode, nil, nil
	}
	if r, ok := c.readResult(ctx, dir); ok {
		return r.Code, &r, nil
	}
	e := derrors.New(c.label, derrors.StepMSIExec, derrors.WindowsError,
		fmt.Errorf("the remote service stopped with Win32 exit code %d", st.Win32ExitCode))
	e.Code = derrors.Win32Code(st.Win32ExitCode)
	return 0, nil, e
}

// judge maps the job's exit code to the result and the Deployer
// documentation's error; result is the run's result file (readRunOutput),
// nil when it was not read.
func (c *Conn) judge(res *InstallResult, pkg Package, code uint32, result *job.Result) error {
	res.Outcome = derrors.MSIFailed
	switch {
	case job.IsServiceCode(code):
		e := c.serviceFailure(code, result)
		e.Detail = excerpt(res.Log)
		return e
	case derrors.IsExceptionCode(code):
		// An NTSTATUS, not a Windows Installer result: the installation
		// or the service crashed or was killed.
		e := derrors.FromProcessCrash(c.label, derrors.StepMSIExec, "msiexec", code)
		e.Detail = excerpt(res.Log)
		return e
	}
	res.Exited, res.ExitCode = true, code
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

// redactError returns err with every value red hides redacted from its
// text: the Detail and the cause's message of a *derrors.Error (and of its
// Cleanup), or the whole message of another error. The error chain stays
// reachable with errors.Is and errors.As.
func redactError(red *msi.Redactor, err error) error {
	if err == nil {
		return nil
	}
	e, ok := err.(*derrors.Error)
	if !ok {
		return redactCause(red, err)
	}
	c := *e
	c.Detail = red.String(c.Detail)
	c.Err = redactCause(red, c.Err)
	c.Cleanup = redactError(red, c.Cleanup)
	return &c
}

// redactCause wraps err when its message holds a redacted value.
func redactCause(red *msi.Redactor, err error) error {
	if err == nil {
		return nil
	}
	if text := red.String(err.Error()); text != err.Error() {
		return &redactedError{text: text, err: err}
	}
	return err
}

// redactedError shows a redacted message for an error and keeps the error
// in its chain.
type redactedError struct {
	text string
	err  error
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }
