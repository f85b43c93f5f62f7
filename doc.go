// Package deployer installs an agent (an MSI package) on remote Windows
// computers from a Linux server, with no deployment tool on the Windows side.
// It is a native Go replacement for shelling out to winexe: files move over
// SMB2/3 (package smb), services are created and started over the Service
// Control Manager RPC interface [MS-SCMR] (package svcctl), and msiexec's
// results are read and explained (package msi).
//
// Every failure is a typed error from package
// github.com/nxdeploy/deployer/errors (import it as derrors) whose kind is a
// row of the operator's cause/solution table.
//
// A host moves through the states Discovered → Scheduled for installation →
// Installing Collector → With Collector, or ends Failed with a typed error.
// A Store (in memory, or a crash-safe file) keeps those states so a
// restarted Engine resumes where it stopped.
package deployer
