package scm

// Service types ([MS-SCMR] 2.2.47).
const (
	ServiceKernelDriver      uint32 = 0x00000001
	ServiceFileSystemDriver  uint32 = 0x00000002
	ServiceWin32OwnProcess   uint32 = 0x00000010
	ServiceWin32ShareProcess uint32 = 0x00000020
	ServiceInteractive       uint32 = 0x00000100
	// ServiceDriver and ServiceWin32 are the type filters of EnumServicesStatusW.
	ServiceDriver uint32 = 0x0000000B
	ServiceWin32  uint32 = 0x00000030
)

// Start types ([MS-SCMR] 2.2.15).
const (
	StartBoot     uint32 = 0
	StartSystem   uint32 = 1
	StartAuto     uint32 = 2
	StartDemand   uint32 = 3
	StartDisabled uint32 = 4
)

// Error control values ([MS-SCMR] 2.2.15).
const (
	ErrorControlIgnore   uint32 = 0
	ErrorControlNormal   uint32 = 1
	ErrorControlSevere   uint32 = 2
	ErrorControlCritical uint32 = 3
)

// NoChange leaves a numeric field unchanged in ChangeServiceConfigW.
const NoChange uint32 = 0xFFFFFFFF

// Service states ([MS-SCMR] 2.2.47).
const (
	StateStopped         uint32 = 1
	StateStartPending    uint32 = 2
	StateStopPending     uint32 = 3
	StateRunning         uint32 = 4
	StateContinuePending uint32 = 5
	StatePausePending    uint32 = 6
	StatePaused          uint32 = 7
)

// State filters of EnumServicesStatusW.
const (
	EnumActive   uint32 = 1
	EnumInactive uint32 = 2
	EnumAll      uint32 = 3
)

// Controls accepted, as reported in ServiceStatus.
const (
	AcceptStop uint32 = 0x00000001
)

// Control codes of ControlService ([MS-SCMR] 3.1.4.2).
const (
	ControlStop        uint32 = 1
	ControlPause       uint32 = 2
	ControlContinue    uint32 = 3
	ControlInterrogate uint32 = 4
	ControlShutdown    uint32 = 5
	ControlParamChange uint32 = 6
)

// Config is a service's configuration, as QueryServiceConfigW reports it.
type Config struct {
	ServiceType    uint32
	StartType      uint32
	ErrorControl   uint32
	BinaryPath     string
	LoadOrderGroup string
	TagID          uint32
	Dependencies   []string
	StartName      string
	DisplayName    string
}

// Status is a service's SERVICE_STATUS_PROCESS.
type Status struct {
	ServiceType             uint32
	CurrentState            uint32
	ControlsAccepted        uint32
	Win32ExitCode           uint32
	ServiceSpecificExitCode uint32
	CheckPoint              uint32
	WaitHint                uint32
	ProcessID               uint32
	ServiceFlags            uint32
}

// ServiceInfo is a snapshot of one service record.
type ServiceInfo struct {
	Name            string
	Config          Config
	Status          Status
	MarkedForDelete bool
	// OpenHandles counts the open handles to the service.
	OpenHandles int
	// Runs counts how many times the service was started.
	Runs int
}

// EnumEntry is one ENUM_SERVICE_STATUSW entry.
type EnumEntry struct {
	Name        string
	DisplayName string
	Status      Status
}

// Caller identifies the client of a Session.
type Caller struct {
	User   string
	Domain string
	// Admin reports an administrator token; without it the caller gets the
	// rights the default security descriptors give authenticated users.
	Admin bool
}

// Preload is a service present in the database when the Manager starts.
type Preload struct {
	Name   string
	Config Config
	// Running starts the service at New with a program that runs until it
	// is stopped.
	Running bool
	// StartError, when not zero, is what every StartServiceW of the
	// service fails with (a dependency that would not start, say).
	StartError Errno
}

// CreateParams are the arguments of CreateServiceW.
type CreateParams struct {
	Name           string
	DisplayName    string
	DesiredAccess  uint32
	ServiceType    uint32
	StartType      uint32
	ErrorControl   uint32
	BinaryPath     string
	LoadOrderGroup string
	Dependencies   []string
	StartName      string
}

// ChangeParams are the arguments of ChangeServiceConfigW; NoChange in a
// numeric field and nil in a pointer field leave the value unchanged.
type ChangeParams struct {
	ServiceType    uint32
	StartType      uint32
	ErrorControl   uint32
	BinaryPath     *string
	LoadOrderGroup *string
	Dependencies   []string
	StartName      *string
	DisplayName    *string
}
