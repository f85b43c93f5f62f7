package errors

import "fmt"

// Reason refines a Kind when one row of the table has several real causes:
// the kind (and so the Deployer documentation's message) stays, and the cause and solution
// become specific. A Reason is an error, so errors.Is(err,
// derrors.ReasonGuestOnly) matches any *Error with that reason.
type Reason int

// Reasons. The zero Reason means "the kind's own cause and solution".
const (
	NoReason Reason = iota

	// Logon failure.
	ReasonBadCredentials
	ReasonAccountLockedOut
	ReasonAccountDisabled
	ReasonAccountExpired
	ReasonPasswordExpired
	ReasonPasswordMustChange
	ReasonLogonRestricted
	ReasonGuestOnly
	ReasonCredentialConflict
	ReasonAccountRevoked
	ReasonKDCUnreachable
	ReasonClockSkew
	ReasonUnknownServicePrincipal
	ReasonKerberosEtype

	// Shared access failure.
	ReasonAdminShareMissing
	ReasonAdminShareDenied
	ReasonNotAdministrator
	ReasonProtocolMismatch
	ReasonSMB1Only
	ReasonSigningUnavailable
	ReasonMalformedReply

	// Windows error.
	ReasonQuarantined
	ReasonServiceStartTimeout
	ReasonServiceMarkedForDelete
	ReasonFileInUse
	ReasonDiskFull
	ReasonProcessCrashed
	ReasonServiceNameTaken
	ReasonUnsafeDirectory

	// File access failure.
	ReasonPackageUnreadable

	// MSI error.
	ReasonInstallInProgress

	// Installation error.
	ReasonInvalidInput
	// Installation error: msiexec ran longer than allowed.
	ReasonInstallTimeout
	// Connection timeout: a step after the logon outlasted the host's time.
	ReasonHostTimeout
	// Logon failure: the logon was not tried, to keep the account from
	// being locked out.
	ReasonLogonBudget

	// The remote service and the host it runs on.
	ReasonWindowsTooOld
	ReasonServiceBinaryMismatch
	ReasonDirectoryUnprotected

	// Shared access failure: the LAPS-managed account is filtered by UAC
	// remote restrictions.
	ReasonLAPSAccountFiltered
)

type reasonRow struct {
	kind     Kind
	name     string
	cause    string
	solution string
}

var reasons = map[Reason]reasonRow{
	ReasonBadCredentials: {LogonFailure, "bad credentials",
		"The username/password is incorrect",
		"Check the username password provided"},
	ReasonAccountLockedOut: {LogonFailure, "account locked out",
		"The account is locked out after too many failed logons",
		"Unlock the account (Active Directory Users and Computers, or \"net user NAME /active:yes\" for a local account) and check which process keeps sending a wrong password before retrying; the deployer stops using a credential after repeated logon failures to avoid this"},
	ReasonAccountDisabled: {LogonFailure, "account disabled",
		"The account is disabled",
		"Enable the account, or provide another account with administrative privileges"},
	ReasonAccountExpired: {LogonFailure, "account expired",
		"The account has expired",
		"Extend the account's expiry date, or provide another account with administrative privileges"},
	ReasonPasswordExpired: {LogonFailure, "password expired",
		"The account's password has expired",
		"Change the account's password and provide the new one"},
	ReasonPasswordMustChange: {LogonFailure, "password must change",
		"The account's password must be changed at next logon",
		"Log on once interactively to set a new password (or clear \"User must change password at next logon\") and provide the new one"},
	ReasonLogonRestricted: {LogonFailure, "logon restricted",
		"The account is not allowed to log on from the network to this computer now (logon hours, workstation list, or \"Access this computer from the network\" rights)",
		"Allow the account network logon on the target computer (Local Security Policy, User Rights Assignment) and check its logon hours and workstation restrictions"},
	ReasonGuestOnly: {LogonFailure, "logged on as guest",
		"The target computer accepted the logon only as Guest: it maps every network logon of a local account to Guest (\"Guest only\" sharing model, or Simple File Sharing)",
		"Set \"Classic: Local users authenticate as themselves.\" in \"Control Panel\\Administrative Tools\\Local Security Policy\\Local Policies\\Security options\\Network access: Sharing and security model for local accounts\" (on Windows XP turn off \"Use simple file sharing\"), and use an account with administrative privileges and a non-empty password"},
	ReasonCredentialConflict: {LogonFailure, "credential conflict",
		"Another connection from the Engine to this computer already uses different credentials (ERROR_SESSION_CREDENTIAL_CONFLICT)",
		"Close the other connection (for example a mounted share) or use the same account for both"},
	ReasonAccountRevoked: {LogonFailure, "account revoked",
		"The domain controller refused a Kerberos ticket for the account (KDC_ERR_CLIENT_REVOKED): it is disabled, locked out or expired",
		"Check the account in \"Active Directory Users and Computers\" (enabled, not locked out, not expired), or provide another account with administrative privileges"},
	ReasonKDCUnreachable: {LogonFailure, "KDC unreachable",
		"The Engine found no Kerberos key distribution centre (domain controller) for the account's realm, or none answered on port 88",
		"Check the Kerberos realm (the domain's DNS name) and KDC addresses in the deployer's settings, or the realm's _kerberos._tcp SRV records in DNS, and that TCP port 88 from the Engine to the domain controllers is open; or log on with NTLM"},
	ReasonClockSkew: {LogonFailure, "clock skew",
		"The clocks of the Engine and the domain controller differ by more than Kerberos allows (KRB_AP_ERR_SKEW; 5 minutes by default)",
		"Synchronise the Engine's clock with the domain (NTP), then deploy again"},
	ReasonUnknownServicePrincipal: {LogonFailure, "unknown service principal",
		"The domain has no computer with the name used to reach this computer (KDC_ERR_S_PRINCIPAL_UNKNOWN): Kerberos needs the computer's DNS name as registered in Active Directory, not an address or an alias",
		"Reach the computer by its fully qualified DNS name (check the name with: setspn -Q cifs/NAME), or log on with NTLM"},
	ReasonKerberosEtype: {LogonFailure, "no common Kerberos encryption type",
		"The domain controller supports none of the encryption types the Engine offered (KDC_ERR_ETYPE_NOSUPP); an NT hash allows only RC4, which the domain may have turned off",
		"Provide the account's password instead of its NT hash (so AES keys are used), or allow the account's encryption types in the domain"},
	ReasonAdminShareMissing: {SharedAccessFailure, "ADMIN$ missing",
		"The logon succeeded but the computer has no ADMIN$ share (the administrative shares are turned off)",
		"Enable the administrative shares: set HKLM\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters AutoShareWks (workstations) or AutoShareServer (servers) to 1, or delete the value, then restart the Server service; check with \"net share\" that ADMIN$ and IPC$ exist"},
	ReasonAdminShareDenied: {SharedAccessFailure, "ADMIN$ access denied",
		"The logon succeeded but access to ADMIN$ was denied: the account is not an administrator, or it is a local administrator whose token is filtered by UAC remote restrictions",
		"Use a domain account in the local Administrators group (or the built-in Administrator), or allow local administrators remotely: reg add HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\system /v LocalAccountTokenFilterPolicy /t REG_DWORD /d 1 /f"},
	ReasonNotAdministrator: {SharedAccessFailure, "not an administrator",
		"The logon succeeded but the account may not create services on this computer (OpenSCManager returned ERROR_ACCESS_DENIED): it is not an administrator, or its administrator token is filtered by UAC remote restrictions",
		"Use an account with administrative privileges on the target computer; for a local administrator other than the built-in Administrator set: reg add HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\system /v LocalAccountTokenFilterPolicy /t REG_DWORD /d 1 /f"},
	ReasonProtocolMismatch: {SharedAccessFailure, "SMB protocol mismatch",
		"The Engine and the target computer share no SMB dialect or security setting (for example the computer accepts only SMB 3.1.1, or requires signing or encryption that was refused)",
		"Check the SMB server settings of the target computer (Get-SmbServerConfiguration) and the deployer's signing and encryption options; the probe reports the negotiated dialect"},
	ReasonSMB1Only: {SharedAccessFailure, "SMB1 only",
		"The target computer speaks only SMB1 (Windows XP or Server 2003, or a computer where SMB2 is turned off); the deployer needs SMB 2.0.2 or later",
		"Turn SMB2 on (PowerShell: Set-SmbServerConfiguration -EnableSMB2Protocol $true; or set HKLM\\SYSTEM\\CurrentControlSet\\Services\\LanmanServer\\Parameters SMB2 to 1 and restart the Server service); Windows XP and Server 2003 have no SMB2: upgrade them or install the agent there by other means"},
	ReasonSigningUnavailable: {SharedAccessFailure, "signing unavailable",
		"The target computer does not sign its SMB messages (signing is turned off on it) and the deployer requires signed sessions",
		"Turn SMB signing on for the computer's server (PowerShell: Set-SmbServerConfiguration -EnableSecuritySignature $true, or Group Policy \"Microsoft network server: Digitally sign communications (if client agrees)\"; Samba: server signing = auto or mandatory), or, on a network you trust, allow unsigned sessions (-allow-unsigned)"},
	ReasonMalformedReply: {SharedAccessFailure, "malformed reply",
		"The target computer sent an SMB reply that breaks the protocol (a frame, offset or length that points outside the message, or a field no Windows server sends); the deployer closed the connection without using it",
		"Check what answers on TCP port 445 at this address (a device that is not a Windows computer, a faulty SMB server, or a compromised host), and whether a network device between the Engine and the computer alters SMB traffic; run the probe on the computer to see the failing step"},
	ReasonQuarantined: {WindowsError, "quarantined by antivirus",
		"The file the deployer copied to the computer was removed or blocked by antivirus software",
		"Allow the deployer's service binary in the antivirus (or provide a code-signed binary), then deploy again"},
	ReasonServiceStartTimeout: {WindowsError, "service start timeout",
		"The deployer's service did not report that it started in time (ERROR_SERVICE_REQUEST_TIMEOUT): it was blocked, or the computer is overloaded",
		"Check the System event log of the target computer for Service Control Manager events and antivirus blocks, then deploy again"},
	ReasonServiceMarkedForDelete: {WindowsError, "service marked for delete",
		"A previous deployer service on this computer is marked for deletion and still held open",
		"Wait a minute and deploy again; close the Services console on the target computer if it is open"},
	ReasonFileInUse: {WindowsError, "file in use",
		"A file the deployer needs is in use on the target computer",
		"Wait for the other process to finish (or restart the computer) and deploy again"},
	ReasonDiskFull: {WindowsError, "disk full",
		"The target computer's Windows drive has not enough free space",
		"Free space on the Windows drive of the target computer, then deploy again"},
	ReasonProcessCrashed: {WindowsError, "crashed",
		"msiexec or the deployer's service on the target computer ended with an exception code (an NTSTATUS such as STATUS_ACCESS_VIOLATION) instead of an exit code: it crashed or was killed",
		"Check the Application event log of the target computer (Application Error and Windows Error Reporting events for msiexec.exe or nxsvc.exe) and the antivirus log, then deploy again"},
	ReasonServiceNameTaken: {WindowsError, "service name taken",
		"A service with the name the deployer uses for this deployment exists on the target computer and is not the deployer's (its program is elsewhere)",
		"Use another deployment ID or prefix; check the service on the target computer with: sc qc NAME"},
	ReasonUnsafeDirectory: {WindowsError, "unsafe deployment directory",
		"The deployer's directory in ADMIN$ on the target computer is a junction, a symbolic link or a file, so what is under it may be anywhere: the deployer neither writes nor deletes there",
		"Look at the directory on the target computer (dir /AL %SystemRoot%) and remove the link or file, then deploy again"},
	ReasonPackageUnreadable: {FileAccessFailure, "package unreadable",
		"The target computer could not read the MSI package from the share (as LocalSystem it connects to the share with the computer account)",
		`Check if the firewall on this computer doesn’t block this share connection and also if the remote computer can access to the file \\Engine_IP\nxshare\; or let the deployer copy the MSI to the computer (the default)`},
	ReasonInstallInProgress: {MSIError, "another installation in progress",
		"Another installation is already in progress on this computer (msiexec exit code 1618)",
		"Nothing to do: the deployer retries later; if it keeps failing, check which installation runs on the computer (Windows Update, another deployment)"},
	ReasonInvalidInput: {InstallationError, "invalid input",
		"A value given to the deployer cannot be used on the target computer: a deployment ID or prefix that is not a plain name, or an MSI property or path too long for a command line",
		"Correct the value the error names (it says which and why), then deploy again"},
	ReasonInstallTimeout: {InstallationError, "installation timeout",
		"The installation was still running when the time allowed for it ran out, and it was stopped (Windows Installer rolls it back): the package waits for something (a prompt, a locked file, a custom action) or the computer is very slow",
		"Read the MSI log excerpt to see which action was running; fix the package or the computer, or allow more time (the install timeout, -install-timeout, and the host timeout, -host-timeout), then deploy again"},
	ReasonHostTimeout: {ConnectionTimeout, "host timeout",
		"The computer answered, but the deployment did not finish within the time allowed for one host: the network between the Engine and the computer, or the computer itself, is too slow",
		"Check the bandwidth and packet loss between the Engine and the computer, or allow more time per host (the host timeout, -host-timeout), then deploy again"},
	ReasonLogonBudget: {LogonFailure, "logon budget spent",
		"The logon was not tried: this account already failed to log on as many times as the logon-failure budget allows within its window, and one more failure could lock it out",
		"Check the username and password, then schedule the computer again; the budget frees up as the failures age out of the window (a domain account counts for every computer, a local account for its own computer)"},
	ReasonWindowsTooOld: {WindowsError, "Windows too old",
		"The target computer runs a Windows older than Windows Vista / Windows Server 2008 (such as Windows XP or Server 2003), on which the deployer's remote service cannot run",
		"Upgrade the computer's Windows, or install the MSI on it by other means (msiexec run on the computer)"},
	ReasonServiceBinaryMismatch: {InstallationError, "service binary mismatch",
		"The service binary given to the deployer is not a build of this deployer's remote service for the computer's architecture (for example one signed for another version of the deployer, or the x86 build for an x64 computer)",
		"Sign the binary this version of the deployer provides for the architecture (deployer.ServiceBinary), or give none so the deployer pushes its own"},
	ReasonDirectoryUnprotected: {WindowsError, "deployment directory not protected",
		"The target computer did not let the deployer restrict its deployment directory to SYSTEM and Administrators (srvsvc NetrpSetFileSecurity refused), so the package, its properties and the installation log would be readable by other users",
		"Check that the Server service runs on the computer and that the account is an administrator there, then deploy again; the deployer copies nothing into a directory it could not protect"},
	ReasonLAPSAccountFiltered: {SharedAccessFailure, "LAPS account filtered by UAC",
		"The account LAPS manages on this computer (read from Active Directory) is a local administrator other than the built-in Administrator (RID 500), and Windows filters the administrator token of such accounts on network logons (UAC remote restrictions): the logon succeeds, then ADMIN$ or the service manager refuse it",
		"Have LAPS manage the built-in Administrator (its AdministratorAccountName policy left empty), or allow local administrators remotely on the computer: reg add HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\system /v LocalAccountTokenFilterPolicy /t REG_DWORD /d 1 /f; or deploy with a domain account in the local Administrators group"},
}

// Kind returns the kind the reason refines.
func (r Reason) Kind() Kind { return reasons[r].kind }

// Cause returns the reason's specific cause.
func (r Reason) Cause() string { return reasons[r].cause }

// Solution returns the reason's specific solution.
func (r Reason) Solution() string { return reasons[r].solution }

// String returns a short name such as "ADMIN$ missing".
func (r Reason) String() string {
	if row, ok := reasons[r]; ok {
		return row.name
	}
	if r == NoReason {
		return ""
	}
	return fmt.Sprintf("errors.Reason(%d)", int(r))
}

// Error returns String, so a Reason can be the target of errors.Is.
func (r Reason) Error() string { return r.String() }

// Reasons lists every reason.
func Reasons() []Reason {
	out := make([]Reason, 0, len(reasons))
	for r := NoReason + 1; ; r++ {
		if _, ok := reasons[r]; !ok {
			return out
		}
		out = append(out, r)
	}
}
