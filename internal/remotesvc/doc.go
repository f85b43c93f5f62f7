// Package remotesvc holds nxsvc, the small Windows service the deployer
// pushes to ADMIN$ to install the package, built from the C source in
// ./csrc for x64 ("amd64") and x86 ("386") and embedded here; the job,
// progress and result files it shares with the deployer are in ./job.
//
// # What nxsvc does
//
// Its only argument is its deployment directory. It reads the job file
// there (and deletes it), installs or removes the product through the
// Windows Installer API in its own process (MsiSetInternalUI with
// INSTALLUILEVEL_NONE, MsiEnableLog verbose into install.log,
// MsiSetExternalUIRecord for progress and action messages,
// MsiInstallProduct or MsiConfigureProductEx), rewrites the progress file
// as the messages arrive, and stops with the API's result as its exit
// code. A run that fails keeps the log and writes the result file; a run
// that succeeds deletes the log and leaves nxsvc.exe alone, with a result
// file only after an install over another version of the product, unless
// the job asks to keep both (job.Job.KeepLog; see package job, "What a run
// leaves"). No property value is on a command line, in the
// service's configuration or in the events the service manager logs; the
// values the job marks secret are named in MsiHiddenProperties and also
// overwritten in the log afterwards. A stop request is answered by returning
// IDCANCEL to Windows Installer's next message, so the product rolls back
// and the API returns 1602 (a file "stop" in its directory is a stop
// request too, for nxsvc run as a task); only when Windows Installer has not returned
// after the job's grace period does nxsvc end its process.
//
// # Why C, built with mingw-w64
//
// The earlier nxsvc was a Go program. Go 1.20 was the last release for
// Windows 7, 8 and Server 2008 R2/2012, and Go ≥ 1.22's runtime needs
// ProcessPrng from bcryptprimitives.dll, which Windows 7 and Server 2008 R2
// lack, and aborts without it; and a Go
// service weighed 2.7 MB per host and was a frequent antivirus false
// positive. The tools this one replaces are small native programs:
// winexesvc (Samba's, C), PsExec's PSEXESVC (C/C++), RemCom's RemComSvc
// (C++) and PAExec (C++), each some tens of KiB. nxsvc is C with no C
// runtime at all (its entry point calls the service dispatcher; the few
// memory helpers the compiler may call are in csrc/nxrt.c), so it imports
// only kernel32, advapi32 and msi functions that Windows XP already has,
// and weighs about 18 KiB. Debian's mingw-w64 cross compilers
// (gcc-mingw-w64-x86-64-win32 and gcc-mingw-w64-i686-win32) build it on
// the machine that builds the deployer, reproducibly.
//
// The portable half (csrc/nxjob.c: job parser, command-line builder,
// progress arithmetic, file texts, log scrubbing) is also compiled by cgo
// in package native, where it is tested against the Go side and fuzzed,
// and run under AddressSanitizer and UndefinedBehaviorSanitizer.
//
// # Which Windows
//
// Windows Vista and Server 2008 (NT 6.0) and every later version, x86 and
// x64: the PE headers state 6.0 as the minimum OS and subsystem version,
// and TestImportsAllowed fails on any import newer than that (imports.txt
// lists each imported function with the minimum Windows its Microsoft
// documentation gives). Built with every warning an error, and every
// callback assigned through the Windows headers' function-pointer types,
// so an x86 calling-convention mistake does not compile
// (TestCallbackConventionMustMatch proves it).
//
// ARM64 Windows runs the x86 build, under its built-in emulation: WOW64
// runs x86 console, GUI and service applications on 64-bit Arm Windows
// ("Running 32-bit Applications", learn.microsoft.com/windows/win32/
// winprog64/running-32-bit-applications), on Windows 10 on Arm and
// Windows 11 alike, whereas x64 emulation exists only on Windows 11
// ("Windows 11 extends that emulation to run unmodified x64 Windows apps
// on Arm-powered devices", learn.microsoft.com/windows/arm/
// add-arm-support). mingw-w64 in Debian 12 has no aarch64 target, so
// there is no native ARM64 build; BuildFor("arm64") is "386". Windows
// Installer is a native service there; an x86 client may install x64 and
// ARM64 packages through it, as 32-bit msiexec does.
//
// # The embedded binaries
//
// `go generate ./internal/remotesvc` builds each binary twice with the
// flags of package build (no timestamp, no build id, no identification
// string, file paths mapped, fixed locale) and writes them only when both
// builds are identical, with the toolchain that built them in
// bin/TOOLCHAIN. TestEmbeddedMatchesSource rebuilds them and fails if the
// bytes differ, so the committed binaries always match the committed
// source (same Debian 12 toolchain).
//
// A caller may push a code-signed copy instead; Identify recognizes one by
// its Authenticode digest (ImageDigest), which signing does not change.
package remotesvc
