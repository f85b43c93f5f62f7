package errors

import "fmt"

// Type is the Deployer documentation's "Error type" column: the three groups of the table.
type Type int

// The Deployer documentation's three error types.
const (
	// TypeNetwork is the Deployer documentation's "Network error".
	TypeNetwork Type = iota + 1
	// TypeShare is the Deployer documentation's "Share error or process launch error on the
	// target computer".
	TypeShare
	// TypeMSI is the Deployer documentation's "MSI error".
	TypeMSI
	// TypeEngine is not in the Deployer documentation: the Engine itself
	// stopped the work on the host (a cancellation).
	TypeEngine
)

// String returns the Deployer documentation's text for the type.
func (t Type) String() string {
	switch t {
	case TypeNetwork:
		return "Network error"
	case TypeShare:
		return "Share error or process launch error on the target computer"
	case TypeMSI:
		return "MSI error"
	case TypeEngine:
		return "Engine"
	}
	return fmt.Sprintf("errors.Type(%d)", int(t))
}

// Kind is one row of the Deployer documentation's error table. A Kind is itself an error, so
// errors.Is(err, derrors.LogonFailure) matches any *Error of that kind.
type Kind int

// The rows of the Deployer documentation's error table, in its order. ConnectionRefused is not in the
// Deployer documentation: a host whose TCP port 445 answers with a reset is neither unreachable
// nor silent, and its remedy differs.
const (
	DNSResolutionFailure Kind = iota + 1
	LogonFailure
	HostUnreachable
	ConnectionTimeout
	ConnectionRefused
	SharedAccessFailure
	FileAccessFailure
	WindowsError
	UnknownError
	RebootNeeded
	MSIError
	InstallationError
	// Cancelled is not in the Deployer documentation: the Engine stopped
	// the work on the host before it finished (its context was cancelled).
	Cancelled
)

// Kinds lists every kind, in the Deployer documentation's order.
func Kinds() []Kind {
	return []Kind{DNSResolutionFailure, LogonFailure, HostUnreachable, ConnectionTimeout,
		ConnectionRefused, SharedAccessFailure, FileAccessFailure, WindowsError, UnknownError,
		RebootNeeded, MSIError, InstallationError, Cancelled}
}

// The Deployer documentation repeats one cause and one solution for its three MSI rows.
const (
	seedMSICause    = "MSI didn’t succeed to install on this computer"
	seedMSISolution = "Please run MSI in debug log – “msiexec –i NEXThink_Updater.msi –l*v C:/Temp/MSI_logs.txt and provide us this file"
)

type row struct {
	typ      Type
	message  string // the Deployer documentation's "Error message", verbatim; "(<code>)" is appended for coded kinds
	coded    bool   // the message carries the host's code: "windows error (1053)"
	cause    string
	solution string
	fromSeed bool // cause and solution are the Deployer documentation's own words
}

// rows is the table. Where the Deployer documentation gives a cause and solution they are kept
// verbatim (typos included: operators search for these strings). Where it
// gives none (connection timeout, unknown error) or gives one that cannot
// apply (it repeats "MSI didn't succeed" on the reboot-needed row), the text
// is ours, in the same voice.
var rows = map[Kind]row{
	DNSResolutionFailure: {TypeNetwork, "dns resolution failure", false,
		"Unable to resolve the IP address of a source",
		"Check the DNS resolution", true},
	LogonFailure: {TypeNetwork, "logon failure", false,
		"The username/password is incorrect",
		"Check the username password provided", true},
	HostUnreachable: {TypeNetwork, "host unreachable", false,
		"ping request from our computer cannot find the route to the destination IP address",
		"Check the firewall on the target computer or packet routing issue between Engine and target computer", true},
	ConnectionTimeout: {TypeNetwork, "connection timeout", false,
		"The target computer did not answer on TCP port 445 (SMB) in time: it is switched off, asleep, or a firewall silently drops the traffic",
		"Check that the target computer is on, and that its firewall allows \"File and Printer Sharing (SMB-In)\" (TCP 445) from the Engine; the host can be retried later", false},
	ConnectionRefused: {TypeNetwork, "connection refused", false,
		"The target computer answered but refused the connection on TCP port 445 (SMB): the Server service is stopped, or a firewall rejects the traffic",
		"Check with \"net start Server\" on the target computer that the Server service runs, and that its firewall allows \"File and Printer Sharing (SMB-In)\" (TCP 445) from the Engine", false},
	SharedAccessFailure: {TypeShare, "shared access failure", false,
		"this computer can’t access to the share drive where the updater MSI is located",
		"check if the firewall on this computer doesn’t block this share connection", true},
	FileAccessFailure: {TypeShare, "file access failure", false,
		"this computer can’t access to the share drive where the updater MSI is located",
		`Check if the firewall on this computer doesn’t block this share connection and also if the remote computer can access to the file \\Engine_IP\nxshare\`, true},
	WindowsError: {TypeShare, "windows error", true,
		"depend of the windows error provided",
		"Please check the windows error related topic here: http://msdn.microsoft.com/en-us/library/windows/desktop/ms681381%28v=vs.85%29.aspx", true},
	UnknownError: {TypeShare, "unknown error", false,
		"The target computer failed in a way the deployer does not recognise; the underlying error is attached",
		"Run the probe on this computer to see which step fails, and provide us the full error line and the deployer log", false},
	RebootNeeded: {TypeMSI, "successful installation(reboot needed)", false,
		"The MSI installed successfully, but Windows must restart to finish the installation (msiexec exit code 3010 or 1641)",
		"Restart the target computer at a convenient time; no new installation is needed", false},
	MSIError: {TypeMSI, "MSI error", true,
		seedMSICause, seedMSISolution, true},
	InstallationError: {TypeMSI, "installation error", false,
		seedMSICause, seedMSISolution, true},
	Cancelled: {TypeEngine, "cancelled", false,
		"The Engine stopped the deployment on this computer before it finished: an operator cancelled it, a drain reached its deadline, or the Engine was stopped",
		"Nothing is needed on the computer (the deployer removes its service and files); schedule it again for installation", false},
}

// Type returns the Deployer documentation's error type the kind belongs to.
func (k Kind) Type() Type { return rows[k].typ }

// Message returns the Deployer documentation's error message for the kind, without a code:
// "windows error", not "windows error (1053)". (*Error).Message adds the code.
func (k Kind) Message() string {
	if r, ok := rows[k]; ok {
		return r.message
	}
	return fmt.Sprintf("errors.Kind(%d)", int(k))
}

// Cause returns the Deployer documentation's cause text for the kind.
func (k Kind) Cause() string { return rows[k].cause }

// Solution returns the Deployer documentation's solution text for the kind.
func (k Kind) Solution() string { return rows[k].solution }

// FromSeed reports whether Cause and Solution are the Deployer documentation's own words; false
// means the Deployer documentation left the row empty (or gave text that cannot apply) and the
// deployer wrote them.
func (k Kind) FromSeed() bool { return rows[k].fromSeed }

// Coded reports whether the kind's message carries the host's code, as in
// "windows error (<error sent by windows computer>)".
func (k Kind) Coded() bool { return rows[k].coded }

// String returns Message.
func (k Kind) String() string { return k.Message() }

// Error returns Message, so a Kind can be the target of errors.Is.
func (k Kind) Error() string { return k.Message() }
