package discovery

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"time"

	"github.com/nxdeploy/deployer/internal/secret"
)

// ldapSourceView is what an LDAPSource prints and encodes to: its settings,
// with "[REDACTED]" for a password that is set and "[set]" for a TLS
// configuration (whose client certificates may carry private keys), never
// the secrets themselves.
type ldapSourceView struct {
	URL                string
	Plain              bool      `json:",omitempty" xml:",omitempty"`
	ServerName         string    `json:",omitempty" xml:",omitempty"`
	InsecureSkipVerify bool      `json:",omitempty" xml:",omitempty"`
	CAPEM              string    `json:",omitempty" xml:",omitempty"`
	TLSConfig          string    `json:",omitempty" xml:",omitempty"`
	User               string    `json:",omitempty" xml:",omitempty"`
	Password           string    `json:",omitempty" xml:",omitempty"`
	NTLM               bool      `json:",omitempty" xml:",omitempty"`
	BaseDN             string    `json:",omitempty" xml:",omitempty"`
	OneLevel           bool      `json:",omitempty" xml:",omitempty"`
	Filter             string    `json:",omitempty" xml:",omitempty"`
	IncludeDisabled    bool      `json:",omitempty" xml:",omitempty"`
	SeenSince          time.Time `json:",omitzero" xml:",omitempty"`
	PageSize           uint32    `json:",omitempty" xml:",omitempty"`
	ConnectTimeout     time.Duration
	SearchTimeout      time.Duration
	NoResolve          bool `json:",omitempty" xml:",omitempty"`
}

func (s LDAPSource) view() ldapSourceView {
	v := ldapSourceView{URL: s.URL, Plain: s.Plain, ServerName: s.ServerName, InsecureSkipVerify: s.InsecureSkipVerify,
		User: s.User, Password: secret.Mark(s.Password != ""), NTLM: s.NTLM, BaseDN: s.BaseDN,
		OneLevel: s.OneLevel, Filter: s.Filter, IncludeDisabled: s.IncludeDisabled, SeenSince: s.SeenSince,
		PageSize: s.PageSize, ConnectTimeout: s.ConnectTimeout, SearchTimeout: s.SearchTimeout, NoResolve: s.NoResolve}
	if len(s.CAPEM) > 0 {
		v.CAPEM = fmt.Sprintf("[%d bytes of PEM]", len(s.CAPEM))
	}
	if s.TLSConfig != nil {
		v.TLSConfig = "[set]"
	}
	return v
}

// String names the directory and the bind account, never the password.
func (s LDAPSource) String() string {
	user := s.User
	if user == "" {
		user = "anonymous"
	}
	return "discovery.LDAPSource{" + s.URL + " as " + user + "}"
}

// Format prints String for every fmt verb, so no verb shows the password
// or the TLS configuration.
func (s LDAPSource) Format(f fmt.State, verb rune) { secret.Format(f, verb, s.String(), s.String()) }

// LogValue is what log/slog prints: the directory and the account.
func (s LDAPSource) LogValue() slog.Value {
	return slog.GroupValue(slog.String("url", s.URL), slog.String("user", s.User),
		slog.Bool("password", s.Password != ""), slog.Bool("ntlm", s.NTLM), slog.String("base_dn", s.BaseDN))
}

// MarshalJSON encodes the settings with "[REDACTED]" for the password.
func (s LDAPSource) MarshalJSON() ([]byte, error) { return json.Marshal(s.view()) }

// MarshalXML encodes the settings as MarshalJSON does.
func (s LDAPSource) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(s.view(), start)
}

// GobEncode encodes the settings as MarshalJSON does: gob never carries the
// password or the TLS configuration.
func (s LDAPSource) GobEncode() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(s.view())
	return b.Bytes(), err
}

// GobDecode decodes what GobEncode wrote: the settings, without the
// password, the CA certificates or the TLS configuration.
func (s *LDAPSource) GobDecode(b []byte) error {
	var v ldapSourceView
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
		return err
	}
	*s = LDAPSource{URL: v.URL, Plain: v.Plain, ServerName: v.ServerName, InsecureSkipVerify: v.InsecureSkipVerify,
		User: v.User, NTLM: v.NTLM, BaseDN: v.BaseDN, OneLevel: v.OneLevel, Filter: v.Filter,
		IncludeDisabled: v.IncludeDisabled, SeenSince: v.SeenSince, PageSize: v.PageSize,
		ConnectTimeout: v.ConnectTimeout, SearchTimeout: v.SearchTimeout, NoResolve: v.NoResolve}
	return nil
}
