package errors

import (
	"fmt"
	"strings"
)

// Stable machine names, for programs: JSON, logs, a console's filters. They
// never change when the display texts (the Deployer documentation's words)
// do. Kind, Reason, RetryClass and CodeSpace marshal to them as text.

var kindNames = map[Kind]string{
	DNSResolutionFailure: "dns_resolution_failure",
	LogonFailure:         "logon_failure",
	HostUnreachable:      "host_unreachable",
	ConnectionTimeout:    "connection_timeout",
	ConnectionRefused:    "connection_refused",
	SharedAccessFailure:  "shared_access_failure",
	FileAccessFailure:    "file_access_failure",
	WindowsError:         "windows_error",
	UnknownError:         "unknown_error",
	RebootNeeded:         "reboot_needed",
	MSIError:             "msi_error",
	InstallationError:    "installation_error",
	Cancelled:            "cancelled",
}

var reasonNames = map[Reason]string{
	ReasonBadCredentials:          "bad_credentials",
	ReasonAccountLockedOut:        "account_locked_out",
	ReasonAccountDisabled:         "account_disabled",
	ReasonAccountExpired:          "account_expired",
	ReasonPasswordExpired:         "password_expired",
	ReasonPasswordMustChange:      "password_must_change",
	ReasonLogonRestricted:         "logon_restricted",
	ReasonGuestOnly:               "guest_only",
	ReasonCredentialConflict:      "credential_conflict",
	ReasonAccountRevoked:          "account_revoked",
	ReasonKDCUnreachable:          "kdc_unreachable",
	ReasonClockSkew:               "clock_skew",
	ReasonUnknownServicePrincipal: "unknown_service_principal",
	ReasonKerberosEtype:           "kerberos_etype",
	ReasonAdminShareMissing:       "admin_share_missing",
	ReasonAdminShareDenied:        "admin_share_denied",
	ReasonNotAdministrator:        "not_administrator",
	ReasonProtocolMismatch:        "protocol_mismatch",
	ReasonSMB1Only:                "smb1_only",
	ReasonSigningUnavailable:      "signing_unavailable",
	ReasonMalformedReply:          "malformed_reply",
	ReasonQuarantined:             "quarantined",
	ReasonServiceStartTimeout:     "service_start_timeout",
	ReasonServiceMarkedForDelete:  "service_marked_for_delete",
	ReasonFileInUse:               "file_in_use",
	ReasonDiskFull:                "disk_full",
	ReasonProcessCrashed:          "process_crashed",
	ReasonServiceNameTaken:        "service_name_taken",
	ReasonUnsafeDirectory:         "unsafe_directory",
	ReasonPackageUnreadable:       "package_unreadable",
	ReasonInstallInProgress:       "install_in_progress",
	ReasonInvalidInput:            "invalid_input",
	ReasonInstallTimeout:          "install_timeout",
	ReasonHostTimeout:             "host_timeout",
	ReasonLogonBudget:             "logon_budget",
	ReasonWindowsTooOld:           "windows_too_old",
	ReasonServiceBinaryMismatch:   "service_binary_mismatch",
	ReasonDirectoryUnprotected:    "directory_unprotected",
	ReasonLAPSAccountFiltered:     "laps_account_filtered",
}

var retryNames = map[RetryClass]string{NoRetry: "no_retry", RetryLater: "retry_later", RetryBackoff: "retry_backoff"}

var spaceNames = map[CodeSpace]string{NoCode: "", NTStatus: "ntstatus", Win32: "win32", MSIExit: "msi",
	LDAPResult: "ldap", Kerberos: "kerberos"}

// machineName is the fallback name of a value without an entry: its display
// text in lower case with '_' between words.
func machineName(display string) string {
	f := strings.FieldsFunc(strings.ToLower(display), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	return strings.Join(f, "_")
}

// Name returns the kind's stable machine name, such as "logon_failure".
func (k Kind) Name() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return machineName(k.Message())
}

// MarshalText writes the kind's machine name.
func (k Kind) MarshalText() ([]byte, error) {
	if _, ok := rows[k]; !ok {
		return nil, fmt.Errorf("errors: invalid kind %d", int(k))
	}
	return []byte(k.Name()), nil
}

// UnmarshalText reads a kind's machine name.
func (k *Kind) UnmarshalText(b []byte) error {
	for _, c := range Kinds() {
		if c.Name() == string(b) {
			*k = c
			return nil
		}
	}
	return fmt.Errorf("errors: unknown kind %q", b)
}

// Name returns the reason's stable machine name, such as "bad_credentials",
// or "" for NoReason.
func (r Reason) Name() string {
	if r == NoReason {
		return ""
	}
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return machineName(r.String())
}

// MarshalText writes the reason's machine name ("" for NoReason).
func (r Reason) MarshalText() ([]byte, error) {
	if _, ok := reasons[r]; !ok && r != NoReason {
		return nil, fmt.Errorf("errors: invalid reason %d", int(r))
	}
	return []byte(r.Name()), nil
}

// UnmarshalText reads a reason's machine name ("" is NoReason).
func (r *Reason) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*r = NoReason
		return nil
	}
	for _, c := range Reasons() {
		if c.Name() == string(b) {
			*r = c
			return nil
		}
	}
	return fmt.Errorf("errors: unknown reason %q", b)
}

// Name returns the class's stable machine name: "no_retry", "retry_later"
// or "retry_backoff".
func (c RetryClass) Name() string {
	if n, ok := retryNames[c]; ok {
		return n
	}
	return fmt.Sprintf("retry_class_%d", int(c))
}

// MarshalText writes the class's machine name.
func (c RetryClass) MarshalText() ([]byte, error) {
	if _, ok := retryNames[c]; !ok {
		return nil, fmt.Errorf("errors: invalid retry class %d", int(c))
	}
	return []byte(c.Name()), nil
}

// UnmarshalText reads a class's machine name.
func (c *RetryClass) UnmarshalText(b []byte) error { return byName(c, retryNames, b, "retry class") }

// Name returns the code space's stable machine name: "ntstatus", "win32",
// "msi", "ldap", "kerberos", or "" for NoCode.
func (s CodeSpace) Name() string { return spaceNames[s] }

// MarshalText writes the code space's machine name.
func (s CodeSpace) MarshalText() ([]byte, error) {
	if _, ok := spaceNames[s]; !ok {
		return nil, fmt.Errorf("errors: invalid code space %d", int(s))
	}
	return []byte(s.Name()), nil
}

// UnmarshalText reads a code space's machine name.
func (s *CodeSpace) UnmarshalText(b []byte) error { return byName(s, spaceNames, b, "code space") }

// byName sets *v to the value whose name in names is b.
func byName[T comparable](v *T, names map[T]string, b []byte, what string) error {
	for k, n := range names {
		if n == string(b) {
			*v = k
			return nil
		}
	}
	return fmt.Errorf("errors: unknown %s %q", what, b)
}
