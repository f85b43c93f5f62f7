package smb

import (
	"context"
	"net"
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
}

// String names the account as DOMAIN\user, and never shows a secret.
func (c Credentials) String() string {
	if c.Domain == "" || c.Domain == "." {
		return c.User
	}
	return c.Domain + `\` + c.User
}

// GoString is String, so %#v cannot print a secret either.
func (c Credentials) GoString() string { return "smb.Credentials{" + c.String() + "}" }
