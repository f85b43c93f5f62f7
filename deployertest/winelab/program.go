package winelab

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nxdeploy/deployer/deployertest"
)

// ServiceControl runs Windows' sc tool on the Windows side and returns its
// standard output; a non-zero exit code is an error. *Wine
// implements it with Wine's sc.
type ServiceControl interface {
	SC(ctx context.Context, args ...string) (string, error)
}

// Defaults of ProgramOptions.
const (
	DefaultPoll           = 250 * time.Millisecond
	DefaultCommandTimeout = 2 * time.Minute
	DefaultStopTimeout    = time.Minute
	DefaultMaxQueryFails  = 5
)

// Win32 codes the Program reports itself.
const (
	errorServiceSpecific = 1066 // ERROR_SERVICE_SPECIFIC_ERROR
	errorProcessAborted  = 1067 // ERROR_PROCESS_ABORTED
	errorRequestTimeout  = 1053 // ERROR_SERVICE_REQUEST_TIMEOUT
)

// ProgramOptions tune Program. The zero value is ready to use.
type ProgramOptions struct {
	// Poll is the interval between `sc query` calls; DefaultPoll when 0.
	// Each call starts a Wine process (100-300 ms of CPU), so keep it
	// coarse.
	Poll time.Duration
	// CommandTimeout bounds each sc command; DefaultCommandTimeout when 0.
	// The first Wine command after a prefix was idle can take many seconds
	// on a loaded machine.
	CommandTimeout time.Duration
	// StopTimeout bounds the wait for STOPPED after `sc stop`;
	// DefaultStopTimeout when 0.
	StopTimeout time.Duration
	// MaxQueryFails is how many `sc query` calls in a row may fail before
	// the service is given up as lost (exit code ERROR_PROCESS_ABORTED);
	// DefaultMaxQueryFails when 0.
	MaxQueryFails int
	// Logf, when set, receives one line per step with its timing.
	Logf func(format string, args ...any)
	// OnRun, when set, is called with the record of each finished run.
	OnRun func(Record)
}

func (o ProgramOptions) withDefaults() ProgramOptions {
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = DefaultCommandTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.MaxQueryFails <= 0 {
		o.MaxQueryFails = DefaultMaxQueryFails
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Record is what one run of a service did on the Windows side.
type Record struct {
	// Service is the service's name, the same in both managers.
	Service string
	// CommandLine is the binary path given to `sc create`.
	CommandLine string
	// Created, Started, Running, Stopped and Deleted are the durations from
	// the beginning of the run to the end of each step (0 when the step did
	// not happen). Running is when the Program reported RUNNING to the
	// emulated service manager (never after a stop request).
	Created, Started, Running, Stopped, Deleted time.Duration
	// StopRequested reports that the emulated service manager asked the
	// service to stop (a stop control, a start timeout or its Close).
	StopRequested bool
	// Final is the last status Wine reported.
	Final ServiceStatus
	// ExitCode and ServiceSpecific are what the Program returned.
	ExitCode        uint32
	ServiceSpecific bool
	// Err is the first failure of an sc command, if any.
	Err error
}

// Program returns a deployertest.Program that carries out each start of a service in
// the Windows service manager reached through sc: it creates the service
// there under the same name with the same command line, starts it with the
// same start arguments, reports RUNNING when that manager does (or once the
// start succeeded and the service already went past RUNNING), stops it when
// the emulated service is stopped, and once it is STOPPED deletes it and
// returns its exit code.
//
// A service of the same name left in that manager by an earlier run is
// stopped and deleted first. When `sc create` or `sc start` fails, the run
// ends with the Win32 code Wine recorded for the service, or
// ERROR_PROCESS_ABORTED (1067), and the emulated StartServiceW fails.
func Program(sc ServiceControl, opts ProgramOptions) deployertest.Program {
	p := program(sc, opts)
	return func(ctx context.Context, run *deployertest.Run) (uint32, bool) {
		return p(ctx, serviceRun{Service: run.Service, BinaryPath: run.BinaryPath, CommandLine: run.CommandLine, StartArgs: run.StartArgs,
			ReportRunning: run.ReportRunning})
	}
}

// serviceRun is what the program needs of one start of a service.
type serviceRun struct {
	Service       string
	BinaryPath    string // as configured; "" when only CommandLine is known
	CommandLine   string
	StartArgs     []string
	ReportRunning func()
}

// program is Program for any service manager.
func program(sc ServiceControl, opts ProgramOptions) func(context.Context, serviceRun) (uint32, bool) {
	opts = opts.withDefaults()
	return func(ctx context.Context, run serviceRun) (uint32, bool) {
		r := &runner{sc: sc, o: opts, run: run, begin: time.Now(),
			rec: Record{Service: run.Service, CommandLine: run.CommandLine}}
		code, specific := r.do(ctx)
		r.rec.ExitCode, r.rec.ServiceSpecific = code, specific
		if opts.OnRun != nil {
			opts.OnRun(r.rec)
		}
		return code, specific
	}
}

type runner struct {
	sc    ServiceControl
	o     ProgramOptions
	run   serviceRun
	begin time.Time
	rec   Record
}

func (r *runner) since() time.Duration { return time.Since(r.begin) }

func (r *runner) fail(err error) {
	if r.rec.Err == nil {
		r.rec.Err = err
	}
	r.o.Logf("winelab: %s: %v", r.run.Service, err)
}

// cmd runs one sc command bounded by CommandTimeout, independent of the
// run's context: cleanup must go on after a stop request.
func (r *runner) cmd(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.o.CommandTimeout)
	defer cancel()
	return r.sc.SC(ctx, args...)
}

func (r *runner) query() (ServiceStatus, error) {
	out, err := r.cmd("query", r.run.Service)
	if err != nil {
		return ServiceStatus{}, err
	}
	return ParseSCQuery(out)
}

func (r *runner) do(ctx context.Context) (uint32, bool) {
	name := r.run.Service
	if err := r.create(); err != nil {
		r.fail(err)
		return errorProcessAborted, false
	}
	r.rec.Created = r.since()
	r.o.Logf("winelab: %s: created in Wine's SCM after %v", name, r.rec.Created.Round(time.Millisecond))
	defer r.remove()

	out, err := r.cmd(append([]string{"start", name}, r.run.StartArgs...)...)
	if err != nil {
		r.fail(fmt.Errorf("sc start: %w", err))
		st, qerr := r.query()
		if qerr == nil {
			r.rec.Final = st
			if st.State == Stopped && st.Win32ExitCode != 0 {
				return exitOf(st)
			}
		}
		return errorProcessAborted, false
	}
	r.rec.Started = r.since()
	started, perr := ParseSCQuery(out)
	r.o.Logf("winelab: %s: sc start returned after %v (%v)", name, r.rec.Started.Round(time.Millisecond),
		stateOrErr(started, perr))
	// StartService succeeded: the process is connected to Wine's SCM. Seen
	// past RUNNING already (a job that ended at once) counts as RUNNING.
	if perr == nil && started.State != StartPending {
		r.running()
	}
	return r.follow(ctx)
}

// create runs `sc create`; when the name is taken (a run that crashed before
// its cleanup), it removes the old service and tries once more.
func (r *runner) create() error {
	// The binary path as the service's configuration holds it: Wine's
	// service manager expands %SystemRoot% itself, as Windows' does.
	bin := r.run.BinaryPath
	if bin == "" {
		bin = r.run.CommandLine
	}
	args := []string{"create", r.run.Service, "binpath=", bin}
	_, err := r.cmd(args...)
	if err == nil {
		return nil
	}
	if _, qerr := r.query(); qerr != nil {
		return fmt.Errorf("sc create: %w", err)
	}
	r.o.Logf("winelab: %s: removing a service of that name left in Wine's SCM", r.run.Service)
	r.stopAndWait()
	if _, derr := r.cmd("delete", r.run.Service); derr != nil {
		return fmt.Errorf("sc create: %w (and sc delete of the old service: %v)", err, derr)
	}
	if _, err := r.cmd(args...); err != nil {
		return fmt.Errorf("sc create: %w", err)
	}
	return nil
}

func (r *runner) running() {
	if r.rec.Running == 0 {
		r.rec.Running = r.since()
		r.o.Logf("winelab: %s: RUNNING after %v", r.run.Service, r.rec.Running.Round(time.Millisecond))
	}
	r.run.ReportRunning()
}

// follow polls Wine's status until STOPPED, forwarding RUNNING and a stop
// request, and returns the exit code.
func (r *runner) follow(ctx context.Context) (uint32, bool) {
	var (
		fails    int
		stopDead time.Time
		stopCh   = ctx.Done()
	)
	tick := time.NewTicker(r.o.Poll)
	defer tick.Stop()
	for {
		st, err := r.query()
		switch {
		case err != nil:
			fails++
			r.fail(fmt.Errorf("sc query: %w", err))
			if fails >= r.o.MaxQueryFails {
				return errorProcessAborted, false
			}
		case st.State == Stopped:
			if r.rec.Running == 0 && !r.rec.StopRequested {
				// It started (sc start succeeded), ran and ended between
				// two polls.
				r.running()
			}
			r.rec.Final = st
			r.rec.Stopped = r.since()
			r.o.Logf("winelab: %s: STOPPED after %v, WIN32_EXIT_CODE %d, SERVICE_EXIT_CODE %d", r.run.Service,
				r.rec.Stopped.Round(time.Millisecond), st.Win32ExitCode, st.ServiceExitCode)
			return exitOf(st)
		default:
			fails = 0
			r.rec.Final = st
			if st.State == Running && !r.rec.StopRequested {
				r.running()
			}
		}
		if !stopDead.IsZero() && time.Now().After(stopDead) {
			r.fail(fmt.Errorf("still %v %v after sc stop", r.rec.Final.State, r.o.StopTimeout))
			return errorRequestTimeout, false
		}
		select {
		case <-stopCh:
			stopCh = nil
			r.rec.StopRequested = true
			stopDead = time.Now().Add(r.o.StopTimeout)
			r.o.Logf("winelab: %s: stop requested after %v", r.run.Service, r.since().Round(time.Millisecond))
			if _, err := r.cmd("stop", r.run.Service); err != nil {
				// Already stopped, or not yet accepting controls: the
				// next query tells, and the stop is retried below.
				r.o.Logf("winelab: %s: sc stop: %v", r.run.Service, err)
			}
		case <-tick.C:
			if s := r.rec.Final.State; r.rec.StopRequested && s != StopPending && s != Stopped {
				_, _ = r.cmd("stop", r.run.Service)
			}
		}
	}
}

// stopAndWait stops the service if it runs and waits (StopTimeout) for
// STOPPED.
func (r *runner) stopAndWait() {
	st, err := r.query()
	if err != nil || st.State == Stopped {
		return
	}
	_, _ = r.cmd("stop", r.run.Service)
	deadline := time.Now().Add(r.o.StopTimeout)
	for time.Now().Before(deadline) {
		if st, err := r.query(); err != nil || st.State == Stopped {
			return
		}
		time.Sleep(r.o.Poll)
	}
}

// remove deletes the service from Wine's SCM and checks it is gone.
func (r *runner) remove() {
	if r.rec.Stopped == 0 {
		r.stopAndWait()
	}
	if _, err := r.cmd("delete", r.run.Service); err != nil {
		r.fail(fmt.Errorf("sc delete: %w", err))
		return
	}
	if _, err := r.query(); err == nil {
		r.fail(errors.New("service still listed after sc delete"))
		return
	}
	r.rec.Deleted = r.since()
	r.o.Logf("winelab: %s: deleted from Wine's SCM after %v", r.run.Service, r.rec.Deleted.Round(time.Millisecond))
}

// exitOf maps a stopped service's status to a Program's result.
func exitOf(st ServiceStatus) (uint32, bool) {
	if st.Win32ExitCode == errorServiceSpecific {
		return st.ServiceExitCode, true
	}
	return st.Win32ExitCode, false
}

func stateOrErr(st ServiceStatus, err error) string {
	if err != nil {
		return err.Error()
	}
	return st.State.String()
}
