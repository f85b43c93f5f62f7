package laps

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/nxdeploy/deployer/laps/internal/dpaping"
)

// The LDAP attributes of a computer object that hold LAPS passwords.
const (
	// AttrLegacyPassword is Microsoft LAPS's password, in clear.
	AttrLegacyPassword = "ms-Mcs-AdmPwd"
	// AttrLegacyExpiration is when Microsoft LAPS changes the password
	// (a FILETIME as a decimal number).
	AttrLegacyExpiration = "ms-Mcs-AdmPwdExpirationTime"
	// AttrPassword is Windows LAPS's password in clear: JSON.
	AttrPassword = "msLAPS-Password"
	// AttrEncryptedPassword is Windows LAPS's encrypted password.
	AttrEncryptedPassword = "msLAPS-EncryptedPassword"
	// AttrExpiration is when Windows LAPS changes the password.
	AttrExpiration = "msLAPS-PasswordExpirationTime"
)

// AttributeNames lists the attributes Read looks at: ask the directory for
// these. They are confidential: only accounts granted "All extended rights"
// or the LAPS read permission on the computer get their values; the
// directory returns the others without them.
var AttributeNames = []string{AttrLegacyPassword, AttrLegacyExpiration, AttrPassword, AttrEncryptedPassword, AttrExpiration}

// Attributes holds a computer object's attribute values as the directory
// returns them (raw bytes), by attribute name; names match in any case.
type Attributes map[string][][]byte

// first returns the first value of the attribute named name.
func (a Attributes) first(name string) []byte {
	for k, v := range a {
		if strings.EqualFold(k, name) && len(v) > 0 && len(v[0]) > 0 {
			return v[0]
		}
	}
	return nil
}

// Errors Read returns (wrapped in an *Error; test with errors.Is).
var (
	// ErrNoPassword: the computer object has no LAPS password the reader
	// may see: LAPS does not manage it, or the reading account lacks the
	// right to read LAPS attributes (the directory hides confidential
	// attributes without saying so).
	ErrNoPassword = errors.New("laps: no LAPS password readable on the computer object")
	// ErrMalformed: an attribute's value is not what LAPS writes.
	ErrMalformed = errors.New("laps: malformed LAPS attribute")
	// ErrNoKeySource: the password is encrypted and Read was given no
	// KeySource.
	ErrNoKeySource = errors.New("laps: the password is encrypted and no key source was given")
	// ErrNotAuthorized: the domain controller gave only the group's public
	// key: the account that asked is not in the group the password is
	// encrypted for (ADPasswordEncryptionPrincipal, Domain Admins by
	// default).
	ErrNotAuthorized = errors.New("laps: the account may not decrypt this LAPS password")
	// ErrUnsupported: the encrypted password uses a form this package does
	// not implement.
	ErrUnsupported = errors.New("laps: unsupported encrypted password")
	// ErrDecrypt: the key did not decrypt the password (wrong key, or the
	// value was altered).
	ErrDecrypt = errors.New("laps: the encrypted password did not decrypt")
)

// Error is a failure to read one computer's LAPS password.
type Error struct {
	// Computer is the computer given to Read.
	Computer string
	// Attribute names the attribute that failed, if one did.
	Attribute string
	// Err is the cause: one of this package's sentinels, or a
	// *derrors.Error from the domain controller's key service.
	Err error
}

func (e *Error) Error() string {
	s := "laps: " + e.Computer
	if e.Attribute != "" {
		s += ": " + e.Attribute
	}
	return s + ": " + strings.TrimPrefix(e.Err.Error(), "laps: ")
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// maxAttribute bounds an attribute value Read decodes.
const maxAttribute = 64 << 10

// Read returns the LAPS credential of the computer whose attribute values
// attrs holds (computer names it in errors and in the result). An encrypted
// password (msLAPS-EncryptedPassword) is decrypted with a key from keys (a
// *GKDI client of a domain controller, or a *RootKey); it is preferred to a
// clear one, which is preferred to Microsoft LAPS's. Read never falls back
// from a password it could not decrypt to an older form, which may be
// stale: a wrong password costs a failed logon. ctx bounds the key request.
func Read(ctx context.Context, computer string, attrs Attributes, keys KeySource) (*Credential, error) {
	fail := func(attr string, err error) (*Credential, error) {
		return nil, &Error{Computer: computer, Attribute: attr, Err: err}
	}
	if v := attrs.first(AttrEncryptedPassword); v != nil {
		if keys == nil {
			return fail(AttrEncryptedPassword, ErrNoKeySource)
		}
		plain, stamp, err := decryptAttribute(ctx, v, keys)
		if err != nil {
			return fail(AttrEncryptedPassword, err)
		}
		c, err := parseJSON(plain, true)
		if err != nil {
			return fail(AttrEncryptedPassword, err)
		}
		if c.Updated.IsZero() {
			c.Updated = stamp
		}
		c.Computer, c.Source = computer, Encrypted
		if c.Expires, err = expiration(attrs, AttrExpiration); err != nil {
			return fail(AttrExpiration, err)
		}
		return c, nil
	}
	if v := attrs.first(AttrPassword); v != nil {
		c, err := parseJSON(v, false)
		if err != nil {
			return fail(AttrPassword, err)
		}
		c.Computer, c.Source = computer, Clear
		if c.Expires, err = expiration(attrs, AttrExpiration); err != nil {
			return fail(AttrExpiration, err)
		}
		return c, nil
	}
	if v := attrs.first(AttrLegacyPassword); v != nil {
		if len(v) > maxAttribute || !utf8.Valid(v) {
			return fail(AttrLegacyPassword, fmt.Errorf("%w: not UTF-8 text of at most %d bytes", ErrMalformed, maxAttribute))
		}
		c := &Credential{Computer: computer, Source: Legacy, Password: NewPassword(string(v))}
		var err error
		if c.Expires, err = expiration(attrs, AttrLegacyExpiration); err != nil {
			return fail(AttrLegacyExpiration, err)
		}
		return c, nil
	}
	return fail("", ErrNoPassword)
}

// lapsJSON is the JSON of msLAPS-Password ([MS-ADA2] 2.64).
type lapsJSON struct {
	Name     *string `json:"n"`
	Time     *string `json:"t"`
	Password *string `json:"p"`
}

// parseJSON decodes Windows LAPS's JSON: UTF-8 as msLAPS-Password holds it,
// or UTF-16LE with a NUL as the encrypted form decrypts to.
func parseJSON(b []byte, utf16le bool) (*Credential, error) {
	if len(b) > maxAttribute {
		return nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if utf16le {
		if len(b)%2 != 0 {
			return nil, fmt.Errorf("%w: decrypted text is not UTF-16", ErrMalformed)
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
		b = []byte(string(utf16.Decode(u)))
	}
	b = bytes.TrimRight(b, "\x00")
	var j lapsJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("%w: JSON: %v", ErrMalformed, jsonError(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: text after the JSON object", ErrMalformed)
	}
	if j.Password == nil || *j.Password == "" {
		return nil, fmt.Errorf("%w: JSON without a password (\"p\")", ErrMalformed)
	}
	c := &Credential{Password: NewPassword(*j.Password)}
	if j.Name != nil {
		c.Account = *j.Name
	}
	if j.Time != nil {
		ft, err := strconv.ParseUint(*j.Time, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: update time (\"t\") %q is not a hexadecimal FILETIME", ErrMalformed, *j.Time)
		}
		c.Updated = filetime(ft)
	}
	return c, nil
}

// jsonError keeps a JSON syntax error's position but never the input.
func jsonError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q is a JSON %s", te.Field, te.Value)
	}
	if errors.Is(err, io.EOF) {
		return "empty"
	}
	return "not a JSON object"
}

// expiration reads an expiration time attribute (a FILETIME in decimal);
// absent or 0 is the zero time.
func expiration(attrs Attributes, name string) (time.Time, error) {
	v := attrs.first(name)
	if v == nil {
		return time.Time{}, nil
	}
	ft, err := strconv.ParseUint(string(v), 10, 64)
	if err != nil || len(v) > 20 {
		return time.Time{}, fmt.Errorf("%w: %q is not a FILETIME", ErrMalformed, truncate(v))
	}
	return filetime(ft), nil
}

func truncate(b []byte) string {
	if len(b) > 32 {
		return string(b[:32]) + "..."
	}
	return string(b)
}

// filetime converts a FILETIME (100 ns since 1601) to a UTC time; 0 and
// values past year 9999 give the zero time.
func filetime(ft uint64) time.Time {
	const toUnix = 116444736000000000
	const max = 2650467743999999999 // 9999-12-31T23:59:59.9999999Z
	if ft == 0 || ft > max {
		return time.Time{}
	}
	d := int64(ft) - toUnix
	return time.Unix(d/1e7, (d%1e7)*100).UTC()
}

// decryptAttribute decodes msLAPS-EncryptedPassword ([MS-ADA2] 2.66): the
// update time (high, then low 32 bits), the blob's size, a reserved word,
// and the DPAPI-NG blob; it decrypts the blob with keys.
func decryptAttribute(ctx context.Context, v []byte, keys KeySource) ([]byte, time.Time, error) {
	if len(v) < 16 {
		return nil, time.Time{}, fmt.Errorf("%w: %d bytes, shorter than its header", ErrMalformed, len(v))
	}
	stamp := filetime(uint64(binary.LittleEndian.Uint32(v[0:]))<<32 | uint64(binary.LittleEndian.Uint32(v[4:])))
	size := binary.LittleEndian.Uint32(v[8:])
	if uint64(size) > uint64(len(v)-16) {
		return nil, time.Time{}, fmt.Errorf("%w: header says %d bytes of blob, %d follow", ErrMalformed, size, len(v)-16)
	}
	blob, err := dpaping.ParseBlob(v[16 : 16+size])
	if err != nil {
		return nil, time.Time{}, mapCrypto(err)
	}
	sd, err := dpaping.TargetSD(blob.SID)
	if err != nil {
		return nil, time.Time{}, mapCrypto(err)
	}
	id := blob.KeyID
	raw, err := keys.GroupKey(ctx, KeyRequest{
		TargetSD: sd, RootKeyID: id.RootKeyID.String(), L0: id.L0, L1: id.L1, L2: id.L2,
		Domain: id.Domain, SID: blob.SID,
	})
	if err != nil {
		return nil, time.Time{}, err
	}
	g, err := dpaping.ParseGroupKey(raw)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: group key: %v", ErrMalformed, err)
	}
	kek, err := g.KEK(id)
	if err != nil {
		return nil, time.Time{}, mapCrypto(err)
	}
	plain, err := blob.Decrypt(kek)
	if err != nil {
		return nil, time.Time{}, mapCrypto(err)
	}
	return plain, stamp, nil
}

// mapCrypto turns dpaping's errors into this package's sentinels.
func mapCrypto(err error) error {
	switch {
	case errors.Is(err, dpaping.ErrNotAuthorized):
		return ErrNotAuthorized
	case errors.Is(err, dpaping.ErrUnsupported):
		return fmt.Errorf("%w: %v", ErrUnsupported, err)
	case errors.Is(err, dpaping.ErrDecrypt):
		return fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return fmt.Errorf("%w: %v", ErrMalformed, err)
}
