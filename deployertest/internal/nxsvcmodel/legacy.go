package nxsvcmodel

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	job "github.com/nxdeploy/deployer/internal/remotesvc/legacyjob"
	"github.com/nxdeploy/deployer/msi"
)

// legacyProgram runs a job of the earlier Go service (--job-b64 or --job in
// the arguments), for an Engine that still sends one.
func legacyProgram(inner scm.Program) scm.Program {
	return func(ctx context.Context, run *scm.Run) (uint32, bool) {
		args := run.Args
		if len(args) > 0 {
			args = args[1:]
		}
		args = append(append([]string(nil), args...), run.StartArgs...)
		readFile := func(win string) ([]byte, error) {
			p, ok := run.HostPath(win)
			if !ok {
				return nil, os.ErrNotExist
			}
			return os.ReadFile(p)
		}
		defaultJob := ""
		if len(run.Args) > 0 {
			defaultJob = winDir(run.Args[0]) + `\` + job.FileName
		}
		src, err := job.ParseArgs(args)
		var j job.Job
		if err == nil {
			j, err = src.Load(defaultJob, readFile)
		}
		if err != nil {
			// nxsvc reports a bad job as soon as it runs, with no result
			// file to write (it does not know where).
			run.ReportRunning()
			return job.CodeBadJob, true
		}
		// The inner program reports RUNNING: one that never does models a
		// service binary that hangs before its dispatcher starts.
		inner2 := *run
		inner2.StartArgs = nil
		if j.CmdLine != "" {
			inner2.CommandLine = j.CmdLine
			inner2.Args = msi.SplitCommandLine(j.CmdLine)
		} else {
			inner2.Args = j.Command
		}
		res := job.Result{ID: j.ID, Started: time.Now().UTC(), Outcome: job.OutcomeExited}
		if pkg := uncPackage(inner2.Args); pkg != "" {
			// The emulated host has no network of its own: a package on a
			// share cannot be opened, as on a host that cannot reach the
			// Engine's share.
			run.ReportRunning()
			if p, ok := run.HostPath(j.LogPath); ok {
				_ = os.WriteFile(p, []byte("=== Verbose logging started ===\r\n"+
					"MSI (c) (1C:2C) [00:00:00:000]: Note: 1: 2203 2: "+pkg+" 3: -2147024843\r\n"+
					"MSI (c) (1C:2C) [00:00:00:000]: MainEngineThread is returning 1619\r\n"), 0o644)
			}
			res.ExitCode, res.Ended = errInstallPackageOpenFailed, time.Now().UTC()
			if p, ok := run.HostPath(j.ResultPath); ok {
				_ = job.WriteResult(p, res)
			}
			return res.ExitCode, true
		}
		jctx, cancel := context.WithCancel(ctx)
		if j.Timeout > 0 {
			jctx, cancel = context.WithTimeout(ctx, j.Timeout)
		}
		code, _ := inner(jctx, &inner2)
		res.Ended = time.Now().UTC()
		switch {
		case ctx.Err() != nil:
			res.Outcome, code, res.Error = job.OutcomeStopped, job.CodeStopped, "stopped by the service control manager"
		case jctx.Err() != nil:
			res.Outcome, code, res.Error = job.OutcomeTimeout, job.CodeTimeout, "the command ran longer than the job's timeout"
		}
		cancel()
		res.ExitCode = code
		if p, ok := run.HostPath(j.ResultPath); ok {
			_ = job.WriteResult(p, res)
		}
		specific, exit := res.ServiceExit()
		return exit, specific
	}
}

// uncPackage returns the package of an msiexec /i command line when it is on
// a share (\\server\share\...).
func uncPackage(args []string) string {
	for i, a := range args {
		if (strings.EqualFold(a, "/i") || strings.EqualFold(a, "/package")) && i+1 < len(args) &&
			strings.HasPrefix(args[i+1], `\\`) {
			return args[i+1]
		}
	}
	return ""
}

// winDir returns the directory part of a Windows path.
func winDir(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '\\' || p[i] == '/' {
			return p[:i]
		}
	}
	return filepath.Dir(p)
}
