// Package deployertest runs emulated Windows hosts in-process for tests of
// code that uses the deployer, in the spirit of net/http/httptest: New (or
// Start, bound to a test) listens on a loopback address and serves SMB2/SMB3
// with IPC$, ADMIN$ (a directory standing for C:\Windows) and C$ (standing
// for C:\), the svcctl, srvsvc, wkssvc, lsarpc and epmapper pipes, and a service control
// manager; the Host reports its address and credentials; Close stops it. No
// root, no Windows, no network beyond 127.0.0.0/8.
//
// Faults come by name: WithFault(WrongPassword), WithFault(Quarantine),
// WithFault(ServiceHangs) and the other Fault constants give a host what real
// fleets show (Faults lists them all), and NewMixedFleet(FaultMix(50)) starts
// a fleet where healthy hosts and broken ones are mixed. Finer options model
// the same things one by one: credentials or an NT hash, extra (non-admin)
// users, guest-only hosts, accounts locked out, disabled or with an expired
// password, a missing ADMIN$, UAC remote restrictions, required signing or
// encryption, a maximum dialect, an antivirus, connections that drop after a
// number of bytes, and latency per response.
//
// Each host runs a Windows version and an architecture (WithWindows,
// WithArch): NTLM and srvsvc announce the version, ADMIN$ is laid out as that
// Windows lays out its system root, and StartService refuses what that
// Windows refuses to load (not a PE image, wrong machine, truncated, a
// subsystem version or an import the version lacks, the Go ≥ 1.22 runtime
// before Windows 8), with the error code Windows gives. WithInstaller makes
// the host run a model of the deployer's remote service that plays msiexec
// with scripted exit codes; WithProgram puts a Program of the test's own in
// its place (it sees each Run, reports RUNNING and returns the exit code),
// and WithServices adds services to those a fresh Windows has.
//
// What a deployment left behind is read without an SMB client:
// Host.Services and Host.Service show the service manager's records,
// Host.Files lists a directory (on a fresh host Files(`C:\Windows`) is
// empty), Host.ReadFile reads a file by its Windows path.
//
// NewFleet starts many hosts, each on its own 127.10.x.y address (Linux
// routes all of 127.0.0.0/8 to loopback). 1,000 idle hosts take about
// 13 KiB of heap each; after one logon and ADMIN$ tree connect to every
// host, with the sessions held, the fleet holds about 37 MiB of heap
// (measured by TestFleetThousandHosts).
//
// The SMB server, the RPC pipes, the service control manager and the loader
// model live in deployertest/internal and appear in no exported signature;
// subpackages hold the test world this project's own tests and examples use
// (demo: the example fleet of the README's demo; lab: Samba peers in network
// namespaces; winelab: Wine, and an emulated host whose services run in
// Wine, StartHost).
//
// Typical use:
//
//	h := deployertest.Start(t, deployertest.WithFault(deployertest.MSIFailure))
//	conn, err := deployer.Connect(ctx, h.Target(), deployer.ConnectConfig{SMB: smb.Config{
//		Credentials: smb.Credentials{User: h.User, Password: h.Password}, Port: h.Port}})
//	// ... run the Engine code under test, then:
//	files, _ := h.Files(`C:\Windows`) // nothing must be left behind
package deployertest
