package errors

import (
	"context"
	stderrors "errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/oiweiwei/go-msrpc/msrpc/erref/ntstatus"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	smb2 "github.com/oiweiwei/go-smb2.fork"
)

// Wrap classifies err as a row of the Deployer documentation's error table for host and step and
// returns it as an *Error that wraps err. It returns nil for a nil err. If
// err already holds an *Error, that classification is kept and only an empty
// Host or Step is filled in.
//
// It understands *net.DNSError, connection errnos (ECONNREFUSED,
// EHOSTUNREACH, ENETUNREACH, ETIMEDOUT), timeouts and context deadlines,
// go-smb2's *ResponseError (an NTSTATUS) and *TransportError, and go-msrpc's
// *win32.Error and *ntstatus.Error. The step decides codes that mean
// different things in different places: ERROR_ACCESS_DENIED from
// OpenSCManager means "not an administrator", from a tree connect it means
// "ADMIN$ denied".
func Wrap(host string, step Step, err error) *Error {
	if err == nil {
		return nil
	}
	if e, ok := As(err); ok || fromTransport(err, &e) {
		c := *e
		if c.Host == "" {
			c.Host = host
		}
		if c.Step == "" {
			c.Step = step
		}
		return &c
	}
	e := &Error{Host: host, Step: step, Err: err}
	e.Kind, e.Reason, e.Code = classify(step, err)
	return e
}

// fromTransport finds an *Error inside go-smb2's *TransportError, which has
// no Unwrap: the connection guard of package smb fails go-smb2's reads with
// a classified *Error, and go-smb2 hands it to every pending request wrapped
// in a TransportError.
func fromTransport(err error, e **Error) bool {
	var te *smb2.TransportError
	if stderrors.As(err, &te) && te.Err != nil {
		if found, ok := As(te.Err); ok {
			*e = found
			return true
		}
	}
	return false
}

// errSigningRequired is go-smb2's message for an unsigned reply on a
// session that requires signing.
const errSigningRequired = "invalid response error: signing required"

func classify(step Step, err error) (Kind, Reason, Code) {
	// First, because a Kerberos failure may wrap the DNS or network error
	// met on the way to a KDC, which says nothing about the host.
	if k, r, c, ok := classifyKerberos(err); ok {
		return k, r, c
	}
	var (
		resp   *smb2.ResponseError
		w32    *win32.Error
		nts    *ntstatus.Error
		dnsErr *net.DNSError
		errno  syscall.Errno
	)
	switch {
	case stderrors.As(err, &resp):
		k, r := FromNTStatus(step, resp.Code)
		return k, r, NTStatusCode(resp.Code)
	case stderrors.As(err, &w32):
		k, r := FromWin32(step, w32.Code)
		return k, r, Win32Code(w32.Code)
	case stderrors.As(err, &nts):
		k, r := FromNTStatus(step, nts.Code)
		return k, r, NTStatusCode(nts.Code)
	case stderrors.As(err, &dnsErr):
		return DNSResolutionFailure, NoReason, Code{}
	case stderrors.As(err, &errno):
		switch errno {
		case syscall.ECONNREFUSED:
			return ConnectionRefused, NoReason, Code{}
		case syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.EHOSTDOWN, syscall.ENETDOWN:
			return HostUnreachable, NoReason, Code{}
		case syscall.ETIMEDOUT:
			return ConnectionTimeout, NoReason, Code{}
		case syscall.ECONNRESET:
			if step == StepNegotiate {
				// The host took the connection and reset it at the first
				// SMB2 message: it speaks only SMB1, or refuses our dialects.
				return SharedAccessFailure, ReasonProtocolMismatch, Code{}
			}
		}
	}
	if isCancelled(err) && !isTimeout(err) {
		// Cancelled, and not by a deadline (which a cancellation inside
		// a timed-out exchange may carry along).
		return Cancelled, NoReason, Code{}
	}
	if step == StepMSIExec && isDeadline(err) {
		return InstallationError, ReasonInstallTimeout, Code{}
	}
	if step == StepNegotiate && stderrors.Is(err, io.EOF) {
		return SharedAccessFailure, ReasonProtocolMismatch, Code{}
	}
	if isTimeout(err) {
		return ConnectionTimeout, NoReason, Code{}
	}
	var te *smb2.TransportError
	if stderrors.As(err, &te) && te.Err != nil {
		return classify(step, te.Err)
	}
	var ire *smb2.InvalidResponseError
	if stderrors.As(err, &ire) && ire.Error() == errSigningRequired {
		return SharedAccessFailure, ReasonSigningUnavailable, Code{}
	}
	return UnknownError, NoReason, Code{}
}

// isTimeout reports a deadline: a context deadline, an I/O deadline, or any
// error in the chain with a true Timeout method.
func isTimeout(err error) bool {
	if stderrors.Is(err, context.DeadlineExceeded) || stderrors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var t interface{ Timeout() bool }
	for e := err; e != nil; e = stderrors.Unwrap(e) {
		if stderrors.As(e, &t) && t.Timeout() {
			return true
		}
		var ce *smb2.ContextError
		if stderrors.As(e, &ce) && stderrors.Is(ce.Err, context.DeadlineExceeded) {
			return true
		}
	}
	return false
}

// NTSTATUS codes the deployer gives a meaning ([MS-ERREF] 2.3.1).
const (
	StatusAccessDenied          uint32 = 0xC0000022
	StatusObjectNameNotFound    uint32 = 0xC0000034
	StatusObjectPathNotFound    uint32 = 0xC000003A
	StatusSharingViolation      uint32 = 0xC0000043
	StatusDeletePending         uint32 = 0xC0000056
	StatusNoSuchUser            uint32 = 0xC0000064
	StatusWrongPassword         uint32 = 0xC000006A
	StatusLogonFailure          uint32 = 0xC000006D
	StatusAccountRestriction    uint32 = 0xC000006E
	StatusInvalidLogonHours     uint32 = 0xC000006F
	StatusInvalidWorkstation    uint32 = 0xC0000070
	StatusPasswordExpired       uint32 = 0xC0000071
	StatusAccountDisabled       uint32 = 0xC0000072
	StatusDiskFull              uint32 = 0xC000007F
	StatusIOTimeout             uint32 = 0xC00000B5
	StatusNotSupported          uint32 = 0xC00000BB
	StatusBadNetworkPath        uint32 = 0xC00000BE
	StatusNetworkAccessDenied   uint32 = 0xC00000CA
	StatusBadNetworkName        uint32 = 0xC00000CC
	StatusCannotDelete          uint32 = 0xC0000121
	StatusLogonTypeNotGranted   uint32 = 0xC000015B
	StatusAccountExpired        uint32 = 0xC0000193
	StatusPasswordMustChange    uint32 = 0xC0000224
	StatusAccountLockedOut      uint32 = 0xC0000234
	StatusVirusInfected         uint32 = 0xC0000906
	StatusVirusDeleted          uint32 = 0xC0000907
	StatusNetworkSessionExpired uint32 = 0xC000035C
)

// FromNTStatus returns the kind and reason of an NTSTATUS received at step.
func FromNTStatus(step Step, code uint32) (Kind, Reason) {
	switch code {
	case StatusLogonFailure, StatusNoSuchUser, StatusWrongPassword:
		return LogonFailure, ReasonBadCredentials
	case StatusAccountLockedOut:
		return LogonFailure, ReasonAccountLockedOut
	case StatusAccountDisabled:
		return LogonFailure, ReasonAccountDisabled
	case StatusAccountExpired:
		return LogonFailure, ReasonAccountExpired
	case StatusPasswordExpired:
		return LogonFailure, ReasonPasswordExpired
	case StatusPasswordMustChange:
		return LogonFailure, ReasonPasswordMustChange
	case StatusAccountRestriction, StatusInvalidLogonHours, StatusInvalidWorkstation, StatusLogonTypeNotGranted:
		return LogonFailure, ReasonLogonRestricted
	case StatusBadNetworkName:
		return SharedAccessFailure, ReasonAdminShareMissing
	case StatusBadNetworkPath:
		return HostUnreachable, NoReason
	case StatusIOTimeout:
		return ConnectionTimeout, NoReason
	case StatusNotSupported:
		if step == StepNegotiate || step == StepConnect {
			return SharedAccessFailure, ReasonProtocolMismatch
		}
	case StatusVirusInfected, StatusVirusDeleted:
		return WindowsError, ReasonQuarantined
	case StatusSharingViolation, StatusDeletePending, StatusCannotDelete:
		return WindowsError, ReasonFileInUse
	case StatusDiskFull:
		return WindowsError, ReasonDiskFull
	case StatusAccessDenied, StatusNetworkAccessDenied:
		switch step {
		case StepLogon:
			return LogonFailure, NoReason
		case StepTreeConnect:
			return SharedAccessFailure, ReasonAdminShareDenied
		case StepOpenSCManager:
			return SharedAccessFailure, ReasonNotAdministrator
		}
	}
	return WindowsError, NoReason
}

// Win32 codes the deployer gives a meaning ([MS-ERREF] 2.2).
const (
	ErrorFileNotFound               uint32 = 2
	ErrorAccessDenied               uint32 = 5
	ErrorSharingViolation           uint32 = 32
	ErrorBadNetPath                 uint32 = 53
	ErrorBadNetName                 uint32 = 67
	ErrorDiskFull                   uint32 = 112
	ErrorVirusInfected              uint32 = 225
	ErrorServiceRequestTimeout      uint32 = 1053
	ErrorServiceAlreadyRunning      uint32 = 1056
	ErrorServiceDisabled            uint32 = 1058
	ErrorServiceDoesNotExist        uint32 = 1060
	ErrorServiceNotActive           uint32 = 1062
	ErrorServiceSpecificError       uint32 = 1066
	ErrorServiceLogonFailed         uint32 = 1069
	ErrorServiceMarkedForDelete     uint32 = 1072
	ErrorServiceExists              uint32 = 1073
	ErrorSessionCredentialConflict  uint32 = 1219
	ErrorLogonFailure               uint32 = 1326
	ErrorAccountRestriction         uint32 = 1327
	ErrorInvalidLogonHours          uint32 = 1328
	ErrorInvalidWorkstation         uint32 = 1329
	ErrorPasswordExpired            uint32 = 1330
	ErrorAccountDisabled            uint32 = 1331
	ErrorLogonTypeNotGranted        uint32 = 1385
	ErrorRPCServerUnavailable       uint32 = 1722
	ErrorAccountExpired             uint32 = 1793
	ErrorPasswordMustChange         uint32 = 1907
	ErrorAccountLockedOut           uint32 = 1909
	ErrorInstallAlreadyRunning      uint32 = 1618
	ErrorSuccessRebootInitiated     uint32 = 1641
	ErrorSuccessRebootRequired      uint32 = 3010
	ErrorInstallPackageOpenFailed   uint32 = 1619
	ErrorInstallFailure             uint32 = 1603
	ErrorUnknownProduct             uint32 = 1605
	ErrorServiceCannotAcceptControl uint32 = 1061
)

// FromWin32 returns the kind and reason of a Win32 error code received at
// step.
func FromWin32(step Step, code uint32) (Kind, Reason) {
	switch code {
	case ErrorLogonFailure:
		return LogonFailure, ReasonBadCredentials
	case ErrorAccountLockedOut:
		return LogonFailure, ReasonAccountLockedOut
	case ErrorAccountDisabled:
		return LogonFailure, ReasonAccountDisabled
	case ErrorAccountExpired:
		return LogonFailure, ReasonAccountExpired
	case ErrorPasswordExpired:
		return LogonFailure, ReasonPasswordExpired
	case ErrorPasswordMustChange:
		return LogonFailure, ReasonPasswordMustChange
	case ErrorAccountRestriction, ErrorInvalidLogonHours, ErrorInvalidWorkstation, ErrorLogonTypeNotGranted:
		return LogonFailure, ReasonLogonRestricted
	case ErrorSessionCredentialConflict:
		return LogonFailure, ReasonCredentialConflict
	case ErrorBadNetPath:
		return HostUnreachable, NoReason
	case ErrorBadNetName:
		return SharedAccessFailure, ReasonAdminShareMissing
	case ErrorAccessDenied:
		switch step {
		case StepOpenSCManager:
			return SharedAccessFailure, ReasonNotAdministrator
		case StepTreeConnect:
			return SharedAccessFailure, ReasonAdminShareDenied
		case StepLogon:
			return LogonFailure, NoReason
		}
	case ErrorServiceRequestTimeout:
		return WindowsError, ReasonServiceStartTimeout
	case ErrorServiceMarkedForDelete:
		return WindowsError, ReasonServiceMarkedForDelete
	case ErrorVirusInfected:
		return WindowsError, ReasonQuarantined
	case ErrorSharingViolation:
		return WindowsError, ReasonFileInUse
	case ErrorDiskFull:
		return WindowsError, ReasonDiskFull
	}
	return WindowsError, NoReason
}

// ntstatusEntry returns an NTSTATUS code's name and Windows' message for it,
// or empty strings when the code is unknown.
func ntstatusEntry(c uint32) (name, text string) {
	if e, ok := ntstatus.FromCode(c).(*ntstatus.Error); ok && e != nil {
		return e.Name, e.Details
	}
	return "", ""
}

// win32Entry returns a Win32 code's name and Windows' message for it, or
// empty strings when the code is unknown.
func win32Entry(c uint32) (name, text string) {
	if e, ok := win32.FromCode(c).(*win32.Error); ok && e != nil {
		return e.Name, e.Details
	}
	return "", ""
}
