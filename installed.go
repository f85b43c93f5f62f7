package deployer

// installed.go: what the host already has of the package's product. The
// product's Uninstall key is read over \pipe\winreg before anything is
// pushed when the host serves that pipe: when Remote Registry runs, or, on
// Windows 8 and later, when its startup type lets the pipe's open start it
// (its trigger start, as for Windows' own remote administration tools). A
// host where it is disabled (the default of Windows 10 and 11) refuses the
// open, one SMB request; then, as on any failure to read the key, the
// remote service asks Windows Installer itself before installing (the
// job's SkipIfInstalled): the package is pushed, but Remote Registry is
// neither enabled nor started. Either way the same version makes the host With
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
	"strings"

	"github.com/nxdeploy/deployer/winreg"
)

// onHost is what a host's registry says of the package's product.
type onHost int

const (
	// The zero value: the check is off (the package has no ProductCode or
	// no Windows Installer version).
	_ onHost = iota
	// onHostAbsent: the product is not installed.
	onHostAbsent
	// onHostSame: the product is installed in the package's version.
	onHostSame
	// onHostOlder: an older version is installed: an upgrade.
	onHostOlder
	// onHostNewer: a newer version is installed.
	onHostNewer
	// onHostAskService: the registry could not be read (Remote Registry
	// disabled, the account refused, ...); the remote service checks the
	// product before installing.
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
// When the registry cannot be read (Remote Registry disabled, the account
// refused, a host without the pipe, a key that cannot be read), it says so
// in a debug log and returns onHostAskService: the remote service checks.
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
	ask := func(what string, err error) installedCheck {
		logger.Debug("the registry "+what+"; the remote service checks the product before installing",
			"host", c.label, "err", err.Error())
		return installedCheck{state: onHostAskService}
	}
	// Remote Registry is left as it is (not enabled or started): when it
	// neither runs nor can be trigger-started, the pipe's open fails.
	reg, err := winreg.Open(ctx, c.label, c.Session().Pipes(), winreg.Config{Logger: logger, LeaveService: true})
	if err != nil {
		return ask("cannot be read", err)
	}
	p, err := reg.ProductIn(ctx, pkg.ProductCode, productViews(pkg.platform)...)
	// Remote Registry was left as it was: nothing to put back, and the
	// logoff closes the pipe (and the key handles) on the host.
	c.closeAfterLogoff(reg)
	switch {
	case errors.Is(err, winreg.ErrNotInstalled):
		return installedCheck{state: onHostAbsent}
	case err != nil:
		return ask("has no readable key for the product", err)
	}
	out := installedCheck{name: p.DisplayName, version: p.DisplayVersion}
	if out.version == "" && !p.Version.IsZero() {
		out.version = p.Version.String()
	}
	out.state = compareVersions(p.Version, want)
	out.minorUpgrade = !p.Version.IsZero() && p.Version.Compare(want) < 0
	return out
}

// productViews are the registry views that can hold the product of a
// package of platform (its Template's, "" when unknown), in the order to
// look: a 64-bit package's product is in the native view only; a 32-bit
// one's is under WOW6432Node on 64-bit Windows, and in the native view on
// 32-bit Windows.
func productViews(platform string) []winreg.View {
	switch strings.ToLower(platform) {
	case "x64", "arm64", "intel64":
		return []winreg.View{winreg.Native}
	case "intel", "arm":
		return []winreg.View{winreg.WOW64, winreg.Native}
	}
	return []winreg.View{winreg.Native, winreg.WOW64}
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
