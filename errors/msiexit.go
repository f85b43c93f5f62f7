package errors

import "fmt"

// MSIOutcome is what an msiexec exit code means for a deployment.
type MSIOutcome int

// The outcomes of msiexec.
const (
	// MSIFailed: the package did not install; the host is Failed.
	MSIFailed MSIOutcome = iota
	// MSISuccess: the package installed (exit code 0).
	MSISuccess
	// MSISuccessReboot: the package installed and Windows must restart
	// (3010 ERROR_SUCCESS_REBOOT_REQUIRED, 1641 ERROR_SUCCESS_REBOOT_INITIATED).
	MSISuccessReboot
	// MSIRetryable: another installation runs (1618
	// ERROR_INSTALL_ALREADY_RUNNING); try again later.
	MSIRetryable
)

// String names the outcome.
func (o MSIOutcome) String() string {
	switch o {
	case MSISuccess:
		return "success"
	case MSISuccessReboot:
		return "success, reboot needed"
	case MSIRetryable:
		return "retryable"
	}
	return "failed"
}

type msiExit struct {
	name, text string
	outcome    MSIOutcome
}

// msiExitCodes are the exit codes of "MsiExec.exe and InstMsi.exe Error
// Messages" in Microsoft's Windows Installer documentation. Their names and
// texts are Windows' own ([MS-ERREF] 2.2, as go-msrpc carries them).
var msiExitCodes = []uint32{0, 13, 87, 120, 1259,
	1601, 1602, 1603, 1604, 1605, 1606, 1607, 1608, 1609, 1610, 1611, 1612, 1613, 1614, 1615, 1616,
	1618, 1619, 1620, 1621, 1622, 1623, 1624, 1625, 1626, 1627, 1628, 1629, 1630, 1631, 1632, 1633,
	1634, 1635, 1636, 1637, 1638, 1639, 1640, 1641, 1642, 1643, 1644, 1645, 1646, 1647, 1648, 1649,
	1650, 3010, 3011}

var msiExitTable = func() map[uint32]msiExit {
	t := make(map[uint32]msiExit, len(msiExitCodes))
	for _, c := range msiExitCodes {
		name, text := win32Entry(c)
		e := msiExit{name: name, text: text, outcome: MSIFailed}
		switch c {
		case 0:
			e.name, e.text, e.outcome = "ERROR_SUCCESS", "The action completed successfully.", MSISuccess
		case ErrorSuccessRebootRequired, ErrorSuccessRebootInitiated:
			e.outcome = MSISuccessReboot
		case ErrorInstallAlreadyRunning:
			e.outcome = MSIRetryable
		}
		t[c] = e
	}
	return t
}()

// MSIExitCodes returns every documented msiexec exit code, in ascending order.
func MSIExitCodes() []uint32 { return append([]uint32(nil), msiExitCodes...) }

// MSIExitKnown reports whether code is a documented msiexec exit code.
func MSIExitKnown(code uint32) bool {
	_, ok := msiExitTable[code]
	return ok
}

// ClassifyMSIExit returns what an msiexec exit code means. Codes outside the
// documented table are failures.
func ClassifyMSIExit(code uint32) MSIOutcome {
	if e, ok := msiExitTable[code]; ok {
		return e.outcome
	}
	return MSIFailed
}

// FromMSIExit turns the exit code of msiexec on host into a result: nil for
// success, a RebootNeeded error for 3010 and 1641 (the installation
// succeeded; callers treat it as success with a flag), an MSI error with
// ReasonInstallInProgress for 1618 (retryable), and "MSI error (<code>)" for
// every other code. detail is attached as evidence, normally the excerpt of
// the verbose log.
func FromMSIExit(host string, code uint32, detail string) *Error {
	e := &Error{Host: host, Step: StepMSIExec, Code: MSIExitCode(code), Detail: detail}
	switch ClassifyMSIExit(code) {
	case MSISuccess:
		return nil
	case MSISuccessReboot:
		e.Kind = RebootNeeded
	case MSIRetryable:
		e.Kind, e.Reason = MSIError, ReasonInstallInProgress
	default:
		e.Kind = MSIError
	}
	if t := e.Code.Text(); t != "" {
		e.Err = fmt.Errorf("msiexec exited with %d: %s", code, t)
	} else {
		e.Err = fmt.Errorf("msiexec exited with %d", code)
	}
	return e
}

// IsExceptionCode reports whether a process exit code is an exception code
// (an NTSTATUS error such as 0xC0000005 STATUS_ACCESS_VIOLATION, or a known
// NTSTATUS warning such as 0x80000003 STATUS_BREAKPOINT) rather than a
// result of the process: the process crashed or was killed. msiexec's own
// exit codes are all below 0x10000.
func IsExceptionCode(code uint32) bool {
	if code >= 0xC0000000 {
		return true
	}
	return code >= 0x80000000 && NTStatusCode(code).Name() != ""
}

// FromProcessCrash returns the error for a process on host that ended with
// an exception code (see IsExceptionCode) at step: a windows error whose
// code is the NTSTATUS and whose reason is ReasonProcessCrashed.
func FromProcessCrash(host string, step Step, process string, code uint32) *Error {
	c := NTStatusCode(code)
	what := c.Short()
	if n := c.Name(); n != "" {
		what += " " + n
	}
	return &Error{Host: host, Step: step, Kind: WindowsError, Reason: ReasonProcessCrashed, Code: c,
		Err: fmt.Errorf("%s ended with the exception code %s: it crashed or was killed", process, what)}
}
