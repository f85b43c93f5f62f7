package deployertest

import (
	"fmt"
	"strings"

	"github.com/nxdeploy/deployer/deployertest/internal/registry"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
)

// RemoteRegistryState is how the host's Remote Registry service is set up
// when the host starts. \pipe\winreg exists only while the service runs.
type RemoteRegistryState int

// Remote Registry states.
const (
	// RemoteRegistryDisabled: DISABLED and stopped, as on Windows 10 and 11
	// (the default).
	RemoteRegistryDisabled RemoteRegistryState = iota
	// RemoteRegistryStopped: DEMAND_START and stopped.
	RemoteRegistryStopped
	// RemoteRegistryRunning: AUTO_START and running, as on Windows Server.
	RemoteRegistryRunning
	// RemoteRegistryBroken: DEMAND_START and stopped, and every start fails
	// with ERROR_SERVICE_DEPENDENCY_FAIL (1068), as when a service it
	// depends on is disabled: the registry cannot be read remotely.
	RemoteRegistryBroken
)

// String names the state.
func (s RemoteRegistryState) String() string {
	switch s {
	case RemoteRegistryDisabled:
		return "disabled"
	case RemoteRegistryStopped:
		return "stopped"
	case RemoteRegistryRunning:
		return "running"
	case RemoteRegistryBroken:
		return "broken"
	}
	return fmt.Sprintf("deployertest.RemoteRegistryState(%d)", int(s))
}

// WithRemoteRegistry sets the Remote Registry service's state at start; by
// default it is disabled, as on Windows 10 and 11. Whoever reads the
// registry starts it over \pipe\svcctl first (the deployer and impacket's
// reg.py do), and should put it back as it was: Host.Service
// ("RemoteRegistry") tells.
func WithRemoteRegistry(state RemoteRegistryState) Option {
	return func(c *config) { c.remoteRegistry = state }
}

// InstalledProduct is a product the host has installed, as Windows
// Installer records it in the Uninstall key of the registry.
type InstalledProduct struct {
	// ProductCode is the product's code, a GUID in braces.
	ProductCode string
	// Name and Version are its ProductName and ProductVersion, such as
	// "Collector" and "6.2.1".
	Name, Version string
	// Publisher is its Manufacturer.
	Publisher string
	// WOW64 records a 32-bit product of a 64-bit host (the WOW6432Node
	// Uninstall key).
	WOW64 bool
}

// WithInstalledProduct gives the host products installed before the test,
// each with its Uninstall key (DisplayName, DisplayVersion, Version,
// Publisher, WindowsInstaller). Installing a package through the emulated
// installer adds its product the same way; uninstalling removes it.
func WithInstalledProduct(products ...InstalledProduct) Option {
	return func(c *config) { c.products = append(c.products, products...) }
}

// newRegistry makes the host's registry with the given products.
func newRegistry(products []InstalledProduct) *registry.Registry {
	reg := registry.New()
	for _, p := range products {
		reg.AddProduct(registry.Product{Code: strings.ToUpper(p.ProductCode), Name: p.Name, Version: p.Version,
			Publisher: p.Publisher, WOW64: p.WOW64})
	}
	return reg
}

// remoteRegistryPreload is the Remote Registry service in state.
func remoteRegistryPreload(state RemoteRegistryState) scm.Preload {
	start := scm.StartDisabled
	var startErr scm.Errno
	switch state {
	case RemoteRegistryStopped:
		start = scm.StartDemand
	case RemoteRegistryBroken:
		start, startErr = scm.StartDemand, scm.ErrorServiceDependencyFail
	case RemoteRegistryRunning:
		start = scm.StartAuto
	}
	return scm.Preload{Name: "RemoteRegistry", Running: state == RemoteRegistryRunning, StartError: startErr, Config: scm.Config{
		ServiceType: scm.ServiceWin32ShareProcess, StartType: start, ErrorControl: scm.ErrorControlNormal,
		BinaryPath: `%SystemRoot%\system32\svchost.exe -k localService -p`, StartName: `NT AUTHORITY\LocalService`,
		DisplayName: "Remote Registry"}}
}

// InstalledVersion returns the DisplayVersion of the product the host's
// registry lists under productCode (a GUID in braces, any case), and
// whether it lists it.
func (h *Host) InstalledVersion(productCode string) (string, bool) {
	if h.registry == nil {
		return "", false
	}
	return h.registry.HasProduct(strings.ToUpper(productCode))
}

// remoteRegistryRunning reports whether the Remote Registry service runs.
func (h *Host) remoteRegistryRunning() bool {
	if h.scm == nil {
		return false
	}
	si, ok := h.scm.Service("RemoteRegistry")
	return ok && si.Status.CurrentState == scm.StateRunning
}
