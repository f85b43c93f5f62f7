package errors

import (
	stderrors "errors"
	"regexp"
	"strconv"
	"strings"

	"github.com/oiweiwei/gokrb5.fork/v9/iana/errorcode"
	"github.com/oiweiwei/gokrb5.fork/v9/messages"
)

// Kerberos error codes the deployer gives a meaning ([RFC 4120] 7.5.9,
// [MS-KILE] 3.1.5.5).
const (
	KDCErrCPrincipalUnknown int32 = 6  // KDC_ERR_C_PRINCIPAL_UNKNOWN
	KDCErrSPrincipalUnknown int32 = 7  // KDC_ERR_S_PRINCIPAL_UNKNOWN
	KDCErrPolicy            int32 = 12 // KDC_ERR_POLICY
	KDCErrEtypeNoSupp       int32 = 14 // KDC_ERR_ETYPE_NOSUPP
	KDCErrClientRevoked     int32 = 18 // KDC_ERR_CLIENT_REVOKED
	KDCErrKeyExpired        int32 = 23 // KDC_ERR_KEY_EXPIRED
	KDCErrPreauthFailed     int32 = 24 // KDC_ERR_PREAUTH_FAILED
	KRBAPErrSkew            int32 = 37 // KRB_AP_ERR_SKEW
	KDCErrWrongRealm        int32 = 68 // KDC_ERR_WRONG_REALM
)

// FromKerberos returns the kind and reason of a Kerberos error code a KDC
// sent. Every one is a logon failure; the reason says whether the account,
// the clock, the computer's name or the encryption types are to blame.
func FromKerberos(code int32) (Kind, Reason) {
	switch code {
	case KDCErrCPrincipalUnknown, KDCErrPreauthFailed:
		return LogonFailure, ReasonBadCredentials
	case KDCErrClientRevoked:
		return LogonFailure, ReasonAccountRevoked
	case KDCErrKeyExpired:
		return LogonFailure, ReasonPasswordExpired
	case KDCErrPolicy:
		return LogonFailure, ReasonLogonRestricted
	case KDCErrSPrincipalUnknown:
		return LogonFailure, ReasonUnknownServicePrincipal
	case KRBAPErrSkew:
		return LogonFailure, ReasonClockSkew
	case KDCErrEtypeNoSupp:
		return LogonFailure, ReasonKerberosEtype
	case KDCErrWrongRealm:
		return LogonFailure, ReasonKDCUnreachable
	}
	return LogonFailure, NoReason
}

// krbErrorText is how gokrb5 writes a KRB-ERROR into a message: "KRB Error:
// (24) KDC_ERR_PREAUTH_FAILED ...". The SMB client keeps only the text of
// its initiator's errors, so the code is read back from it.
var krbErrorText = regexp.MustCompile(`KRB Error: \((\d{1,5})\)`)

// KerberosCode returns the Kerberos error code in err: a gokrb5 KRB-ERROR in
// its chain, or one spelled out in its text.
func KerberosCode(err error) (int32, bool) {
	if err == nil {
		return 0, false
	}
	var ke messages.KRBError
	if stderrors.As(err, &ke) {
		return ke.ErrorCode, true
	}
	var kp *messages.KRBError
	if stderrors.As(err, &kp) && kp != nil {
		return kp.ErrorCode, true
	}
	m := krbErrorText.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	n, perr := strconv.ParseInt(m[1], 10, 32)
	if perr != nil {
		return 0, false
	}
	return int32(n), true
}

// kdcUnreachableText are the phrases gokrb5 (and this module's KDC dialer)
// use when no KDC answered or none is known for the realm.
var kdcUnreachableText = []string{
	"error sending to a KDC",
	"failed to communicate with KDC",
	"communication error with KDC",
	"no KDCs defined",
	"cannot reach a KDC",
	"no KDC for realm",
}

// kdcUnreachable reports an error that says no KDC could be reached.
func kdcUnreachable(err error) bool {
	s := err.Error()
	for _, p := range kdcUnreachableText {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// classifyKerberos classifies a Kerberos failure: a KRB-ERROR code, or no
// KDC reachable. ok is false for any other error.
func classifyKerberos(err error) (Kind, Reason, Code, bool) {
	if code, ok := KerberosCode(err); ok {
		k, r := FromKerberos(code)
		return k, r, KerberosErrorCode(code), true
	}
	if kdcUnreachable(err) {
		return LogonFailure, ReasonKDCUnreachable, Code{}, true
	}
	return 0, NoReason, Code{}, false
}

// kerberosEntry returns a Kerberos error code's name and text from gokrb5's
// table, or empty strings when the code is unknown.
func kerberosEntry(c uint32) (name, text string) {
	s := errorcode.Lookup(int32(c))
	prefix := "(" + strconv.FormatUint(uint64(c), 10) + ") "
	if !strings.HasPrefix(s, prefix) {
		return "", ""
	}
	name, text, _ = strings.Cut(strings.TrimPrefix(s, prefix), " ")
	return name, text
}

// AccountAttempt reports whether err is a logon failure that a domain
// controller may count against the account (a wrong password, a locked or
// disabled account), as opposed to one that never tested the password (no
// KDC reachable, clocks apart, an unknown computer name, no common
// encryption type). The Deployer's logon-failure budget counts only these.
func AccountAttempt(err error) bool {
	e, ok := As(err)
	if !ok || e.Kind != LogonFailure {
		return false
	}
	switch e.Reason {
	case ReasonKDCUnreachable, ReasonClockSkew, ReasonUnknownServicePrincipal, ReasonKerberosEtype:
		return false
	}
	return true
}
