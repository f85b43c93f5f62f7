package svcctl

import (
	"context"
	"errors"
	"fmt"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
)

// Default polling of WaitState.
const (
	DefaultPollInitial = 50 * time.Millisecond
	DefaultPollMax     = time.Second
)

// WaitOptions tune WaitState and the helpers built on it.
type WaitOptions struct {
	// Timeout bounds the wait; 0 means only ctx bounds it.
	Timeout time.Duration
	// Initial is the first polling interval; 0 means DefaultPollInitial.
	Initial time.Duration
	// Max caps the polling interval; 0 means DefaultPollMax.
	Max time.Duration
}

func (o WaitOptions) withDefaults() WaitOptions {
	if o.Initial <= 0 {
		o.Initial = DefaultPollInitial
	}
	if o.Max <= 0 {
		o.Max = DefaultPollMax
	}
	if o.Initial > o.Max {
		o.Initial = o.Max
	}
	return o
}

// nextInterval returns the polling interval after cur: doubled, capped at
// max, and during a pending operation at least a tenth of the service's wait
// hint (Microsoft's advice for SERVICE_STATUS.dwWaitHint), still capped.
func nextInterval(cur, max time.Duration, st Status) time.Duration {
	next := 2 * cur
	if st.State.Pending() {
		if h := st.WaitHint / 10; h > next {
			next = h
		}
	}
	if next > max {
		next = max
	}
	return next
}

// WaitState polls svc's status until its state is want, with a backoff that
// starts at opts.Initial and doubles to opts.Max (stretched toward a tenth of
// the service's wait hint while it is pending). It returns the last status.
//
// When the deadline passes it returns a *derrors.Error wrapping
// ErrWaitTimeout with code ERROR_SERVICE_REQUEST_TIMEOUT (1053). When the
// service stops while a running state is wanted, it returns at once with an
// error wrapping ErrUnexpectedState (the status carries the exit codes).
func WaitState(ctx context.Context, svc *Service, want State, opts WaitOptions) (Status, error) {
	opts = opts.withDefaults()
	step := derrors.StepQueryService
	switch want {
	case Running, StartPending:
		step = derrors.StepStartService
	case Stopped, StopPending:
		step = derrors.StepStopService
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	host := svc.m.c.host
	interval := opts.Initial
	var timer *time.Timer
	for {
		st, err := svc.QueryStatus(ctx)
		if err != nil {
			if ctxErr(ctx) != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return st, waitTimeout(host, step, svc.name, want, st, err)
			}
			return st, err
		}
		if st.State == want {
			return st, nil
		}
		if st.State == Stopped && (want == Running || want == StartPending || want == Paused) {
			return st, &derrors.Error{Host: host, Step: step, Kind: derrors.WindowsError,
				Code: exitCode(st),
				Err:  fmt.Errorf("%w: service %s is STOPPED while waiting for %s (exit code %d)", ErrUnexpectedState, svc.name, want, st.ExitCode())}
		}
		if timer == nil {
			timer = time.NewTimer(interval)
			defer timer.Stop()
		} else {
			timer.Reset(interval)
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return st, waitTimeout(host, step, svc.name, want, st, ctx.Err())
			}
			return st, derrors.Wrap(host, step, ctx.Err())
		}
		interval = nextInterval(interval, opts.Max, st)
	}
}

// exitCode is the code to report for a stopped service: its Win32 exit code
// (which is 1066 when a service-specific code is set).
func exitCode(st Status) derrors.Code {
	if st.Win32ExitCode == 0 {
		return derrors.Code{}
	}
	return derrors.Win32Code(st.Win32ExitCode)
}

func waitTimeout(host string, step derrors.Step, name string, want State, st Status, cause error) error {
	e := &derrors.Error{Host: host, Step: step, Kind: derrors.WindowsError,
		Code: derrors.Win32Code(errServiceRequestTimeout),
		Err:  fmt.Errorf("%w: service %s is %s, wanted %s: %w", ErrWaitTimeout, name, st.State, want, cause)}
	if step == derrors.StepStartService {
		e.Reason = derrors.ReasonServiceStartTimeout
	}
	return e
}

// StopAndWait stops svc and waits until it is STOPPED, for cleanup:
//
//   - a service that is not running (ERROR_SERVICE_NOT_ACTIVE, 1062) counts
//     as stopped;
//   - one that cannot accept the control yet (ERROR_SERVICE_CANNOT_ACCEPT_
//     CTRL, 1061: START_PENDING or STOP_PENDING) is waited on, and stopped
//     again if it reaches RUNNING;
//   - one marked for deletion whose handle cannot be reopened
//     (ERROR_SERVICE_MARKED_FOR_DELETE, 1072, after a transport loss) is
//     waited on until its name is gone (1060): the SCM removes it once it
//     has stopped;
//   - one that no longer exists (1060) counts as stopped.
//
// The status returned for a service that is gone is a bare STOPPED.
func StopAndWait(ctx context.Context, svc *Service, opts WaitOptions) (Status, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
		opts.Timeout = 0
	}
	opts = opts.withDefaults()
	gone := Status{State: Stopped}
	for attempt := 0; ; attempt++ {
		st, err := svc.Stop(ctx)
		switch {
		case err == nil:
			if st.State == Stopped {
				return st, nil
			}
			st, err = WaitState(ctx, svc, Stopped, opts)
			if IsServiceNotFound(err) || IsMarkedForDelete(err) {
				break
			}
			return st, err
		case IsNotActive(err):
			st, err = svc.QueryStatus(ctx)
			if IsServiceNotFound(err) || IsMarkedForDelete(err) {
				break
			}
			return st, err
		case IsCode(err, errServiceCannotAcceptCtrl) && attempt < 3:
			st, err = waitSettled(ctx, svc, opts)
			if err == nil && st.State == Stopped {
				return st, nil
			}
			if err == nil || IsServiceNotFound(err) || IsMarkedForDelete(err) {
				break
			}
			return st, err
		case IsServiceNotFound(err) || IsMarkedForDelete(err):
		default:
			return st, err
		}
		if IsServiceNotFound(err) {
			return gone, nil
		}
		if IsMarkedForDelete(err) {
			if err := WaitDeleted(ctx, svc.m, svc.name, opts); err != nil {
				return st, err
			}
			return gone, nil
		}
	}
}

// waitSettled polls until svc is in a state that is not pending.
func waitSettled(ctx context.Context, svc *Service, opts WaitOptions) (Status, error) {
	interval := opts.Initial
	for {
		st, err := svc.QueryStatus(ctx)
		if err != nil || !st.State.Pending() {
			return st, err
		}
		t := time.NewTimer(interval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return st, waitTimeout(svc.m.c.host, derrors.StepStopService, svc.name, Stopped, st, ctx.Err())
		}
		interval = nextInterval(interval, opts.Max, st)
	}
}

// WaitDeleted waits until the service control manager no longer knows the
// service name: OpenService returns ERROR_SERVICE_DOES_NOT_EXIST (1060). A
// service marked for deletion (1072) lingers until it has stopped and every
// handle to it is closed; close yours before waiting.
func WaitDeleted(ctx context.Context, m *Manager, name string, opts WaitOptions) error {
	opts = opts.withDefaults()
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	interval := opts.Initial
	for {
		svc, err := m.OpenService(ctx, name, ServiceQueryStatus)
		switch {
		case IsServiceNotFound(err):
			return nil
		case err == nil:
			if cerr := svc.CloseContext(ctx); cerr != nil {
				return cerr
			}
		case !IsMarkedForDelete(err) && ctxErr(ctx) == nil:
			return err
		}
		t := time.NewTimer(interval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return &derrors.Error{Host: m.c.host, Step: derrors.StepDeleteService, Kind: derrors.WindowsError,
				Reason: derrors.ReasonServiceMarkedForDelete, Code: derrors.Win32Code(errServiceMarkedForDelete),
				Err: fmt.Errorf("%w: service %s still exists: %w", ErrWaitTimeout, name, ctx.Err())}
		}
		interval = nextInterval(interval, opts.Max, Status{})
	}
}

// DeleteAndWait marks svc for deletion (ERROR_SERVICE_MARKED_FOR_DELETE from
// an earlier attempt counts as done), closes the handle, and waits until the
// name is gone (1060).
func DeleteAndWait(ctx context.Context, svc *Service, opts WaitOptions) error {
	if err := svc.Delete(ctx); err != nil && !IsMarkedForDelete(err) && !IsServiceNotFound(err) {
		return err
	}
	if err := svc.CloseContext(ctx); err != nil {
		return err
	}
	return WaitDeleted(ctx, svc.m, svc.name, opts)
}
