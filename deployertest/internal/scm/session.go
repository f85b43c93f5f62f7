package scm

import (
	"context"

	"github.com/nxdeploy/deployer/deployertest/internal/loader"
	"github.com/nxdeploy/deployer/msi"
	"os"
	"strings"
	"time"
)

// Session is one client's view of the SCM: the context handles it opened
// (an RPC association, or a named pipe instance). Close releases them all,
// as Windows runs the rundown of an association's context handles.
type Session struct {
	m       *Manager
	caller  Caller
	handles map[Handle]*handle // guarded by m.mu
}

type handle struct {
	access uint32
	svc    *service // nil for an SCM handle
}

// Open starts a Session for caller.
func (m *Manager) Open(caller Caller) *Session {
	return &Session{m: m, caller: caller, handles: make(map[Handle]*handle)}
}

// Caller returns the session's caller.
func (s *Session) Caller() Caller { return s.caller }

// Close closes every handle still open in the session.
func (s *Session) Close() error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	for h := range s.handles {
		s.closeLocked(h)
	}
	return nil
}

func (s *Session) closeLocked(h Handle) {
	hd := s.handles[h]
	delete(s.handles, h)
	if hd != nil && hd.svc != nil {
		hd.svc.handles--
		s.m.maybeRemoveLocked(hd.svc)
	}
}

func (s *Session) addLocked(hd *handle) Handle {
	h := newHandle()
	s.handles[h] = hd
	if hd.svc != nil {
		hd.svc.handles++
	}
	return h
}

// scmLocked returns the SCM handle h, checking it grants need.
func (s *Session) scmLocked(h Handle, need uint32) (*handle, error) {
	hd, ok := s.handles[h]
	if !ok || hd.svc != nil {
		return nil, ErrorInvalidHandle
	}
	if hd.access&need != need {
		return nil, ErrorAccessDenied
	}
	return hd, nil
}

// serviceLocked returns the service handle h, checking it grants need.
func (s *Session) serviceLocked(h Handle, need uint32) (*service, error) {
	hd, ok := s.handles[h]
	if !ok || hd.svc == nil {
		return nil, ErrorInvalidHandle
	}
	if hd.access&need != need {
		return nil, ErrorAccessDenied
	}
	return hd.svc, nil
}

// CloseHandle implements RCloseServiceHandle.
func (s *Session) CloseHandle(h Handle) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, ok := s.handles[h]; !ok {
		return ErrorInvalidHandle
	}
	s.closeLocked(h)
	return nil
}

// OpenSCManager implements ROpenSCManagerW: database must be "",
// "ServicesActive" or "ServicesFailed" (the last does not exist).
func (s *Session) OpenSCManager(database string, desired uint32) (Handle, error) {
	switch {
	case database == "" || strings.EqualFold(database, "ServicesActive"):
	case strings.EqualFold(database, "ServicesFailed"):
		return Handle{}, ErrorDatabaseDoesNotExist
	default:
		return Handle{}, ErrorInvalidName
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if s.m.denyAll {
		return Handle{}, ErrorAccessDenied
	}
	allowed := userSCMRights
	if s.caller.Admin {
		allowed = SCManagerAllAccess
	}
	granted, err := grant(scmMapping, desired|SCManagerConnect, allowed)
	if err != nil {
		return Handle{}, err
	}
	return s.addLocked(&handle{access: granted}), nil
}

// validName reports whether name is a valid service key or display name.
func validName(name string) bool {
	return name != "" && len([]rune(name)) <= 256 && !strings.ContainsAny(name, `/\`)
}

func validType(t uint32) bool {
	switch t &^ ServiceInteractive {
	case ServiceWin32OwnProcess, ServiceWin32ShareProcess:
		return true
	case ServiceKernelDriver, ServiceFileSystemDriver:
		return t&ServiceInteractive == 0
	}
	return false
}

func validStart(t, start uint32) bool {
	switch start {
	case StartAuto, StartDemand, StartDisabled:
		return true
	case StartBoot, StartSystem:
		return t == ServiceKernelDriver || t == ServiceFileSystemDriver
	}
	return false
}

// displayConflictLocked reports whether display collides with the name or
// display name of a service other than self.
func (m *Manager) displayConflictLocked(display string, self *service) bool {
	for _, other := range m.services {
		if other == self {
			continue
		}
		if strings.EqualFold(other.cfg.DisplayName, display) || strings.EqualFold(other.name, display) {
			return true
		}
	}
	return false
}

// CreateService implements RCreateServiceW.
func (s *Session) CreateService(scm Handle, p CreateParams) (Handle, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, err := s.scmLocked(scm, SCManagerCreateService); err != nil {
		return Handle{}, err
	}
	if s.m.opts.RefuseCreate {
		return Handle{}, ErrorAccessDenied
	}
	if !validName(p.Name) {
		return Handle{}, ErrorInvalidName
	}
	if p.DisplayName == "" {
		p.DisplayName = p.Name
	}
	if len([]rune(p.DisplayName)) > 256 {
		return Handle{}, ErrorInvalidName
	}
	if !validType(p.ServiceType) || !validStart(p.ServiceType, p.StartType) || p.ErrorControl > ErrorControlCritical ||
		strings.TrimSpace(p.BinaryPath) == "" {
		return Handle{}, ErrorInvalidParameter
	}
	if existing, ok := s.m.services[strings.ToLower(p.Name)]; ok {
		if existing.deleted {
			return Handle{}, ErrorServiceMarkedForDelete
		}
		return Handle{}, ErrorServiceExists
	}
	if s.m.displayConflictLocked(p.DisplayName, nil) {
		return Handle{}, ErrorDuplicateServiceName
	}
	granted, err := grant(serviceMapping, p.DesiredAccess, ServiceAllAccess)
	if err != nil {
		return Handle{}, err
	}
	startName := p.StartName
	if startName == "" && p.ServiceType&ServiceWin32 != 0 {
		startName = "LocalSystem"
	}
	svc := &service{name: p.Name, cfg: Config{
		ServiceType: p.ServiceType, StartType: p.StartType, ErrorControl: p.ErrorControl, BinaryPath: p.BinaryPath,
		LoadOrderGroup: p.LoadOrderGroup, Dependencies: append([]string(nil), p.Dependencies...),
		StartName: startName, DisplayName: p.DisplayName,
	}, status: Status{ServiceType: p.ServiceType, CurrentState: StateStopped,
		// As on Windows, a service that never ran says so.
		Win32ExitCode: uint32(ErrorServiceNeverStarted)}}
	s.m.services[strings.ToLower(p.Name)] = svc
	return s.addLocked(&handle{access: granted, svc: svc}), nil
}

// OpenService implements ROpenServiceW.
func (s *Session) OpenService(scm Handle, name string, desired uint32) (Handle, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, err := s.scmLocked(scm, SCManagerConnect); err != nil {
		return Handle{}, err
	}
	if !validName(name) {
		return Handle{}, ErrorInvalidName
	}
	svc, ok := s.m.services[strings.ToLower(name)]
	if !ok {
		return Handle{}, ErrorServiceDoesNotExist
	}
	if svc.deleted {
		return Handle{}, ErrorServiceMarkedForDelete
	}
	allowed := userServiceRights
	if s.caller.Admin {
		allowed = ServiceAllAccess
	}
	granted, err := grant(serviceMapping, desired, allowed)
	if err != nil {
		return Handle{}, err
	}
	return s.addLocked(&handle{access: granted, svc: svc}), nil
}

// QueryStatus implements RQueryServiceStatus and RQueryServiceStatusEx.
func (s *Session) QueryStatus(h Handle) (Status, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	svc, err := s.serviceLocked(h, ServiceQueryStatus)
	if err != nil {
		return Status{}, err
	}
	return svc.status, nil
}

// QueryConfig implements RQueryServiceConfigW.
func (s *Session) QueryConfig(h Handle) (Config, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	svc, err := s.serviceLocked(h, ServiceQueryConfig)
	if err != nil {
		return Config{}, err
	}
	return svc.info().Config, nil
}

// ChangeConfig implements RChangeServiceConfigW.
func (s *Session) ChangeConfig(h Handle, p ChangeParams) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	svc, err := s.serviceLocked(h, ServiceChangeConfig)
	if err != nil {
		return err
	}
	if svc.deleted {
		return ErrorServiceMarkedForDelete
	}
	cfg := svc.cfg
	if p.ServiceType != NoChange {
		cfg.ServiceType = p.ServiceType
	}
	if p.StartType != NoChange {
		cfg.StartType = p.StartType
	}
	if p.ErrorControl != NoChange {
		cfg.ErrorControl = p.ErrorControl
	}
	if !validType(cfg.ServiceType) || !validStart(cfg.ServiceType, cfg.StartType) || cfg.ErrorControl > ErrorControlCritical {
		return ErrorInvalidParameter
	}
	if p.BinaryPath != nil {
		if strings.TrimSpace(*p.BinaryPath) == "" {
			return ErrorInvalidParameter
		}
		cfg.BinaryPath = *p.BinaryPath
	}
	if p.LoadOrderGroup != nil {
		cfg.LoadOrderGroup = *p.LoadOrderGroup
	}
	if p.Dependencies != nil {
		cfg.Dependencies = append([]string(nil), p.Dependencies...)
	}
	if p.StartName != nil {
		cfg.StartName = *p.StartName
	}
	if p.DisplayName != nil && *p.DisplayName != "" {
		if len([]rune(*p.DisplayName)) > 256 {
			return ErrorInvalidName
		}
		if s.m.displayConflictLocked(*p.DisplayName, svc) {
			return ErrorDuplicateServiceName
		}
		cfg.DisplayName = *p.DisplayName
	}
	svc.cfg = cfg
	svc.status.ServiceType = cfg.ServiceType
	return nil
}

// Delete implements RDeleteService: the service is marked for delete and
// disappears once it is stopped and its last handle is closed.
func (s *Session) Delete(h Handle) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	svc, err := s.serviceLocked(h, AccessDelete)
	if err != nil {
		return err
	}
	if svc.deleted {
		return ErrorServiceMarkedForDelete
	}
	svc.deleted = true
	s.m.maybeRemoveLocked(svc)
	return nil
}

// Control implements RControlService for SERVICE_CONTROL_STOP and
// SERVICE_CONTROL_INTERROGATE (services accept no other control). The
// returned status is valid even with ERROR_SERVICE_NOT_ACTIVE,
// ERROR_SERVICE_CANNOT_ACCEPT_CTRL and ERROR_INVALID_SERVICE_CONTROL.
func (s *Session) Control(h Handle, control uint32) (Status, error) {
	var need uint32
	switch {
	case control == ControlStop:
		need = ServiceStop
	case control == ControlInterrogate:
		need = ServiceInterrogate
	case control == ControlPause || control == ControlContinue || (control >= ControlParamChange && control <= 10):
		need = ServicePauseContinue
	case control >= 128 && control <= 255:
		need = ServiceUserDefinedControl
	case control == ControlShutdown:
		return Status{}, ErrorInvalidServiceControl
	default:
		return Status{}, ErrorInvalidParameter
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	svc, err := s.serviceLocked(h, need)
	if err != nil {
		return Status{}, err
	}
	st := svc.status
	switch st.CurrentState {
	case StateStopped:
		return st, ErrorServiceNotActive
	case StateStartPending, StateStopPending:
		return st, ErrorServiceCannotAcceptCtrl
	}
	switch control {
	case ControlInterrogate:
		return st, nil
	case ControlStop:
		svc.status.CurrentState = StateStopPending
		svc.status.ControlsAccepted = 0
		svc.status.CheckPoint = 1
		svc.status.WaitHint = 3000
		svc.cancel()
		return svc.status, nil
	}
	return st, ErrorInvalidServiceControl
}

// StartService implements RStartServiceW. It returns once the program
// reports RUNNING (nil); with ERROR_SERVICE_REQUEST_TIMEOUT when it does not
// within the start timeout (the program is then cancelled); with
// ERROR_PROCESS_ABORTED when the program returns before reporting RUNNING;
// ERROR_FILE_NOT_FOUND when the executable is missing under ADMIN$;
// ERROR_SERVICE_DISABLED, ERROR_SERVICE_ALREADY_RUNNING or
// ERROR_SERVICE_MARKED_FOR_DELETE from the service's state; or ctx's error
// when ctx ends first (the start goes on).
func (s *Session) StartService(ctx context.Context, h Handle, args []string) error {
	m := s.m
	m.mu.Lock()
	svc, err := s.serviceLocked(h, ServiceStart)
	switch {
	case err != nil:
	case m.closed:
		err = ErrorShutdownInProgress
	case svc.deleted:
		err = ErrorServiceMarkedForDelete
	case svc.cfg.StartType == StartDisabled:
		err = ErrorServiceDisabled
	case svc.status.CurrentState != StateStopped:
		err = ErrorServiceAlreadyRunning
	}
	if err != nil {
		m.mu.Unlock()
		return err
	}
	prog := m.prog
	if svc.builtin && svc.startErr != 0 {
		svc.status.Win32ExitCode = uint32(svc.startErr)
		m.mu.Unlock()
		return svc.startErr
	} else if svc.builtin {
		prog = idleProgram
	} else if code := launchError(m.mapper, svc.cfg.BinaryPath, m.opts.Blocked); code != 0 {
		svc.status.Win32ExitCode = uint32(code)
		m.mu.Unlock()
		return code
	} else if r, ok := m.load(svc.cfg.BinaryPath); ok && !r.OK() {
		// The loader model refuses the image (CreateProcess fails), or its
		// process dies before it connects: Windows reports either at once.
		if r.Exited {
			svc.runs++
		}
		svc.status = Status{ServiceType: svc.cfg.ServiceType, CurrentState: StateStopped, Win32ExitCode: r.Code}
		m.mu.Unlock()
		return Errno(r.Code)
	}
	run, running, done := m.launchLocked(svc, append([]string(nil), args...), prog)
	m.mu.Unlock()

	timer := time.NewTimer(m.opts.StartTimeout)
	defer timer.Stop()
	select {
	case <-running:
		return nil
	case <-done:
		select {
		case <-running:
			return nil
		default:
			return ErrorProcessAborted
		}
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if svc.run != run || svc.status.CurrentState != StateStartPending {
		select {
		case <-running:
			return nil
		default:
			return ErrorProcessAborted
		}
	}
	svc.cancel()
	// Windows ends the process of a service that does not start in time before it reports it stopped: its image
	// is no longer in use.
	if svc.release != nil {
		svc.release()
	}
	svc.run, svc.cancel = nil, nil
	svc.status = Status{ServiceType: svc.cfg.ServiceType, CurrentState: StateStopped,
		Win32ExitCode: uint32(ErrorServiceRequestTimeout)}
	m.maybeRemoveLocked(svc)
	return ErrorServiceRequestTimeout
}

// missingExecutable reports whether the executable of the command line lies
// under the system root and is missing (or is a directory) on the host.
// launchError is why CreateProcess would fail for a service's binary path:
// ERROR_FILE_NOT_FOUND when the executable under the system root is missing
// (or is a directory), ERROR_VIRUS_INFECTED when blocked says an antivirus
// blocks it, 0 otherwise.
func launchError(p pathMapper, binaryPath string, blocked func(hostPath string) bool) Errno {
	args := msi.SplitCommandLine(p.expand(binaryPath))
	if len(args) == 0 {
		return ErrorFileNotFound
	}
	host, ok := p.HostPath(args[0])
	if !ok {
		return 0
	}
	if fi, err := os.Stat(host); err != nil || fi.IsDir() {
		return ErrorFileNotFound
	}
	if blocked != nil && blocked(host) {
		return ErrorVirusInfected
	}
	return 0
}

// EnumServices implements REnumServicesStatusW's selection: services of the
// given type (ServiceWin32, ServiceDriver or both) and state filter
// (EnumActive, EnumInactive, EnumAll), sorted by name.
func (s *Session) EnumServices(scm Handle, serviceType, state uint32) ([]EnumEntry, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if _, err := s.scmLocked(scm, SCManagerEnumerateService); err != nil {
		return nil, err
	}
	if serviceType == 0 || serviceType&^(ServiceWin32|ServiceDriver|ServiceInteractive) != 0 {
		return nil, ErrorInvalidParameter
	}
	if state < EnumActive || state > EnumAll {
		return nil, ErrorInvalidParameter
	}
	var out []EnumEntry
	for _, svc := range s.m.sortedLocked() {
		if svc.cfg.ServiceType&serviceType&^ServiceInteractive == 0 {
			continue
		}
		active := svc.status.CurrentState != StateStopped
		if (active && state&EnumActive == 0) || (!active && state&EnumInactive == 0) {
			continue
		}
		out = append(out, EnumEntry{Name: svc.name, DisplayName: svc.cfg.DisplayName, Status: svc.status})
	}
	return out, nil
}

// load runs the loader model on the executable of a binary path, when the
// model is set and the executable lies under the system root.
func (m *Manager) load(binaryPath string) (loader.Result, bool) {
	if m.opts.Load == nil {
		return loader.Result{}, false
	}
	args := msi.SplitCommandLine(m.mapper.expand(binaryPath))
	if len(args) == 0 {
		return loader.Result{}, false
	}
	host, ok := m.mapper.HostPath(args[0])
	if !ok {
		return loader.Result{}, false
	}
	return m.opts.Load(host), true
}

// Security information flags of RQueryServiceObjectSecurity and
// RSetServiceObjectSecurity ([MS-DTYP] 2.4.7).
const (
	OwnerSecurityInformation = 0x1
	GroupSecurityInformation = 0x2
	DACLSecurityInformation  = 0x4
	SACLSecurityInformation  = 0x8
)

// securityAccess is the access a security information request needs:
// READ_CONTROL (to read) or WRITE_OWNER/WRITE_DAC (to write) for the owner,
// group and DACL, ACCESS_SYSTEM_SECURITY for the SACL.
func securityAccess(info uint32, write bool) uint32 {
	var need uint32
	if info&SACLSecurityInformation != 0 {
		need |= AccessSystemSecurity
	}
	switch {
	case !write && info&(OwnerSecurityInformation|GroupSecurityInformation|DACLSecurityInformation) != 0:
		need |= AccessReadControl
	case write && info&(OwnerSecurityInformation|GroupSecurityInformation) != 0:
		need |= AccessWriteOwner
	}
	if write && info&DACLSecurityInformation != 0 {
		need |= AccessWriteDAC
	}
	return need
}

// ObjectSecurity implements RQueryServiceObjectSecurity's checks and returns
// the service's security descriptor as set by SetObjectSecurity (nil: the
// default one): info must name at least one part, and the handle must
// grant what reading it needs.
func (s *Session) ObjectSecurity(h Handle, info uint32) ([]byte, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if info == 0 || info&^(OwnerSecurityInformation|GroupSecurityInformation|DACLSecurityInformation|SACLSecurityInformation) != 0 {
		if _, err := s.serviceLocked(h, 0); err != nil {
			return nil, err
		}
		return nil, ErrorInvalidParameter
	}
	svc, err := s.serviceLocked(h, securityAccess(info, false))
	if err != nil {
		return nil, err
	}
	return svc.security, nil
}

// SetObjectSecurity implements RSetServiceObjectSecurity: the descriptor
// is kept and returned by later queries (it is not enforced: every service
// keeps the default access rules).
func (s *Session) SetObjectSecurity(h Handle, info uint32, sd []byte) error {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if info == 0 || info&^(OwnerSecurityInformation|GroupSecurityInformation|DACLSecurityInformation|SACLSecurityInformation) != 0 {
		if _, err := s.serviceLocked(h, 0); err != nil {
			return err
		}
		return ErrorInvalidParameter
	}
	svc, err := s.serviceLocked(h, securityAccess(info, true))
	if err != nil {
		return err
	}
	if len(sd) < 20 || sd[0] != 1 {
		return ErrorInvalidParameter // not a self-relative SECURITY_DESCRIPTOR
	}
	svc.security = append([]byte(nil), sd...)
	return nil
}

// Dependents implements REnumDependentServicesW's selection: the services
// whose dependencies name the service of h, in the given state filter
// (EnumActive, EnumInactive, EnumAll), sorted by name.
func (s *Session) Dependents(h Handle, state uint32) ([]EnumEntry, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	svc, err := s.serviceLocked(h, ServiceEnumerateDependents)
	if err != nil {
		return nil, err
	}
	if state < EnumActive || state > EnumAll {
		return nil, ErrorInvalidParameter
	}
	var out []EnumEntry
	for _, d := range s.m.sortedLocked() {
		depends := false
		for _, name := range d.cfg.Dependencies {
			depends = depends || strings.EqualFold(name, svc.name)
		}
		active := d.status.CurrentState != StateStopped
		if !depends || (active && state&EnumActive == 0) || (!active && state&EnumInactive == 0) {
			continue
		}
		out = append(out, EnumEntry{Name: d.name, DisplayName: d.cfg.DisplayName, Status: d.status})
	}
	return out, nil
}
