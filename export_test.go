package deployer

import (
	"context"
	"log/slog"
)

// PushService is RunInstaller's push step alone, for this package's tests:
// it copies the remote service to ADMIN$\<prefix>\<id>\ (after refusing a
// Windows older than Vista), creates or reuses the service "<prefix>-<id>"
// and starts it. Outside the tests it has no use: the remote service does
// nothing without the job RunInstaller or Uninstall writes next to it.
func PushService(ctx context.Context, c *Conn, spec ServiceSpec) (*RemoteService, error) {
	if err := c.checkWindows(ctx); err != nil {
		return nil, err
	}
	return pushService(ctx, c, spec, dirState{})
}

// WithSkipIfInstalled returns opts asking the remote service to install
// nothing when the host has pkg's product in pkg's version, as a Deployer
// does when Remote Registry does not run (installed.go).
func WithSkipIfInstalled(opts InstallOptions, pkg PackageIdentity) InstallOptions {
	opts.skipIfInstalled = &pkg
	return opts
}

// CheckInstalledAsks runs a Deployer's installed check (installed.go) on c
// for pkg and reports whether it left the check to the remote service
// (Remote Registry disabled, or the registry unreadable).
func CheckInstalledAsks(ctx context.Context, c *Conn, pkg PackageIdentity) bool {
	return checkInstalled(ctx, c, pkg, slog.New(slog.DiscardHandler)).state == onHostAskService
}

// PackageIdentityOf is the identity New gives the package at path
// (inspectPackage), with what the installed check takes from it.
func PackageIdentityOf(path string) (PackageIdentity, error) {
	return inspectPackage(Package{Path: path})
}
