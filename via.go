package deployer

// The Task Scheduler as the other way in: when a host refuses to create
// services (Windows 11 and Server 2025 can filter RCreateServiceW alone, an
// EDR may, some hosts refuse the service manager outright), the same remote
// service runs as a one-shot SYSTEM task ([MS-TSCH], package tsch) with the
// same job, progress and result files, the same cleanup and the same sweep.

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
	"github.com/nxdeploy/deployer/tsch"
)

// Via says how the remote service is started on a host
// (ConnectConfig.Via).
type Via int

const (
	// ViaAuto starts it as a service, and as a one-shot task of the Task
	// Scheduler when the host refuses to create services (access denied to
	// OpenSCManager with the right to create, or to CreateService).
	ViaAuto Via = iota
	// ViaService only ever starts it as a service.
	ViaService
	// ViaTask always starts it as a task of the Task Scheduler.
	ViaTask
)

// String names the way: "auto", "service" or "task".
func (v Via) String() string {
	switch v {
	case ViaAuto:
		return "auto"
	case ViaService:
		return "service"
	case ViaTask:
		return "task"
	}
	return fmt.Sprintf("deployer.Via(%d)", int(v))
}

// ParseVia reads "auto", "service" or "task" (as String writes them).
func ParseVia(s string) (Via, error) {
	for _, v := range []Via{ViaAuto, ViaService, ViaTask} {
		if strings.EqualFold(s, v.String()) {
			return v, nil
		}
	}
	return ViaAuto, fmt.Errorf("deployer: unknown way in %q (auto, service or task)", s)
}

// Bounds of the task path.
const (
	// taskStartTimeout bounds how long a task may stay "has not run"
	// (SCHED_S_TASK_HAS_NOT_RUN) after it was run.
	taskStartTimeout = 2 * time.Minute
	// taskLimitMargin is added to the job's timeout and grace period for
	// the task's execution time limit: the Task Scheduler ends the
	// program only if it overran its own timeout.
	taskLimitMargin = 5 * time.Minute
)

// isAccessDenied reports a Win32 ERROR_ACCESS_DENIED (or the NT status).
func isAccessDenied(err error) bool {
	if svcctl.IsCode(err, derrors.ErrorAccessDenied) {
		return true
	}
	e, ok := derrors.As(err)
	return ok && (e.Code == derrors.Win32Code(derrors.ErrorAccessDenied) || e.Code == derrors.NTStatusCode(statusAccessDenied))
}

// statusAccessDenied is STATUS_ACCESS_DENIED.
const statusAccessDenied = 0xC0000022

// openManagers opens the service manager as c.cfg.Via asks, and the Task
// Scheduler when the service manager refuses to create services.
func (c *Conn) openManagers(ctx context.Context) error {
	full := svcctl.ManagerConnect | svcctl.ManagerCreateService | svcctl.ManagerEnumerateService
	read := svcctl.ManagerConnect | svcctl.ManagerEnumerateService
	var err error
	if c.cfg.Via != ViaTask {
		if c.mgr, err = c.scm.OpenSCManager(ctx, full); err == nil {
			c.canCreate = true
			return nil
		}
		err = relabel(err, c.label)
		if c.cfg.Via == ViaService || !isAccessDenied(err) {
			return err
		}
		c.scmErr = err
	}
	// The service manager is still opened to read, when it lets us: a sweep
	// and a cleanup look for services of ours there.
	if m, rerr := c.scm.OpenSCManager(ctx, read); rerr == nil {
		c.mgr = m
	}
	if _, terr := c.taskClient(ctx); terr != nil {
		if err != nil {
			// The service manager's refusal is the error; the Task
			// Scheduler's says why there was no other way.
			e := atStep(c.label, derrors.StepOpenSCManager, err)
			e.Err = fmt.Errorf("%w; and the Task Scheduler: %v", e.Err, terr)
			return e
		}
		return terr
	}
	return nil
}

// taskClient returns the host's Task Scheduler client, binding it (sealed,
// over \pipe\atsvc on the connection's session) the first time.
func (c *Conn) taskClient(ctx context.Context) (*tsch.Client, error) {
	if c.tasks != nil {
		return c.tasks, nil
	}
	scfg := c.sess.Config()
	tc, err := tsch.Open(ctx, c.label, c.sess.Pipes(), tsch.Config{
		Credentials:    scfg.Credentials,
		ServerName:     strings.TrimPrefix(c.sess.Info().SPN, "cifs/"),
		RequestTimeout: scfg.RequestTimeout,
	})
	if err != nil {
		// The pipe's own failure (no \pipe\atsvc: no Task Scheduler
		// there) is named as the opening of the Task Scheduler.
		return nil, atStep(c.label, tsch.StepOpenScheduler, err)
	}
	// A bind alone proves little: the Task Scheduler answers an
	// administrator's enumeration (nothing is created).
	if _, err := tc.Tasks(ctx, c.cfg.prefix()+"-"); err != nil {
		_ = tc.Close()
		return nil, relabel(err, c.label)
	}
	c.tasks = tc
	return tc, nil
}

// ViaTask reports whether this connection starts the remote service as a
// task: ConnectConfig.Via is ViaTask, or ViaAuto and the host refused the
// service manager's right to create services.
func (c *Conn) ViaTask() bool { return c.cfg.Via == ViaTask || !c.canCreate }

// startTask registers the remote service's program as the one-shot task
// named like the service (an earlier one of ours of that name is stopped
// and replaced; anyone else's is refused) and runs it: Windows Server 2025
// runs a task without trigger only when asked.
func (c *Conn) startTask(ctx context.Context, rs *RemoteService, args []string, limit time.Duration) error {
	tc, err := c.taskClient(ctx)
	if err != nil {
		return err
	}
	argLine, err := msi.JoinCommandLine(c.expandRoot(ctx, args))
	if err != nil {
		return invalidInput(c.label, tsch.StepRegisterTask, err)
	}
	t := tsch.Task{
		Name:               rs.Name,
		Command:            c.windowsPath(ctx, rs.Dir+"/"+serviceExe),
		Arguments:          argLine,
		Description:        "nxdeploy remote service, deployment " + rs.DeploymentID,
		ExecutionTimeLimit: limit,
	}
	rs.task = true
	if _, err = tc.Register(ctx, t, false); errors.Is(err, tsch.ErrTaskExists) {
		ours, oerr := c.taskOwned(ctx, rs.Name, rs.DeploymentID)
		switch {
		case oerr != nil:
			return oerr
		case !ours:
			rs.task = false // not ours: never stopped nor deleted
			e := serviceNameTaken(c.label, rs.Name)
			e.Step = tsch.StepRegisterTask
			e.Err = fmt.Errorf("the task %s exists and is not the deployer's (its program is elsewhere)", rs.Name)
			return e
		}
		rs.Reused = true
		if err = tc.Stop(ctx, rs.Name); err == nil {
			_, err = tc.Register(ctx, t, true)
		}
	}
	if err != nil {
		return relabel(err, c.label)
	}
	if _, err = tc.Run(ctx, rs.Name); err != nil {
		return relabel(err, c.label)
	}
	rs.ranAt = time.Now()
	return nil
}

// taskStatus reads the task's last run as a service status, so a task is
// followed as a service is: "has not run" is start pending (for at most
// taskStartTimeout), a run going on is running, a finished run is stopped
// with the program's exit code as the service-specific exit code.
func (rs *RemoteService) taskStatus(ctx context.Context) (svcctl.Status, error) {
	c := rs.conn
	tc, err := c.taskClient(ctx)
	if err != nil {
		return svcctl.Status{}, err
	}
	lr, err := tc.LastRun(ctx, rs.Name)
	if err != nil {
		return svcctl.Status{}, relabel(err, c.label)
	}
	switch {
	case !lr.HasRun:
		if !rs.ranAt.IsZero() && time.Since(rs.ranAt) > taskStartTimeout {
			return svcctl.Status{}, derrors.New(c.label, tsch.StepRunTask, derrors.WindowsError,
				fmt.Errorf("%w within %v", tsch.ErrNotStarted, taskStartTimeout))
		}
		return svcctl.Status{State: svcctl.StartPending}, nil
	case lr.Running:
		return svcctl.Status{State: svcctl.Running}, nil
	}
	// The last run's code is set as it ends; the state says whether the
	// program is really gone.
	if _, state, err := tc.Info(ctx, rs.Name); err != nil {
		return svcctl.Status{}, relabel(err, c.label)
	} else if state == tsch.StateRunning {
		return svcctl.Status{State: svcctl.Running}, nil
	}
	st := svcctl.Status{State: svcctl.Stopped}
	if lr.Code != 0 {
		st.Win32ExitCode, st.ServiceSpecificExitCode = derrors.ErrorServiceSpecificError, lr.Code
	}
	return st, nil
}

// stopTask stops the task's program (SchRpcStop ends it) and waits, within
// stopTimeout, until the Task Scheduler no longer reports it running.
func (c *Conn) stopTask(ctx context.Context, name string) (svcctl.Status, error) {
	tc, err := c.taskClient(ctx)
	if err != nil {
		return svcctl.Status{}, err
	}
	if err := tc.Stop(ctx, name); err != nil {
		return svcctl.Status{}, relabel(err, c.label)
	}
	deadline := time.Now().Add(stopTimeout)
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		_, state, err := tc.Info(ctx, name)
		if errors.Is(err, tsch.ErrTaskNotFound) || err == nil && state != tsch.StateRunning {
			return svcctl.Status{State: svcctl.Stopped}, nil
		}
		if err != nil {
			return svcctl.Status{}, relabel(err, c.label)
		}
		if time.Now().After(deadline) {
			return svcctl.Status{State: svcctl.StopPending}, derrors.New(c.label, tsch.StepStopTask, derrors.WindowsError,
				fmt.Errorf("the task %s still runs %v after it was stopped", name, stopTimeout))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return svcctl.Status{}, derrors.Wrap(c.label, tsch.StepStopTask, ctx.Err())
		case <-t.C:
		}
	}
}

// taskOwned reports whether the task name (of deployment id) is ours: its
// action runs nxsvc.exe in that deployment's directory. A task someone else
// named "<prefix>-<id>" is never stopped, replaced or deleted.
func (c *Conn) taskOwned(ctx context.Context, name, id string) (bool, error) {
	tc, err := c.taskClient(ctx)
	if err != nil {
		return false, err
	}
	def, err := tc.Definition(ctx, name)
	switch {
	case errors.Is(err, tsch.ErrTaskNotFound):
		return false, nil
	case err != nil:
		return false, relabel(err, c.label)
	}
	cmd, ok := taskCommand(def)
	return ok && c.ownsBinaryPath(ctx, msi.QuoteArg(cmd), id), nil
}

// taskCommand returns the program of a task definition's first Exec
// action; false when the definition has none or does not parse.
func taskCommand(def string) (string, bool) {
	var doc struct {
		Actions struct {
			Exec []struct {
				Command string `xml:"Command"`
			} `xml:"Exec"`
		} `xml:"Actions"`
	}
	d := xml.NewDecoder(strings.NewReader(def))
	// The text was UTF-16 on the wire and is a Go string now, whatever
	// its declaration says.
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	if err := d.Decode(&doc); err != nil || len(doc.Actions.Exec) == 0 {
		return "", false
	}
	cmd := strings.Trim(strings.TrimSpace(doc.Actions.Exec[0].Command), `"`)
	return cmd, cmd != ""
}

// removeTask stops and deletes deployment id's task, when this connection
// uses the Task Scheduler and the task is ours.
func (c *Conn) removeTask(ctx context.Context, id string) error {
	if c.tasks == nil {
		return nil
	}
	name := c.serviceName(id)
	ours, err := c.taskOwned(ctx, name, id)
	if err != nil || !ours {
		return err
	}
	c.cancelTaskRun(ctx, name, id)
	_, serr := c.stopTask(ctx, name)
	return errors.Join(serr, relabel(c.tasks.Delete(ctx, name), c.label))
}

// stopFile is the file whose presence in a deployment directory asks the
// remote service to cancel its installation, as a service stop does: a
// program run as a task cannot be sent a service stop, and SchRpcStop
// ends it without Windows Installer's rollback.
const stopFile = "stop"

// cancelTaskRun asks deployment id's program, when its task runs, to
// cancel the installation: it writes the stop file into the deployment
// directory and waits, within cancelGrace, until the program has ended
// (Windows Installer rolled back with 1602 and the result is written).
// What is still running then is ended by the caller's SchRpcStop.
func (c *Conn) cancelTaskRun(ctx context.Context, name, id string) {
	tc, err := c.taskClient(ctx)
	if err != nil {
		return
	}
	if _, state, err := tc.Info(ctx, name); err != nil || state != tsch.StateRunning {
		return
	}
	rel := path.Join(c.shareDir(id), stopFile)
	if err := c.writeFile(ctx, rel, false, strings.NewReader(stopFile), int64(len(stopFile)), smb.UploadOptions{}); err != nil {
		return
	}
	deadline := time.Now().Add(cancelGrace)
	for wait := 100 * time.Millisecond; time.Now().Before(deadline); wait = min(2*wait, time.Second) {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if _, state, err := tc.Info(ctx, name); err != nil || state != tsch.StateRunning {
			return
		}
	}
}

// sweepTasks returns the deployments whose tasks ("<prefix>-<id>", ours by
// their action) are on the host. A host whose Task Scheduler does not
// answer has none the deployer could have made; with ViaService the Task
// Scheduler is not asked.
func (c *Conn) sweepTasks(ctx context.Context) (map[string]error, error) {
	if c.cfg.Via == ViaService {
		return nil, nil
	}
	if _, err := c.taskClient(ctx); err != nil {
		return nil, nil
	}
	names, err := c.tasks.Tasks(ctx, c.cfg.prefix()+"-")
	if err != nil {
		return nil, relabel(err, c.label)
	}
	out := map[string]error{}
	for _, n := range names {
		id, ok := deploymentOfService(c.cfg.prefix(), n)
		if !ok {
			continue
		}
		ours, err := c.taskOwned(ctx, n, id)
		if ours || err != nil {
			out[id] = err
		}
	}
	return out, nil
}
