// Package demofleet is the emulated fleet the examples' -demo flag runs on
// (examples/deploy and examples/console): the standard mix of faults and
// systems, the package it installs, and the short waits its fast hosts
// allow.
package demofleet

import (
	_ "embed" // MSI
	"fmt"
	"time"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
)

// MSI is the package a demo installs: a copy of msi/testdata/ok.msi (a tiny
// package built with wixl), embedded so a demo runs from any directory.
//
//go:embed ok.msi
var MSI []byte

// Start starts demo.DefaultSize emulated hosts with demo.Mix's faults and
// demo.Systems' Windows versions; each installation takes installTime. The
// caller closes the fleet.
func Start(installTime time.Duration) (*demo.Fleet, error) {
	f, err := demo.Start(demo.Options{Faults: demo.Mix(demo.DefaultSize), Systems: demo.Systems(demo.DefaultSize),
		InstallTime: installTime, StartTimeout: 500 * time.Millisecond})
	if err != nil {
		return nil, fmt.Errorf("starting the demo fleet: %w", err)
	}
	return f, nil
}

// Configure points cfg at fleet f (its port), with the short timeouts,
// polling and retry waits its hosts allow; a HostTimeout already set is
// kept. The account is left to the caller.
func Configure(cfg *deployer.Config, f *demo.Fleet) {
	cfg.Connect.SMB.Port = f.Port
	cfg.Connect.SMB.ConnectTimeout = 2 * time.Second
	cfg.Connect.SMB.RequestTimeout = 10 * time.Second
	cfg.Install.PollInterval = 25 * time.Millisecond
	if cfg.HostTimeout == 0 {
		cfg.HostTimeout = time.Minute
	}
	cfg.BusyBackoff = 100 * time.Millisecond
	cfg.RetryInterval = 200 * time.Millisecond
}
