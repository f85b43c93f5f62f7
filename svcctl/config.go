package svcctl

import (
	"context"
	"net"
	"time"

	"github.com/nxdeploy/deployer/smb"
)

// Defaults applied by Dial to a zero Config field.
const (
	// DefaultPort is the SMB port.
	DefaultPort = 445
	// DefaultConnectTimeout bounds one TCP connect.
	DefaultConnectTimeout = 5 * time.Second
	// DefaultRequestTimeout bounds the SMB session set-up and bind of a
	// transport, and each RPC call (the same default as
	// smb.DefaultRequestTimeout).
	DefaultRequestTimeout = 30 * time.Second
	// DefaultMaxRedials is how many times in a row a Client dials a new
	// transport after the previous one was lost before it gives up.
	DefaultMaxRedials = 3
)

// RPCAuth is the DCE/RPC authentication level of the svcctl bind. The SMB
// session always authenticates (and signs) the named pipe; RPC-level
// authentication comes on top of it.
type RPCAuth int

const (
	// RPCAuthNone binds without RPC-level authentication and relies on the
	// SMB session, as impacket, goexec and Windows' own sc.exe over a pipe
	// do. It is the default: it works on every Windows version, whereas
	// go-msrpc's authenticated binds over ncacn_np have been reported to
	// fail with RPC_S_CANNOT_SUPPORT (go-msrpc issue #51).
	RPCAuthNone RPCAuth = iota
	// RPCAuthIntegrity signs every RPC PDU (RPC_C_AUTHN_LEVEL_PKT_INTEGRITY)
	// through SPNEGO. Under Kerberos it binds as RPCAuthPrivacy (which also
	// signs): go-msrpc v1.5.2 fails to decode Kerberos sign-only responses.
	RPCAuthIntegrity
	// RPCAuthPrivacy signs and encrypts every RPC PDU
	// (RPC_C_AUTHN_LEVEL_PKT_PRIVACY) through SPNEGO.
	RPCAuthPrivacy
)

// String names the level.
func (a RPCAuth) String() string {
	switch a {
	case RPCAuthNone:
		return "none"
	case RPCAuthIntegrity:
		return "packet integrity"
	case RPCAuthPrivacy:
		return "packet privacy"
	}
	return "unknown"
}

// Config says how a Client reaches a host's service control manager over
// ncacn_np:HOST[\pipe\svcctl].
type Config struct {
	// Credentials is the account used for the SMB session (NTLM through
	// SPNEGO, or Kerberos when Credentials.Kerberos is set), and for the RPC
	// bind when RPCAuth is not RPCAuthNone.
	Credentials smb.Credentials
	// ServerName is the host's DNS name for Kerberos, when Dial is given an
	// address: the SMB ticket is for cifs/ServerName and an authenticated
	// bind's for host/ServerName. A single-label name gets the realm as its
	// domain. Unused under NTLM.
	ServerName string
	// Port is the SMB TCP port; 0 means DefaultPort.
	Port int
	// Dial makes the TCP connection of every transport the Client opens
	// (go-msrpc's SMB transport dials through it). Nil means a net.Dialer.
	Dial smb.DialFunc
	// ConnectTimeout bounds each TCP connect; 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// RequestTimeout bounds the SMB session set-up, the pipe open and the
	// bind of each transport, and each RPC call; 0 means
	// DefaultRequestTimeout. It is smb.Config.RequestTimeout's counterpart.
	RequestTimeout time.Duration
	// Resolver resolves a host name; nil means net.DefaultResolver. An IP
	// address is used as is.
	Resolver *net.Resolver
	// RPCAuth is the RPC-level authentication of the bind; the zero value is
	// RPCAuthNone.
	RPCAuth RPCAuth
	// SigningOptional lets the SMB session run unsigned when the server does
	// not require signing. By default the Client requires SMB signing, as
	// smb.Config does (the same name there).
	SigningOptional bool
	// Encryption says when the SMB session encrypts, as in smb.Config; the
	// zero value is smb.EncryptIfOffered. The svcctl transport's session
	// cannot report whether it encrypted, so smb.EncryptRequired asks for
	// encryption as EncryptIfOffered does: enforce it on an smb.Session
	// (Dial it first, or use Pipe), which fails the logon without it.
	Encryption smb.Encryption
	// Pipe, when set, opens \pipe\svcctl on an SMB session the caller
	// already has (such as smb.Session.OpenPipe, whose *smb.Pipe is a
	// net.Conn without deadlines), and the Client speaks over it, as the
	// connection of an ncacn_ip_tcp binding (DCE/RPC PDUs are the same bytes
	// on a pipe), instead of dialing a TCP connection and logging on again: one
	// connection and one logon per host instead of two. Port, Dial,
	// Credentials, ServerName, SigningOptional and Encryption are then unused,
	// and RPCAuth must be RPCAuthNone (an authenticated bind needs keys of
	// go-msrpc's own SMB session). A transport lost to a fault opens a new
	// pipe on the same session.
	Pipe func(ctx context.Context) (net.Conn, error)
	// MaxRedials is how many transports in a row the Client may dial after
	// losing one without a call completing in between; 0 means
	// DefaultMaxRedials, a negative value disables recovery. Past the limit
	// every call fails with ErrRedialLimit: Dial a new Client.
	MaxRedials int
}

func (c Config) withDefaults() Config {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxRedials == 0 {
		c.MaxRedials = DefaultMaxRedials
	}
	if c.MaxRedials < 0 {
		c.MaxRedials = 0
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	return c
}

// dialerFunc adapts a DialFunc to go-msrpc's dcerpc.Dialer interface.
type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}
