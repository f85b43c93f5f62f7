package discovery

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/go-ldap/ldap/v3"
	derrors "github.com/nxdeploy/deployer/errors"
)

// Active Directory's sub-codes for LDAP result 49 (invalidCredentials): the
// Win32 error after "data" in the diagnostic message, as in
// "80090308: LdapErr: DSID-0C09050F, comment: AcceptSecurityContext error,
// data 52e, v4563".
const (
	ADLogonFailure       uint32 = 0x52e // ERROR_LOGON_FAILURE: wrong password
	ADNoSuchUser         uint32 = 0x525 // ERROR_NO_SUCH_USER
	ADInvalidLogonHours  uint32 = 0x530 // ERROR_INVALID_LOGON_HOURS
	ADInvalidWorkstation uint32 = 0x531 // ERROR_INVALID_WORKSTATION
	ADPasswordExpired    uint32 = 0x532 // ERROR_PASSWORD_EXPIRED
	ADAccountDisabled    uint32 = 0x533 // ERROR_ACCOUNT_DISABLED
	ADAccountExpired     uint32 = 0x701 // ERROR_ACCOUNT_EXPIRED
	ADPasswordMustChange uint32 = 0x773 // ERROR_PASSWORD_MUST_CHANGE
	ADAccountLockedOut   uint32 = 0x775 // ERROR_ACCOUNT_LOCKED_OUT
)

// adSubCodes maps each sub-code to its reason and Windows' name.
var adSubCodes = map[uint32]struct {
	reason derrors.Reason
	name   string
}{
	ADLogonFailure:       {derrors.ReasonBadCredentials, "wrong password"},
	ADNoSuchUser:         {derrors.ReasonBadCredentials, "no such user"},
	ADInvalidLogonHours:  {derrors.ReasonLogonRestricted, "not allowed to log on at this time"},
	ADInvalidWorkstation: {derrors.ReasonLogonRestricted, "not allowed to log on from this computer"},
	ADPasswordExpired:    {derrors.ReasonPasswordExpired, "password expired"},
	ADAccountDisabled:    {derrors.ReasonAccountDisabled, "account disabled"},
	ADAccountExpired:     {derrors.ReasonAccountExpired, "account expired"},
	ADPasswordMustChange: {derrors.ReasonPasswordMustChange, "password must be changed before first logon"},
	ADAccountLockedOut:   {derrors.ReasonAccountLockedOut, "account locked out"},
}

// adDataRe finds AD's sub-code in a diagnostic message.
var adDataRe = regexp.MustCompile(`\bdata ([0-9a-fA-F]{1,8})\b`)

// ADSubCode returns the sub-code Active Directory put in the diagnostic
// message of an LDAP error in err's chain ("data 52e" gives 0x52e).
func ADSubCode(err error) (uint32, bool) {
	var le *ldap.Error
	if !errors.As(err, &le) || le.Err == nil {
		return 0, false
	}
	m := adDataRe.FindStringSubmatch(le.Err.Error())
	if m == nil {
		return 0, false
	}
	v, perr := strconv.ParseUint(m[1], 16, 32)
	if perr != nil {
		return 0, false
	}
	return uint32(v), true
}

// LogonFailureFromLDAP turns an LDAP invalidCredentials (49) error into a
// logon failure for host: the Code is LDAP 49, the Reason comes from AD's
// sub-code (bad credentials, locked out, disabled, expired, must change,
// restricted), and Detail names the sub-code. It returns nil when err is not
// LDAP result 49.
func LogonFailureFromLDAP(host string, err error) *derrors.Error {
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
		return nil
	}
	e := derrors.New(host, derrors.StepLDAPBind, derrors.LogonFailure, err)
	e.Code = derrors.Code{Space: derrors.LDAPResult, Value: ldap.LDAPResultInvalidCredentials}
	e.Reason = derrors.ReasonBadCredentials
	if sub, ok := ADSubCode(err); ok {
		e.Detail = fmt.Sprintf("AD data %x", sub)
		if s, known := adSubCodes[sub]; known {
			e.Reason = s.reason
			e.Detail += ": " + s.name
		}
		if w := derrors.Win32Code(sub).Name(); w != "" {
			e.Detail += " (" + w + ")"
		}
	}
	return e
}

// bindError classifies a bind failure: LDAP 49 is a logon failure, anything
// else keeps its LDAP result code.
func bindError(host string, err error) error {
	if e := LogonFailureFromLDAP(host, err); e != nil {
		return e
	}
	e := derrors.Wrap(host, derrors.StepLDAPBind, err)
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork {
		e.Code = derrors.Code{Space: derrors.LDAPResult, Value: uint32(le.ResultCode)}
	}
	return e
}
