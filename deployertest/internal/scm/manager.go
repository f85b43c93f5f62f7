package scm

import (
	"context"
	"crypto/rand"

	"github.com/nxdeploy/deployer/deployertest/internal/loader"
	"github.com/nxdeploy/deployer/msi"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultStartTimeout is the start timeout used when Options.StartTimeout
// is zero. Windows waits 30 s (ServicesPipeTimeout); tests want less.
const DefaultStartTimeout = 2 * time.Second

// Options configure a Manager.
type Options struct {
	// AdminDir is the host directory behind ADMIN$ (the system root).
	// Binary paths under SystemRoot map into it: a file missing there makes
	// StartServiceW fail with ERROR_FILE_NOT_FOUND, as when an antivirus
	// quarantined it. Empty disables the check.
	AdminDir string
	// SystemRoot is the Windows path of the system root, `C:\Windows` by
	// default.
	SystemRoot string
	// Blocked, when set, reports whether an antivirus blocks the executable
	// at a host path; StartServiceW then fails with ERROR_VIRUS_INFECTED
	// (225), as CreateProcess does on Windows.
	Blocked func(hostPath string) bool
	// StartTimeout bounds how long StartServiceW waits for the program to
	// report RUNNING before failing with ERROR_SERVICE_REQUEST_TIMEOUT.
	StartTimeout time.Duration
	// DenyAll makes OpenSCManagerW fail with ERROR_ACCESS_DENIED for every
	// caller (also settable later with SetDenyAll).
	DenyAll bool
	// RefuseCreate makes RCreateServiceW fail with ERROR_ACCESS_DENIED for
	// every caller while OpenSCManagerW still grants the right to create
	// (an RPC filter on that one operation, as Windows 11 and Server 2025
	// allow, or an EDR).
	RefuseCreate bool
	// Program runs the services created through CreateServiceW. Nil means
	// Installer(InstallerOptions{}).
	Program Program
	// Services preloads the database. Nil means DefaultServices(); an empty
	// non-nil slice means no services.
	Services []Preload
	// Load, when set, is the loader model: it decides whether the executable
	// at a host path starts on this host (see package loader). A refused
	// image makes StartServiceW fail with its code (ERROR_BAD_EXE_FORMAT,
	// ERROR_EXE_MACHINE_TYPE_MISMATCH); an image whose process dies before it
	// connects makes it fail with ERROR_SERVICE_REQUEST_TIMEOUT at once.
	Load func(hostPath string) loader.Result
	// MapImage, when set, is called with the executable of every service
	// that runs, and its result when the service's process ends: the SMB
	// server keeps a running image from being overwritten or deleted.
	MapImage func(hostPath string) (release func())
}

// Program runs one start of a service. It must call run.ReportRunning once
// it is running (or StartServiceW fails after the start timeout with
// ERROR_SERVICE_REQUEST_TIMEOUT), return when ctx is done (a stop request,
// a start timeout or Manager.Close), and return the exit code: a Win32 code,
// or a service-specific code (reported as ERROR_SERVICE_SPECIFIC_ERROR with
// the code in dwServiceSpecificExitCode).
type Program func(ctx context.Context, run *Run) (exitCode uint32, serviceSpecific bool)

// Run describes one start of a service to its Program.
type Run struct {
	// Service is the service's key name.
	Service string
	// BinaryPath is the service's binary path as its configuration holds
	// it (REG_EXPAND_SZ, %SystemRoot% not expanded).
	BinaryPath string
	// CommandLine is the service's binary path, with %SystemRoot% expanded.
	CommandLine string
	// Args are the command line split with the rules of
	// CommandLineToArgvW; Args[0] is the executable.
	Args []string
	// StartArgs are the arguments given to StartServiceW.
	StartArgs []string
	// Executable is the host path of Args[0] when it lies under the system
	// root, else "".
	Executable string
	// Seq numbers the runs of a Manager from 1, in start order.
	Seq int

	mapper  pathMapper
	running func()
}

// ReportRunning moves the service from START_PENDING to RUNNING and lets
// StartServiceW return success. Later calls do nothing.
func (r *Run) ReportRunning() { r.running() }

// HostPath maps a Windows path under the system root to a host path.
func (r *Run) HostPath(win string) (string, bool) { return r.mapper.HostPath(win) }

// DefaultServices returns the services a Manager holds when
// Options.Services is nil: LanmanServer and Spooler, both automatic and
// running, as on a Windows host after boot.
func DefaultServices() []Preload {
	svchost := `%SystemRoot%\System32\svchost.exe -k `
	return []Preload{
		{Name: "LanmanServer", Running: true, Config: Config{
			ServiceType: ServiceWin32ShareProcess, StartType: StartAuto, ErrorControl: ErrorControlNormal,
			BinaryPath: svchost + "smbsvcs", StartName: "LocalSystem", DisplayName: "Server",
		}},
		{Name: "Spooler", Running: true, Config: Config{
			ServiceType: ServiceWin32OwnProcess, StartType: StartAuto, ErrorControl: ErrorControlNormal,
			BinaryPath: `%SystemRoot%\System32\spoolsv.exe`, StartName: "LocalSystem", DisplayName: "Print Spooler",
		}},
	}
}

// Manager is the service control manager of one emulated host: its services
// database and the programs of running services. It is safe for concurrent
// use.
type Manager struct {
	opts   Options
	mapper pathMapper
	prog   Program

	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	services map[string]*service // by lower-case name
	denyAll  bool
	closed   bool
	nextPID  uint32
	runSeq   int
}

// service is one record of the database; guarded by Manager.mu.
type service struct {
	name    string
	cfg     Config
	status  Status
	builtin bool
	// startErr fails every start of a preloaded service (Preload.StartError).
	startErr Errno
	handles  int
	deleted  bool
	runs     int
	// security is the descriptor RSetServiceObjectSecurity set (nil: the
	// default).
	security []byte

	run    *Run
	cancel context.CancelFunc
	// release unmaps the running image (see Options.MapImage).
	release func()
}

// New returns a Manager with its preloaded services.
func New(opts Options) *Manager {
	if opts.SystemRoot == "" {
		opts.SystemRoot = `C:\Windows`
	}
	opts.SystemRoot = strings.TrimRight(opts.SystemRoot, `\`)
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	prog := opts.Program
	if prog == nil {
		prog = Installer(InstallerOptions{})
	}
	if opts.Services == nil {
		opts.Services = DefaultServices()
	}
	base, cancel := context.WithCancel(context.Background())
	m := &Manager{
		opts:     opts,
		mapper:   pathMapper{systemRoot: opts.SystemRoot, adminDir: opts.AdminDir},
		prog:     prog,
		base:     base,
		cancel:   cancel,
		services: make(map[string]*service),
		denyAll:  opts.DenyAll,
		nextPID:  1000,
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range opts.Services {
		cfg := p.Config
		if cfg.DisplayName == "" {
			cfg.DisplayName = p.Name
		}
		svc := &service{name: p.Name, cfg: cfg, builtin: true, startErr: p.StartError,
			status: Status{ServiceType: cfg.ServiceType, CurrentState: StateStopped}}
		m.services[strings.ToLower(p.Name)] = svc
		if p.Running {
			m.launchLocked(svc, nil, idleProgram)
			svc.status.CurrentState = StateRunning
			svc.status.ControlsAccepted = AcceptStop
			svc.status.CheckPoint, svc.status.WaitHint = 0, 0
		}
	}
	return m
}

// idleProgram is the program of preloaded services: it runs until stopped.
func idleProgram(ctx context.Context, run *Run) (uint32, bool) {
	run.ReportRunning()
	<-ctx.Done()
	return 0, false
}

// SetDenyAll switches the deny-everyone knob: when on, OpenSCManagerW fails
// with ERROR_ACCESS_DENIED for every caller.
func (m *Manager) SetDenyAll(deny bool) {
	m.mu.Lock()
	m.denyAll = deny
	m.mu.Unlock()
}

// Close stops every running program, waits for them to return, and makes
// later StartServiceW calls fail with ERROR_SHUTDOWN_IN_PROGRESS.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// Service returns a snapshot of the service called name (case-insensitive).
func (m *Manager) Service(name string) (ServiceInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	svc, ok := m.services[strings.ToLower(name)]
	if !ok {
		return ServiceInfo{}, false
	}
	return svc.info(), true
}

// Services returns snapshots of every service, sorted by name.
func (m *Manager) Services() []ServiceInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]ServiceInfo, 0, len(m.services))
	for _, svc := range m.sortedLocked() {
		out = append(out, svc.info())
	}
	return out
}

func (s *service) info() ServiceInfo {
	cfg := s.cfg
	cfg.Dependencies = append([]string(nil), cfg.Dependencies...)
	return ServiceInfo{Name: s.name, Config: cfg, Status: s.status, MarkedForDelete: s.deleted,
		OpenHandles: s.handles, Runs: s.runs}
}

func (m *Manager) sortedLocked() []*service {
	out := make([]*service, 0, len(m.services))
	for _, svc := range m.services {
		out = append(out, svc)
	}
	sort.Slice(out, func(i, j int) bool {
		return strings.ToLower(out[i].name) < strings.ToLower(out[j].name)
	})
	return out
}

// maybeRemoveLocked drops a service marked for delete once it has no open
// handle and no running program.
func (m *Manager) maybeRemoveLocked(svc *service) {
	if svc.deleted && svc.handles == 0 && svc.run == nil {
		key := strings.ToLower(svc.name)
		if m.services[key] == svc {
			delete(m.services, key)
		}
	}
}

// launchLocked starts prog for svc in START_PENDING. It returns the run, a
// channel closed when the run reports RUNNING and one closed when the
// program returns.
func (m *Manager) launchLocked(svc *service, startArgs []string, prog Program) (*Run, <-chan struct{}, <-chan struct{}) {
	cmd := m.mapper.expand(svc.cfg.BinaryPath)
	args := msi.SplitCommandLine(cmd)
	exe := ""
	if len(args) > 0 {
		exe, _ = m.mapper.HostPath(args[0])
	}
	m.runSeq++
	m.nextPID += 4
	run := &Run{Service: svc.name, BinaryPath: svc.cfg.BinaryPath, CommandLine: cmd, Args: args, StartArgs: startArgs, Executable: exe,
		Seq: m.runSeq, mapper: m.mapper}
	running := make(chan struct{})
	done := make(chan struct{})
	var once sync.Once
	run.running = func() {
		once.Do(func() {
			m.mu.Lock()
			if svc.run == run && svc.status.CurrentState == StateStartPending {
				svc.status.CurrentState = StateRunning
				svc.status.ControlsAccepted = AcceptStop
				svc.status.CheckPoint = 0
				svc.status.WaitHint = 0
			}
			m.mu.Unlock()
			close(running)
		})
	}
	ctx, cancel := context.WithCancel(m.base)
	svc.run, svc.cancel = run, cancel
	svc.runs++
	svc.status = Status{ServiceType: svc.cfg.ServiceType, CurrentState: StateStartPending,
		CheckPoint: 1, WaitHint: uint32(m.opts.StartTimeout / time.Millisecond), ProcessID: m.nextPID}
	release := func() {}
	if exe != "" && m.opts.MapImage != nil && !svc.builtin {
		release = m.opts.MapImage(exe)
	}
	svc.release = release
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		code, specific := prog(ctx, run)
		release()
		m.mu.Lock()
		if svc.run == run {
			svc.run, svc.cancel = nil, nil
			st := Status{ServiceType: svc.cfg.ServiceType, CurrentState: StateStopped, Win32ExitCode: code}
			if specific && code != 0 {
				st.Win32ExitCode, st.ServiceSpecificExitCode = uint32(ErrorServiceSpecificError), code
			}
			svc.status = st
			m.maybeRemoveLocked(svc)
		}
		m.mu.Unlock()
		close(done)
	}()
	return run, running, done
}

// newHandle returns a fresh random context handle value.
func newHandle() Handle {
	var h Handle
	for h.IsZero() {
		_, _ = rand.Read(h[:])
	}
	return h
}

// Handle is the UUID part of an RPC context handle to the SCM or a service.
type Handle [16]byte

// IsZero reports the NULL handle.
func (h Handle) IsZero() bool { return h == Handle{} }
