package errors

import stderrors "errors"

// RetryClass says whether and when a failed step may be tried again.
type RetryClass int

// Retry classes. Only what is proven safe is retried: a host that did not
// answer before anything was sent, and an installation another one blocked.
const (
	// NoRetry: do not try again without a change (credentials, host
	// configuration). Every unknown error is NoRetry, and so is every logon
	// failure: retrying a bad password locks accounts.
	NoRetry RetryClass = iota
	// RetryLater: the host could not be reached before anything was sent to
	// it (DNS failure, timeout, unreachable, refused while connecting); try
	// again later within the retry window, in case it comes online.
	RetryLater
	// RetryBackoff: the host is busy (another installation runs, msiexec
	// 1618; a service is marked for delete; a file is in use); try again
	// after a backoff.
	RetryBackoff
)

// String names the class.
func (c RetryClass) String() string {
	switch c {
	case RetryLater:
		return "retry later"
	case RetryBackoff:
		return "retry with backoff"
	}
	return "no retry"
}

// Retry classifies err. It looks for an *Error in err's chain (any other
// error is NoRetry).
func Retry(err error) RetryClass {
	var e *Error
	if !stderrors.As(err, &e) {
		return NoRetry
	}
	switch e.Kind {
	case LogonFailure, UnknownError:
		return NoRetry
	case DNSResolutionFailure, ConnectionTimeout, HostUnreachable, ConnectionRefused:
		if e.Step == StepResolve || e.Step == StepConnect || e.Step == StepDiscover {
			return RetryLater
		}
		return NoRetry
	}
	switch e.Reason {
	case ReasonInstallInProgress, ReasonServiceMarkedForDelete, ReasonFileInUse:
		return RetryBackoff
	}
	return NoRetry
}

// SafeToRetry reports whether err may be retried at all (later or after a
// backoff).
func SafeToRetry(err error) bool { return Retry(err) != NoRetry }

// Timeout reports whether err is a timeout: a connection timeout kind, or a
// deadline anywhere in the chain.
func Timeout(err error) bool {
	if err == nil {
		return false
	}
	var e *Error
	if stderrors.As(err, &e) && e.Kind == ConnectionTimeout {
		return true
	}
	return isTimeout(err)
}
