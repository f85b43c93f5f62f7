package scm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var admin = Caller{User: "Administrator", Admin: true}

// fixture is a Manager with an admin session and an SCM handle.
type fixture struct {
	m   *Manager
	dir string
	s   *Session
	scm Handle
}

func newFixture(t *testing.T, opts Options) *fixture {
	t.Helper()
	if opts.AdminDir == "" {
		opts.AdminDir = t.TempDir()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 300 * time.Millisecond
	}
	if opts.Services == nil {
		opts.Services = []Preload{}
	}
	m := New(opts)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	s := m.Open(admin)
	t.Cleanup(func() { _ = s.Close() })
	h, err := s.OpenSCManager("", SCManagerAllAccess)
	require.NoError(t, err)
	return &fixture{m: m, dir: opts.AdminDir, s: s, scm: h}
}

// exe creates a file under the admin dir and returns its Windows path.
func (f *fixture) exe(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(f.dir, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte("MZ"), 0o755))
	return `C:\Windows\` + strings.ReplaceAll(rel, "/", `\`)
}

func (f *fixture) create(t *testing.T, name, path string, start uint32) Handle {
	t.Helper()
	h, err := f.s.CreateService(f.scm, CreateParams{Name: name, DesiredAccess: ServiceAllAccess,
		ServiceType: ServiceWin32OwnProcess, StartType: start, BinaryPath: path})
	require.NoError(t, err)
	return h
}

func (f *fixture) waitState(t *testing.T, h Handle, state uint32) Status {
	t.Helper()
	var st Status
	require.Eventually(t, func() bool {
		var err error
		st, err = f.s.QueryStatus(h)
		require.NoError(t, err)
		return st.CurrentState == state
	}, 5*time.Second, 5*time.Millisecond)
	return st
}

// blocking reports RUNNING and returns code once stopped.
func blocking(code uint32, specific bool) Program {
	return func(ctx context.Context, run *Run) (uint32, bool) {
		run.ReportRunning()
		<-ctx.Done()
		return code, specific
	}
}

func TestOpenSCManagerAccess(t *testing.T) {
	tests := []struct {
		name     string
		caller   Caller
		deny     bool
		database string
		access   uint32
		want     error
	}{
		{"admin all access", admin, false, "", SCManagerAllAccess, nil},
		{"admin generic all", admin, false, "ServicesActive", GenericAll, nil},
		{"admin maximum allowed", admin, false, "", MaximumAllowed, nil},
		{"user all access", Caller{User: "bob"}, false, "", SCManagerAllAccess, ErrorAccessDenied},
		{"user create service", Caller{User: "bob"}, false, "", SCManagerCreateService, ErrorAccessDenied},
		{"user generic write", Caller{User: "bob"}, false, "", GenericWrite, ErrorAccessDenied},
		{"user connect", Caller{User: "bob"}, false, "", SCManagerConnect, nil},
		{"user generic read", Caller{User: "bob"}, false, "", GenericRead, nil},
		{"user maximum allowed", Caller{User: "bob"}, false, "", MaximumAllowed, nil},
		{"deny everyone", admin, true, "", SCManagerConnect, ErrorAccessDenied},
		{"failed database", admin, false, "ServicesFailed", SCManagerConnect, ErrorDatabaseDoesNotExist},
		{"unknown database", admin, false, "Other", SCManagerConnect, ErrorInvalidName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(Options{DenyAll: tt.deny, Services: []Preload{}})
			t.Cleanup(func() { _ = m.Close() })
			s := m.Open(tt.caller)
			h, err := s.OpenSCManager(tt.database, tt.access)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				assert.True(t, h.IsZero())
				return
			}
			require.NoError(t, err)
			assert.False(t, h.IsZero())
		})
	}
}

func TestSetDenyAll(t *testing.T) {
	f := newFixture(t, Options{})
	f.m.SetDenyAll(true)
	_, err := f.s.OpenSCManager("", SCManagerConnect)
	require.ErrorIs(t, err, ErrorAccessDenied)
	f.m.SetDenyAll(false)
	_, err = f.s.OpenSCManager("", SCManagerConnect)
	require.NoError(t, err)
}

func TestCreateServiceValidation(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "taken", `C:\x.exe`, StartDemand)
	connectOnly, err := f.s.OpenSCManager("", SCManagerConnect)
	require.NoError(t, err)
	ok := CreateParams{Name: "new", DesiredAccess: ServiceAllAccess, ServiceType: ServiceWin32OwnProcess,
		StartType: StartDemand, BinaryPath: `C:\x.exe`}
	with := func(mod func(*CreateParams)) CreateParams { p := ok; mod(&p); return p }
	tests := []struct {
		name string
		scm  Handle
		p    CreateParams
		want error
	}{
		{"exists", f.scm, with(func(p *CreateParams) { p.Name = "TAKEN" }), ErrorServiceExists},
		{"empty name", f.scm, with(func(p *CreateParams) { p.Name = "" }), ErrorInvalidName},
		{"backslash in name", f.scm, with(func(p *CreateParams) { p.Name = `a\b` }), ErrorInvalidName},
		{"name too long", f.scm, with(func(p *CreateParams) { p.Name = strings.Repeat("n", 257) }), ErrorInvalidName},
		{"empty binary path", f.scm, with(func(p *CreateParams) { p.BinaryPath = " " }), ErrorInvalidParameter},
		{"bad service type", f.scm, with(func(p *CreateParams) { p.ServiceType = 0x40 }), ErrorInvalidParameter},
		{"interactive driver", f.scm, with(func(p *CreateParams) { p.ServiceType = ServiceKernelDriver | ServiceInteractive }), ErrorInvalidParameter},
		{"boot start for win32", f.scm, with(func(p *CreateParams) { p.StartType = StartBoot }), ErrorInvalidParameter},
		{"bad start type", f.scm, with(func(p *CreateParams) { p.StartType = 9 }), ErrorInvalidParameter},
		{"bad error control", f.scm, with(func(p *CreateParams) { p.ErrorControl = 4 }), ErrorInvalidParameter},
		{"display name taken", f.scm, with(func(p *CreateParams) { p.DisplayName = "Taken" }), ErrorDuplicateServiceName},
		{"no create right", connectOnly, ok, ErrorAccessDenied},
		{"invalid handle", Handle{1}, ok, ErrorInvalidHandle},
		{"valid", f.scm, ok, nil},
		{"valid interactive share", f.scm, with(func(p *CreateParams) {
			p.Name, p.ServiceType = "shared", ServiceWin32ShareProcess|ServiceInteractive
		}), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.s.CreateService(tt.scm, tt.p)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestOpenService(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "svc", `C:\x.exe`, StartDemand)
	user := f.m.Open(Caller{User: "bob"})
	t.Cleanup(func() { _ = user.Close() })
	userSCM, err := user.OpenSCManager("", SCManagerConnect)
	require.NoError(t, err)
	tests := []struct {
		name   string
		s      *Session
		scm    Handle
		svc    string
		access uint32
		want   error
	}{
		{"admin", f.s, f.scm, "SVC", ServiceAllAccess, nil},
		{"missing", f.s, f.scm, "nope", ServiceQueryStatus, ErrorServiceDoesNotExist},
		{"invalid name", f.s, f.scm, "", ServiceQueryStatus, ErrorInvalidName},
		{"user all access", user, userSCM, "svc", ServiceAllAccess, ErrorAccessDenied},
		{"user start", user, userSCM, "svc", ServiceStart, ErrorAccessDenied},
		{"user query", user, userSCM, "svc", ServiceQueryStatus | ServiceQueryConfig, nil},
		{"service handle as scm", f.s, Handle{}, "svc", ServiceQueryStatus, ErrorInvalidHandle},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := tt.s.OpenService(tt.scm, tt.svc, tt.access)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			require.NoError(t, tt.s.CloseHandle(h))
			require.ErrorIs(t, tt.s.CloseHandle(h), ErrorInvalidHandle)
		})
	}
}

func TestStartServiceErrors(t *testing.T) {
	var aborted = func(ctx context.Context, run *Run) (uint32, bool) { return 3, false }
	tests := []struct {
		name    string
		program Program
		path    func(f *fixture, t *testing.T) string
		start   uint32
		twice   bool
		want    error
		after   Status
	}{
		{"runs", blocking(0, false), exePath("nx/a.exe"), StartDemand, false, nil,
			Status{CurrentState: StateRunning, ControlsAccepted: AcceptStop}},
		{"already running", blocking(0, false), exePath("nx/a.exe"), StartDemand, true, ErrorServiceAlreadyRunning,
			Status{CurrentState: StateRunning, ControlsAccepted: AcceptStop}},
		{"disabled", blocking(0, false), exePath("nx/a.exe"), StartDisabled, false, ErrorServiceDisabled,
			Status{CurrentState: StateStopped, Win32ExitCode: uint32(ErrorServiceNeverStarted)}},
		{"quarantined binary", blocking(0, false), func(*fixture, *testing.T) string { return `%SystemRoot%\nx\gone.exe -x` },
			StartDemand, false, ErrorFileNotFound, Status{CurrentState: StateStopped, Win32ExitCode: 2}},
		{"binary path is a directory", blocking(0, false), func(f *fixture, t *testing.T) string {
			f.exe(t, "nx/dir/file")
			return `C:\Windows\nx\dir`
		}, StartDemand, false, ErrorFileNotFound, Status{CurrentState: StateStopped, Win32ExitCode: 2}},
		{"outside the system root is not checked", blocking(0, false), func(*fixture, *testing.T) string { return `"C:\Program Files\x.exe"` },
			StartDemand, false, nil, Status{CurrentState: StateRunning, ControlsAccepted: AcceptStop}},
		{"never reports running", func(ctx context.Context, run *Run) (uint32, bool) { <-ctx.Done(); return 0, false },
			exePath("nx/a.exe"), StartDemand, false, ErrorServiceRequestTimeout,
			Status{CurrentState: StateStopped, Win32ExitCode: 1053}},
		{"exits before running", aborted, exePath("nx/a.exe"), StartDemand, false, ErrorProcessAborted,
			Status{CurrentState: StateStopped, Win32ExitCode: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, Options{Program: tt.program})
			h := f.create(t, "svc", tt.path(f, t), tt.start)
			err := f.s.StartService(context.Background(), h, nil)
			if tt.twice {
				require.NoError(t, err)
				err = f.s.StartService(context.Background(), h, nil)
			}
			if tt.want == nil {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, tt.want)
			}
			st := f.waitState(t, h, tt.after.CurrentState)
			assert.Equal(t, tt.after.ControlsAccepted, st.ControlsAccepted)
			assert.Equal(t, tt.after.Win32ExitCode, st.Win32ExitCode)
		})
	}
}

func exePath(rel string) func(f *fixture, t *testing.T) string {
	return func(f *fixture, t *testing.T) string { return f.exe(t, rel) }
}

func TestStartServiceAccessAndMarked(t *testing.T) {
	f := newFixture(t, Options{Program: blocking(0, false)})
	path := f.exe(t, "a.exe")
	h := f.create(t, "svc", path, StartDemand)
	q, err := f.s.OpenService(f.scm, "svc", ServiceQueryStatus)
	require.NoError(t, err)
	require.ErrorIs(t, f.s.StartService(context.Background(), q, nil), ErrorAccessDenied)
	require.NoError(t, f.s.Delete(h))
	require.ErrorIs(t, f.s.StartService(context.Background(), h, nil), ErrorServiceMarkedForDelete)
}

func TestStartServiceContextCancelled(t *testing.T) {
	f := newFixture(t, Options{StartTimeout: time.Minute,
		Program: func(ctx context.Context, run *Run) (uint32, bool) { <-ctx.Done(); return 0, false }})
	h := f.create(t, "svc", f.exe(t, "a.exe"), StartDemand)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, f.s.StartService(ctx, h, nil), context.DeadlineExceeded)
	st, err := f.s.QueryStatus(h)
	require.NoError(t, err)
	assert.Equal(t, StateStartPending, st.CurrentState)
	assert.NotZero(t, st.WaitHint)
}

func TestControlService(t *testing.T) {
	f := newFixture(t, Options{Program: blocking(7, false)})
	h := f.create(t, "svc", f.exe(t, "a.exe"), StartDemand)
	q, err := f.s.OpenService(f.scm, "svc", ServiceQueryStatus)
	require.NoError(t, err)

	_, err = f.s.Control(h, ControlStop)
	require.ErrorIs(t, err, ErrorServiceNotActive)
	_, err = f.s.Control(h, ControlInterrogate)
	require.ErrorIs(t, err, ErrorServiceNotActive)

	require.NoError(t, f.s.StartService(context.Background(), h, []string{"a", "b"}))
	tests := []struct {
		name    string
		h       Handle
		control uint32
		want    error
	}{
		{"interrogate", h, ControlInterrogate, nil},
		{"pause not accepted", h, ControlPause, ErrorInvalidServiceControl},
		{"shutdown", h, ControlShutdown, ErrorInvalidServiceControl},
		{"invalid control", h, 77, ErrorInvalidParameter},
		{"stop without right", q, ControlStop, ErrorAccessDenied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := f.s.Control(tt.h, tt.control)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, StateRunning, st.CurrentState)
		})
	}
	st, err := f.s.Control(h, ControlStop)
	require.NoError(t, err)
	assert.Contains(t, []uint32{StateStopPending, StateStopped}, st.CurrentState)
	st = f.waitState(t, h, StateStopped)
	assert.Equal(t, uint32(7), st.Win32ExitCode)
	assert.Zero(t, st.ServiceSpecificExitCode)
}

func TestControlWhilePending(t *testing.T) {
	release := make(chan struct{})
	f := newFixture(t, Options{Program: func(ctx context.Context, run *Run) (uint32, bool) {
		run.ReportRunning()
		<-ctx.Done()
		<-release // a slow stop
		return 0, false
	}})
	h := f.create(t, "svc", f.exe(t, "a.exe"), StartDemand)
	require.NoError(t, f.s.StartService(context.Background(), h, nil))
	st, err := f.s.Control(h, ControlStop)
	require.NoError(t, err)
	assert.Equal(t, StateStopPending, st.CurrentState)
	assert.Equal(t, uint32(1), st.CheckPoint)
	_, err = f.s.Control(h, ControlStop)
	require.ErrorIs(t, err, ErrorServiceCannotAcceptCtrl)
	require.ErrorIs(t, f.s.StartService(context.Background(), h, nil), ErrorServiceAlreadyRunning)
	close(release)
	f.waitState(t, h, StateStopped)
}

func TestDeleteService(t *testing.T) {
	f := newFixture(t, Options{Program: blocking(0, false)})
	h := f.create(t, "svc", f.exe(t, "a.exe"), StartDemand)
	h2, err := f.s.OpenService(f.scm, "svc", ServiceQueryStatus)
	require.NoError(t, err)
	require.ErrorIs(t, f.s.Delete(h2), ErrorAccessDenied)

	require.NoError(t, f.s.StartService(context.Background(), h, nil))
	require.NoError(t, f.s.Delete(h))
	require.ErrorIs(t, f.s.Delete(h), ErrorServiceMarkedForDelete)
	_, err = f.s.OpenService(f.scm, "svc", ServiceQueryStatus)
	require.ErrorIs(t, err, ErrorServiceMarkedForDelete)
	_, err = f.s.CreateService(f.scm, CreateParams{Name: "svc", ServiceType: ServiceWin32OwnProcess,
		StartType: StartDemand, BinaryPath: `C:\x.exe`})
	require.ErrorIs(t, err, ErrorServiceMarkedForDelete)
	require.ErrorIs(t, f.s.ChangeConfig(h, ChangeParams{ServiceType: NoChange, StartType: StartAuto, ErrorControl: NoChange}),
		ErrorServiceMarkedForDelete)

	// Handles closed but still running: the record stays.
	require.NoError(t, f.s.CloseHandle(h2))
	_, err = f.s.Control(h, ControlStop)
	require.NoError(t, err)
	require.NoError(t, f.s.CloseHandle(h))
	require.Eventually(t, func() bool { _, ok := f.m.Service("svc"); return !ok }, 5*time.Second, 5*time.Millisecond)
	_, err = f.s.OpenService(f.scm, "svc", ServiceQueryStatus)
	require.ErrorIs(t, err, ErrorServiceDoesNotExist)
	f.create(t, "svc", `C:\x.exe`, StartDemand)
}

func TestSessionCloseRunsDown(t *testing.T) {
	f := newFixture(t, Options{})
	s := f.m.Open(admin)
	scmH, err := s.OpenSCManager("", SCManagerAllAccess)
	require.NoError(t, err)
	h, err := s.CreateService(scmH, CreateParams{Name: "svc", DesiredAccess: ServiceAllAccess,
		ServiceType: ServiceWin32OwnProcess, StartType: StartDemand, BinaryPath: `C:\x.exe`})
	require.NoError(t, err)
	require.NoError(t, s.Delete(h))
	info, ok := f.m.Service("svc")
	require.True(t, ok)
	assert.True(t, info.MarkedForDelete)
	require.NoError(t, s.Close())
	_, ok = f.m.Service("svc")
	assert.False(t, ok)
	_, err = s.QueryStatus(h)
	require.ErrorIs(t, err, ErrorInvalidHandle)
}

func TestConfigChange(t *testing.T) {
	f := newFixture(t, Options{})
	f.create(t, "other", `C:\o.exe`, StartDemand)
	h := f.create(t, "svc", `C:\x.exe -a "b c"`, StartDemand)
	cfg, err := f.s.QueryConfig(h)
	require.NoError(t, err)
	assert.Equal(t, Config{ServiceType: ServiceWin32OwnProcess, StartType: StartDemand, BinaryPath: `C:\x.exe -a "b c"`,
		StartName: "LocalSystem", DisplayName: "svc"}, cfg)

	path, display := `C:\y.exe`, "Nice name"
	require.NoError(t, f.s.ChangeConfig(h, ChangeParams{ServiceType: NoChange, StartType: StartDisabled,
		ErrorControl: NoChange, BinaryPath: &path, DisplayName: &display, Dependencies: []string{"Tcpip"}}))
	cfg, err = f.s.QueryConfig(h)
	require.NoError(t, err)
	assert.Equal(t, StartDisabled, cfg.StartType)
	assert.Equal(t, path, cfg.BinaryPath)
	assert.Equal(t, display, cfg.DisplayName)
	assert.Equal(t, []string{"Tcpip"}, cfg.Dependencies)
	require.ErrorIs(t, f.s.StartService(context.Background(), h, nil), ErrorServiceDisabled)

	taken := "other"
	require.ErrorIs(t, f.s.ChangeConfig(h, ChangeParams{ServiceType: NoChange, StartType: NoChange,
		ErrorControl: NoChange, DisplayName: &taken}), ErrorDuplicateServiceName)
	require.ErrorIs(t, f.s.ChangeConfig(h, ChangeParams{ServiceType: NoChange, StartType: StartBoot,
		ErrorControl: NoChange}), ErrorInvalidParameter)
	q, err := f.s.OpenService(f.scm, "svc", ServiceQueryStatus)
	require.NoError(t, err)
	require.ErrorIs(t, f.s.ChangeConfig(q, ChangeParams{ServiceType: NoChange, StartType: NoChange,
		ErrorControl: NoChange}), ErrorAccessDenied)
	_, err = f.s.QueryConfig(q)
	require.ErrorIs(t, err, ErrorAccessDenied)
}

func TestEnumServices(t *testing.T) {
	f := newFixture(t, Options{Services: DefaultServices()})
	f.create(t, "drv", `C:\d.sys`, StartDemand)
	_, err := f.s.CreateService(f.scm, CreateParams{Name: "kd", ServiceType: ServiceKernelDriver,
		StartType: StartSystem, BinaryPath: `C:\k.sys`})
	require.NoError(t, err)
	names := func(es []EnumEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.Name)
		}
		return out
	}
	tests := []struct {
		typ, state uint32
		want       []string
		err        error
	}{
		{ServiceWin32, EnumAll, []string{"drv", "LanmanServer", "Spooler"}, nil},
		{ServiceWin32, EnumActive, []string{"LanmanServer", "Spooler"}, nil},
		{ServiceWin32, EnumInactive, []string{"drv"}, nil},
		{ServiceDriver, EnumAll, []string{"kd"}, nil},
		{ServiceWin32 | ServiceDriver, EnumAll, []string{"drv", "kd", "LanmanServer", "Spooler"}, nil},
		{ServiceWin32, 4, nil, ErrorInvalidParameter},
		{0, EnumAll, nil, ErrorInvalidParameter},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("type=%#x,state=%d", tt.typ, tt.state), func(t *testing.T) {
			es, err := f.s.EnumServices(f.scm, tt.typ, tt.state)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, names(es))
		})
	}
	connectOnly, err := f.s.OpenSCManager("", SCManagerConnect)
	require.NoError(t, err)
	_, err = f.s.EnumServices(connectOnly, ServiceWin32, EnumAll)
	require.ErrorIs(t, err, ErrorAccessDenied)
}

func TestInstallerOutcomeScript(t *testing.T) {
	f := newFixture(t, Options{Program: Installer(InstallerOptions{Outcomes: []uint32{1618, 1618, 0},
		Duration: 30 * time.Millisecond, ProgressLines: 3})})
	f.exe(t, "nx/job/setup.msi")
	h := f.create(t, "nx-job", f.exe(t, "nx/job/svc.exe")+` /i C:\Windows\nx\job\setup.msi /qn /l*v "C:\Windows\nx\job\install log.txt"`, StartDemand)
	want := []Status{
		{Win32ExitCode: 1066, ServiceSpecificExitCode: 1618},
		{Win32ExitCode: 1066, ServiceSpecificExitCode: 1618},
		{Win32ExitCode: 0, ServiceSpecificExitCode: 0},
		{Win32ExitCode: 0, ServiceSpecificExitCode: 0},
	}
	for i, w := range want {
		require.NoError(t, f.s.StartService(context.Background(), h, nil), "run %d", i)
		st := f.waitState(t, h, StateStopped)
		assert.Equal(t, w.Win32ExitCode, st.Win32ExitCode, "run %d", i)
		assert.Equal(t, w.ServiceSpecificExitCode, st.ServiceSpecificExitCode, "run %d", i)
	}
	log, err := os.ReadFile(filepath.Join(f.dir, "nx", "job", "install log.txt"))
	require.NoError(t, err)
	assert.Equal(t, 4*3, strings.Count(string(log), "Progress "))
	assert.Equal(t, 2, strings.Count(string(log), "MainEngineThread is returning 1618"))
	assert.Equal(t, 2, strings.Count(string(log), "MainEngineThread is returning 0"))
	info, _ := f.m.Service("nx-job")
	assert.Equal(t, 4, info.Runs)
}

func TestInstallerMissingPackageAndStop(t *testing.T) {
	f := newFixture(t, Options{Program: Installer(InstallerOptions{Duration: time.Hour, LogFile: "nx/fallback.log"})})
	missing := f.create(t, "missing", f.exe(t, "nx/svc.exe")+` /i C:\Windows\nx\gone.msi`, StartDemand)
	require.NoError(t, f.s.StartService(context.Background(), missing, nil))
	st := f.waitState(t, missing, StateStopped)
	assert.Equal(t, uint32(1066), st.Win32ExitCode)
	assert.Equal(t, uint32(1619), st.ServiceSpecificExitCode)

	slow := f.create(t, "slow", f.exe(t, "nx/svc.exe"), StartDemand)
	require.NoError(t, f.s.StartService(context.Background(), slow, nil))
	st, err := f.s.QueryStatus(slow)
	require.NoError(t, err)
	assert.Equal(t, StateRunning, st.CurrentState)
	assert.NotZero(t, st.ProcessID)
	_, err = f.s.Control(slow, ControlStop)
	require.NoError(t, err)
	st = f.waitState(t, slow, StateStopped)
	assert.Equal(t, uint32(1602), st.ServiceSpecificExitCode)
	log, err := os.ReadFile(filepath.Join(f.dir, "nx", "fallback.log"))
	require.NoError(t, err)
	assert.Contains(t, string(log), "cancelled")
}

func TestInstallerNeverRunning(t *testing.T) {
	f := newFixture(t, Options{Program: Installer(InstallerOptions{NeverRunning: true})})
	h := f.create(t, "svc", f.exe(t, "svc.exe"), StartDemand)
	require.ErrorIs(t, f.s.StartService(context.Background(), h, nil), ErrorServiceRequestTimeout)
}

func TestRunArguments(t *testing.T) {
	got := make(chan *Run, 1)
	f := newFixture(t, Options{Program: func(ctx context.Context, run *Run) (uint32, bool) {
		got <- run
		run.ReportRunning()
		return 0, false
	}})
	f.exe(t, "NX/Svc.EXE")
	h := f.create(t, "svc", `"%SystemRoot%\nx\svc.exe" --job "a b" C:\Windows\nx\x.msi`, StartDemand)
	require.NoError(t, f.s.StartService(context.Background(), h, []string{"s1"}))
	run := <-got
	assert.Equal(t, []string{`C:\Windows\nx\svc.exe`, "--job", "a b", `C:\Windows\nx\x.msi`}, run.Args)
	assert.Equal(t, []string{"s1"}, run.StartArgs)
	assert.Equal(t, filepath.Join(f.dir, "NX", "Svc.EXE"), run.Executable)
	hp, ok := run.HostPath(`c:\windows\nx\..\..\..\etc\passwd`)
	assert.True(t, ok)
	assert.Equal(t, filepath.Join(f.dir, "etc", "passwd"), hp)
	_, ok = run.HostPath(`D:\x`)
	assert.False(t, ok)
}

func TestManagerCloseStopsPrograms(t *testing.T) {
	m := New(Options{Program: blocking(0, false), Services: DefaultServices()})
	s := m.Open(admin)
	scmH, err := s.OpenSCManager("", SCManagerAllAccess)
	require.NoError(t, err)
	h, err := s.CreateService(scmH, CreateParams{Name: "svc", DesiredAccess: ServiceAllAccess,
		ServiceType: ServiceWin32OwnProcess, StartType: StartDemand, BinaryPath: `C:\P\x.exe`})
	require.NoError(t, err)
	require.NoError(t, s.StartService(context.Background(), h, nil))
	require.NoError(t, m.Close())
	st, err := s.QueryStatus(h)
	require.NoError(t, err)
	assert.Equal(t, StateStopped, st.CurrentState)
	require.ErrorIs(t, s.StartService(context.Background(), h, nil), ErrorShutdownInProgress)
}

func TestConcurrentSessions(t *testing.T) {
	f := newFixture(t, Options{Program: Installer(InstallerOptions{Duration: 5 * time.Millisecond})})
	path := f.exe(t, "svc.exe")
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := f.m.Open(admin)
			defer s.Close()
			scmH, err := s.OpenSCManager("", SCManagerAllAccess)
			assert.NoError(t, err)
			name := fmt.Sprintf("svc-%d", i)
			h, err := s.CreateService(scmH, CreateParams{Name: name, DesiredAccess: ServiceAllAccess,
				ServiceType: ServiceWin32OwnProcess, StartType: StartDemand, BinaryPath: path})
			assert.NoError(t, err)
			assert.NoError(t, s.StartService(context.Background(), h, nil))
			_, _ = s.EnumServices(scmH, ServiceWin32, EnumAll)
			assert.NoError(t, s.Delete(h))
		}()
	}
	wg.Wait()
	assert.Eventually(t, func() bool { return len(f.m.Services()) == 0 }, 5*time.Second, 5*time.Millisecond)
}

func TestErrnoCode(t *testing.T) {
	assert.Equal(t, uint32(0), Code(nil))
	assert.Equal(t, uint32(1073), Code(fmt.Errorf("wrapped: %w", ErrorServiceExists)))
	assert.Equal(t, uint32(87), Code(context.Canceled))
	assert.Equal(t, "scm: ERROR_SERVICE_EXISTS (1073)", ErrorServiceExists.Error())
	assert.Equal(t, "scm: win32 error 4242", Errno(4242).Error())
}

func TestStartServiceBlockedByAntivirus(t *testing.T) {
	var asked []string
	f := newFixture(t, Options{Program: blocking(0, false), Blocked: func(p string) bool {
		asked = append(asked, p)
		return strings.HasSuffix(p, "bad.exe")
	}})
	bad := f.create(t, "bad", f.exe(t, "nx/bad.exe"), StartDemand)
	require.ErrorIs(t, f.s.StartService(context.Background(), bad, nil), ErrorVirusInfected)
	st := f.waitState(t, bad, StateStopped)
	assert.Equal(t, uint32(ErrorVirusInfected), st.Win32ExitCode)
	good := f.create(t, "good", f.exe(t, "nx/good.exe"), StartDemand)
	require.NoError(t, f.s.StartService(context.Background(), good, nil))
	require.Len(t, asked, 2, "the hook sees the executable's host path")
	assert.True(t, filepath.IsAbs(asked[0]))
}
