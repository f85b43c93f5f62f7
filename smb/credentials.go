package smb

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/nxdeploy/deployer/internal/krbauth"
	"github.com/nxdeploy/deployer/internal/secret"
)

// DialFunc makes a TCP connection; it has the shape of
// (*net.Dialer).DialContext. Every type here that connects takes one, so
// callers can bind a source address, go through a proxy, or (in tests) make
// the socket inside a network namespace.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Credentials is the account used to log on to a host.
type Credentials struct {
	// User is the account name, without a domain prefix.
	User string
	// Domain is the account's domain; empty or "." for a local account.
	Domain string
	// Password is the account's password. Leave it empty when NTHash is set.
	Password string
	// NTHash is the account's 16-byte NT hash, used instead of Password.
	NTHash []byte
	// Kerberos, when set, logs on with Kerberos instead of NTLM.
	Kerberos *Kerberos
}

// Kerberos says how to log on with Kerberos instead of NTLM: SPNEGO around
// a Kerberos ticket for the host's cifs/ service principal, as a
// domain-joined Windows client does. The account is Credentials.User (or
// "user@REALM") with its Password, its NTHash (used as an RC4 key), or a
// credentials cache.
//
// Tickets are issued for names, so the host must be reached by its DNS name:
// Dial's host, or Config.Label when Dial is given an address (Connect and
// Probe pass a discovered host's name there). A single-label name, such as a
// NetBIOS name from the Deployer documentation's CSV, gets the realm as its DNS domain.
type Kerberos struct {
	// Realm is the account's realm: the domain's DNS name, such as
	// "CORP.EXAMPLE.COM" (any case). Empty means Credentials.Domain, which
	// must then be the DNS name rather than the NetBIOS name.
	Realm string
	// KDCs are the key distribution centres (domain controllers) to ask for
	// tickets, as "host" or "host:port" (port 88). Empty means the realm's
	// _kerberos._tcp SRV records, looked up with Config.Resolver at each
	// logon; listing them saves that lookup. KDCs are reached over TCP
	// through Config.Dial.
	KDCs []string
	// CCache is the path of a credentials cache (as written by kinit), used
	// when Credentials has neither Password nor NTHash.
	CCache string
}

// realm returns the Kerberos realm for c.
func (c Credentials) realm() string {
	var explicit string
	if c.Kerberos != nil {
		explicit = c.Kerberos.Realm
	}
	return krbauth.Realm(explicit, c.User, c.Domain)
}

// kerberosSetup returns the Kerberos set-up for c (whose Kerberos is set),
// reaching KDCs through dial and resolver.
func (c Credentials) kerberosSetup(dial DialFunc, resolver *net.Resolver, connectTimeout time.Duration) krbauth.Setup {
	k := c.Kerberos
	return krbauth.Setup{
		Account: krbauth.Account{User: c.User, Realm: c.realm(), Password: c.Password, NTHash: c.NTHash, CCache: k.CCache},
		KDCs:    k.KDCs, Dial: dial, Resolver: resolver, ConnectTimeout: connectTimeout,
	}
}

// String names the account as DOMAIN\user (user@REALM under Kerberos), and
// never shows a secret.
func (c Credentials) String() string {
	if c.Kerberos != nil {
		if strings.Contains(c.User, "@") {
			return c.User
		}
		if r := c.realm(); r != "" {
			return c.User + "@" + r
		}
		return c.User
	}
	if c.Domain == "" || c.Domain == "." {
		return c.User
	}
	return c.Domain + `\` + c.User
}

// GoString is String, so %#v cannot print a secret either.
func (c Credentials) GoString() string { return "smb.Credentials{" + c.String() + "}" }

// Format prints String for every fmt verb (GoString for %#v), so neither
// %v, %+v, %s nor %x of Credentials, or of a struct holding them, shows the
// password or the NT hash.
func (c Credentials) Format(f fmt.State, verb rune) { secret.Format(f, verb, c.String(), c.GoString()) }

// credentialsView is what Credentials encode to: the account, and whether
// each secret is set ("[REDACTED]"), never the secret.
type credentialsView struct {
	User     string
	Domain   string    `json:",omitempty" xml:",omitempty"`
	Password string    `json:",omitempty" xml:",omitempty"`
	NTHash   string    `json:",omitempty" xml:",omitempty"`
	Kerberos *Kerberos `json:",omitempty" xml:",omitempty"`
}

func (c Credentials) view() credentialsView {
	return credentialsView{User: c.User, Domain: c.Domain, Password: secret.Mark(c.Password != ""),
		NTHash: secret.Mark(len(c.NTHash) > 0), Kerberos: c.Kerberos}
}

// MarshalJSON encodes the account with "[REDACTED]" for each secret that is
// set, so a configuration logged or stored as JSON holds no password. (A
// password in JSON input is still read.)
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.view()) }

// MarshalXML encodes the account as MarshalJSON does.
func (c Credentials) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return e.EncodeElement(c.view(), start)
}

// LogValue is what log/slog prints: the account, and whether a password, an
// NT hash or Kerberos is used.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", c.User), slog.String("domain", c.Domain),
		slog.Bool("password", c.Password != ""), slog.Bool("nt_hash", len(c.NTHash) > 0),
		slog.Bool("kerberos", c.Kerberos != nil))
}

// GobEncode encodes the account without its secrets: gob never carries a
// password or an NT hash.
func (c Credentials) GobEncode() ([]byte, error) {
	var b bytes.Buffer
	err := gob.NewEncoder(&b).Encode(credentialsView{User: c.User, Domain: c.Domain, Kerberos: c.Kerberos})
	return b.Bytes(), err
}

// GobDecode decodes what GobEncode wrote: the account, without secrets.
func (c *Credentials) GobDecode(b []byte) error {
	var v credentialsView
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&v); err != nil {
		return err
	}
	*c = Credentials{User: v.User, Domain: v.Domain, Kerberos: v.Kerberos}
	return nil
}

// String names the session's host; a Session prints nothing else (its
// configuration holds the credentials).
func (s *Session) String() string {
	if s == nil {
		return "smb.Session(nil)"
	}
	return "smb.Session{" + s.label + "}"
}

// Format prints String for every fmt verb.
func (s *Session) Format(f fmt.State, verb rune) { secret.Format(f, verb, s.String(), s.String()) }

// LogValue is what log/slog prints: the host.
func (s *Session) LogValue() slog.Value { return slog.StringValue(s.String()) }
