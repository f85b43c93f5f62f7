// Package deployer installs an agent (an MSI package) on remote Windows
// computers from a Linux server, with no deployment tool on the Windows side.
// It is a native Go replacement for shelling out to winexe: files move over
// SMB2/3 (package smb), services are created and started over the Service
// Control Manager RPC interface [MS-SCMR] (package svcctl), and msiexec's
// results are read and explained (package msi).
//
// Every failure is a typed error from package
// github.com/nxdeploy/deployer/errors (import it as derrors) whose kind is a
// row of the error table of the Deployer documentation.
//
// # One host
//
// Discover finds hosts (CSV, Active Directory, address ranges), Probe says
// whether one can be deployed to and why not, Connect opens an
// administrative connection, RunInstaller installs (pushing the package and
// the deployer's remote service, which installs it through the Windows
// Installer API), Uninstall removes a product, and Sweep removes what a
// crashed Engine left.
//
// # A fleet, for months: the Deployer
//
// A Deployer installs one package (Config.Package) on any number of hosts
// and keeps track of them for as long as the Engine runs. A host moves
// through the states of the Deployer documentation:
//
//	Discovered → Scheduled for installation → Installing Collector → With Collector
//
// or ends Failed with a typed error, with Retrying in between when a retry is
// proven safe. New inspects the package first (an MSI with a ProductCode;
// its ProductVersion and SHA-256 are recorded per host) and fails, naming the
// file, before any host is touched.
//
//   - Schedule adds hosts at any time, also while others install; at most
//     Config.Concurrency hosts are worked on at once. A host already
//     scheduled or in flight is never started twice.
//   - Reschedule (one host) and RescheduleFailed (every failed host of an
//     error kind) schedule hosts again whatever their failure: the caller's
//     decision after fixing the cause.
//   - Cancel stops one host: a host waiting to start goes back to the state
//     it had, a host in flight is stopped and cleaned up first.
//   - Host, Hosts, Counts and Summary report: each host's record (state,
//     error with cause, solution and the MSI log's excerpt, the package
//     installed, the steps of its last attempt with their times, its
//     progress), the count per state.
//   - Drain stops gracefully: nothing new starts, the installations under way
//     finish, and at the drain's deadline those still running are stopped and
//     cleaned up. Close stops at once, with the same cleanup.
//   - Run(ctx, hosts) is the batch form: it schedules hosts, waits until
//     they all rest and returns their summary.
//
// Every change is an Event (Config.OnEvent, and a log/slog line): state
// changes, installation progress (the upload's percent, the installer's
// current action), hosts skipped with the reason. Events serve programs:
// states, error kinds, reasons and retry classes marshal to stable machine
// names ("with_collector", "logon_failure", "bad_credentials", "no_retry")
// with the display names beside them, and the code the host sent is a
// number with its space ("msi", 1603). A host's first event starts from the
// state the Deployer knew it in: Discovered for a new host.
//
// # What is retried, and what is skipped
//
// Given to Schedule or Run, a host is decided from its record. A host With
// Collector with the same package is skipped; with another package it is
// due again (an upgrade). A Failed host is tried again only when its
// error's retry class allows it (a host that was unreachable, an installer
// that was busy); otherwise (a logon failure, an MSI error, ...) it is
// skipped until the caller reschedules it, so a restarted Engine never sends
// a wrong password again. Skipped hosts are in the events and the summary
// with the reason (SkipInstalled, SkipNotRetryable).
//
// # The logon-failure budget
//
// Config.LogonFailureBudget keeps a wrong password from locking accounts
// out, counting the way an account lockout policy does. A domain account
// is one account everywhere: its failed logons add up over every host, as
// they do at the domain controllers. A local account (domain "." or the
// host's own name) is a different account on every host, with its own
// count. An empty domain may reach the domain controllers (a host tries its
// own accounts, then its domain's), so it counts as a domain account.
// Failures count within Config.LogonFailureWindow, like the policy's reset
// window; a success does not reset the count. At most as many logons run at
// once as the budget has failures left, so concurrent failures never exceed
// it; a logon's place is freed when the logon is done, not when the
// installation is. A host whose account has spent its budget is not logged
// on: it fails with derrors.ReasonLogonBudget, and its event names the
// account, the count, the window and when the account can be tried again. A
// corrected password is used for the hosts rescheduled once the failures
// have aged out of the window (also across a restart: the failures are in
// the store).
//
// # Stores, restarts and what is left on hosts
//
// A Store keeps the hosts' records: MemoryStore, or FileStore, a crash-safe
// journal whose concurrent writes share one sync (a group commit) and which
// one process at a time may open. Before anything is created on a host, the
// deployment's id is recorded; a restarted Engine (Resume, or a host given
// to Schedule again) first reads what that deployment did on the host: a
// result the remote service wrote means the installation finished and is
// judged, never run again; a service still running is waited for; a
// deployment that never started is removed and the host installed afresh.
// A deployment whose removal failed (the host went away) stays in the
// host's record, whatever its state, and the next attempt on the host
// removes it first.
package deployer
