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
// Everything here needs root (for ip netns), wine, wineserver and
// x86_64-w64-mingw32-gcc; Require (through lab.Require) skips a test when
// they are missing, or fails it when DEPLOYER_LAB=required. Namespaces carry
// package lab's dl<pid>x prefix, so lab.Sweep reclaims those of crashed runs.
package winelab
