// Package deployertest runs emulated Windows hosts in-process for tests, in the
// spirit of net/http/httptest: New (or Start, bound to a test) listens on a
// loopback address, serves SMB2/SMB3 through package smbserver with IPC$,
// ADMIN$ (a directory standing for C:\Windows) and C$ (standing for C:\),
// and reports its address and credentials in a Host; Close stops it.
//
// Options model what a deployer meets on real Windows machines: credentials
// or an NT hash, extra (non-admin) users, guest-only hosts, accounts that
// are locked out, disabled or have an expired password, a missing ADMIN$,
// UAC remote restrictions (logon succeeds, ADMIN$ and C$ are denied),
// required signing or encryption, a maximum dialect, an antivirus that
// quarantines uploaded executables, connections that drop after a number of
// bytes, and added latency per response.
//
// The named pipes of IPC$ are served by package rpc: svcctl (alias ntsvcs)
// backed by a per-host scm.Manager (Host.SCM, configured with WithSCM, whose
// ADMIN$ is the host's AdminDir), srvsvc (share enumeration for smbclient -L,
// impacket's listShares, go-smb2's ListSharenames) and lsarpc. WithPipes
// replaces them with any pipe.Opener.
//
// NewFleet starts many hosts, each on its own 127.10.x.y address (Linux
// routes all of 127.0.0.0/8 to loopback, so no setup or root is needed
// unless the port is below 1024). 1,000 idle hosts, each with its service
// control manager, take about 13 KiB of heap each; after one logon and
// ADMIN$ tree connect to every host, with the sessions held, the fleet
// holds about 37 MiB of heap (measured by TestFleetThousandHosts).
//
// What the SMB server models, and what it does not, is listed in the
// documentation of package smbserver. Nothing here runs Windows programs:
// services and msiexec are modelled by package scm.
//
// Typical use:
//
//	h := deployertest.Start(t, deployertest.WithSigningRequired())
//	// connect to h.Addr as h.User / h.Password; uploads land in h.AdminDir
//	f, err := deployertest.NewFleet(1000, deployertest.WithPort(445))
//	defer f.Close()
package deployertest
