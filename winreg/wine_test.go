package winreg

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/winelab"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// Wine has no Remote Registry service and serves no \pipe\winreg, but its
// service manager (services.exe) is real: these tests create a service named
// RemoteRegistry there (running Wine's msiexec in service mode, a real
// service program) and drive Open's start-and-restore logic through Wine's
// \pipe\svcctl, reached through winelab's pipe bridge.

// withService runs f with the RemoteRegistry service of Wine's SCM, opened
// over \pipe\svcctl through the bridge.
func withService(t *testing.T, w *winelab.Wine, f func(ctx context.Context, s *svcctl.Service)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := svcctl.Dial(ctx, "wine", svcctl.Config{Pipe: func(ctx context.Context) (net.Conn, error) { return w.OpenPipe(ctx, "svcctl") }})
	require.NoError(t, err)
	defer c.Close()
	m, err := c.OpenSCManager(ctx, svcctl.ManagerConnect)
	require.NoError(t, err)
	defer m.Close()
	s, err := m.OpenService(ctx, RemoteRegistryService, serviceAccess)
	require.NoError(t, err)
	defer s.Close()
	f(ctx, s)
}

// serviceState returns the service's state and start type as Wine's SCM
// reports them.
func serviceState(t *testing.T, w *winelab.Wine) (st svcctl.State, start svcctl.StartType) {
	t.Helper()
	withService(t, w, func(ctx context.Context, s *svcctl.Service) {
		status, err := s.QueryStatus(ctx)
		require.NoError(t, err)
		conf, err := s.QueryConfig(ctx)
		require.NoError(t, err)
		st, start = status.State, conf.StartType
	})
	return st, start
}

// prepare puts the service in state (stopped or running) with start type.
func prepare(t *testing.T, w *winelab.Wine, state svcctl.State, start svcctl.StartType) {
	t.Helper()
	withService(t, w, func(ctx context.Context, s *svcctl.Service) {
		demand := svcctl.DemandStart
		require.NoError(t, s.ChangeConfig(ctx, svcctl.ChangeOptions{StartType: &demand}))
		if state == svcctl.Running {
			if err := s.Start(ctx); err != nil && !svcctl.IsAlreadyRunning(err) {
				require.NoError(t, err)
			}
			_, err := svcctl.WaitState(ctx, s, svcctl.Running, svcctl.WaitOptions{Timeout: 30 * time.Second})
			require.NoError(t, err)
		} else {
			_, err := svcctl.StopAndWait(ctx, s, svcctl.WaitOptions{Timeout: 30 * time.Second})
			require.NoError(t, err)
		}
		require.NoError(t, s.ChangeConfig(ctx, svcctl.ChangeOptions{StartType: &start}))
	})
	st, got := serviceState(t, w)
	require.Equal(t, state, st)
	require.Equal(t, start, got)
}

func TestWineRemoteRegistry(t *testing.T) {
	w := winelab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The stand-in for Remote Registry must keep running once started: Wine's
	// plugplay.exe does (msiexec /V, used before, exits when idle, and under
	// load it had stopped before the "running" case looked at it).
	_, err := w.SC(ctx, "create", RemoteRegistryService, "binpath=", `C:\windows\system32\plugplay.exe`, "start=", "demand")
	require.NoError(t, err)
	open := smb.PipeOpener(w.OpenPipe)
	cfg := Config{ServiceTimeout: time.Minute}.withDefaults()

	t.Run("stopped, demand start: started, then stopped again", func(t *testing.T) {
		prepare(t, w, svcctl.Stopped, svcctl.DemandStart)
		rr, err := ensureRemoteRegistry(ctx, "wine", open, cfg)
		require.NoError(t, err)
		assert.Equal(t, ServiceStarted, rr.action())
		st, start := serviceState(t, w)
		assert.Equal(t, svcctl.Running, st)
		assert.Equal(t, svcctl.DemandStart, start)
		require.NoError(t, rr.restore(ctx))
		st, start = serviceState(t, w)
		assert.Equal(t, svcctl.Stopped, st)
		assert.Equal(t, svcctl.DemandStart, start)
	})

	t.Run("disabled: enabled and started, then stopped and disabled again", func(t *testing.T) {
		prepare(t, w, svcctl.Stopped, svcctl.Disabled)
		rr, err := ensureRemoteRegistry(ctx, "wine", open, cfg)
		require.NoError(t, err)
		assert.Equal(t, ServiceEnabledAndStarted, rr.action())
		st, start := serviceState(t, w)
		assert.Equal(t, svcctl.Running, st)
		assert.Equal(t, svcctl.DemandStart, start)
		require.NoError(t, rr.restore(ctx))
		st, start = serviceState(t, w)
		assert.Equal(t, svcctl.Stopped, st)
		assert.Equal(t, svcctl.Disabled, start)
	})

	t.Run("disabled and KeepDisabled: refused, untouched", func(t *testing.T) {
		prepare(t, w, svcctl.Stopped, svcctl.Disabled)
		keep := cfg
		keep.KeepDisabled = true
		_, err := ensureRemoteRegistry(ctx, "wine", open, keep)
		assert.ErrorIs(t, err, ErrRemoteRegistryDisabled)
		st, start := serviceState(t, w)
		assert.Equal(t, svcctl.Stopped, st)
		assert.Equal(t, svcctl.Disabled, start)
	})

	t.Run("running: left running", func(t *testing.T) {
		prepare(t, w, svcctl.Running, svcctl.DemandStart)
		rr, err := ensureRemoteRegistry(ctx, "wine", open, cfg)
		require.NoError(t, err)
		assert.Equal(t, ServiceWasRunning, rr.action())
		require.NoError(t, rr.restore(ctx))
		st, _ := serviceState(t, w)
		assert.Equal(t, svcctl.Running, st)
	})

	t.Run("Open fails after starting it: put back", func(t *testing.T) {
		prepare(t, w, svcctl.Stopped, svcctl.Disabled)
		// Wine serves no \pipe\winreg: Open starts the service, fails to
		// bind the registry, and must undo the start.
		_, err := Open(ctx, "wine", open, cfg)
		require.Error(t, err)
		st, start := serviceState(t, w)
		assert.Equal(t, svcctl.Stopped, st)
		assert.Equal(t, svcctl.Disabled, start)
	})

	t.Run("cancelled after starting it: put back", func(t *testing.T) {
		prepare(t, w, svcctl.Stopped, svcctl.Disabled)
		cctx, cancelOpen := context.WithCancel(ctx)
		cancelling := func(ctx context.Context, name string) (net.Conn, error) {
			if name == "winreg" {
				cancelOpen() // the caller gives up while the registry opens
				return nil, cctx.Err()
			}
			return w.OpenPipe(ctx, name)
		}
		_, err := Open(cctx, "wine", cancelling, cfg)
		require.Error(t, err)
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
		st, start := serviceState(t, w)
		assert.Equal(t, svcctl.Stopped, st)
		assert.Equal(t, svcctl.Disabled, start)
	})
}
