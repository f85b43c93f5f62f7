package smb

import (
	"context"
	"net"
	"strings"
	"time"

	"github.com/nxdeploy/deployer/internal/krbauth"
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
// NetBIOS name from the seed's CSV, gets the realm as its DNS domain.
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
