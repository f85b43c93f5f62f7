package deployertest

import (
	"strings"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/smbserver"
)

// Fault is a named way a Windows host breaks (or slows) a deployment, as real
// fleets show them. WithFault gives a host one; Healthy is a host with none.
type Fault string

// The faults an emulated host can have. Each names what the deployer meets on
// such a host; the Deployer documentation's error table says what it reports.
const (
	// Healthy installs with msiexec exit code 0.
	Healthy Fault = "healthy"
	// RebootNeeded installs, and msiexec asks for a reboot (3010).
	RebootNeeded Fault = "msiexec 3010"
	// MSIFailure fails the install (msiexec 1603).
	MSIFailure Fault = "msiexec 1603"
	// BusyThenOK finds another installation in progress twice (1618), then installs.
	BusyThenOK Fault = "msiexec 1618, 1618, then 0"
	// Busy always finds another installation in progress (1618).
	Busy Fault = "msiexec 1618 always"
	// WrongPassword has another administrator password than the one given to
	// the host's options: logon fails (STATUS_LOGON_FAILURE).
	WrongPassword Fault = "another password"
	// AdminShareOff has no ADMIN$ share (STATUS_BAD_NETWORK_NAME).
	AdminShareOff Fault = "no ADMIN$"
	// UAC applies UAC remote restrictions: logon succeeds, ADMIN$ and the
	// service manager are denied.
	UAC Fault = "UAC remote restrictions"
	// Quarantine has an antivirus that deletes the uploaded service binary as
	// soon as it is written.
	Quarantine Fault = "antivirus removes the service binary"
	// ServiceHangs starts a service that never reports RUNNING, so
	// StartService fails with 1053 after the start timeout.
	ServiceHangs Fault = "service never starts (1053)"
	// Offline has nothing listening on the host's address: connections are
	// refused.
	Offline Fault = "nothing listens (refused)"
	// Slow installs, taking ten times as long.
	Slow Fault = "slow install"
	// GuestOnly maps every logon to the guest account.
	GuestOnly Fault = "guest-only logon"
	// AccountLocked refuses the administrator's logon as locked out
	// (STATUS_ACCOUNT_LOCKED_OUT).
	AccountLocked Fault = "account locked out"
	// ServiceCreationRefused refuses RCreateServiceW with
	// ERROR_ACCESS_DENIED though the service manager grants the right to
	// create (an RPC filter on that operation, as Windows 11 and Server 2025
	// allow, or an EDR): the deployer runs its remote service as a task of
	// the host's Task Scheduler instead, and installs.
	ServiceCreationRefused Fault = "service creation refused (Task Scheduler used)"
	// OldWindows is a Windows 7 SP1 host: a service built with Go 1.22 or
	// later dies at start there (its runtime needs ProcessPrng, which Windows
	// has from Windows 8 on), so StartService fails with 1053; a service
	// importing only what Windows 7 has starts, as the deployer's does.
	OldWindows Fault = "Windows 7 (no ProcessPrng for the Go runtime)"
)

// Faults returns every fault, Healthy first.
func Faults() []Fault {
	return []Fault{Healthy, RebootNeeded, MSIFailure, BusyThenOK, Busy, WrongPassword, AdminShareOff, UAC,
		Quarantine, ServiceHangs, Offline, Slow, GuestOnly, AccountLocked, OldWindows, ServiceCreationRefused}
}

// FaultMix is a fleet of n hosts as a demo shows it: mostly healthy, with
// every fault but Busy and AccountLocked once (the common ones twice), spread
// over the fleet.
func FaultMix(n int) []Fault {
	faults := []Fault{RebootNeeded, MSIFailure, BusyThenOK, WrongPassword, AdminShareOff, UAC, Quarantine,
		ServiceHangs, Offline, Slow, GuestOnly, OldWindows, ServiceCreationRefused, RebootNeeded, MSIFailure, BusyThenOK}
	out := make([]Fault, n)
	for i := range out {
		out[i] = Healthy
	}
	if n <= len(faults) {
		copy(out, faults)
		return out
	}
	for i, f := range faults {
		out[i*n/len(faults)] = f
	}
	return out
}

// Installer scripts the installs of a host: the host runs a model of the
// deployer's remote service, which reads the job the deployer sends and plays
// msiexec (writing its verbose log and the result file as the real service
// does).
type Installer struct {
	// Outcomes are msiexec's exit codes for successive installs on the host,
	// e.g. 1618, 1618, 0; the last one repeats. Empty means 0 for every one.
	Outcomes []uint32
	// Duration is how long each install takes once the service runs
	// (default 300ms).
	Duration time.Duration
	// NeverRunning makes the service never report RUNNING, so StartService
	// fails with ERROR_SERVICE_REQUEST_TIMEOUT (1053).
	NeverRunning bool
}

// WithInstaller makes the host run the model of the deployer's remote
// service with the installs in.
func WithInstaller(in Installer) Option {
	return func(c *config) {
		c.installer, c.program = &in, nil
	}
}

// WithStartTimeout sets how long a service may take to report RUNNING before
// StartService fails with 1053 (default 30s, as Windows).
func WithStartTimeout(d time.Duration) Option { return func(c *config) { c.startTimeout = d } }

// WithFault gives the host a fault. It keeps the host's Installer duration
// and outcomes unless the fault sets them; apply it after WithCredentials,
// whose password WrongPassword changes.
func WithFault(f Fault) Option {
	return func(c *config) {
		c.fault = f
		in := Installer{Duration: 300 * time.Millisecond}
		if c.installer != nil {
			in = *c.installer
		}
		if in.Duration <= 0 {
			in.Duration = 300 * time.Millisecond
		}
		switch f {
		case RebootNeeded:
			in.Outcomes = []uint32{3010}
		case MSIFailure:
			in.Outcomes = []uint32{1603}
		case BusyThenOK:
			in.Outcomes = []uint32{1618, 1618, 0}
		case Busy:
			in.Outcomes = []uint32{1618}
		case WrongPassword:
			c.wrongPassword = true
		case AdminShareOff:
			c.noAdminDir = true
		case UAC:
			c.uac = true
		case Quarantine:
			c.antivirus = &smbserver.Antivirus{Mode: smbserver.AVDelete,
				Match: func(n string) bool { return strings.Contains(strings.ToLower(n), "nxsvc") }}
		case ServiceHangs:
			in.NeverRunning = true
		case ServiceCreationRefused:
			c.refuseCreate = true
		case Slow:
			in.Duration *= 10
		case GuestOnly:
			c.guestOnly = true
		case AccountLocked:
			c.logonStatus = smbserver.StatusAccountLockedOut
		case OldWindows:
			c.windows, c.arch = Windows7, AMD64
		}
		c.installer, c.program = &in, nil
	}
}
