// Package errors is the Deployer documentation's error table as Go types: every failure the
// deployer reports is an *Error whose Kind is one row of the table (its
// message, cause and solution are the operator-facing contract), with the
// host and step it came from, the code the host sent (NTSTATUS, Win32 or MSI
// exit code) and the underlying cause.
//
// The package shadows the standard library's name. Import it as derrors:
//
//	import derrors "github.com/nxdeploy/deployer/errors"
//
// and keep using the standard errors.Is and errors.As:
//
//	if errors.Is(err, derrors.LogonFailure) { ... }       // a kind
//	if errors.Is(err, derrors.ReasonGuestOnly) { ... }    // a specific cause
//	var de *derrors.Error
//	if errors.As(err, &de) { log.Print(de.Solution()) }
//
// Wrap classifies any error (Go network errors, go-smb2 NTSTATUS replies,
// go-msrpc Win32 errors, context deadlines) for a host and step. FromMSIExit
// turns an msiexec exit code into a result. SafeToRetry and Retry say whether
// orchestration may try again; unknown errors and logon failures never are.
//
// The table, grouped under the Deployer documentation's three error types:
//
//	Network error:   dns resolution failure, logon failure, host unreachable,
//	                 connection timeout, connection refused (not in the Deployer documentation)
//	Share error or process launch error on the target computer:
//	                 shared access failure, file access failure,
//	                 windows error (<code>), unknown error
//	MSI error:       successful installation(reboot needed), MSI error (<code>),
//	                 installation error
package errors
