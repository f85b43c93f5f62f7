package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

func TestLDAPPlan(t *testing.T) {
	tests := []struct {
		name   string
		src    LDAPSource
		addr   string
		ldaps  bool
		baseDN string
		label  string
		err    string
	}{
		{name: "ldap default port", src: LDAPSource{URL: "ldap://dc1.lab.test"}, addr: "dc1.lab.test:389", label: "ldap:ldap://dc1.lab.test"},
		{name: "ldaps default port", src: LDAPSource{URL: "LDAPS://10.0.0.1"}, addr: "10.0.0.1:636", ldaps: true, label: "ldap:ldaps://10.0.0.1"},
		{name: "ipv6 and port", src: LDAPSource{URL: "ldap://[2001:db8::1]:3268"}, addr: "[2001:db8::1]:3268", label: "ldap:ldap://[2001:db8::1]:3268"},
		{name: "base DN from path", src: LDAPSource{URL: "ldap://dc1/OU=Kiosks,DC=lab,DC=test"}, addr: "dc1:389",
			baseDN: "OU=Kiosks,DC=lab,DC=test", label: "ldap:ldap://dc1"},
		{name: "BaseDN wins over path", src: LDAPSource{URL: "ldap://dc1/OU=A,DC=x", BaseDN: "DC=lab,DC=test"}, addr: "dc1:389",
			baseDN: "DC=lab,DC=test", label: "ldap:ldap://dc1"},
		{name: "bad scheme", src: LDAPSource{URL: "http://dc1"}, err: "scheme must be ldap or ldaps"},
		{name: "no host", src: LDAPSource{URL: "ldap:///DC=x"}, err: "has no host"},
		{name: "credentials in URL", src: LDAPSource{URL: "ldap://u:p@dc1"}, err: "must not carry credentials"},
		{name: "query", src: LDAPSource{URL: "ldap://dc1/?cn?sub"}, err: "query and fragment"},
		{name: "plain ldaps", src: LDAPSource{URL: "ldaps://dc1", Plain: true}, err: "Plain contradicts"},
		{name: "bad base DN", src: LDAPSource{URL: "ldap://dc1", BaseDN: "not a dn"}, err: "base DN"},
		{name: "bad filter", src: LDAPSource{URL: "ldap://dc1", Filter: "(cn=x"}, err: "filter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.src.plan()
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.addr, p.addr)
			assert.Equal(t, tt.ldaps, p.ldaps)
			assert.Equal(t, tt.baseDN, p.baseDN)
			assert.Equal(t, tt.label, p.label)
			assert.Equal(t, uint32(DefaultLDAPPageSize), p.pageSize)
			assert.Equal(t, DefaultLDAPConnectTimeout, p.connect)
			assert.Equal(t, DefaultLDAPSearchTimeout, p.search)
		})
	}
}

func TestComputerFilter(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		extra    string
		disabled bool
		since    time.Time
		want     string
	}{
		{want: DefaultComputerFilter},
		{disabled: true, want: "(objectCategory=computer)"},
		{extra: " (operatingSystem=Windows 11*) ", want: "(&" + DefaultComputerFilter + "(operatingSystem=Windows 11*))"},
		{since: since, want: fmt.Sprintf("(&%s(lastLogonTimestamp>=%d))", DefaultComputerFilter, TimeToFiletime(since))},
		{extra: "(cn=WS*)", disabled: true, since: since,
			want: fmt.Sprintf("(&(objectCategory=computer)(cn=WS*)(lastLogonTimestamp>=%d))", TimeToFiletime(since))},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, err := computerFilter(tt.extra, tt.disabled, tt.since)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			_, err = ldap.CompileFilter(got)
			assert.NoError(t, err)
		})
	}
	_, err := computerFilter("cn=x", false, time.Time{})
	assert.Error(t, err)
}

func TestFiletime(t *testing.T) {
	// 2026-11-01T12:00:00Z as a FILETIME (checked with Python:
	// (datetime(2026,11,1,12)-datetime(1601,1,1)).total_seconds()*10**7).
	const ft = 134380080000000000
	tm := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, int64(ft), TimeToFiletime(tm))
	assert.Equal(t, tm, FiletimeToTime(ft))
	assert.Equal(t, int64(116444736000000000), TimeToFiletime(time.Unix(0, 0)))
	ns := time.Date(2026, 1, 1, 0, 0, 0, 123456700, time.UTC)
	assert.Equal(t, ns, FiletimeToTime(TimeToFiletime(ns)))
}

func TestLogonFailureFromLDAP(t *testing.T) {
	adMsg := func(data string) error {
		return &ldap.Error{ResultCode: ldap.LDAPResultInvalidCredentials,
			Err: fmt.Errorf("80090308: LdapErr: DSID-0C09050F, comment: AcceptSecurityContext error, data %s, v4563", data)}
	}
	tests := []struct {
		data   string
		reason derrors.Reason
		detail string
	}{
		{"52e", derrors.ReasonBadCredentials, "AD data 52e: wrong password"},
		{"525", derrors.ReasonBadCredentials, "AD data 525: no such user"},
		{"530", derrors.ReasonLogonRestricted, "AD data 530: not allowed to log on at this time"},
		{"531", derrors.ReasonLogonRestricted, "AD data 531: not allowed to log on from this computer"},
		{"532", derrors.ReasonPasswordExpired, "AD data 532: password expired"},
		{"533", derrors.ReasonAccountDisabled, "AD data 533: account disabled"},
		{"701", derrors.ReasonAccountExpired, "AD data 701: account expired"},
		{"773", derrors.ReasonPasswordMustChange, "AD data 773: password must be changed before first logon"},
		{"775", derrors.ReasonAccountLockedOut, "AD data 775: account locked out"},
		{"999", derrors.ReasonBadCredentials, "AD data 999"},
	}
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			e := LogonFailureFromLDAP("dc1", adMsg(tt.data))
			require.NotNil(t, e)
			assert.Equal(t, derrors.LogonFailure, e.Kind)
			assert.Equal(t, tt.reason, e.Reason)
			assert.Equal(t, derrors.StepLDAPBind, e.Step)
			assert.Equal(t, "dc1", e.Host)
			assert.Equal(t, derrors.Code{Space: derrors.LDAPResult, Value: 49}, e.Code)
			assert.Contains(t, e.Detail, tt.detail)
			assert.ErrorIs(t, e, derrors.LogonFailure)
		})
	}
	// Without a sub-code: still a logon failure.
	e := LogonFailureFromLDAP("dc1", &ldap.Error{ResultCode: 49, Err: errors.New("invalid credentials")})
	require.NotNil(t, e)
	assert.Equal(t, derrors.ReasonBadCredentials, e.Reason)
	assert.Empty(t, e.Detail)
	// Other results are not logon failures.
	assert.Nil(t, LogonFailureFromLDAP("dc1", &ldap.Error{ResultCode: 50, Err: errors.New("x")}))
	assert.Nil(t, LogonFailureFromLDAP("dc1", errors.New("x")))
	be := bindError("dc1", &ldap.Error{ResultCode: ldap.LDAPResultStrongAuthRequired, Err: errors.New("x")})
	de, ok := derrors.As(be)
	require.True(t, ok)
	assert.Equal(t, uint32(8), de.Code.Value)
	_, ok = ADSubCode(errors.New("data 52e"))
	assert.False(t, ok, "only LDAP errors carry AD sub-codes")
}

func TestSplitDomainUser(t *testing.T) {
	d, u := splitDomainUser(`LAB\admin`)
	assert.Equal(t, [2]string{"LAB", "admin"}, [2]string{d, u})
	d, u = splitDomainUser("admin@lab.test")
	assert.Equal(t, [2]string{"", "admin@lab.test"}, [2]string{d, u})
}

func TestLDAPDiscoverErrors(t *testing.T) {
	// A refused connection, through the dial hook, is typed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	_, err = (LDAPSource{URL: "ldap://" + addr}).Discover(context.Background())
	assert.ErrorIs(t, err, derrors.ConnectionRefused)
	de, ok := derrors.As(err)
	require.True(t, ok)
	assert.Equal(t, "127.0.0.1", de.Host)
	assert.Equal(t, derrors.StepConnect, de.Step)

	// A server that accepts and never answers: the connect timeout ends
	// StartTLS.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	_, err = (LDAPSource{URL: "ldap://" + ln.Addr().String(), ConnectTimeout: 200 * time.Millisecond}).Discover(context.Background())
	assert.ErrorIs(t, err, derrors.ConnectionTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// Checked before dialling (this would otherwise ask the system's DNS).
	_, err = (LDAPSource{URL: "ldap://dc1", CAPEM: []byte("junk")}).Discover(context.Background())
	assert.ErrorContains(t, err, "no PEM certificate")
}

func TestResolveHosts(t *testing.T) {
	// A resolver whose every query fails: a DNS failure per host, none
	// dropped; hosts with an address or an error are left alone.
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	prior := errors.New("prior")
	hosts := []Host{
		{Name: "ws1.lab.test"},
		{Name: "ws2", Addr: netip.MustParseAddr("10.0.0.2")},
		{Name: "ws3.lab.test", Err: prior},
		{Addr: netip.MustParseAddr("10.0.0.4")},
		{Name: "localhost"},
	}
	require.NoError(t, ResolveHosts(context.Background(), hosts, ResolveOptions{Resolver: r, Timeout: time.Second}))
	assert.ErrorIs(t, hosts[0].Err, derrors.DNSResolutionFailure)
	de, _ := derrors.As(hosts[0].Err)
	assert.Equal(t, derrors.StepResolve, de.Step)
	assert.Equal(t, "ws1.lab.test", de.Host)
	assert.NoError(t, hosts[1].Err)
	assert.Same(t, prior, hosts[2].Err)
	assert.NoError(t, hosts[3].Err)
	// localhost comes from /etc/hosts, without asking DNS.
	assert.NoError(t, hosts[4].Err)
	assert.True(t, hosts[4].Addr.IsLoopback(), "%v", hosts[4].Addr)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, ResolveHosts(ctx, []Host{{Name: "x.lab.test"}}, ResolveOptions{Resolver: r}), context.Canceled)
}

func TestEntryHost(t *testing.T) {
	p := &ldapPlan{label: "ldap:ldap://dc1"}
	e := ldap.NewEntry("CN=WS1,OU=W,DC=lab,DC=test", map[string][]string{
		"name": {"WS1"}, "dNSHostName": {"ws1.lab.test"}, "operatingSystem": {"Windows 11 Pro"},
		"operatingSystemVersion": {"10.0 (22631)"}, "lastLogonTimestamp": {"134380080000000000"},
	})
	h := p.entryHost(e)
	assert.Equal(t, Host{Name: "ws1.lab.test", Source: "ldap:ldap://dc1", Attrs: map[string]string{
		"dn": "CN=WS1,OU=W,DC=lab,DC=test", "dns_host_name": "ws1.lab.test", "os": "Windows 11 Pro",
		"os_version": "10.0 (22631)", "last_logon": "2026-11-01T12:00:00Z",
	}}, h)

	// No dNSHostName: the name, to resolve through the resolver's search list.
	h = p.entryHost(ldap.NewEntry("CN=WS2,DC=lab,DC=test", map[string][]string{"name": {"WS2"}, "lastLogonTimestamp": {"0"}}))
	assert.Equal(t, "WS2", h.Name)
	assert.NoError(t, h.Err)
	assert.NotContains(t, h.Attrs, "last_logon")

	// A name no resolver could look up is kept, with a typed error.
	h = p.entryHost(ldap.NewEntry("CN=bad name,DC=lab,DC=test", map[string][]string{"name": {"bad name"}}))
	assert.Equal(t, "bad name", h.Name)
	assert.ErrorIs(t, h.Err, derrors.DNSResolutionFailure)
	hosts := []Host{h}
	require.NoError(t, ResolveHosts(context.Background(), hosts, ResolveOptions{}))
	assert.Same(t, h.Err, hosts[0].Err, "not looked up again")
}
