package deployer

// installed.go: what the host already has of the package's product. When
// the Remote Registry service already runs (one status query through the
// connection's service manager), the product's Uninstall key is read over
// \pipe\winreg before anything is pushed. Otherwise the remote service
// asks Windows Installer itself before installing (the job's
// SkipIfInstalled): the package is pushed, but Remote Registry is neither
// enabled nor started. Either way the same version makes the host With
// Collector without installing, an older one makes the installation an
// upgrade, a newer one is installed as asked. The upgrade is a minor
// upgrade (REINSTALL=ALL REINSTALLMODE=vomus, added by the Engine or by the
// remote service unless the caller set REINSTALL or REINSTALLMODE):
// Windows Installer refuses a second package of an installed ProductCode
// with 1638 otherwise.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nxdeploy/deployer/svcctl"
	"github.com/nxdeploy/deployer/winreg"
)

// onHost is what a host's registry says of the package's product.
type onHost int

const (
	// The zero value: the registry could not be read, or the check is off.
	_ onHost = iota
	// onHostAbsent: the product is not installed.
	onHostAbsent
	// onHostSame: the product is installed in the package's version.
	onHostSame
	// onHostOlder: an older version is installed: an upgrade.
	onHostOlder
	// onHostNewer: a newer version is installed.
	onHostNewer
	// onHostAskService: Remote Registry does not run; the remote service
	// checks the product before installing.
	onHostAskService
)

// installedCheck is the outcome of reading the host's registry.
type installedCheck struct {
	state onHost
	// version is the installed version (DisplayVersion, else Version).
	version string
	// name is the installed product's DisplayName.
	name string
	// byService: the remote service asked Windows Installer (the package
	// was pushed), rather than the registry being read.
	byService bool
	// minorUpgrade: the registry has the product at a recorded version
	// older than the package's, so the installation is a minor upgrade
	// (InstallOptions.minorUpgrade). An unrecorded version is not one.
	minorUpgrade bool
}

// checkInstalled reads the package's product from the host's registry.
// When the registry cannot be read (Remote Registry disabled by policy,
// the account refused, a host without the pipe), it says so in a debug log
// and returns onHostUnknown: the installation proceeds as without the check.
func checkInstalled(ctx context.Context, c *Conn, pkg PackageIdentity, logger *slog.Logger) installedCheck {
	if pkg.ProductCode == "" {
		return installedCheck{}
	}
	want, err := winreg.ParseVersion(pkg.ProductVersion)
	if err != nil {
		logger.Debug("installed check skipped: the package's ProductVersion is not a Windows Installer version",
			"host", c.label, "version", pkg.ProductVersion)
		return installedCheck{}
	}
	if !remoteRegistryRunning(ctx, c) {
		// Starting Remote Registry (enable, start, stop, disable) costs
		// more than the remote service's own check.
		return installedCheck{state: onHostAskService}
	}
	reg, err := winreg.Open(ctx, c.label, c.Session().Pipes(), winreg.Config{Logger: logger, LeaveService: true})
	if err != nil {
		logger.Debug("installed check skipped: the registry cannot be read; installing as without it",
			"host", c.label, "err", err.Error())
		return installedCheck{}
	}
	p, err := reg.Product(ctx, pkg.ProductCode)
	if cerr := reg.Close(); cerr != nil {
		logger.Debug("the Remote Registry service was not put back as it was", "host", c.label, "err", cerr.Error())
	}
	switch {
	case errors.Is(err, winreg.ErrNotInstalled):
		return installedCheck{state: onHostAbsent}
	case err != nil:
		logger.Debug("installed check skipped: the product's key cannot be read; installing as without it",
			"host", c.label, "err", err.Error())
		return installedCheck{}
	}
	out := installedCheck{name: p.DisplayName, version: p.DisplayVersion}
	if out.version == "" && !p.Version.IsZero() {
		out.version = p.Version.String()
	}
	out.state = compareVersions(p.Version, want)
	out.minorUpgrade = !p.Version.IsZero() && p.Version.Compare(want) < 0
	return out
}

// remoteRegistryRunning reports whether the host's Remote Registry service
// runs, asked through the connection's service manager; false when there
// is none (a Task Scheduler connection) or it cannot say.
func remoteRegistryRunning(ctx context.Context, c *Conn) bool {
	if c.mgr == nil {
		return false
	}
	svc, err := c.mgr.OpenService(ctx, winreg.RemoteRegistryService, svcctl.ServiceQueryStatus)
	if err != nil {
		return false
	}
	st, err := svc.QueryStatus(ctx)
	_ = svc.CloseContext(ctx)
	return err == nil && st.State == svcctl.Running
}

// serviceCheck is what the remote service found of the product before the
// job (InstallResult.AlreadyInstalled and InstalledBefore), as the
// registry check says it.
func serviceCheck(res *InstallResult, pkg PackageIdentity) installedCheck {
	if res == nil || res.InstalledBefore == "" {
		return installedCheck{state: onHostAbsent}
	}
	out := installedCheck{version: res.InstalledBefore, state: onHostOlder}
	if res.AlreadyInstalled {
		out.state = onHostSame
		return out
	}
	have, herr := winreg.ParseVersion(res.InstalledBefore)
	want, werr := winreg.ParseVersion(pkg.ProductVersion)
	if herr == nil && werr == nil {
		out.state = compareVersions(have, want)
	}
	return out
}

// compareVersions says what having version have means for installing want.
func compareVersions(have, want winreg.Version) onHost {
	switch n := have.Compare(want); {
	case have.IsZero():
		// No version recorded: an upgrade may be needed; install.
		return onHostOlder
	case n == 0:
		return onHostSame
	case n < 0:
		return onHostOlder
	default:
		return onHostNewer
	}
}

// message describes the check for an event.
func (ic installedCheck) message(pkg PackageIdentity) string {
	switch ic.state {
	case onHostSame:
		if ic.byService {
			return fmt.Sprintf("the host already has product %s version %s (Windows Installer, asked by the remote service): With Collector without installing",
				pkg.ProductCode, ic.version)
		}
		return fmt.Sprintf("the host already has product %s version %s (its Uninstall key): With Collector without installing",
			pkg.ProductCode, ic.version)
	case onHostOlder:
		v := ic.version
		if v == "" {
			v = "of unrecorded version"
		}
		return fmt.Sprintf("the host has product %s %s: upgrading to %s", pkg.ProductCode, v, pkg.ProductVersion)
	case onHostNewer:
		return fmt.Sprintf("the host has product %s %s, newer than the package's %s: installing as asked (Windows Installer decides)",
			pkg.ProductCode, ic.version, pkg.ProductVersion)
	}
	return ""
}
