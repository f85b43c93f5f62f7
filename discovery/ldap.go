package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/laps"
)

// DefaultComputerFilter selects enabled computer objects: userAccountControl
// without ACCOUNTDISABLE (0x2), tested with the bitwise-AND matching rule.
const DefaultComputerFilter = "(&(objectCategory=computer)(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"

// allComputersFilter selects computer objects, enabled or not.
const allComputersFilter = "(objectCategory=computer)"

// Defaults of LDAPSource.
const (
	DefaultLDAPPageSize       = 1000
	DefaultLDAPConnectTimeout = 10 * time.Second
	DefaultLDAPSearchTimeout  = 2 * time.Minute
)

// computerAttributes are read from every computer object.
var computerAttributes = []string{"name", "dNSHostName", "operatingSystem", "operatingSystemVersion", "lastLogonTimestamp"}

// DialFunc opens a connection, like net.Dialer.DialContext. Every source
// that connects takes one, so tests and proxies can route the traffic.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// LDAPSource discovers computers in Active Directory over LDAP.
//
// Transport security follows the URL and Plain:
//   - "ldaps://host[:636]": TLS from the first byte.
//   - "ldap://host[:389]": StartTLS before the bind (the default).
//   - "ldap://host" with Plain set: no TLS at all; the bind (a simple bind's
//     password in clear) and the results travel unprotected. Only for labs
//     and domains that still allow it.
//
// The server certificate is always verified — against CAPEM when given (the
// domain's own CA, as PEM), else the system roots — for ServerName, or the
// URL's host. InsecureSkipVerify turns that off and must be set on purpose.
type LDAPSource struct {
	// URL is "ldap://host[:port]" or "ldaps://host[:port]". A path, as in
	// "ldap://dc1/OU=Workstations,DC=lab,DC=test", is the base DN when
	// BaseDN is empty. It must not carry credentials.
	URL string
	// Plain, with an ldap:// URL, skips StartTLS.
	Plain bool
	// CAPEM holds PEM certificates to trust instead of the system roots.
	CAPEM []byte
	// ServerName is the name the certificate must carry; the URL's host by
	// default (an address must then be in the certificate's IP SANs).
	ServerName string
	// InsecureSkipVerify accepts any certificate. Never use it outside labs.
	InsecureSkipVerify bool
	// TLSConfig, if set, is the starting point of the TLS configuration
	// (client certificates, minimum version); CAPEM, ServerName and
	// InsecureSkipVerify still apply on top of it.
	TLSConfig *tls.Config

	// User is "user@realm" (a UPN) or "DOMAIN\user"; empty means an
	// anonymous bind, which Active Directory refuses for searches.
	User string
	// Password is the user's password. It is sent only inside TLS unless
	// Plain is set, and never logged.
	Password string
	// NTLM binds with NTLM (Microsoft's "sicily" bind) instead of a simple
	// bind: the password never crosses the wire, even with Plain. Windows
	// DCs accept it; Samba DCs drop the connection (they only take NTLM
	// inside SASL GSS-SPNEGO, which go-ldap lacks).
	NTLM bool

	// BaseDN is where the search starts: the domain
	// ("DC=lab,DC=test"), or an OU to scope the query to it. Empty means
	// the URL's path, else the domain's defaultNamingContext from the
	// rootDSE.
	BaseDN string
	// OneLevel limits the search to BaseDN's direct children; by default
	// the whole subtree is searched (nested OUs included).
	OneLevel bool
	// Filter is an LDAP filter ANDed with the computer filter, such as
	// "(operatingSystem=Windows 11*)". It is checked before connecting.
	Filter string
	// IncludeDisabled also returns disabled computer accounts.
	IncludeDisabled bool
	// SeenSince, when set, keeps only computers whose lastLogonTimestamp is
	// at or after it. AD updates that attribute lazily (every 9 to 14 days
	// by default), so leave two weeks of slack.
	SeenSince time.Time
	// PageSize is the paged-results page size; DefaultLDAPPageSize (AD's
	// MaxPageSize) when zero. Every page is read, however many computers.
	PageSize uint32

	// ConnectTimeout bounds dial, TLS, StartTLS and bind together;
	// DefaultLDAPConnectTimeout when zero.
	ConnectTimeout time.Duration
	// SearchTimeout bounds the whole paged search;
	// DefaultLDAPSearchTimeout when zero. It is also sent to the server as
	// the search's time limit.
	SearchTimeout time.Duration
	// Dial opens the TCP connection; a net.Dialer's by default.
	Dial DialFunc

	// Resolve says how the computers' dNSHostName values become addresses.
	Resolve ResolveOptions
	// NoResolve returns computers with the zero Addr ("resolve later").
	NoResolve bool
	// LAPS, when set, also reads each computer's LAPS password into
	// Host.LAPS (see LAPSOptions).
	LAPS *LAPSOptions
}

// ldapPlan is an LDAPSource checked and with defaults applied.
type ldapPlan struct {
	src      *LDAPSource
	host     string // URL host, for errors
	addr     string // host:port to dial
	ldaps    bool
	baseDN   string
	filter   string
	pageSize uint32
	connect  time.Duration
	search   time.Duration
	dial     DialFunc
	roots    *x509.CertPool // from CAPEM, nil for the system roots
	label    string         // for Host.Source
}

func (s LDAPSource) plan() (*ldapPlan, error) {
	u, err := url.Parse(s.URL)
	if err != nil {
		return nil, fmt.Errorf("discovery: LDAP URL: %w", err)
	}
	p := &ldapPlan{src: &s, host: u.Hostname()}
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		p.addr = net.JoinHostPort(u.Hostname(), portOr(u.Port(), "389"))
	case "ldaps":
		if s.Plain {
			return nil, errors.New("discovery: Plain contradicts an ldaps:// URL")
		}
		p.ldaps = true
		p.addr = net.JoinHostPort(u.Hostname(), portOr(u.Port(), "636"))
	default:
		return nil, fmt.Errorf("discovery: LDAP URL %q: scheme must be ldap or ldaps", s.URL)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("discovery: LDAP URL %q has no host", s.URL)
	}
	if u.User != nil {
		return nil, errors.New("discovery: LDAP URL must not carry credentials: use User and Password")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("discovery: LDAP URL %q: query and fragment are not supported", s.URL)
	}
	p.baseDN = s.BaseDN
	if p.baseDN == "" {
		p.baseDN = strings.TrimPrefix(u.Path, "/")
	}
	if p.baseDN != "" {
		if _, err := ldap.ParseDN(p.baseDN); err != nil {
			return nil, fmt.Errorf("discovery: base DN %q: %w", p.baseDN, err)
		}
	}
	p.filter, err = computerFilter(s.Filter, s.IncludeDisabled, s.SeenSince)
	if err != nil {
		return nil, err
	}
	p.pageSize = s.PageSize
	if p.pageSize == 0 {
		p.pageSize = DefaultLDAPPageSize
	}
	p.connect = orDuration(s.ConnectTimeout, DefaultLDAPConnectTimeout)
	p.search = orDuration(s.SearchTimeout, DefaultLDAPSearchTimeout)
	p.dial = s.Dial
	if p.dial == nil {
		p.dial = (&net.Dialer{}).DialContext
	}
	if len(s.CAPEM) > 0 {
		p.roots = x509.NewCertPool()
		if !p.roots.AppendCertsFromPEM(s.CAPEM) {
			return nil, errors.New("discovery: CAPEM holds no PEM certificate")
		}
	}
	p.label = "ldap:" + (&url.URL{Scheme: strings.ToLower(u.Scheme), Host: u.Host}).String()
	return p, nil
}

func portOr(port, def string) string {
	if port == "" {
		return def
	}
	return port
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// computerFilter builds the search filter: computers (enabled only unless
// includeDisabled), ANDed with extra, and with lastLogonTimestamp >= since.
func computerFilter(extra string, includeDisabled bool, since time.Time) (string, error) {
	f := DefaultComputerFilter
	if includeDisabled {
		f = allComputersFilter
	}
	parts := []string{f}
	if extra = strings.TrimSpace(extra); extra != "" {
		if _, err := ldap.CompileFilter(extra); err != nil {
			return "", fmt.Errorf("discovery: filter %q: %w", extra, err)
		}
		parts = append(parts, extra)
	}
	if !since.IsZero() {
		parts = append(parts, "(lastLogonTimestamp>="+strconv.FormatInt(TimeToFiletime(since), 10)+")")
	}
	if len(parts) == 1 {
		return f, nil
	}
	return "(&" + strings.Join(parts, "") + ")", nil
}

// filetimeEpochOffset is the number of seconds from 1601-01-01 to 1970-01-01.
const filetimeEpochOffset = 11644473600

// TimeToFiletime converts t to a Windows FILETIME: 100-nanosecond intervals
// since 1601-01-01 UTC, as lastLogonTimestamp stores it.
func TimeToFiletime(t time.Time) int64 {
	return (t.Unix()+filetimeEpochOffset)*10_000_000 + int64(t.Nanosecond())/100
}

// FiletimeToTime converts a Windows FILETIME to a UTC time.
func FiletimeToTime(ft int64) time.Time {
	return time.Unix(ft/10_000_000-filetimeEpochOffset, ft%10_000_000*100).UTC()
}

// Discover connects, binds, reads every computer page by page, and resolves
// their names (unless NoResolve). A connection or bind failure is a
// *derrors.Error for the directory server's host: logon failure (with AD's
// reason decoded, see LogonFailureFromLDAP), connection timeout, refused,
// unreachable, dns resolution failure. A computer whose name does not resolve
// is returned with Host.Err set.
func (s LDAPSource) Discover(ctx context.Context) ([]Host, error) {
	p, err := s.plan()
	if err != nil {
		return nil, err
	}
	conn, err := p.open(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.close()
	hosts, raw, err := p.searchComputers(ctx, conn)
	if err != nil {
		return nil, err
	}
	conn.close()
	if s.LAPS != nil {
		s.LAPS.read(ctx, s.URL, hosts, raw)
	}
	if !s.NoResolve {
		if err := ResolveHosts(ctx, hosts, s.Resolve); err != nil {
			return hosts, err
		}
	}
	return hosts, nil
}

// ldapConn is a bound connection and the raw socket under it.
type ldapConn struct {
	l   *ldap.Conn
	raw net.Conn
}

func (c *ldapConn) close() {
	if c.l != nil {
		c.l.SetTimeout(time.Second)
		_ = c.l.Close()
		c.l = nil
	}
}

// guard makes ctx's end interrupt blocking I/O on raw. The returned stop
// must be called when the guarded phase is over.
func guard(ctx context.Context, raw net.Conn) (stop func() bool) {
	return context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
}

// phaseError prefers the context's reason when the phase was cut short by it.
func phaseError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return err
}

// open dials, sets up TLS and binds, all within the connect timeout.
func (p *ldapPlan) open(ctx context.Context) (*ldapConn, error) {
	cctx, cancel := context.WithTimeout(ctx, p.connect)
	defer cancel()
	raw, err := p.dial(cctx, "tcp", p.addr)
	if err != nil {
		return nil, derrors.Wrap(p.host, derrors.StepConnect, phaseError(cctx, err))
	}
	stop := guard(cctx, raw)
	defer stop()

	var verifyErr error
	tlsConf := p.tlsConfig(&verifyErr)
	var l *ldap.Conn
	if p.ldaps {
		tc := tls.Client(raw, tlsConf)
		if err := tc.HandshakeContext(cctx); err != nil {
			raw.Close()
			return nil, derrors.Wrap(p.host, derrors.StepConnect, phaseError(cctx, tlsError(verifyErr, err)))
		}
		l = ldap.NewConn(tc, true)
	} else {
		l = ldap.NewConn(raw, false)
	}
	l.Start()
	c := &ldapConn{l: l, raw: raw}
	if !p.ldaps && !p.src.Plain {
		if err := l.StartTLS(tlsConf); err != nil {
			c.close()
			return nil, derrors.Wrap(p.host, derrors.StepConnect, phaseError(cctx, tlsError(verifyErr, err)))
		}
	}
	if err := p.bind(l); err != nil {
		c.close()
		if ctxErr := cctx.Err(); ctxErr != nil {
			return nil, derrors.Wrap(p.host, derrors.StepLDAPBind, phaseError(cctx, err))
		}
		return nil, bindError(p.host, err)
	}
	return c, nil
}

// tlsError returns the certificate verification error recorded during the
// handshake, which go-ldap's StartTLS flattens to text, else err.
func tlsError(verifyErr, err error) error {
	if verifyErr != nil {
		return fmt.Errorf("TLS: %w", verifyErr)
	}
	return err
}

// tlsConfig builds the client TLS configuration. Verification is done in
// VerifyConnection (the same checks crypto/tls makes) so that the typed
// *tls.CertificateVerificationError survives go-ldap's StartTLS, which
// reports handshake failures as text; it is stored in *verifyErr.
func (p *ldapPlan) tlsConfig(verifyErr *error) *tls.Config {
	s := p.src
	var c *tls.Config
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.ServerName != "" {
		c.ServerName = s.ServerName
	}
	if c.ServerName == "" {
		c.ServerName = p.host
	}
	if p.roots != nil {
		c.RootCAs = p.roots
	}
	if s.InsecureSkipVerify || c.InsecureSkipVerify {
		c.InsecureSkipVerify = true
		return c
	}
	roots, name, next := c.RootCAs, c.ServerName, c.VerifyConnection
	c.InsecureSkipVerify = true // verification happens below, not skipped
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			*verifyErr = errors.New("server sent no certificate")
			return *verifyErr
		}
		opts := x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: x509.NewCertPool()}
		for _, ic := range cs.PeerCertificates[1:] {
			opts.Intermediates.AddCert(ic)
		}
		if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
			*verifyErr = &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			return *verifyErr
		}
		if next != nil {
			return next(cs)
		}
		return nil
	}
	return c
}

// bind authenticates with the configured method.
func (p *ldapPlan) bind(l *ldap.Conn) error {
	s := p.src
	if s.User == "" {
		return l.UnauthenticatedBind("")
	}
	if s.NTLM {
		domain, user := splitDomainUser(s.User)
		return l.NTLMBind(domain, user, s.Password)
	}
	_, err := l.SimpleBind(ldap.NewSimpleBindRequest(s.User, s.Password, nil))
	return err
}

// splitDomainUser splits "DOMAIN\user"; a UPN stays whole with no domain.
func splitDomainUser(u string) (domain, user string) {
	if i := strings.IndexByte(u, '\\'); i >= 0 {
		return u[:i], u[i+1:]
	}
	return "", u
}

// searchComputers finds the base DN if needed and reads every page.
func (p *ldapPlan) searchComputers(ctx context.Context, c *ldapConn) ([]Host, []laps.Attributes, error) {
	sctx, cancel := context.WithTimeout(ctx, p.search)
	defer cancel()
	_ = c.raw.SetDeadline(time.Time{})
	stop := guard(sctx, c.raw)
	defer stop()
	c.l.SetTimeout(p.search)

	baseDN := p.baseDN
	if baseDN == "" {
		res, err := c.l.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0,
			timeLimit(p.search), false, "(objectClass=*)", []string{"defaultNamingContext"}, nil))
		if err != nil {
			return nil, nil, searchError(p.host, phaseError(sctx, err))
		}
		if len(res.Entries) == 1 {
			baseDN = res.Entries[0].GetAttributeValue("defaultNamingContext")
		}
		if baseDN == "" {
			return nil, nil, derrors.Wrap(p.host, derrors.StepDiscover, errors.New("rootDSE has no defaultNamingContext: set BaseDN"))
		}
	}
	scope := ldap.ScopeWholeSubtree
	if p.src.OneLevel {
		scope = ldap.ScopeSingleLevel
	}
	paging := ldap.NewControlPaging(p.pageSize)
	attrs := computerAttributes
	if p.src.LAPS != nil {
		attrs = append(append([]string{}, computerAttributes...), p.src.LAPS.attributes()...)
	}
	req := ldap.NewSearchRequest(baseDN, scope, ldap.NeverDerefAliases, 0, timeLimit(p.search), false,
		p.filter, attrs, []ldap.Control{paging})
	var (
		hosts []Host
		raw   []laps.Attributes
	)
	for {
		res, err := c.l.Search(req)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			err = fmt.Errorf("the base DN %q is not in the directory: %w", baseDN, err)
		}
		if err != nil {
			return nil, nil, searchError(p.host, phaseError(sctx, err))
		}
		for _, e := range res.Entries {
			hosts = append(hosts, p.entryHost(e))
			if p.src.LAPS != nil {
				raw = append(raw, p.src.LAPS.raw(e))
			} else {
				raw = append(raw, nil)
			}
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok || len(ctrl.Cookie) == 0 {
			return hosts, raw, nil
		}
		paging.SetCookie(ctrl.Cookie)
	}
}

// timeLimit is the server-side time limit in whole seconds.
func timeLimit(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// entryHost turns a computer object into a Host.
func (p *ldapPlan) entryHost(e *ldap.Entry) Host {
	h := Host{Source: p.label, Attrs: map[string]string{"dn": e.DN}}
	dnsName := e.GetAttributeValue("dNSHostName")
	h.Name = dnsName
	if h.Name == "" {
		h.Name = e.GetAttributeValue("name")
	}
	for attr, key := range map[string]string{
		"dNSHostName": "dns_host_name", "operatingSystem": "os", "operatingSystemVersion": "os_version",
	} {
		if v := e.GetAttributeValue(attr); v != "" {
			h.Attrs[key] = v
		}
	}
	if v := e.GetAttributeValue("lastLogonTimestamp"); v != "" {
		if ft, err := strconv.ParseInt(v, 10, 64); err == nil && ft > 0 {
			h.Attrs["last_logon"] = FiletimeToTime(ft).Format(time.RFC3339)
		}
	}
	if err := ValidateName(h.Name); err != nil {
		h.Err = derrors.New(h.Name, derrors.StepDiscover, derrors.DNSResolutionFailure,
			fmt.Errorf("computer %s: %w", e.DN, err))
	}
	return h
}

// searchError classifies a search failure, keeping the LDAP result code.
func searchError(host string, err error) error {
	e := derrors.Wrap(host, derrors.StepDiscover, err)
	var le *ldap.Error
	if errors.As(err, &le) && le.ResultCode < ldap.ErrorNetwork {
		e.Code = derrors.Code{Space: derrors.LDAPResult, Value: uint32(le.ResultCode)}
	}
	return e
}

// addrFromIP unmaps an address returned by a resolver.
func addrFromIP(a netip.Addr) netip.Addr {
	if a.Is4In6() {
		return a.Unmap()
	}
	return a
}
