package deployer

// resume.go: settling a deployment an earlier process left in flight (the
// Engine was killed, or stopped while a host installed). What the host
// already has decides, before anything else is done on it: the result the
// remote service wrote, or the service's own status. An installation that
// finished is never run again, and one still running is waited for.

import (
	"context"
	"errors"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
	"github.com/nxdeploy/deployer/svcctl"
)

// settleDeployment reads what deployment id did on the host behind c and
// finishes it:
//
//   - its result file is there: the installation finished; its exit code
//     is judged as RunInstaller judges it;
//   - its service runs: the installation is under way; it is followed to
//     its end as RunInstaller follows it;
//   - its service stopped after running: its exit code is judged;
//   - nothing of it ran (no service, or one never started): nothing to
//     judge.
//
// In every case the deployment's service and directory (and the one a
// version before 2026-12 made, ADMIN$\<prefix>\<id>) are removed
// afterwards. It returns the result and RunInstaller's error when the
// installation ran (the result's CleanupErr says whether the removal
// failed); nil and nil when it never ran and was removed, so the host is
// installed afresh; nil and an error when what it did could not be read or
// it could not be removed (the deployment stays to be settled later).
func settleDeployment(ctx context.Context, c *Conn, id string, pkg Package, opts InstallOptions) (out *InstallResult, err error) {
	if err := ValidateDeploymentID(id); err != nil {
		return nil, derrors.New(c.label, derrors.StepCleanup, derrors.UnknownError, err)
	}
	defer func() {
		// A deployment an older version started left its files in
		// ADMIN$\<prefix>\<id> (one request when there is none).
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		lerr := c.removeLegacyDir(cctx, id)
		switch {
		case lerr == nil:
		case out != nil:
			out.CleanupErr = errors.Join(out.CleanupErr, lerr)
		case err == nil:
			err = lerr
		}
	}()
	started := time.Now()
	dir := c.shareDir(id)
	progress := opts.Progress
	if progress == nil {
		progress = func(InstallProgress) {}
	}
	res := &InstallResult{DeploymentID: id}
	finish := func(code uint32, result *job.Result, rs *RemoteService) (*InstallResult, error) {
		left := c.readRunOutput(ctx, job.Job{Operation: job.Install, KeepLog: opts.ReadLogOnSuccess}, code, result, dir, progress)
		res.Log = left.log
		err := withRepro(c.judge(res, pkg, code, left.result), pkg, "", opts.Properties, false)
		progress(InstallProgress{Phase: "cleanup"})
		if rs != nil {
			res.CleanupErr = c.removeRun(ctx, rs, left.files)
		} else {
			res.CleanupErr = removeDeployment(ctx, c, id, nil)
		}
		res.Duration = time.Since(started)
		return res, relabel(err, c.label)
	}

	if r, ok := c.readResult(ctx, dir); ok {
		return finish(r.Code, &r, nil)
	}
	name := c.serviceName(id)
	rs := &RemoteService{conn: c, task: c.ViaTask(), Name: name, DeploymentID: id, Dir: dir}
	if rs.task {
		// Run as a task: followed through the Task Scheduler.
		ours, err := c.taskOwned(ctx, name, id)
		if err != nil {
			return nil, err
		}
		if !ours {
			return nil, removeDeployment(ctx, c, id, nil)
		}
	} else {
		if c.mgr == nil {
			return nil, removeDeployment(ctx, c, id, nil)
		}
		svc, err := c.mgr.OpenService(ctx, name, svcctl.ServiceAllAccess)
		switch {
		case err == nil:
		case svcctl.IsServiceNotFound(err), svcctl.IsMarkedForDelete(err):
			// Never created, or being deleted: no installation of it runs.
			return nil, removeDeployment(ctx, c, id, nil)
		default:
			return nil, relabel(err, c.label)
		}
		rs.svc = svc
	}
	st, err := rs.Status(ctx)
	if err != nil {
		_ = rs.CloseContext(ctx)
		return nil, err
	}
	if st.State == svcctl.Stopped {
		if st.Win32ExitCode == errServiceNeverStarted {
			return nil, rs.Remove(ctx)
		}
		code, result, err := c.exitCode(ctx, rs, st, dir)
		if err != nil {
			// The service failed on its own: its result is that failure.
			progress(InstallProgress{Phase: "cleanup"})
			res.CleanupErr = rs.Remove(ctx)
			res.Duration = time.Since(started)
			return res, err
		}
		return finish(code, result, rs)
	}
	// Still installing: follow it to its end, as RunInstaller would have.
	progress(InstallProgress{Phase: "install"})
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultInstallTimeout
	}
	code, result, err := c.follow(ctx, rs, dir, opts.PollInterval, timeout, progress)
	if err != nil {
		progress(InstallProgress{Phase: "cleanup"})
		res.CleanupErr = rs.Remove(ctx)
		res.Duration = time.Since(started)
		return res, err
	}
	return finish(code, result, rs)
}

// errServiceNeverStarted is ERROR_SERVICE_NEVER_STARTED, the exit code of a
// service that was created but never started.
const errServiceNeverStarted = 1077
