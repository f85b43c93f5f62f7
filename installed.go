package deployer

// installed.go: before anything is pushed, what the host already has. The
// product's Uninstall key, read over \pipe\winreg on the host's session
// (starting the Remote Registry service when it is stopped and putting it
// back as it was), says whether the package's product is installed and in
// which version: the same version makes the host With Collector without
// installing, an older one makes the installation an upgrade.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
)

// installedCheck is the outcome of reading the host's registry.
type installedCheck struct {
	state onHost
	// version is the installed version (DisplayVersion, else Version).
	version string
	// name is the installed product's DisplayName.
	name string
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
	// The Remote Registry service is handled through the connection's own
	// service manager, when it has one, rather than a second svcctl pipe.
	reg, err := winreg.Open(ctx, c.label, c.Session().Pipes(), winreg.Config{Logger: logger, ServiceManager: c.mgr})
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
	switch n := p.Version.Compare(want); {
	case p.Version.IsZero():
		// No version recorded: an upgrade may be needed; install.
		out.state = onHostOlder
	case n == 0:
		out.state = onHostSame
	case n < 0:
		out.state = onHostOlder
	default:
		out.state = onHostNewer
	}
	return out
}

// message describes the check for an event.
func (ic installedCheck) message(pkg PackageIdentity) string {
	switch ic.state {
	case onHostSame:
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
