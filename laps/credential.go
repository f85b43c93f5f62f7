package laps

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Source says which LAPS attribute a password came from.
type Source int

// Sources, from the oldest LAPS to the newest.
const (
	// Legacy is Microsoft LAPS (the AdmPwd client-side extension):
	// ms-Mcs-AdmPwd in clear, ms-Mcs-AdmPwdExpirationTime. It does not
	// record which account it manages.
	Legacy Source = iota + 1
	// Clear is Windows LAPS storing the password in clear: msLAPS-Password,
	// JSON with the account's name, the update time and the password.
	Clear
	// Encrypted is Windows LAPS storing the password encrypted:
	// msLAPS-EncryptedPassword, the same JSON protected with DPAPI-NG for a
	// group (Domain Admins by default), decrypted with a key from a domain
	// controller ([MS-GKDI] GetKey).
	Encrypted
)

// String names the source by its attribute.
func (s Source) String() string {
	switch s {
	case Legacy:
		return AttrLegacyPassword
	case Clear:
		return AttrPassword
	case Encrypted:
		return AttrEncryptedPassword
	}
	return fmt.Sprintf("laps.Source(%d)", int(s))
}

// BuiltinAdministratorRID is the relative identifier of every Windows
// computer's built-in Administrator account.
const BuiltinAdministratorRID = 500

// Credential is a computer's local administrator credential as LAPS keeps it
// in Active Directory. Printing or marshalling it never shows the password.
type Credential struct {
	// Computer names the computer object it was read from.
	Computer string
	// Source is the attribute the password came from.
	Source Source
	// Account is the managed local account's name ("n" of Windows LAPS);
	// empty for Legacy, which does not record it.
	Account string
	// RID is the managed account's relative identifier when the caller
	// knows it (for example from a name lookup on the computer); 0 means
	// unknown. LAPS itself never stores it.
	RID uint32
	// Password is the password.
	Password Password
	// Updated is when the computer set the password; zero for Legacy.
	Updated time.Time
	// Expires is when the computer will change it; zero when not recorded.
	Expires time.Time
}

// FilteredByUAC reports whether Windows filters the managed account's
// administrator token on network logons (UAC remote restrictions): every
// local account but the built-in Administrator (RID 500) is filtered, unless
// the computer sets LocalAccountTokenFilterPolicy to 1, so the logon
// succeeds and then ADMIN$ and the service manager refuse it.
//
// known says how sure the answer is. With RID set it is certain. Without
// it, the name decides: "Administrator" is taken as the built-in account
// (known), another name as a filtered account but not known (the built-in
// Administrator may have been renamed, as CIS benchmarks advise). Legacy
// LAPS names no account: not filtered, not known (it manages the built-in
// Administrator unless its policy names another account).
func (c *Credential) FilteredByUAC() (filtered, known bool) {
	switch {
	case c.RID != 0:
		return c.RID != BuiltinAdministratorRID, true
	case c.Account == "":
		return false, false
	case strings.EqualFold(c.Account, "Administrator"):
		return false, true
	}
	return true, false
}

// ErrFilteredAccount is matched (errors.Is) by a *FilteredAccountError.
var ErrFilteredAccount = errors.New("laps: the managed account is not the built-in Administrator")

// FilteredAccountError says that LAPS manages a local account other than the
// built-in Administrator, whose administrator token Windows filters on
// network logons (UAC remote restrictions).
type FilteredAccountError struct {
	Computer string
	Account  string
	// RID is the account's relative identifier, 0 when unknown.
	RID uint32
	// Certain is false when only the account's name suggests it (a renamed
	// built-in Administrator looks the same).
	Certain bool
}

func (e *FilteredAccountError) Error() string {
	who := fmt.Sprintf("%q", e.Account)
	if e.RID != 0 {
		who += fmt.Sprintf(" (RID %d)", e.RID)
	}
	s := fmt.Sprintf("laps: %s: the LAPS-managed account %s is not the built-in Administrator (RID 500)", e.Computer, who)
	if !e.Certain {
		s += " unless it was renamed"
	}
	return s + ": Windows filters its administrator token on network logons (UAC remote restrictions) unless LocalAccountTokenFilterPolicy is 1"
}

// Is matches ErrFilteredAccount.
func (e *FilteredAccountError) Is(target error) bool { return target == ErrFilteredAccount }

// CheckRemoteAdmin returns a *FilteredAccountError when FilteredByUAC says
// the account is, or is likely, filtered; nil otherwise. A deployer names
// this cause before it tries the host, and keeps it as the explanation if
// the host then refuses ADMIN$ or the service manager.
func (c *Credential) CheckRemoteAdmin() error {
	filtered, known := c.FilteredByUAC()
	if !filtered {
		return nil
	}
	return &FilteredAccountError{Computer: c.Computer, Account: c.Account, RID: c.RID, Certain: known}
}
