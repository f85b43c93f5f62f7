// Package winelab runs Windows programs under Wine for tests: the Windows side
// of a host (services.exe, sc, net, msiexec) for proving nxsvc and, later, the
// deployer's service life cycle.
//
// Start (or New in a test) creates a 64-bit WINEPREFIX, a network namespace
// with only a loopback interface (so nothing under Wine can reach any network),
// a persistent wineserver inside it, initializes the prefix (wineboot, about
// 7-20 s depending on load), and
// installs a small bcryptprimitives.dll exporting ProcessPrng, compiled from
// shim/bcryptprimitives.c with mingw-w64, without which Go ≥ 1.22 programs abort
// under Wine 8. Every wine command runs with WINEARCH=win64, WINEDEBUG=-all
// and WINEDLLOVERRIDES=mscoree,mshtml= (no Mono/Gecko prompts) inside the
// namespace. Close kills the wineserver (and with it every Wine process of
// the prefix) and deletes the namespace.
//
// Since wineboot is slow, tests of one package share a prefix through Shared.
//
// ParseSCQuery turns the output of `sc query NAME` into a ServiceStatus (state,
// WIN32_EXIT_CODE, SERVICE_EXIT_CODE), which is how tests read the service
// control manager from Linux; Wine.QueryService and Wine.WaitState wrap it.
//
// A Wine-backed emulated host: StartHost gives an emulated Windows host
// (package deployertest) whose Windows side is real: ADMIN$ is the prefix's
// C:\windows and every service the emulated service manager starts is
// carried out by Wine's own service manager (services.exe), so the deployer's
// real remote service (nxsvc) runs Wine's real msiexec on a real MSI. The
// emulated host still speaks SMB2 and DCE/RPC svcctl to the library; Program
// is the deployertest.Program that mirrors each start into Wine:
//
//	emulated StartServiceW  →  sc create NAME binpath= <same command line>
//	                            sc start NAME <start arguments>
//	Wine reports RUNNING    →  run.ReportRunning (StartServiceW returns)
//	emulated stop (ctx)     →  sc stop NAME, wait for STOPPED
//	Wine reports STOPPED    →  sc delete NAME; the Program returns Wine's
//	                            exit code: SERVICE_EXIT_CODE as a
//	                            service-specific code when WIN32_EXIT_CODE is
//	                            1066 (ERROR_SERVICE_SPECIFIC_ERROR), else
//	                            the Win32 code
//
// Binary paths map one to one because ADMIN$ is the prefix's
// drive_c/windows: PrepareRoot lays out a host root whose C\Windows is a
// symbolic link to it (the SMB server opens the share with os.OpenRoot, which
// follows a link in the share's own path and still confines everything below
// it). Wine resolves names case-insensitively, so C:\Windows\nxdeploy\… and
// C:\windows\nxdeploy\… are the same file. A prefix made by wine64 without
// wine32 has no syswow64, by which the deployer tells an x64 host: PrepareRoot
// adds an empty one, so the library picks the amd64 nxsvc by itself.
//
// The Program returns (and the emulated service shows STOPPED) only after
// the service is deleted from Wine's SCM, so a client that saw STOPPED finds
// nothing of the run left in Wine. Each sc command starts a Wine process
// (0.2-1.5 s on two loaded cores), which is what a start, a status change
// and a stop cost on top of the service's own work.
//
// Everything here needs root (for ip netns), wine, wineserver and
// x86_64-w64-mingw32-gcc; Require (through lab.Require) skips a test when
// they are missing, or fails it when DEPLOYER_LAB=required. Namespaces carry
// package lab's dl<pid>x prefix, so lab.Sweep reclaims those of crashed runs.
package winelab
