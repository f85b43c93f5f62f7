package smb

import (
	"net"
	"time"
)

// Encryption says when a session encrypts its messages (SMB 3.x).
type Encryption int

// Encryption modes.
const (
	// EncryptIfOffered encrypts whenever the server supports it (SMB 3.0 and
	// later), and otherwise relies on signing. The default.
	EncryptIfOffered Encryption = iota
	// EncryptRequired fails the logon step unless the session encrypts.
	EncryptRequired
	// EncryptNever does not ask for encryption; a server that demands it for
	// the session or a share still gets it.
	EncryptNever
)

// String names the mode.
func (e Encryption) String() string {
	switch e {
	case EncryptIfOffered:
		return "if offered"
	case EncryptRequired:
		return "required"
	case EncryptNever:
		return "never"
	}
	return "unknown"
}

// Defaults used for zero Config fields.
const (
	DefaultPort           = 445
	DefaultResolveTimeout = 5 * time.Second
	DefaultConnectTimeout = 5 * time.Second
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxCredits     = 512
)

// Config says how to reach and log on to a host. The zero value of every
// field except Credentials has a sensible default.
type Config struct {
	// Credentials is the account. User is required (go-smb2 has no
	// anonymous logon, and the deployer needs an administrator anyway).
	Credentials Credentials
	// Label names the host in errors (derrors.Error.Host); empty means the
	// host string given to Dial. Set it to the computer's name when dialing
	// its address.
	Label string
	// Port is the SMB TCP port; 0 means 445.
	Port int
	// Dial opens the TCP connection; nil uses a net.Dialer.
	Dial DialFunc
	// Resolver resolves host names; nil uses net.DefaultResolver.
	Resolver *net.Resolver
	// ResolveTimeout bounds the name lookup; 0 means 5 s.
	ResolveTimeout time.Duration
	// ConnectTimeout bounds the TCP connect alone; 0 means 5 s. It is kept
	// apart from RequestTimeout so a silent host fails fast while a busy one
	// still gets time to answer.
	ConnectTimeout time.Duration
	// RequestTimeout bounds each SMB exchange (negotiate and logon together,
	// then every tree connect, open, close, rename); for an upload it bounds
	// the wait for any one write to complete. 0 means 30 s.
	RequestTimeout time.Duration
	// SigningOptional stops the client from requiring message signing. By
	// default signing is required, as Windows 11 24H2 and Server 2025 do.
	// The session still signs; only a server that cannot is then accepted.
	SigningOptional bool
	// Encryption says when to encrypt; the zero value is EncryptIfOffered.
	Encryption Encryption
	// MaxCredits caps the SMB credits the client holds, and so the data in
	// flight (a 1 MiB write costs 16 credits); 0 means 512 (32 MiB).
	MaxCredits uint16
	// UploadBudget, when set, bounds the buffers of every upload on
	// sessions with this configuration, together (see UploadBudget); nil
	// bounds each upload alone (UploadOptions.Concurrency chunks).
	UploadBudget *UploadBudget
}

func (c Config) port() int {
	if c.Port == 0 {
		return DefaultPort
	}
	return c.Port
}

func (c Config) resolveTimeout() time.Duration {
	if c.ResolveTimeout <= 0 {
		return DefaultResolveTimeout
	}
	return c.ResolveTimeout
}

func (c Config) connectTimeout() time.Duration {
	if c.ConnectTimeout <= 0 {
		return DefaultConnectTimeout
	}
	return c.ConnectTimeout
}

func (c Config) requestTimeout() time.Duration {
	if c.RequestTimeout <= 0 {
		return DefaultRequestTimeout
	}
	return c.RequestTimeout
}

func (c Config) maxCredits() uint16 {
	if c.MaxCredits == 0 {
		return DefaultMaxCredits
	}
	return c.MaxCredits
}

func (c Config) dial() DialFunc {
	if c.Dial != nil {
		return c.Dial
	}
	var d net.Dialer
	return d.DialContext
}

func (c Config) resolver() *net.Resolver {
	if c.Resolver != nil {
		return c.Resolver
	}
	return net.DefaultResolver
}
