// Package krbauth sets up Kerberos logons through go-msrpc's gssapi for the
// smb and svcctl packages: the krb5 configuration (realm, KDCs, encryption
// types), a KDC dialer that goes through the caller's dial hook and
// resolver and ends with the caller's context, the account's credential,
// and the service principal name for a host.
//
// The SMB flavour is what Windows clients send: SPNEGO around a Kerberos
// AP-REQ asking for mutual authentication, integrity and confidentiality
// (smbd refuses a session whose GSS context has neither, with
// NT_STATUS_INTERNAL_ERROR). go-smb2 runs session set-up in exactly two
// round trips, so the context is DCE style (AP-REQ, AP-REP, AP-REP), which
// Windows and Samba both accept.
//
// New does the KDC work before the SMB connection is used: the account's TGT
// (one per account and process, see the TGT cache) and the service ticket.
// go-msrpc is handed both as a credentials cache and sends no KDC request
// itself, and a cached TGT the KDC refuses (a changed krbtgt key) is
// replaced by a new one, once, before any SMB message is spent.
package krbauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/oiweiwei/go-msrpc/ssp/gssapi"
	"github.com/oiweiwei/go-msrpc/ssp/krb5"
	kconfig "github.com/oiweiwei/gokrb5.fork/v9/config"

	derrors "github.com/nxdeploy/deployer/errors"
)

// KDCPort is the Kerberos port.
const KDCPort = 88

// DefaultConnectTimeout bounds one TCP connect to a KDC when Setup's is 0.
const DefaultConnectTimeout = 5 * time.Second

// Enctypes are the encryption types offered, strongest first: AES for
// passwords and keytabs, RC4 for an NT hash (the only key it gives).
var Enctypes = []string{"aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96", "rc4-hmac"}

// Account is who logs on.
type Account struct {
	// User is the account name; "user@REALM" sets the realm too.
	User string
	// Realm is the Kerberos realm (the domain's DNS name, any case).
	Realm string
	// Password is the account's password.
	Password string
	// NTHash is the account's NT hash, used (as an RC4 key) when Password
	// is empty.
	NTHash []byte
	// CCache is the path of a credentials cache (from kinit), used when
	// neither Password nor NTHash is set.
	CCache string
}

// Setup says how to reach the realm's KDCs.
type Setup struct {
	Account Account
	// KDCs are "host" or "host:port"; empty means the realm's
	// _kerberos._tcp SRV records, looked up with Resolver.
	KDCs []string
	// Dial makes the TCP connections to the KDCs.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Resolver resolves KDC names and SRV records; nil means
	// net.DefaultResolver.
	Resolver *net.Resolver
	// ConnectTimeout bounds each TCP connect to a KDC; 0 means
	// DefaultConnectTimeout.
	ConnectTimeout time.Duration
}

// Mechanism is one Kerberos logon's configuration. It dials KDCs until the
// context given to New ends, or until Close.
type Mechanism struct {
	// Config is go-msrpc's krb5 mechanism configuration.
	Config *krb5.Config
	// Credential is the account's credential.
	Credential credential.Credential
	// SPN is the service principal the mechanism holds a ticket for.
	SPN string

	dialer *kdcDialer
}

// ErrNoRealm is returned by New when neither the account nor the user name
// names a realm.
var ErrNoRealm = errors.New("krbauth: no Kerberos realm: set the realm (the domain's DNS name) or give the user as user@REALM")

// ErrNeedName is returned by ServerName when only an address is known.
var ErrNeedName = errors.New("krbauth: Kerberos needs the computer's DNS name")

// LogonError classifies a failure of ServerName or New for host as a logon
// failure at the logon step: a host without a name is an unknown service
// principal; what a KDC said, or that none answered, keeps the errors
// package's Kerberos classification.
func LogonError(host string, err error) *derrors.Error {
	if errors.Is(err, ErrNeedName) {
		return &derrors.Error{Host: host, Step: derrors.StepLogon, Kind: derrors.LogonFailure,
			Reason: derrors.ReasonUnknownServicePrincipal, Err: err}
	}
	e := derrors.Wrap(host, derrors.StepLogon, err)
	if e.Kind == derrors.UnknownError {
		e.Kind = derrors.LogonFailure
	}
	return e
}

// ErrNoSecret is returned by New when the account has no password, NT hash
// or credentials cache.
var ErrNoSecret = errors.New("krbauth: the account has no password, NT hash or credentials cache")

// New resolves the KDCs (an SRV lookup when Setup.KDCs is empty), gets the
// account's TGT (from the process's cache, a credentials cache file, or an
// AS exchange) and a service ticket for spn ("cifs/host.example.com"), and
// builds the mechanism, which then needs no KDC for the logon itself. ctx
// bounds every KDC exchange: when it ends, open KDC connections are closed
// and new ones refused. Every failure names what the KDC said (its KRB-ERROR
// text) or why no KDC answered.
func New(ctx context.Context, s Setup, spn string) (*Mechanism, error) {
	a := s.Account
	user, _, _ := strings.Cut(a.User, "@")
	realm := Realm(a.Realm, a.User, "")
	if realm == "" || realm == "." {
		return nil, ErrNoRealm
	}
	if a.Password == "" && len(a.NTHash) == 0 && a.CCache == "" {
		return nil, ErrNoSecret
	}
	if s.Resolver == nil {
		s.Resolver = net.DefaultResolver
	}
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = DefaultConnectTimeout
	}
	kdcs, err := kdcAddrs(ctx, s.Resolver, realm, s.KDCs)
	if err != nil {
		return nil, err
	}
	conf, err := kconfig.NewFromString(configText(realm, kdcs))
	if err != nil {
		return nil, fmt.Errorf("krbauth: krb5 configuration: %w", err)
	}

	if a.Password == "" && len(a.NTHash) > 0 {
		// An NT hash is an RC4 key and nothing else.
		conf.LibDefaults.DefaultTktEnctypes = []string{"rc4-hmac"}
		conf.LibDefaults.DefaultTGSEnctypes = []string{"rc4-hmac"}
		conf.LibDefaults.PermittedEnctypes = []string{"rc4-hmac"}
	}
	conf = krb5.ParsedLibDefaults(conf)

	d := &kdcDialer{ctx: ctx, dial: s.Dial, resolver: s.Resolver, timeout: s.ConnectTimeout}
	d.stop = context.AfterFunc(ctx, d.closeAll)
	kc := krb5.NewConfig()
	kc.KRB5Config = conf
	kc.KDCDialer = d
	kc.DCEStyle = true
	kc.Flags = append(kc.Flags, int(gssapi.MutualAuthn), int(gssapi.Integrity), int(gssapi.Confidentiality),
		int(gssapi.ReplayDetection), int(gssapi.Sequencing))

	cc, err := logonCCache(ctx, user, realm, spn, a, conf, kc)
	if err != nil {
		d.stop()
		return nil, err
	}
	cred := credential.NewFromCCacheV9(user, cc, credential.Domain(realm))
	return &Mechanism{Config: kc, Credential: cred, SPN: spn, dialer: d}, nil
}

// SMBOptions returns the gssapi options of an SMB session set-up with the
// mechanism's service ticket.
func (m *Mechanism) SMBOptions() []gssapi.ContextOption {
	return []gssapi.ContextOption{
		gssapi.WithCredential(m.Credential),
		gssapi.WithMechanismFactory(ssp.KRB5, m.Config),
		gssapi.WithTargetName(m.SPN),
	}
}

// Close closes open KDC connections and refuses new ones.
func (m *Mechanism) Close() {
	m.dialer.stop()
	m.dialer.closeAll()
}

// configText is a krb5.conf for one realm: TCP only (UDP answers are
// truncated for large PACs, and a dial hook may not do UDP), no DNS lookups
// by gokrb5 itself.
func configText(realm string, kdcs []string) string {
	var b strings.Builder
	et := strings.Join(Enctypes, " ")
	fmt.Fprintf(&b, "[libdefaults]\n default_realm = %s\n dns_lookup_kdc = false\n dns_lookup_realm = false\n", realm)
	fmt.Fprintf(&b, " udp_preference_limit = 1\n default_tkt_enctypes = %s\n default_tgs_enctypes = %s\n permitted_enctypes = %s\n", et, et, et)
	fmt.Fprintf(&b, "[realms]\n %s = {\n", realm)
	for _, k := range kdcs {
		fmt.Fprintf(&b, "  kdc = %s\n", k)
	}
	b.WriteString(" }\n")
	return b.String()
}

// kdcAddrs returns the KDCs as host:port: the given ones, or the realm's
// _kerberos._tcp SRV records.
func kdcAddrs(ctx context.Context, r *net.Resolver, realm string, given []string) ([]string, error) {
	var out []string
	for _, k := range given {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(k); err != nil {
			k = net.JoinHostPort(strings.Trim(k, "[]"), strconv.Itoa(KDCPort))
		}
		if strings.ContainsAny(k, " \t\n{}=") {
			return nil, fmt.Errorf("krbauth: invalid KDC address %q", k)
		}
		out = append(out, k)
	}
	if len(out) > 0 {
		return out, nil
	}
	_, srvs, err := r.LookupSRV(ctx, "kerberos", "tcp", realm)
	if err != nil {
		return nil, fmt.Errorf("krbauth: no KDC for realm %s: SRV _kerberos._tcp.%s: %w", realm, realm, err)
	}
	for _, s := range srvs {
		host := strings.TrimSuffix(s.Target, ".")
		if host == "" || strings.ContainsAny(host, " \t\n{}=") {
			continue
		}
		out = append(out, net.JoinHostPort(host, strconv.Itoa(int(s.Port))))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("krbauth: no KDC for realm %s: SRV _kerberos._tcp.%s has no targets", realm, realm)
	}
	return out, nil
}

// kdcDialer is gokrb5's KDC dialer: it resolves names with the caller's
// resolver, dials through the caller's hook, and closes every connection
// when the logon's context ends (gokrb5's own deadline is 5 s per KDC).
type kdcDialer struct {
	ctx      context.Context
	dial     func(ctx context.Context, network, address string) (net.Conn, error)
	resolver *net.Resolver
	timeout  time.Duration
	stop     func() bool

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// errKDCDial marks dial failures; the errors package recognises the phrase.
const errKDCDial = "cannot reach a KDC"

func (d *kdcDialer) Dial(network, address string) (net.Conn, error) {
	if network != "tcp" {
		return nil, fmt.Errorf("krbauth: %s %s: only TCP is used", errKDCDial, address)
	}
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("krbauth: %s %s: %w", errKDCDial, address, err)
	}
	if _, perr := netip.ParseAddr(host); perr != nil {
		ips, err := d.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("krbauth: %s %s: %w", errKDCDial, address, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("krbauth: %s %s: no addresses", errKDCDial, address)
		}
		host = ips[0].Unmap().String()
		for _, ip := range ips {
			if ip.Unmap().Is4() {
				host = ip.Unmap().String()
				break
			}
		}
	}
	conn, err := d.dial(ctx, "tcp", net.JoinHostPort(host, port))
	if err != nil {
		return nil, fmt.Errorf("krbauth: %s %s: %w", errKDCDial, address, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		_ = conn.Close()
		return nil, fmt.Errorf("krbauth: %s %s: %w", errKDCDial, address, context.Cause(d.ctx))
	}
	if d.conns == nil {
		d.conns = make(map[net.Conn]struct{})
	}
	tc := &trackedConn{Conn: conn, d: d}
	d.conns[tc] = struct{}{}
	return tc, nil
}

func (d *kdcDialer) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	for c := range d.conns {
		_ = c.(*trackedConn).Conn.Close()
	}
	d.conns = nil
}

// trackedConn forgets itself when gokrb5 closes it.
type trackedConn struct {
	net.Conn
	d *kdcDialer
}

func (c *trackedConn) Close() error {
	c.d.mu.Lock()
	delete(c.d.conns, c)
	c.d.mu.Unlock()
	return c.Conn.Close()
}

// Realm returns the realm for an account: explicit when set, else the part
// of user after '@', else domain ("" for a local account's "."), in upper
// case.
func Realm(explicit, user, domain string) string {
	r := explicit
	if r == "" {
		if _, ur, ok := strings.Cut(user, "@"); ok {
			r = ur
		} else if domain != "." {
			r = domain
		}
	}
	return strings.ToUpper(r)
}

// ServerName returns the DNS name to ask a ticket for: host when it is a
// name, else label when that is one. A single-label name (a NetBIOS name)
// gets the realm as its domain, as Windows' DNS suffix search would give.
// An address alone is an error: Kerberos tickets are issued for names.
func ServerName(host, label, realm string) (string, error) {
	name := ""
	for _, c := range []string{host, label} {
		c = strings.TrimSuffix(strings.Trim(strings.TrimSpace(c), "[]"), ".")
		if c == "" {
			continue
		}
		if _, err := netip.ParseAddr(c); err == nil {
			continue
		}
		name = c
		break
	}
	if name == "" {
		return "", fmt.Errorf("%w, but only the address %q is known", ErrNeedName, host)
	}
	if !strings.Contains(name, ".") && realm != "" {
		name += "." + realm
	}
	return strings.ToLower(name), nil
}
