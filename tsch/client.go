package tsch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	rpcerrors "github.com/oiweiwei/go-msrpc/dcerpc/errors"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/hresult"
	tschrpc "github.com/oiweiwei/go-msrpc/msrpc/tsch/itaskschedulerservice/v1"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/rpcpipe"
	"github.com/nxdeploy/deployer/smb"
)

// Steps of this package in *derrors.Error values.
const (
	StepOpenScheduler derrors.Step = "open task scheduler"
	StepRegisterTask  derrors.Step = "register task"
	StepRunTask       derrors.Step = "run task"
	StepQueryTask     derrors.Step = "query task"
	StepStopTask      derrors.Step = "stop task"
	StepDeleteTask    derrors.Step = "delete task"
)

// DefaultRequestTimeout bounds the bind and each call when Config.RequestTimeout
// is zero.
const DefaultRequestTimeout = 30 * time.Second

// Config says how a Client binds the Task Scheduler.
type Config struct {
	// Credentials is the account of the sealed bind: the SMB session's
	// (smb.Session.Config().Credentials). NTLM, or Kerberos when
	// Credentials.Kerberos is set (for host/ServerName).
	Credentials smb.Credentials
	// ServerName is the host's DNS name for Kerberos; the host given to
	// Open when empty.
	ServerName string
	// Unsealed binds without RPC-level authentication. Windows' Task
	// Scheduler refuses calls below packet integrity over \pipe\atsvc, so
	// the bind is sealed (RPC_C_AUTHN_LEVEL_PKT_PRIVACY, which also signs)
	// by default; go-msrpc's sign-only level fails over named pipes
	// (go-msrpc issue #51). Only for servers that take no RPC-level
	// authentication, such as Wine's.
	Unsealed bool
	// RequestTimeout bounds the bind and each call; DefaultRequestTimeout when
	// zero.
	RequestTimeout time.Duration
}

// Client speaks [MS-TSCH] ITaskSchedulerService to one host over
// \pipe\atsvc. It is safe for concurrent use; calls run one at a time.
type Client struct {
	host string
	conn *rpcpipe.Conn[tschrpc.TaskSchedulerServiceClient]
	sess *smb.Session // owned, when Dial made it
}

// Open binds ITaskSchedulerService over \pipe\atsvc opened through open.
// host names the host in errors (and for Kerberos).
func Open(ctx context.Context, host string, open smb.PipeOpener, cfg Config) (*Client, error) {
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	conn, err := rpcpipe.Bind(ctx, rpcpipe.Config{
		Host:           host,
		BindStep:       StepOpenScheduler,
		Open:           func(ctx context.Context) (net.Conn, error) { return open(ctx, "atsvc") },
		Seal:           !cfg.Unsealed,
		Credentials:    cfg.Credentials,
		ServerName:     cfg.ServerName,
		RequestTimeout: cfg.RequestTimeout,
		Mappers:        []rpcerrors.Mapper{hresult.Mapper{}},
	}, tschrpc.NewTaskSchedulerServiceClient)
	if err != nil {
		return nil, err
	}
	return &Client{host: host, conn: conn}, nil
}

// Dial logs on to host with scfg (smb.Dial), then works as Open over that
// session, sealing with scfg's credentials; Close also closes the session.
func Dial(ctx context.Context, host string, scfg smb.Config, cfg Config) (*Client, error) {
	sess, err := smb.Dial(ctx, host, scfg, nil)
	if err != nil {
		return nil, err
	}
	if cfg.Credentials.User == "" {
		cfg.Credentials = scfg.Credentials
	}
	if cfg.ServerName == "" {
		cfg.ServerName = scfg.Label
	}
	c, err := Open(ctx, sess.Host(), sess.Pipes(), cfg)
	if err != nil {
		return nil, errors.Join(err, sess.Close())
	}
	c.sess = sess
	return c, nil
}

// Host returns the host's name as errors give it.
func (c *Client) Host() string { return c.host }

// Close closes the connection (and the session Dial made).
func (c *Client) Close() error {
	err := c.conn.Close()
	if c.sess != nil {
		err = errors.Join(err, c.sess.Close())
	}
	return err
}

// HRESULTs this package acts on.
const (
	hrFalse          = 0x00000001 // S_FALSE: more items
	hrTaskHasNotRun  = 0x00041303 // SCHED_S_TASK_HAS_NOT_RUN
	hrTaskRunning    = 0x00041301 // SCHED_S_TASK_RUNNING
	hrFileNotFound   = 0x80070002 // HRESULT_FROM_WIN32(ERROR_FILE_NOT_FOUND)
	hrPathNotFound   = 0x80070003 // HRESULT_FROM_WIN32(ERROR_PATH_NOT_FOUND)
	hrAlreadyExists  = 0x800700B7 // HRESULT_FROM_WIN32(ERROR_ALREADY_EXISTS)
	hrNotImplemented = 0x80004001 // E_NOTIMPL
	hrTaskNotRunning = 0x8004130B // SCHED_E_TASK_NOT_RUNNING
	facilityWin32    = 7
)

// Sentinel causes inside this package's *derrors.Error values.
var (
	// ErrTaskExists: Register found a task of that name
	// (ERROR_ALREADY_EXISTS).
	ErrTaskExists = errors.New("tsch: a task of that name exists")
	// ErrTaskNotFound: no task of that name (ERROR_FILE_NOT_FOUND).
	ErrTaskNotFound = errors.New("tsch: no such task")
	// ErrNotImplemented: the server does not implement the call
	// (E_NOTIMPL; Wine's Task Scheduler for SchRpcRun and others).
	ErrNotImplemented = errors.New("tsch: the task scheduler does not implement the call")
)

// hresultError carries a call's HRESULT as its return value.
type hresultError struct {
	code uint32
	err  error
}

func (e *hresultError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("HRESULT 0x%08X", e.code)
}

func (e *hresultError) Unwrap() error { return e.err }

// HRESULT returns the HRESULT a call of this package failed with, and
// whether there is one.
func HRESULT(err error) (uint32, bool) {
	var he *hresultError
	if errors.As(err, &he) {
		return he.code, true
	}
	var h *hresult.Error
	if errors.As(err, &h) {
		return h.Code, true
	}
	return 0, false
}

// result turns a call's error and HRESULT into this package's errors: a
// non-zero failure code becomes an *hresultError (with a sentinel where one
// applies); success codes (S_FALSE, SCHED_S_*) are not errors.
func result(ret int32, err error) error {
	if err != nil && ret == 0 {
		return err // no response: the RPC runtime's error
	}
	code := uint32(ret)
	if code&0x80000000 == 0 {
		return nil
	}
	he := &hresultError{code: code, err: err}
	switch code {
	case hrAlreadyExists:
		return fmt.Errorf("%w: %w", ErrTaskExists, he)
	case hrFileNotFound, hrPathNotFound:
		return fmt.Errorf("%w: %w", ErrTaskNotFound, he)
	case hrNotImplemented:
		return fmt.Errorf("%w: %w", ErrNotImplemented, he)
	}
	return he
}

// typed makes err a *derrors.Error for step with the HRESULT's Win32 code
// when it is one (FACILITY_WIN32), as Windows' messages give it.
func (c *Client) typed(step derrors.Step, err error) error {
	if err == nil {
		return nil
	}
	e, ok := derrors.As(err)
	if !ok {
		e = derrors.Wrap(c.host, step, err)
	}
	if code, ok := HRESULT(err); ok {
		cp := *e
		cp.Kind, cp.Reason = derrors.WindowsError, derrors.NoReason
		if code>>16&0x7FF == facilityWin32 && code&0x80000000 != 0 {
			cp.Kind, cp.Reason = derrors.FromWin32(step, code&0xFFFF)
			cp.Code = derrors.Win32Code(code & 0xFFFF)
		}
		return &cp
	}
	return e
}

// call runs f as one RPC call for step.
func (c *Client) call(ctx context.Context, step derrors.Step, idempotent bool, f func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error) error {
	return c.typed(step, c.conn.Call(ctx, step, idempotent, f))
}

// Registration flags of SchRpcRegisterTask ([MS-TSCH] 3.2.5.4.2).
const (
	taskCreate         = 0x2
	taskCreateOrUpdate = 0x6
	// TASK_LOGON_SERVICE_ACCOUNT: the task runs as a service account (the
	// definition's LocalSystem principal).
	logonServiceAccount = 5
)

// Register registers t as \t.Name (SchRpcRegisterTask). A task of that name
// fails with ErrTaskExists unless replace is set. It returns the path the
// server registered. A lost transport is not retried: look the task up.
func (c *Client) Register(ctx context.Context, t Task, replace bool) (string, error) {
	text, err := t.XML()
	if err != nil {
		return "", derrors.New(c.host, StepRegisterTask, derrors.UnknownError, err)
	}
	flags := uint32(taskCreate)
	if replace {
		flags = taskCreateOrUpdate
	}
	var path string
	err = c.call(ctx, StepRegisterTask, false, func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error {
		resp, err := rpcpipe.Check(cli.RegisterTask(ctx, &tschrpc.RegisterTaskRequest{
			Path: t.Path(), XML: text, Flags: flags, LogonType: logonServiceAccount,
		}))
		if resp == nil {
			return err
		}
		if err := result(resp.Return, err); err != nil {
			if resp.ErrorInfo != nil && resp.ErrorInfo.Node != "" {
				return fmt.Errorf("%w (XML line %d, column %d, node %s)", err,
					resp.ErrorInfo.Line, resp.ErrorInfo.Column, resp.ErrorInfo.Node)
			}
			return err
		}
		path = resp.ActualPath
		return nil
	})
	return path, err
}

// Definition returns the task's XML definition as the server keeps it
// (SchRpcRetrieveTask).
func (c *Client) Definition(ctx context.Context, name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", derrors.New(c.host, StepQueryTask, derrors.UnknownError, err)
	}
	var text string
	err := c.call(ctx, StepQueryTask, true, func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error {
		resp, err := rpcpipe.Check(cli.RetrieveTask(ctx, &tschrpc.RetrieveTaskRequest{Path: `\` + name, LanguagesBuffer: "en-US\x00"}))
		if resp == nil {
			return err
		}
		if err := result(resp.Return, err); err != nil {
			return err
		}
		text = resp.XML
		return nil
	})
	return text, err
}

// Run flags of SchRpcRun.
const runIgnoreConstraints = 0x2 // TASK_RUN_IGNORE_CONSTRAINTS

// Run starts the task now (SchRpcRun), ignoring its conditions, and returns
// the running instance's GUID. Windows Server 2025 runs a task without
// trigger only when asked this way.
func (c *Client) Run(ctx context.Context, name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", derrors.New(c.host, StepRunTask, derrors.UnknownError, err)
	}
	var guid string
	err := c.call(ctx, StepRunTask, false, func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error {
		resp, err := rpcpipe.Check(cli.Run(ctx, &tschrpc.RunRequest{Path: `\` + name, Flags: runIgnoreConstraints}))
		if resp == nil {
			return err
		}
		if err := result(resp.Return, err); err != nil {
			return err
		}
		if resp.GUID != nil {
			guid = resp.GUID.String()
		}
		return nil
	})
	return guid, err
}

// State is a task's state (TASK_STATE).
type State uint32

// Task states.
const (
	StateUnknown  State = 0
	StateDisabled State = 1
	StateQueued   State = 2
	StateReady    State = 3
	StateRunning  State = 4
)

// String names the state.
func (s State) String() string {
	switch s {
	case StateUnknown:
		return "unknown"
	case StateDisabled:
		return "disabled"
	case StateQueued:
		return "queued"
	case StateReady:
		return "ready"
	case StateRunning:
		return "running"
	}
	return fmt.Sprintf("tsch.State(%d)", uint32(s))
}

// schFlagState asks SchRpcGetTaskInfo for the state.
const schFlagState = 0x10000000 // SCH_FLAG_STATE: bit 3 in [MS-TSCH]'s MSB-first diagram

// Info returns whether the task is enabled and its state
// (SchRpcGetTaskInfo).
func (c *Client) Info(ctx context.Context, name string) (enabled bool, state State, err error) {
	if err := checkName(name); err != nil {
		return false, 0, derrors.New(c.host, StepQueryTask, derrors.UnknownError, err)
	}
	err = c.call(ctx, StepQueryTask, true, func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error {
		resp, err := rpcpipe.Check(cli.GetTaskInfo(ctx, &tschrpc.GetTaskInfoRequest{Path: `\` + name, Flags: schFlagState}))
		if resp == nil {
			return err
		}
		if err := result(resp.Return, err); err != nil {
			return err
		}
		enabled, state = resp.Enabled != 0, State(resp.State)
		return nil
	})
	return enabled, state, err
}

// LastRun is the outcome of a task's last run.
type LastRun struct {
	// HasRun is false while the task has not run yet
	// (SCHED_S_TASK_HAS_NOT_RUN): right after Run this is transient.
	HasRun bool
	// Running reports that the last run is still going (its return code
	// is SCHED_S_TASK_RUNNING).
	Running bool
	// Time is when the last run started, in the host's local time as the
	// host reports it (no zone).
	Time time.Time
	// Code is the last run's exit code (the program's, or an HRESULT of the
	// Task Scheduler when it could not start it).
	Code uint32
}

// LastRun returns the task's last run (SchRpcGetLastRunInfo).
func (c *Client) LastRun(ctx context.Context, name string) (LastRun, error) {
	var lr LastRun
	if err := checkName(name); err != nil {
		return lr, derrors.New(c.host, StepQueryTask, derrors.UnknownError, err)
	}
	err := c.call(ctx, StepQueryTask, true, func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error {
		resp, err := rpcpipe.Check(cli.GetLastRunInfo(ctx, &tschrpc.GetLastRunInfoRequest{Path: `\` + name}))
		if resp == nil {
			return err
		}
		if err := result(resp.Return, err); err != nil {
			return err
		}
		lr = LastRun{}
		if uint32(resp.Return) == hrTaskHasNotRun {
			return nil
		}
		lr.HasRun, lr.Code = true, resp.LastReturnCode
		lr.Running = resp.LastReturnCode == hrTaskRunning
		if t := resp.LastRuntime; t != nil && t.Year != 0 {
			lr.Time = time.Date(int(t.Year), time.Month(t.Month), int(t.Day), int(t.Hour), int(t.Minute),
				int(t.Second), int(t.Milliseconds)*int(time.Millisecond), time.UTC)
		}
		return nil
	})
	return lr, err
}

// Stop stops every running instance of the task (SchRpcStop). A task that
// is not running is not an error.
func (c *Client) Stop(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return derrors.New(c.host, StepStopTask, derrors.UnknownError, err)
	}
	return c.call(ctx, StepStopTask, true, func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error {
		resp, err := rpcpipe.Check(cli.Stop(ctx, &tschrpc.StopRequest{Path: `\` + name}))
		if resp == nil {
			return err
		}
		if uint32(resp.Return) == hrTaskNotRunning {
			return nil
		}
		return result(resp.Return, err)
	})
}

// Delete deletes the task (SchRpcDelete). A task that is already gone is
// not an error, so Delete is safe to repeat.
func (c *Client) Delete(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return derrors.New(c.host, StepDeleteTask, derrors.UnknownError, err)
	}
	err := c.call(ctx, StepDeleteTask, true, func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error {
		resp, err := rpcpipe.Check(cli.Delete(ctx, &tschrpc.DeleteRequest{Path: `\` + name}))
		if resp == nil {
			return err
		}
		return result(resp.Return, err)
	})
	if errors.Is(err, ErrTaskNotFound) {
		return nil
	}
	return err
}

// Enumeration of SchRpcEnumTasks.
const (
	taskEnumHidden = 0x1
	// enumPage is the page size asked of SchRpcEnumTasks. Wine 8 answers
	// E_OUTOFMEMORY to a request for more than 64 names when the folder
	// holds more (its list grows past its first allocation); pages of 50
	// work everywhere.
	enumPage = 50
	maxTasks = 100000
)

// Tasks returns the names of the root folder's tasks (hidden ones
// included) that start with prefix, compared without case: a sweep finds
// the deployer's own tasks this way.
func (c *Client) Tasks(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := c.call(ctx, StepQueryTask, true, func(ctx context.Context, cli tschrpc.TaskSchedulerServiceClient) error {
		out = nil
		start := uint32(0)
		for seen := 0; seen < maxTasks; {
			resp, err := rpcpipe.Check(cli.EnumTasks(ctx, &tschrpc.EnumTasksRequest{
				Path: `\`, Flags: taskEnumHidden, StartIndex: start, RequestedCount: enumPage,
			}))
			if resp == nil {
				return err
			}
			if err := result(resp.Return, err); err != nil {
				return err
			}
			for _, n := range resp.Names {
				if len(n) >= len(prefix) && strings.EqualFold(n[:len(prefix)], prefix) {
					out = append(out, n)
				}
			}
			seen += len(resp.Names)
			if uint32(resp.Return) != hrFalse || len(resp.Names) == 0 || resp.StartIndex <= start {
				return nil
			}
			start = resp.StartIndex
		}
		return fmt.Errorf("tsch: more than %d tasks in the root folder", maxTasks)
	})
	return out, err
}
