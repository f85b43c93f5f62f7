package svcctl_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/remotesvc"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// The emulated Windows host (package deployertest) runs the whole service life
// cycle that Samba cannot: create, start, stop with a service-specific exit
// code, delete, and the SCM's error codes.

const winSvcPath = `C:\Windows\nxd\svc.exe`

// jobProgram is the emulated service: it reports RUNNING, then waits until
// the test finishes it with an exit code, or until it is stopped.
type jobProgram struct {
	mu      sync.Mutex
	finish  chan uint32
	started []deployertest.Run
}

func newJobProgram() *jobProgram { return &jobProgram{finish: make(chan uint32, 16)} }

func (p *jobProgram) run(ctx context.Context, run *deployertest.Run) (uint32, bool) {
	p.mu.Lock()
	p.started = append(p.started, deployertest.Run{Service: run.Service, CommandLine: run.CommandLine, StartArgs: run.StartArgs})
	p.mu.Unlock()
	if run.Service == "nxd-hang" {
		<-ctx.Done() // never reports RUNNING: StartServiceW times out
		return 0, false
	}
	run.ReportRunning()
	select {
	case code := <-p.finish:
		return code, true
	case <-ctx.Done():
		return 0, false
	}
}

func (p *jobProgram) runs() []deployertest.Run {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]deployertest.Run(nil), p.started...)
}

type winPeer struct {
	h    *deployertest.Host
	prog *jobProgram
	user deployertest.User
}

func startWinhost(t testing.TB, opts ...deployertest.Option) *winPeer {
	t.Helper()
	root := t.TempDir()
	adminDir := filepath.Join(root, "C", "Windows")
	require.NoError(t, os.MkdirAll(filepath.Join(adminDir, "nxd"), 0o755))
	// A real service image: the host's loader refuses what Windows would.
	bin, err := remotesvc.Binary("amd64")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(adminDir, "nxd", "svc.exe"), bin, 0o644))
	p := &winPeer{prog: newJobProgram(), user: deployertest.User{Name: "operator", Password: "Op-Passw0rd!"}}
	opts = append([]deployertest.Option{
		deployertest.WithRoot(root),
		deployertest.WithSigningRequired(),
		deployertest.WithUsers(p.user),
		deployertest.WithStartTimeout(500 * time.Millisecond),
		deployertest.WithProgram(p.prog.run),
	}, opts...)
	p.h = deployertest.Start(t, opts...)
	return p
}

func (p *winPeer) config(admin bool) svcctl.Config {
	cfg := svcctl.Config{
		Credentials:    smb.Credentials{User: p.user.Name, Password: p.user.Password},
		Port:           p.h.Port,
		RequestTimeout: 10 * time.Second,
	}
	if admin {
		cfg.Credentials = smb.Credentials{User: p.h.User, Password: p.h.Password}
	}
	return cfg
}

func (p *winPeer) dial(t *testing.T, cfg svcctl.Config) *svcctl.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := svcctl.Dial(ctx, p.h.IP, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	return c
}

func TestWinhostLifeCycle(t *testing.T) {
	verifyNoLeaks(t)
	p := startWinhost(t)
	ctx := testCtx(t)
	c := p.dial(t, p.config(true))
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	wait := svcctl.WaitOptions{Timeout: 10 * time.Second}

	svc, err := m.CreateService(ctx, "nxd-1", "nxd job 1", winSvcPath+" --job 1", svcctl.CreateOptions{})
	require.NoError(t, err)
	cfg, err := svc.QueryConfig(ctx)
	require.NoError(t, err)
	assert.Equal(t, svcctl.ServiceConfig{Type: svcctl.ServiceWin32OwnProcess, StartType: svcctl.DemandStart,
		ErrorControl: svcctl.ErrorControlIgnore, BinaryPath: winSvcPath + " --job 1", StartName: "LocalSystem",
		DisplayName: "nxd job 1"}, cfg)

	_, err = m.CreateService(ctx, "NXD-1", "other", winSvcPath, svcctl.CreateOptions{})
	requireTyped(t, err, derrors.StepCreateService, derrors.WindowsError, 1073)
	assert.True(t, svcctl.IsServiceExists(err))

	st, err := svc.QueryStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, svcctl.Stopped, st.State)

	// Start, run, finish with msiexec's 1603 as the service-specific code.
	require.NoError(t, svc.Start(ctx, "--msi", `C:\Windows\nxd\x.msi`))
	st, err = svcctl.WaitState(ctx, svc, svcctl.Running, wait)
	require.NoError(t, err)
	assert.True(t, st.HasPID)
	assert.NotZero(t, st.PID)
	assert.True(t, st.Accepts(svcctl.AcceptStop))
	err = svc.Start(ctx)
	requireTyped(t, err, derrors.StepStartService, derrors.WindowsError, 1056)
	p.prog.finish <- 1603
	st, err = svcctl.WaitState(ctx, svc, svcctl.Stopped, wait)
	require.NoError(t, err)
	assert.Equal(t, svcctl.ExitServiceSpecific, st.Win32ExitCode)
	assert.Equal(t, uint32(1603), st.ServiceSpecificExitCode)
	assert.Equal(t, uint32(1603), st.ExitCode())
	runs := p.prog.runs()
	require.Len(t, runs, 1)
	assert.Equal(t, []string{"--msi", `C:\Windows\nxd\x.msi`}, runs[0].StartArgs)

	// Start again and stop it: STOP_PENDING with a wait hint, then STOPPED.
	require.NoError(t, svc.Start(ctx))
	st, err = svcctl.StopAndWait(ctx, svc, wait)
	require.NoError(t, err)
	assert.Equal(t, svcctl.Stopped, st.State)
	_, err = svc.Stop(ctx)
	requireTyped(t, err, derrors.StepStopService, derrors.WindowsError, 1062)
	assert.True(t, svcctl.IsNotActive(err))
	st, err = svcctl.StopAndWait(ctx, svc, wait)
	require.NoError(t, err, "not active counts as stopped")
	assert.Equal(t, svcctl.Stopped, st.State)

	// Reconfigure.
	auto := svcctl.AutoStart
	require.NoError(t, svc.ChangeConfig(ctx, svcctl.ChangeOptions{BinaryPath: winSvcPath + " --job 2", StartType: &auto}))
	cfg, err = svc.QueryConfig(ctx)
	require.NoError(t, err)
	assert.Equal(t, winSvcPath+" --job 2", cfg.BinaryPath)
	assert.Equal(t, svcctl.AutoStart, cfg.StartType)
	assert.Equal(t, "nxd job 1", cfg.DisplayName, "unchanged")

	// The leftover sweep finds our services by prefix.
	other, err := m.CreateService(ctx, "nxd-2", "", winSvcPath, svcctl.CreateOptions{})
	require.NoError(t, err)
	list, err := m.EnumServices(ctx, svcctl.EnumOptions{Prefix: "nxd-"})
	require.NoError(t, err)
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	assert.ElementsMatch(t, []string{"nxd-1", "nxd-2"}, names)
	all, err := m.EnumServices(ctx, svcctl.EnumOptions{})
	require.NoError(t, err)
	assert.Greater(t, len(all), len(list))

	// Delete while a second handle is open: marked for delete (1072)
	// until the handles close, then gone (1060).
	second, err := m.OpenService(ctx, "nxd-1", svcctl.ServiceQueryStatus)
	require.NoError(t, err)
	require.NoError(t, svc.Delete(ctx))
	err = svc.Delete(ctx)
	de := requireTyped(t, err, derrors.StepDeleteService, derrors.WindowsError, 1072)
	assert.Equal(t, derrors.ReasonServiceMarkedForDelete, de.Reason)
	_, err = m.CreateService(ctx, "nxd-1", "again", winSvcPath, svcctl.CreateOptions{})
	requireTyped(t, err, derrors.StepCreateService, derrors.WindowsError, 1072)
	assert.True(t, svcctl.IsMarkedForDelete(err))
	require.NoError(t, svc.Close())
	err = svcctl.WaitDeleted(ctx, m, "nxd-1", svcctl.WaitOptions{Timeout: 300 * time.Millisecond})
	de = requireTyped(t, err, derrors.StepDeleteService, derrors.WindowsError, 1072)
	assert.ErrorIs(t, err, svcctl.ErrWaitTimeout)
	assert.Equal(t, derrors.ReasonServiceMarkedForDelete, de.Reason)
	require.NoError(t, second.Close())
	require.NoError(t, svcctl.WaitDeleted(ctx, m, "nxd-1", wait))
	_, err = m.OpenService(ctx, "nxd-1", svcctl.ServiceQueryStatus)
	assert.True(t, svcctl.IsServiceNotFound(err), "%v", err)

	// The helper: delete, close, wait.
	require.NoError(t, svcctl.DeleteAndWait(ctx, other, wait))
	_, ok := p.h.Service("nxd-2")
	assert.False(t, ok)

	require.NoError(t, m.Close())
	assert.Equal(t, uint64(1), c.Generation(), "no call may have lost the transport")
}

func TestWinhostStartFailures(t *testing.T) {
	p := startWinhost(t)
	ctx := testCtx(t)
	c := p.dial(t, p.config(true))
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	tests := []struct {
		name   string
		svc    string
		path   string
		code   uint32
		reason derrors.Reason
	}{
		{"payload quarantined", "nxd-gone", `C:\Windows\nxd\removed.exe`, 2, derrors.NoReason},
		{"no start report", "nxd-hang", winSvcPath, 1053, derrors.ReasonServiceStartTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, err := m.CreateService(ctx, tt.svc, "", tt.path, svcctl.CreateOptions{})
			require.NoError(t, err)
			err = svc.Start(ctx)
			de := requireTyped(t, err, derrors.StepStartService, derrors.WindowsError, tt.code)
			assert.Equal(t, tt.reason, de.Reason)
			st, err := svc.QueryStatus(ctx)
			require.NoError(t, err)
			assert.Equal(t, svcctl.Stopped, st.State)
			assert.Equal(t, tt.code, st.Win32ExitCode)
			require.NoError(t, svcctl.DeleteAndWait(ctx, svc, svcctl.WaitOptions{Timeout: 5 * time.Second}))
		})
	}
}

func TestWinhostAccessDenied(t *testing.T) {
	tests := []struct {
		name  string
		opts  []deployertest.Option
		admin bool
	}{
		{"non-admin account", nil, false},
		{"UAC remote restrictions", []deployertest.Option{deployertest.WithUACRemoteRestrictions()}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startWinhost(t, tt.opts...)
			ctx := testCtx(t)
			c := p.dial(t, p.config(tt.admin))
			_, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
			de := requireTyped(t, err, derrors.StepOpenSCManager, derrors.SharedAccessFailure, 5)
			assert.Equal(t, derrors.ReasonNotAdministrator, de.Reason)
			m, err := c.OpenSCManager(ctx, svcctl.ManagerConnect|svcctl.ManagerEnumerateService)
			require.NoError(t, err, "a non-administrator may still connect and enumerate")
			_, err = m.EnumServices(ctx, svcctl.EnumOptions{})
			require.NoError(t, err)
			require.NoError(t, m.Close())
		})
	}
}

// TestWinhostTransportLoss cuts the connection around the non-idempotent
// calls and checks each outcome check against the SCM's real state.
func TestWinhostTransportLoss(t *testing.T) {
	p := startWinhost(t)
	ctx := testCtx(t)
	d := &dropper{dial: (&net.Dialer{}).DialContext}
	cfg := p.config(true)
	cfg.Dial = d.DialContext
	c := p.dial(t, cfg)
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	var svc *svcctl.Service

	steps := []struct {
		name string
		mode int32
		run  func(t *testing.T)
	}{
		{"delivered create is found by name", dropAfter, func(t *testing.T) {
			svc, err = m.CreateService(ctx, "nxd-lost-1", "", winSvcPath, svcctl.CreateOptions{})
			require.NoError(t, err)
			_, ok := p.h.Service("nxd-lost-1")
			assert.True(t, ok)
		}},
		{"undelivered create is resent", dropBefore, func(t *testing.T) {
			other, err := m.CreateService(ctx, "nxd-lost-2", "", winSvcPath, svcctl.CreateOptions{})
			require.NoError(t, err)
			st, err := other.QueryStatus(ctx)
			require.NoError(t, err)
			assert.Equal(t, svcctl.Stopped, st.State)
			require.NoError(t, other.Close())
		}},
		{"undelivered start of a never-started service is resent", dropBefore, func(t *testing.T) {
			// The service has never run (ERROR_SERVICE_NEVER_STARTED, 1077),
			// so a start the server did not receive is safely sent again.
			require.NoError(t, svc.Start(ctx))
			require.Len(t, p.prog.runs(), 1)
			st, err := svcctl.StopAndWait(ctx, svc, svcctl.WaitOptions{Timeout: 10 * time.Second})
			require.NoError(t, err)
			assert.Equal(t, svcctl.Stopped, st.State)
		}},
		{"undelivered start of a service that ran is ambiguous", dropBefore, func(t *testing.T) {
			// Stopped after a run, the service looks the same whether the
			// lost start was never sent or ran and exited at once.
			err := svc.Start(ctx)
			requireTyped(t, err, derrors.StepStartService, derrors.UnknownError, 0)
			assert.ErrorIs(t, err, svcctl.ErrTransportLost)
			assert.Len(t, p.prog.runs(), 1)
		}},
		{"delivered start finds the service running", dropAfter, func(t *testing.T) {
			require.NoError(t, svc.Start(ctx, "x"))
			require.Len(t, p.prog.runs(), 2)
			st, err := svc.QueryStatus(ctx)
			require.NoError(t, err)
			assert.Equal(t, svcctl.Running, st.State)
		}},
		{"delivered stop is retried", dropAfter, func(t *testing.T) {
			st, err := svcctl.StopAndWait(ctx, svc, svcctl.WaitOptions{Timeout: 10 * time.Second})
			require.NoError(t, err)
			assert.Equal(t, svcctl.Stopped, st.State)
		}},
		{"delivered delete is recognised", dropAfter, func(t *testing.T) {
			// The client finds it marked for delete (1072), or already gone
			// (1060) once the server has closed the lost connection's
			// handles.
			require.NoError(t, svc.Delete(ctx))
			require.NoError(t, svc.Close())
			require.NoError(t, svcctl.WaitDeleted(ctx, m, "nxd-lost-1", svcctl.WaitOptions{Timeout: 5 * time.Second}))
			_, ok := p.h.Service("nxd-lost-1")
			assert.False(t, ok)
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			// A call first, so that the transport and the handles are live
			// and the armed write is the step's own request.
			_, err := m.EnumServices(ctx, svcctl.EnumOptions{Prefix: "nxd-"})
			require.NoError(t, err)
			if svc != nil {
				_, err = svc.QueryConfig(ctx)
				require.NoError(t, err)
			}
			dropped, gen := d.dropped.Load(), c.Generation()
			d.armed.Store(s.mode)
			s.run(t)
			assert.Equal(t, dropped+1, d.dropped.Load(), "the armed write must have been cut")
			assert.Greater(t, c.Generation(), gen, "a new transport must have been dialled")
		})
	}
	require.NoError(t, m.Close())
}

// TestWinhostEnumPaging enumerates more services than one 64 KiB buffer
// holds, so the client pages with the resume index.
func TestWinhostEnumPaging(t *testing.T) {
	const count = 600
	var want []string
	var services []deployertest.Service
	for i := range count {
		name := fmt.Sprintf("nxd-page-%03d", i)
		want = append(want, name)
		state := "STOPPED"
		if i%3 == 0 {
			state = "RUNNING"
		}
		services = append(services, deployertest.Service{Name: name, DisplayName: name + " " + strings.Repeat("d", 120),
			BinaryPath: winSvcPath, State: state})
	}
	// The host also has the services of a fresh Windows: two running
	// (LanmanServer, Spooler) and Remote Registry, disabled.
	const fresh, freshStopped = 2, 1
	p := startWinhost(t, deployertest.WithServices(services...))
	ctx := testCtx(t)
	c := p.dial(t, p.config(true))
	m, err := c.OpenSCManager(ctx, svcctl.ManagerConnect|svcctl.ManagerEnumerateService)
	require.NoError(t, err)
	tests := []struct {
		name  string
		opts  svcctl.EnumOptions
		count int
	}{
		{"all", svcctl.EnumOptions{Prefix: "NXD-PAGE-"}, count},
		{"prefix", svcctl.EnumOptions{Prefix: "NXD-PAGE-1"}, 100},
		{"every service", svcctl.EnumOptions{}, count + fresh + freshStopped},
		{"active", svcctl.EnumOptions{State: svcctl.EnumActive}, count/3 + fresh},
		{"inactive", svcctl.EnumOptions{State: svcctl.EnumInactive}, count - count/3 + freshStopped},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := m.EnumServices(ctx, tt.opts)
			require.NoError(t, err)
			require.Len(t, list, tt.count)
			seen := map[string]bool{}
			for _, e := range list {
				assert.False(t, seen[e.Name], "duplicate %s", e.Name)
				seen[e.Name] = true
				if strings.HasPrefix(e.Name, "nxd-page-") {
					assert.Equal(t, e.Name+" "+strings.Repeat("d", 120), e.DisplayName)
				}
			}
			if tt.name == "all" {
				assert.ElementsMatch(t, want, slices.Collect(maps.Keys(seen)))
			}
		})
	}
	require.NoError(t, m.Close())
}

// TestWinhostStopAndWaitCleanup covers StopAndWait on a service that is
// going away: marked for delete while running, with the client's handle
// lost (1072 on reopen: wait until 1060), and then gone (1060: stopped).
func TestWinhostStopAndWaitCleanup(t *testing.T) {
	p := startWinhost(t)
	ctx := testCtx(t)
	d := &dropper{dial: (&net.Dialer{}).DialContext}
	cfg := p.config(true)
	cfg.Dial = d.DialContext
	c := p.dial(t, cfg)
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	svc, err := m.CreateService(ctx, "nxd-cleanup", "", winSvcPath, svcctl.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, svc.Start(ctx))
	require.NoError(t, svc.Delete(ctx))
	_, err = svc.QueryStatus(ctx)
	require.NoError(t, err)

	// The service exits on its own a little later; until then it is
	// RUNNING and marked for delete.
	time.AfterFunc(300*time.Millisecond, func() { p.prog.finish <- 0 })
	d.armed.Store(dropBefore)
	st, err := svcctl.StopAndWait(ctx, svc, svcctl.WaitOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, svcctl.Stopped, st.State)
	assert.Equal(t, int32(1), d.dropped.Load())
	_, ok := p.h.Service("nxd-cleanup")
	assert.False(t, ok, "removed once stopped with no handle left")

	st, err = svcctl.StopAndWait(ctx, svc, svcctl.WaitOptions{Timeout: 10 * time.Second})
	require.NoError(t, err, "a service that is gone counts as stopped")
	assert.Equal(t, svcctl.Stopped, st.State)
	require.NoError(t, svc.Close())
	require.NoError(t, m.Close())
}

// TestWinhostOwnSessionThroughTheGuard: without Config.Pipe (as with
// RPC-level authentication) go-msrpc opens its own SMB session; its frames pass the same connection
// guard as smb.Dial's, decrypted with go-msrpc's session key when the
// session is encrypted (SMB 3.1.1 GCM and 3.0.2 CCM).
func TestWinhostOwnSessionThroughTheGuard(t *testing.T) {
	verifyNoLeaks(t)
	for _, tt := range []struct {
		name string
		opts []deployertest.Option
	}{
		{"3.1.1", nil},
		{"3.0.2", []deployertest.Option{deployertest.WithMaxDialect(0x0302)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startWinhost(t, tt.opts...)
			ctx := testCtx(t)
			cfg := p.config(true)
			cfg.Encryption = smb.EncryptIfOffered
			c := p.dial(t, cfg)
			m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
			require.NoError(t, err)
			svc, err := m.OpenService(ctx, "Spooler", svcctl.ServiceQueryConfig)
			require.NoError(t, err)
			_, err = svc.QueryConfig(ctx)
			require.NoError(t, err)
			require.NoError(t, svc.Close())
			require.NoError(t, m.Close())
		})
	}
}
