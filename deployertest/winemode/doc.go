// Package winemode gives the emulated Windows host (package deployertest) a mode in
// which the Windows side is real: ADMIN$ is a Wine prefix's C:\windows and
// every service the emulated service manager starts is carried out by Wine's
// own service manager (services.exe), so the deployer's real remote service
// (nxsvc) runs Wine's real msiexec on a real MSI.
//
// The emulated host still speaks SMB2 and DCE/RPC svcctl to the library;
// Program is the scm.Program that mirrors each start into Wine:
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
// drive_c/windows: PrepareRoot lays out a winhost root whose C\Windows is a
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
// Start builds the whole host for a test from a *winelab.Wine (a prefix in a
// network namespace without routes), as install_test.go builds the modelled
// one.
package winemode
