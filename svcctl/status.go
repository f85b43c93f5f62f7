package svcctl

import (
	"encoding/binary"
	"fmt"
	"time"

	svcctlrpc "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
)

// State is a service's current state (SERVICE_STATUS.dwCurrentState).
type State uint32

// Service states ([MS-SCMR] 2.2.47).
const (
	Stopped         State = 0x1
	StartPending    State = 0x2
	StopPending     State = 0x3
	Running         State = 0x4
	ContinuePending State = 0x5
	PausePending    State = 0x6
	Paused          State = 0x7
)

// String returns the state's Windows name, e.g. "RUNNING".
func (s State) String() string {
	switch s {
	case Stopped:
		return "STOPPED"
	case StartPending:
		return "START_PENDING"
	case StopPending:
		return "STOP_PENDING"
	case Running:
		return "RUNNING"
	case ContinuePending:
		return "CONTINUE_PENDING"
	case PausePending:
		return "PAUSE_PENDING"
	case Paused:
		return "PAUSED"
	}
	return fmt.Sprintf("State(%d)", uint32(s))
}

// Pending reports whether the state is a transition (START_PENDING,
// STOP_PENDING, CONTINUE_PENDING or PAUSE_PENDING).
func (s State) Pending() bool {
	switch s {
	case StartPending, StopPending, ContinuePending, PausePending:
		return true
	}
	return false
}

// Service types (dwServiceType).
const (
	ServiceKernelDriver      uint32 = 0x01
	ServiceFileSystemDriver  uint32 = 0x02
	ServiceWin32OwnProcess   uint32 = 0x10
	ServiceWin32ShareProcess uint32 = 0x20
	ServiceInteractive       uint32 = 0x100
	// ServiceWin32 is both Win32 service types, the usual enumeration filter.
	ServiceWin32 = ServiceWin32OwnProcess | ServiceWin32ShareProcess
)

// StartType is a service's start type (dwStartType).
type StartType uint32

// Start types.
const (
	BootStart   StartType = 0x0
	SystemStart StartType = 0x1
	AutoStart   StartType = 0x2
	DemandStart StartType = 0x3
	Disabled    StartType = 0x4
)

// String returns the start type's Windows name, e.g. "DEMAND_START".
func (t StartType) String() string {
	switch t {
	case BootStart:
		return "BOOT_START"
	case SystemStart:
		return "SYSTEM_START"
	case AutoStart:
		return "AUTO_START"
	case DemandStart:
		return "DEMAND_START"
	case Disabled:
		return "DISABLED"
	}
	return fmt.Sprintf("StartType(%d)", uint32(t))
}

// Error control values (dwErrorControl).
const (
	ErrorControlIgnore   uint32 = 0
	ErrorControlNormal   uint32 = 1
	ErrorControlSevere   uint32 = 2
	ErrorControlCritical uint32 = 3
)

// noChange is SERVICE_NO_CHANGE for ChangeServiceConfigW.
const noChange uint32 = 0xFFFFFFFF

// Access rights for the service control manager ([MS-SCMR] 3.1.4).
const (
	ManagerConnect          uint32 = 0x0001
	ManagerCreateService    uint32 = 0x0002
	ManagerEnumerateService uint32 = 0x0004
	ManagerLock             uint32 = 0x0008
	ManagerQueryLockStatus  uint32 = 0x0010
	ManagerModifyBootConfig uint32 = 0x0020
	// ManagerAllAccess is SC_MANAGER_ALL_ACCESS (0xF003F), the right NetExec
	// asks for to decide that an account is an administrator.
	ManagerAllAccess uint32 = 0xF003F
)

// Access rights for a service.
const (
	ServiceQueryConfig         uint32 = 0x0001
	ServiceChangeConfig        uint32 = 0x0002
	ServiceQueryStatus         uint32 = 0x0004
	ServiceEnumerateDependents uint32 = 0x0008
	ServiceStart               uint32 = 0x0010
	ServiceStop                uint32 = 0x0020
	ServicePauseContinue       uint32 = 0x0040
	ServiceInterrogate         uint32 = 0x0080
	ServiceUserDefinedControl  uint32 = 0x0100
	// Delete is the standard DELETE right, needed by DeleteService.
	Delete uint32 = 0x00010000
	// ServiceAllAccess is SERVICE_ALL_ACCESS (0xF01FF).
	ServiceAllAccess uint32 = 0xF01FF
)

// Control codes for ControlService.
const (
	ControlStop        uint32 = 0x1
	ControlPause       uint32 = 0x2
	ControlContinue    uint32 = 0x3
	ControlInterrogate uint32 = 0x4
)

// Controls accepted (dwControlsAccepted).
const (
	AcceptStop           uint32 = 0x1
	AcceptPauseContinue  uint32 = 0x2
	AcceptShutdown       uint32 = 0x4
	AcceptParamChange    uint32 = 0x8
	AcceptNetBindChange  uint32 = 0x10
	AcceptPreShutdown    uint32 = 0x100
	AcceptHardwareChange uint32 = 0x20
)

// Status is a service's status, from QueryServiceStatusEx (with PID and
// Flags) or QueryServiceStatus / ControlService (PID and Flags zero, HasPID
// false).
type Status struct {
	// Type is dwServiceType.
	Type uint32
	// State is dwCurrentState.
	State State
	// ControlsAccepted is dwControlsAccepted (AcceptStop, ...).
	ControlsAccepted uint32
	// Win32ExitCode is dwWin32ExitCode: 0, ERROR_SERVICE_SPECIFIC_ERROR
	// (1066) when ServiceSpecificExitCode carries the service's own code,
	// ERROR_SERVICE_NEVER_STARTED (1077) for a service never started since
	// boot, or another Win32 error.
	Win32ExitCode uint32
	// ServiceSpecificExitCode is dwServiceSpecificExitCode, meaningful when
	// Win32ExitCode is 1066 (for our remote service: msiexec's exit code).
	ServiceSpecificExitCode uint32
	// CheckPoint is dwCheckPoint, incremented by a service during a long
	// pending operation.
	CheckPoint uint32
	// WaitHint is dwWaitHint: how long the service expects its pending
	// operation to take until the next checkpoint.
	WaitHint time.Duration
	// HasPID reports whether PID and Flags were returned
	// (QueryServiceStatusEx).
	HasPID bool
	// PID is dwProcessId, 0 when the service is not running.
	PID uint32
	// Flags is dwServiceFlags (1: runs in a system process).
	Flags uint32
}

// Win32 exit codes with a meaning in Status.
const (
	// ExitServiceSpecific is ERROR_SERVICE_SPECIFIC_ERROR: the exit code is
	// in ServiceSpecificExitCode.
	ExitServiceSpecific uint32 = 1066
	// ExitNeverStarted is ERROR_SERVICE_NEVER_STARTED.
	ExitNeverStarted uint32 = 1077
)

// ExitCode returns the service's exit code: ServiceSpecificExitCode when
// Win32ExitCode is ERROR_SERVICE_SPECIFIC_ERROR, else Win32ExitCode.
func (s Status) ExitCode() uint32 {
	if s.Win32ExitCode == ExitServiceSpecific {
		return s.ServiceSpecificExitCode
	}
	return s.Win32ExitCode
}

// Accepts reports whether the service accepts control c (e.g. AcceptStop).
func (s Status) Accepts(c uint32) bool { return s.ControlsAccepted&c != 0 }

func statusFromRPC(st *svcctlrpc.ServiceStatus) Status {
	if st == nil {
		return Status{}
	}
	return Status{
		Type:                    st.ServiceType,
		State:                   State(st.CurrentState),
		ControlsAccepted:        st.ControlsAccepted,
		Win32ExitCode:           st.Win32ExitCode,
		ServiceSpecificExitCode: st.ServiceSpecificExitCode,
		CheckPoint:              st.CheckPoint,
		WaitHint:                time.Duration(st.WaitHint) * time.Millisecond,
	}
}

// statusProcessSize is sizeof(SERVICE_STATUS_PROCESS).
const statusProcessSize = 36

// parseStatusProcess decodes a SERVICE_STATUS_PROCESS ([MS-SCMR] 2.2.49)
// from the buffer QueryServiceStatusEx returns.
func parseStatusProcess(b []byte) (Status, error) {
	if len(b) < statusProcessSize {
		return Status{}, fmt.Errorf("SERVICE_STATUS_PROCESS: %d bytes, want %d", len(b), statusProcessSize)
	}
	u := func(i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	return Status{
		Type:                    u(0),
		State:                   State(u(1)),
		ControlsAccepted:        u(2),
		Win32ExitCode:           u(3),
		ServiceSpecificExitCode: u(4),
		CheckPoint:              u(5),
		WaitHint:                time.Duration(u(6)) * time.Millisecond,
		HasPID:                  true,
		PID:                     u(7),
		Flags:                   u(8),
	}, nil
}

// ServiceConfig is a service's configuration (QUERY_SERVICE_CONFIGW).
type ServiceConfig struct {
	// Type is dwServiceType (ServiceWin32OwnProcess, ...).
	Type uint32
	// StartType is dwStartType.
	StartType StartType
	// ErrorControl is dwErrorControl.
	ErrorControl uint32
	// BinaryPath is lpBinaryPathName: the command line the SCM runs.
	BinaryPath string
	// LoadOrderGroup is lpLoadOrderGroup.
	LoadOrderGroup string
	// TagID is dwTagId.
	TagID uint32
	// Dependencies is lpDependencies as the server returned it.
	Dependencies string
	// StartName is lpServiceStartName: the account the service runs as
	// ("LocalSystem" for ours).
	StartName string
	// DisplayName is lpDisplayName.
	DisplayName string
}

func configFromRPC(c *svcctlrpc.QueryServiceConfigW) ServiceConfig {
	if c == nil {
		return ServiceConfig{}
	}
	return ServiceConfig{
		Type:           c.ServiceType,
		StartType:      StartType(c.StartType),
		ErrorControl:   c.ErrorControl,
		BinaryPath:     c.BinaryPathName,
		LoadOrderGroup: c.LoadOrderGroup,
		TagID:          c.TagID,
		Dependencies:   c.Dependencies,
		StartName:      c.ServiceStartName,
		DisplayName:    c.DisplayName,
	}
}
