package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/nxdeploy/deployer/internal/remotesvc/job"
)

// FallbackResultName is the file, next to the service executable, where the
// Result goes when the job is too broken to name its own ResultPath.
const FallbackResultName = "result.json"

// reapTimeout bounds the wait for a killed process tree to be reaped; past it
// the Result is written anyway so the service never hangs.
const reapTimeout = 10 * time.Second

// Run runs j's command and returns its Result. It returns when the command
// exits, when j.Timeout expires, or when ctx is cancelled (the service was
// asked to stop); in the last two cases the command's process tree is killed
// first. Run does not validate j (Service does) and does not write the Result.
func Run(ctx context.Context, j job.Job) job.Result {
	res := job.Result{ID: j.ID}
	fail := func(o job.Outcome, code uint32, err error) job.Result {
		res.Outcome, res.ExitCode, res.Error = o, code, err.Error()
		res.Ended = time.Now().UTC()
		return res
	}
	if len(j.Command) == 0 {
		return fail(job.OutcomeBadJob, job.CodeBadJob, errors.New("empty command"))
	}
	if j.LogPath != "" {
		if err := os.MkdirAll(filepath.Dir(j.LogPath), 0o755); err != nil {
			return fail(job.OutcomeStartFailed, job.CodeStartFailed, fmt.Errorf("create log directory: %w", err))
		}
	}
	cmd := exec.Command(resolveExe(j.Command[0]), j.Command[1:]...)
	cmd.Dir = j.Dir
	if cmd.Dir == "" && j.ResultPath != "" {
		cmd.Dir = filepath.Dir(j.ResultPath)
	}
	tree, err := startTree(cmd, j.CmdLine)
	if err != nil {
		return fail(job.OutcomeStartFailed, job.CodeStartFailed, fmt.Errorf("start %s: %w", j.Command[0], err))
	}
	defer tree.close()
	res.Started = time.Now().UTC()

	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	timer := time.NewTimer(j.Timeout)
	defer timer.Stop()

	var (
		outcome  job.Outcome
		code     uint32
		cause    error
		waitErr  error
		finished bool
	)
	select {
	case waitErr = <-waited:
		finished = true
	case <-timer.C:
		outcome, code, cause = job.OutcomeTimeout, job.CodeTimeout, fmt.Errorf("command ran longer than %v: process tree killed", j.Timeout)
	case <-ctx.Done():
		outcome, code, cause = job.OutcomeStopped, job.CodeStopped, errors.New("service stopped: process tree killed")
	}
	if !finished {
		if err := tree.kill(code); err != nil {
			cause = fmt.Errorf("%w (kill: %v)", cause, err)
		}
		reap := time.NewTimer(reapTimeout)
		select {
		case <-waited:
		case <-reap.C:
			cause = fmt.Errorf("%w; process not reaped after %v", cause, reapTimeout)
		}
		reap.Stop()
		return fail(outcome, code, cause)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) {
		return fail(job.OutcomeWaitFailed, job.CodeWaitFailed, fmt.Errorf("wait: %w", waitErr))
	}
	res.Outcome = job.OutcomeExited
	res.ExitCode = exitCode(cmd.ProcessState)
	res.Ended = time.Now().UTC()
	if res.ExitCode != 0 {
		res.Error = fmt.Sprintf("command exited with code %d", res.ExitCode)
	}
	return res
}

// Service is what nxsvc does once the SCM has started it: find the job
// (startArgs, the StartService arguments, win over cmdArgs, the arguments of
// the binary path; with neither, the job file next to exePath), run it, and
// write the Result to the job's ResultPath, or to FallbackResultName next to
// exePath when the job is unusable. The returned Result says what the service
// must report; a failure to write the result file is appended to its Error.
func Service(ctx context.Context, cmdArgs, startArgs []string, exePath string) job.Result {
	exeDir := filepath.Dir(exePath)
	args := cmdArgs
	if len(startArgs) > 0 {
		args = startArgs
	}
	j, err := loadJob(args, filepath.Join(exeDir, job.FileName))
	if err != nil {
		now := time.Now().UTC()
		res := job.Result{ExitCode: job.CodeBadJob, Outcome: job.OutcomeBadJob, Ended: now, Error: err.Error()}
		return write(filepath.Join(exeDir, FallbackResultName), res)
	}
	return write(j.ResultPath, Run(ctx, j))
}

func loadJob(args []string, defaultPath string) (job.Job, error) {
	src, err := job.ParseArgs(args)
	if err != nil {
		return job.Job{}, err
	}
	return src.Load(defaultPath, job.ReadFile)
}

func write(path string, res job.Result) job.Result {
	if err := job.WriteResult(path, res); err != nil {
		if res.Error != "" {
			res.Error += "; "
		}
		res.Error += err.Error()
	}
	return res
}

func exitCode(ps *os.ProcessState) uint32 {
	if ps == nil {
		return job.CodeWaitFailed
	}
	// On Windows ExitCode is the DWORD from GetExitCodeProcess converted to
	// int; converting back recovers codes such as 0xC0000005 on 386 too.
	return uint32(ps.ExitCode())
}
