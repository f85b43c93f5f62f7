package errors

import (
	stderrors "errors"
	"fmt"
	"strconv"
	"strings"
)

// Step names what the deployer was doing when a failure happened.
type Step string

// The steps of discovery, probe, push and install, in the order they run.
const (
	StepDiscover         Step = "discover"
	StepLDAPBind         Step = "ldap bind"
	StepResolve          Step = "resolve"
	StepConnect          Step = "connect"
	StepNegotiate        Step = "negotiate"
	StepLogon            Step = "logon"
	StepTreeConnect      Step = "tree connect"
	StepListShares       Step = "list shares"
	StepOpenSCManager    Step = "open service manager"
	StepWriteTest        Step = "write test"
	StepUpload           Step = "upload"
	StepCreateService    Step = "create service"
	StepOpenService      Step = "open service"
	StepConfigureService Step = "configure service"
	StepStartService     Step = "start service"
	StepQueryService     Step = "query service"
	StepStopService      Step = "stop service"
	StepDeleteService    Step = "delete service"
	StepMSIExec          Step = "msiexec"
	StepCleanup          Step = "cleanup"
)

// CodeSpace says which table a Code belongs to.
type CodeSpace int

// Code spaces.
const (
	NoCode CodeSpace = iota
	// NTStatus is an NTSTATUS from an SMB2 reply ([MS-ERREF] 2.3).
	NTStatus
	// Win32 is a Windows system error code ([MS-ERREF] 2.2), as svcctl returns.
	Win32
	// MSIExit is an msiexec exit code.
	MSIExit
	// LDAPResult is an LDAP result code; AD's sub-code goes in Error.Detail.
	LDAPResult
	// Kerberos is a KRB-ERROR code from a KDC ([RFC 4120] 7.5.9).
	Kerberos
)

// Code is the code a host sent, in its table.
type Code struct {
	Space CodeSpace
	Value uint32
}

// NTStatusCode returns c as an NTSTATUS code.
func NTStatusCode(c uint32) Code { return Code{NTStatus, c} }

// Win32Code returns c as a Win32 error code.
func Win32Code(c uint32) Code { return Code{Win32, c} }

// KerberosErrorCode returns c as a Kerberos error code.
func KerberosErrorCode(c int32) Code { return Code{Kerberos, uint32(c)} }

// MSIExitCode returns c as an msiexec exit code.
func MSIExitCode(c uint32) Code { return Code{MSIExit, c} }

// IsZero reports whether there is no code.
func (c Code) IsZero() bool { return c.Space == NoCode }

// Name returns the code's symbolic name, such as STATUS_LOGON_FAILURE,
// ERROR_SERVICE_EXISTS or ERROR_INSTALL_FAILURE, or "" when unknown.
func (c Code) Name() string {
	name, _ := c.entry()
	return name
}

// entry returns the code's name and Windows' message for it.
func (c Code) entry() (name, text string) {
	switch c.Space {
	case NTStatus:
		return ntstatusEntry(c.Value)
	case Win32:
		return win32Entry(c.Value)
	case MSIExit:
		if e, ok := msiExitTable[c.Value]; ok {
			return e.name, e.text
		}
		return win32Entry(c.Value)
	case Kerberos:
		return kerberosEntry(c.Value)
	}
	return "", ""
}

// Text returns Windows' own message for the code, or "" when unknown.
func (c Code) Text() string {
	_, text := c.entry()
	return text
}

// Short is the code as it appears in a message: 0xC000006D for an NTSTATUS,
// the decimal number otherwise.
func (c Code) Short() string {
	switch c.Space {
	case NoCode:
		return ""
	case NTStatus:
		return fmt.Sprintf("0x%08X", c.Value)
	}
	return fmt.Sprintf("%d", c.Value)
}

// String returns the code with its table and name, e.g.
// "NTSTATUS 0xC000006D STATUS_LOGON_FAILURE" or "Win32 1073 ERROR_SERVICE_EXISTS".
func (c Code) String() string {
	var space string
	switch c.Space {
	case NoCode:
		return ""
	case NTStatus:
		space = "NTSTATUS"
	case Win32:
		space = "Win32"
	case MSIExit:
		space = "MSI"
	case LDAPResult:
		space = "LDAP"
	case Kerberos:
		space = "KRB"
	}
	s := space + " " + c.Short()
	if n := c.Name(); n != "" {
		s += " " + n
	}
	return s
}

// Error is a failure on one host: which step failed, which row of the Deployer
// documentation's error table it is, the code the host sent, and the underlying cause.
type Error struct {
	// Host names the target (its name, or its address when no name is known).
	Host string
	// Step is what the deployer was doing.
	Step Step
	// Kind is the row of the Deployer documentation's error table.
	Kind Kind
	// Reason refines Kind with a specific cause and solution; NoReason uses
	// the kind's own.
	Reason Reason
	// Code is the code the host sent, if any.
	Code Code
	// Port is the TCP port the deployer used for the host when it is not
	// SMB's 445: the cause and solution texts then name it.
	Port int
	// Detail is extra evidence from the host, such as the excerpt of an
	// msiexec log or AD's diagnostic text.
	Detail string
	// Repro is the command that reproduces an MSI failure by hand on the
	// computer, with a verbose log: the error table's solution made exact
	// (the package's real name, ASCII options, the properties' names with a
	// placeholder for each value).
	Repro string
	// Err is the underlying cause, if any.
	Err error
	// Cleanup is the failure to remove what the deployer had put on the
	// host, when that failed after this error: the host may still hold the
	// deployer's service or files, which a later run or sweep removes.
	Cleanup error
}

// New returns an *Error of the given kind for host and step, wrapping cause
// (which may be nil).
func New(host string, step Step, kind Kind, cause error) *Error {
	return &Error{Host: host, Step: step, Kind: kind, Err: cause}
}

// Message returns the Deployer documentation's error message, with the host's code where the
// Deployer documentation asks for it: "windows error (1053)", "MSI error (1603)".
func (e *Error) Message() string {
	m := e.Kind.Message()
	if e.Kind.Coded() && !e.Code.IsZero() {
		m += " (" + e.Code.Short() + ")"
	}
	return m
}

// Type returns the Deployer documentation's error type.
func (e *Error) Type() Type { return e.Kind.Type() }

// Cause returns the cause text: the reason's when there is one, else the
// kind's. For a windows error it adds Windows' own message for the code.
func (e *Error) Cause() string {
	if e.Reason != NoReason {
		return e.onPort(e.Reason.Cause())
	}
	c := e.Kind.Cause()
	if e.Kind == WindowsError || e.Kind == MSIError {
		if t := e.Code.Text(); t != "" {
			c += ": " + t
		}
	}
	return e.onPort(c)
}

// onPort rewrites the table's "TCP port 445" and "TCP 445" to the port
// actually used, when it is another.
func (e *Error) onPort(text string) string {
	if e.Port <= 0 || e.Port == 445 {
		return text
	}
	p := strconv.Itoa(e.Port)
	text = strings.ReplaceAll(text, "TCP port 445", "TCP port "+p)
	return strings.ReplaceAll(text, "TCP 445", "TCP "+p)
}

// Solution returns the solution text: the reason's when there is one, else
// the kind's.
func (e *Error) Solution() string {
	if e.Reason != NoReason {
		return e.onPort(e.Reason.Solution())
	}
	return e.onPort(e.Kind.Solution())
}

// AtPort sets the port on err's *Error (see Error.Port) and returns err.
func AtPort(err error, port int) error {
	if e, ok := As(err); ok && e.Port == 0 && port != 445 {
		e.Port = port
	}
	return err
}

// Error reads as one log line: host, step, the Deployer documentation's message, the code, the
// cause.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Host != "" {
		b.WriteString(e.Host)
		b.WriteString(": ")
	}
	if e.Step != "" {
		b.WriteString(string(e.Step))
		b.WriteString(": ")
	}
	b.WriteString(e.Message())
	if !e.Code.IsZero() {
		b.WriteString(" [")
		b.WriteString(e.Code.String())
		b.WriteString("]")
	}
	if e.Reason != NoReason {
		b.WriteString(" (")
		b.WriteString(e.Reason.String())
		b.WriteString(")")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(oneLine(e.Err.Error()))
	}
	if e.Cleanup != nil {
		b.WriteString("; the cleanup failed too: ")
		b.WriteString(oneLine(strings.TrimPrefix(e.Cleanup.Error(), e.Host+": ")))
	}
	return b.String()
}

// oneLine joins the lines of an error text (errors.Join puts each error on
// a line of its own) with "; ", so that an Error is one log line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }), "; ")
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is e's Kind or Reason, or an *Error with the same
// kind (and the same reason and code, where target sets them).
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Kind:
		return e.Kind == t
	case Reason:
		return e.Reason == t && t != NoReason
	case *Error:
		if t.Kind != e.Kind {
			return false
		}
		if t.Reason != NoReason && t.Reason != e.Reason {
			return false
		}
		return t.Code.IsZero() || t.Code == e.Code
	}
	return false
}

// As finds the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := stderrors.As(err, &e)
	return e, ok
}

// KindOf returns the kind of the first *Error in err's chain, or UnknownError
// for any other non-nil error, or 0 for nil.
func KindOf(err error) Kind {
	if err == nil {
		return 0
	}
	if e, ok := As(err); ok {
		return e.Kind
	}
	return UnknownError
}
