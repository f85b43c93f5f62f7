package krbauth

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"

	"github.com/nxdeploy/deployer/internal/secret"
)

// String names the account as user@REALM, never its secret.
func (a Account) String() string {
	if a.Realm == "" {
		return a.User
	}
	return a.User + "@" + a.Realm
}

// Format prints String for every fmt verb.
func (a Account) Format(f fmt.State, verb rune) {
	secret.Format(f, verb, a.String(), "krbauth.Account{"+a.String()+"}")
}

// LogValue is what log/slog prints: the account and which secret it uses.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(slog.String("account", a.String()), slog.Bool("password", a.Password != ""),
		slog.Bool("nt_hash", len(a.NTHash) > 0), slog.String("ccache", a.CCache))
}

// accountView is what an Account encodes to: "[REDACTED]" for each secret
// that is set.
type accountView struct {
	User, Realm, Password, NTHash, CCache string
}

func (a Account) view() accountView {
	return accountView{a.User, a.Realm, secret.Mark(a.Password != ""), secret.Mark(len(a.NTHash) > 0), a.CCache}
}

// MarshalJSON encodes the account with "[REDACTED]" for each secret set.
func (a Account) MarshalJSON() ([]byte, error) { return json.Marshal(a.view()) }

// MarshalXML encodes the account as MarshalJSON does.
func (a Account) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(a.view(), start)
}

// GobEncode encodes the account without its secrets.
func (a Account) GobEncode() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(accountView{User: a.User, Realm: a.Realm, CCache: a.CCache})
	return b.Bytes(), err
}

// GobDecode decodes what GobEncode wrote: the account, without secrets.
func (a *Account) GobDecode(b []byte) error {
	var v accountView
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
		return err
	}
	*a = Account{User: v.User, Realm: v.Realm, CCache: v.CCache}
	return nil
}

// String names the service principal the mechanism holds a ticket for.
func (m *Mechanism) String() string {
	if m == nil {
		return "krbauth.Mechanism(nil)"
	}
	return "krbauth.Mechanism{" + m.SPN + "}"
}

// Format prints String for every fmt verb: the credential and the tickets
// behind it never print.
func (m *Mechanism) Format(f fmt.State, verb rune) { secret.Format(f, verb, m.String(), m.String()) }

// LogValue is what log/slog prints: the service principal.
func (m *Mechanism) LogValue() slog.Value { return slog.StringValue(m.String()) }
