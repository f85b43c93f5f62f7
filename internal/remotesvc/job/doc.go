// Package job defines the files the deployer and its remote service (nxsvc,
// built from ../csrc) exchange in a deployment directory,
// ADMIN$\<prefix>-<deployment-id>\ on the host: the job the deployer writes,
// and the progress and result files the service writes. The service's only
// argument is that directory, so nothing of the job (least of all a property
// value) is ever on a command line or in the service's configuration; the
// directory admits only SYSTEM and Administrators.
//
// Files of a deployment directory:
//
//	nxsvc.exe    the service
//	package.msi  the package (unless it is installed from a share); nxsvc
//	             deletes it once Windows Installer returned
//	job          the job (Encode writes it, nxsvc reads and deletes it)
//	install.log  Windows Installer's verbose log (see below for when it
//	             stays)
//	progress     percent and current action, rewritten as the install runs;
//	             nxsvc writes it before it deletes the job and deletes it
//	             when it ends, so while the service runs the directory holds
//	             the job or the progress file
//	result       the outcome, written once when the service ends (see below
//	             for when)
//
// # What a run leaves
//
// A run succeeds when Windows Installer's result is 0, 3010
// (ERROR_SUCCESS_REBOOT_REQUIRED) or 1641 (ERROR_SUCCESS_REBOOT_INITIATED),
// for an uninstall also 1605 (ERROR_UNKNOWN_PRODUCT: already absent), with
// no stop request and no timeout; or when the skip check finds the
// package's version installed (CodeAlreadyInstalled). Without KEEPLOG, a
// run that succeeds deletes install.log before it reports that it stopped,
// and writes a result file only for an install whose skip check found
// another version of the product (installed=, what it upgraded from): the
// directory holds nxsvc.exe alone, or nxsvc.exe and result. With KEEPLOG it
// keeps install.log (its secret values scrubbed) and writes the result file
// whatever the outcome. A run that fails (a refused job, a changed package,
// set-up failure, any other Windows Installer result, a stop request, the
// timeout, the hard stop) always keeps install.log (when Windows Installer
// wrote one) and writes the result file. The exit code is the same either
// way.
//
// # The job file
//
// Binary, little-endian, at most 65536 bytes, so the C parser in nxsvc has
// nothing to guess: a 16-byte header, then records.
//
//	header:  "NXJB"  u32 version (2)  u32 file length  u32 record count (≤ 1024)
//	record:  u16 tag  u16 flags  u32 payload length  payload
//
// Strings are UTF-16LE without a terminator and may not contain U+0000.
// Records (each at most once, except PROPERTY; flags are 0 except where
// said):
//
//	1 ID         string: the deployment id, 1-64 of [A-Za-z0-9._-], not "." or ".."
//	2 OPERATION  u32: 1 install, 2 uninstall
//	3 PACKAGE    string: install only; a file name in the directory (at most
//	             128 characters) or a UNC path \\server\share\...\file.msi
//	             (at most 1024)
//	4 PRODUCT    string: {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}; the product to
//	             remove, or for an install with SKIPVERSION the package's own
//	5 PROPERTY   u16 name length (code units), name, value (the rest);
//	             flags bit 0: the value is secret. Names are Windows Installer
//	             identifiers ([A-Za-z_][A-Za-z0-9_.]*, at most 72); REBOOT and
//	             MsiHiddenProperties are the service's own; at most 256, each
//	             name once
//	6 TIMEOUT    u32 seconds, 1-604800: the service cancels the install then
//	7 GRACE      u32 seconds, 1-3600 (default 120): how long the service
//	             waits for Windows Installer to roll back after a cancel
//	             before it ends its process
//	8 SHA256     32 bytes, install only: the package's SHA-256; the service
//	             installs nothing from a file that differs (CodeBadPackage)
//	9 SKIPVERSION u32, install only, with PRODUCT: the package's version
//	             packed as major<<24 | minor<<16 | build (PackVersion); the
//	             service asks Windows Installer (MsiQueryProductState,
//	             MsiGetProductInfo VersionString) and, when PRODUCT is
//	             installed in that version, installs nothing and ends with
//	             CodeAlreadyInstalled; the version it found (any) is the
//	             result file's "installed" line
//	10 KEEPLOG   empty: keep install.log and the result file after a
//	             successful run too (see "What a run leaves")
//
// Version 1 (without KEEPLOG) was read by the services that wrote a result
// file and kept the log after every run. Both sides refuse any version but
// their own, and any tag they do not know (ErrTag), so a service and an
// Engine of different versions cannot disagree silently about which files
// a run leaves: the service refuses the job with CodeBadJob and the result
// "job file version not supported".
//
// A file "stop" in the deployment directory (the Engine writes it to cancel
// a program run as a Task Scheduler task, which no service stop reaches) is
// a stop request: the service looks for it every 500 ms while it installs.
//
// ID, OPERATION and TIMEOUT are required, with PACKAGE for an install and
// PRODUCT for an uninstall. A file breaking any rule is refused as a whole
// with a ParseError (in nxsvc: exit code CodeBadJob and the reason in the
// result file).
//
// nxsvc passes the properties to MsiInstallProduct (or, for an uninstall,
// MsiConfigureProductEx) as NAME="value" with quotes doubled, after
// REBOOT=ReallySuppress (msiexec's /norestart), and names the secret ones
// in MsiHiddenProperties so Windows Installer does not log their values;
// when there is a secret it also leaves the property dump out of the log.
//
// # The progress file
//
// UTF-8 lines, at most 512 bytes, replaced atomically (written to
// progress.tmp, then renamed) whenever the action or the percentage changes
// (at most every 250 ms for the same action):
//
//	nxsvc-progress 1
//	seq=17              increases with every rewrite
//	percent=42          of the current phase, from INSTALLMESSAGE_PROGRESS; -1 unknown
//	phase=execute       script (Windows Installer writes its script), execute, rollback
//	action=InstallFiles the last INSTALLMESSAGE_ACTIONSTART
//
// # The result file
//
// UTF-8 lines, written atomically once when the service ends:
//
//	nxsvc-result 1
//	id=dep-42
//	code=1603           the service's exit code (see below)
//	outcome=done        done, cancelled, timeout, hard-stop, bad-job, setup-failed, bad-package
//	msi=1603            the Windows Installer API's result, when it returned
//	error=...           what went wrong, in words (never a property value)
//
// # Exit codes
//
// The service stops with exit code 0, or with WIN32_EXIT_CODE 1066
// (ERROR_SERVICE_SPECIFIC_ERROR) and the code as SERVICE_EXIT_CODE. The code
// is the Windows Installer API's result (1603, 3010, 1602 after a cancel,
// ...), except for the Code* values of the service's own range.
package job
