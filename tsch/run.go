package tsch

import (
	"context"
	"errors"
	"fmt"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
)

// WaitOptions tune Wait.
type WaitOptions struct {
	// Timeout bounds the whole wait; 0 means only ctx bounds it.
	Timeout time.Duration
	// StartTimeout bounds how long the task may stay "has not run"
	// (SCHED_S_TASK_HAS_NOT_RUN) after Run; DefaultStartTimeout when zero.
	StartTimeout time.Duration
	// Poll is the longest interval between polls; DefaultPoll when zero.
	// Polling starts at a tenth of it and doubles.
	Poll time.Duration
}

// Defaults of WaitOptions.
const (
	DefaultStartTimeout = 2 * time.Minute
	DefaultPoll         = 2 * time.Second
)

// ErrNotStarted: the task still had not run StartTimeout after Run.
var ErrNotStarted = errors.New("tsch: the task did not start")

// Wait polls the task until its run has ended and returns that run
// (SchRpcGetLastRunInfo, SchRpcGetTaskInfo). "Has not run" right after Run
// is transient and waited through, up to StartTimeout.
func (c *Client) Wait(ctx context.Context, name string, opts WaitOptions) (LastRun, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	start := time.Now()
	interval := opts.Poll / 10
	for {
		lr, err := c.LastRun(ctx, name)
		if err != nil {
			return lr, err
		}
		switch {
		case !lr.HasRun:
			if time.Since(start) > opts.StartTimeout {
				return lr, derrors.New(c.host, StepRunTask, derrors.WindowsError,
					fmt.Errorf("%w within %v", ErrNotStarted, opts.StartTimeout))
			}
		case !lr.Running:
			_, state, err := c.Info(ctx, name)
			if err != nil {
				return lr, err
			}
			if state != StateRunning {
				return lr, nil
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return lr, derrors.Wrap(c.host, StepQueryTask, ctx.Err())
		case <-t.C:
		}
		interval = min(2*interval, opts.Poll)
	}
}

// RunOnce registers t, runs it, waits for it to end and deletes it: the
// program's exit code is the result's Code. The task is stopped if still
// running and deleted whatever happens, ctx's end included (within
// cleanupTimeout); a cleanup failure is joined to the error.
func (c *Client) RunOnce(ctx context.Context, t Task, opts WaitOptions) (lr LastRun, err error) {
	if _, err := c.Register(ctx, t, false); err != nil {
		return lr, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if err != nil || lr.Running {
			err = errors.Join(err, c.Stop(cctx, t.Name))
		}
		err = errors.Join(err, c.Delete(cctx, t.Name))
	}()
	if _, err := c.Run(ctx, t.Name); err != nil {
		return lr, err
	}
	return c.Wait(ctx, t.Name, opts)
}

// cleanupTimeout bounds RunOnce's stop and delete.
const cleanupTimeout = time.Minute
