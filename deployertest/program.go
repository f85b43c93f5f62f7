package deployertest

import (
	"context"
	"fmt"
	"strings"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
)

// Program plays the process of every service the host starts, in place of the
// model of the deployer's remote service (see WithInstaller). It must call
// run.ReportRunning once the service runs (or StartService fails with
// ERROR_SERVICE_REQUEST_TIMEOUT, 1053, after the start timeout), return when
// ctx is done (a stop request, the start timeout or Close), and return the
// exit code: a Win32 code, or with serviceSpecific set a service-specific
// code, which the host reports as ERROR_SERVICE_SPECIFIC_ERROR (1066) with the
// code beside it, as msiexec's code reaches the deployer on Windows.
type Program func(ctx context.Context, run *Run) (exitCode uint32, serviceSpecific bool)

// Run is one start of a service, as its Program sees it.
type Run struct {
	// Service is the service's key name.
	Service string
	// BinaryPath is the service's binary path as the service's
	// configuration holds it (%SystemRoot% not expanded); "" for a program
	// the Task Scheduler runs.
	BinaryPath string
	// CommandLine is the service's binary path, %SystemRoot% expanded.
	CommandLine string
	// Args is the command line split as CommandLineToArgvW splits it;
	// Args[0] is the executable.
	Args []string
	// StartArgs are the arguments StartService passed.
	StartArgs []string
	// Executable is the local file of Args[0] when it lies under the
	// system root (ADMIN$), else "".
	Executable string
	// Seq numbers the host's runs from 1, in start order.
	Seq int

	run *scm.Run
}

// ReportRunning moves the service from START_PENDING to RUNNING, which lets
// StartService return. Later calls do nothing.
func (r *Run) ReportRunning() { r.run.ReportRunning() }

// LocalPath returns the file of this machine that stands for the host's
// Windows path p, which must lie under the system root (ADMIN$), such as the
// log a modelled msiexec writes beside the service's program.
func (r *Run) LocalPath(p string) (string, error) {
	local, ok := r.run.HostPath(p)
	if !ok {
		return "", fmt.Errorf("winhost: %q is not under the system root", p)
	}
	return local, nil
}

// WithProgram makes p play every service the host starts (it replaces
// WithInstaller's model).
func WithProgram(p Program) Option {
	return func(c *config) { c.program, c.installer = p, nil }
}

// WithServices adds services to the host's service manager, beside those a
// fresh Windows has (the Server service and the Print Spooler). Each is
// SERVICE_WIN32_OWN_PROCESS running as LocalSystem, with its StartType
// (DEMAND_START when empty or unknown); one whose State is "RUNNING" runs
// from the start until it is stopped, any other is STOPPED. The other fields
// of Service are ignored.
func WithServices(services ...Service) Option {
	return func(c *config) { c.services = append(c.services, services...) }
}

// scmProgram adapts p to the service manager's program.
func scmProgram(p Program) scm.Program {
	return func(ctx context.Context, r *scm.Run) (uint32, bool) {
		return p(ctx, &Run{Service: r.Service, BinaryPath: r.BinaryPath, CommandLine: r.CommandLine, Args: r.Args, StartArgs: r.StartArgs,
			Executable: r.Executable, Seq: r.Seq, run: r})
	}
}

// preloads turns WithServices' services into the manager's preloaded ones.
func preloads(services []Service) []scm.Preload {
	out := scm.DefaultServices()
	for _, s := range services {
		start := uint32(scm.StartDemand)
		for code, name := range startTypeNames {
			if strings.EqualFold(name, s.StartType) {
				start = code
			}
		}
		out = append(out, scm.Preload{Name: s.Name, Running: strings.EqualFold(s.State, "RUNNING"),
			Config: scm.Config{ServiceType: scm.ServiceWin32OwnProcess, StartType: start,
				ErrorControl: scm.ErrorControlNormal, BinaryPath: s.BinaryPath, StartName: "LocalSystem",
				DisplayName: s.DisplayName}})
	}
	return out
}
