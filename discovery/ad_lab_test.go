package discovery

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/deployertest/lab/addc"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/secrettest"
	"github.com/nxdeploy/deployer/laps"
	"github.com/nxdeploy/deployer/laps/lapstest"
	"github.com/nxdeploy/deployer/smb"
)

// TestActiveDirectory runs every LDAP discovery case against one real Samba
// AD DC, provisioned once and populated with addc.Fleet(), its schema
// extended with the LAPS attributes.
func TestActiveDirectory(t *testing.T) {
	lab.Require(t, "root", "netns", "samba-tool", "samba", "ldbadd")
	n := lab.NewNet(t)
	dc := addc.StartWith(t, n, "dc", addc.Fleet(), addc.Options{Global: []string{addc.SchemaUpdateAllowed}})
	t.Logf("provision %v; %d computers and %d DNS records added in %v; start until LDAP answers %v",
		dc.ProvisionTime.Round(time.Millisecond), dc.Computers, dc.Records, dc.PopulateTime.Round(time.Millisecond),
		dc.StartTime.Round(time.Millisecond))
	require.Equal(t, addc.FleetSize, dc.Computers)
	require.Equal(t, addc.FleetSize-addc.FleetNoDNS, dc.Records)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	fleet := addc.Fleet()

	byName := map[string]addc.Computer{}
	for _, c := range fleet {
		byName[c.DNSHostName] = c
	}
	dcFQDN := dc.FQDN

	// source returns a source for the DC with the admin's credentials.
	source := func(mod func(s *LDAPSource)) LDAPSource {
		s := LDAPSource{
			URL:      dc.LDAPURL(false),
			CAPEM:    dc.CAPEM,
			User:     addc.AdminUPN,
			Password: addc.AdminPassword,
			Dial:     dc.Dial,
			Resolve:  ResolveOptions{Resolver: dc.Resolver(), Concurrency: 16},
		}
		if mod != nil {
			mod(&s)
		}
		return s
	}
	names := func(hosts []Host) map[string]bool {
		m := make(map[string]bool, len(hosts))
		for _, h := range hosts {
			m[h.Name] = true
		}
		return m
	}

	t.Run("paging reads every enabled computer and resolves them", func(t *testing.T) {
		start := time.Now()
		hosts, err := source(nil).Discover(ctx)
		require.NoError(t, err)
		t.Logf("read and resolved %d computers (pages of 1000) in %v", len(hosts), time.Since(start).Round(time.Millisecond))
		// Every enabled fleet computer, plus the DC itself.
		require.Len(t, hosts, addc.FleetSize-addc.FleetDisabled+1)
		got := names(hosts)
		require.Len(t, got, len(hosts), "no computer twice")
		var resolved, unresolved int
		for _, h := range hosts {
			if strings.EqualFold(h.Name, dcFQDN) { // Samba writes "DC1.lab.test"
				assert.Equal(t, dc.Addr, h.Addr)
				assert.NoError(t, h.Err)
				continue
			}
			c, ok := byName[h.Name]
			require.True(t, ok, "unexpected computer %q", h.Name)
			assert.False(t, c.Disabled, h.Name)
			assert.Equal(t, "ldap:ldap://"+dc.Addr.String(), h.Source)
			assert.Equal(t, c.OS, h.Attrs["os"])
			assert.Equal(t, c.OSVersion, h.Attrs["os_version"])
			assert.Equal(t, c.DNSHostName, h.Attrs["dns_host_name"])
			assert.Equal(t, c.LastLogon.Format(time.RFC3339), h.Attrs["last_logon"])
			assert.True(t, strings.EqualFold(c.DN(), h.Attrs["dn"]), "%s vs %s", c.DN(), h.Attrs["dn"])
			if c.Addr.IsValid() {
				resolved++
				assert.Equal(t, c.Addr, h.Addr, h.Name)
				assert.NoError(t, h.Err, h.Name)
			} else {
				unresolved++
				assert.False(t, h.Addr.IsValid(), h.Name)
				assert.ErrorIs(t, h.Err, derrors.DNSResolutionFailure, h.Name)
				de, ok := derrors.As(h.Err)
				require.True(t, ok)
				assert.Equal(t, derrors.StepResolve, de.Step)
				assert.Equal(t, h.Name, de.Host)
			}
		}
		assert.Equal(t, addc.FleetSize-addc.FleetDisabled-addc.FleetNoDNS, resolved)
		assert.Equal(t, addc.FleetNoDNS, unresolved)
	})

	t.Run("small pages still read everything", func(t *testing.T) {
		start := time.Now()
		hosts, err := source(func(s *LDAPSource) { s.PageSize = 500; s.NoResolve = true; s.IncludeDisabled = true }).Discover(ctx)
		require.NoError(t, err)
		t.Logf("read %d computers (pages of 500, no resolution) in %v", len(hosts), time.Since(start).Round(time.Millisecond))
		assert.Len(t, hosts, addc.FleetSize+1)
		for _, h := range hosts {
			assert.False(t, h.Addr.IsValid())
			assert.NoError(t, h.Err)
		}
	})

	t.Run("nested OU scope", func(t *testing.T) {
		hosts, err := source(func(s *LDAPSource) { s.BaseDN = addc.KiosksOU; s.NoResolve = true }).Discover(ctx)
		require.NoError(t, err)
		// 200 kiosks, every tenth disabled.
		require.Len(t, hosts, 180)
		for _, h := range hosts {
			assert.True(t, strings.HasPrefix(h.Name, "kiosk"), h.Name)
			assert.True(t, strings.HasSuffix(strings.ToLower(h.Attrs["dn"]), strings.ToLower(addc.KiosksOU)))
		}
		// The parent OU, one level only: workstations without the kiosks.
		hosts, err = source(func(s *LDAPSource) {
			s.URL = dc.LDAPURL(false) + "/" + addc.WorkstationsOU
			s.OneLevel = true
			s.NoResolve = true
		}).Discover(ctx)
		require.NoError(t, err)
		require.Len(t, hosts, 2070)
		for _, h := range hosts {
			assert.True(t, strings.HasPrefix(h.Name, "ws"), h.Name)
		}
	})

	t.Run("extra filter and seen since", func(t *testing.T) {
		since := addc.FleetEpoch.Add(-30*24*time.Hour + time.Minute) // days 0..29 before the epoch
		hosts, err := source(func(s *LDAPSource) {
			s.Filter = "(operatingSystem=Windows 10*)"
			s.SeenSince = since
			s.NoResolve = true
		}).Discover(ctx)
		require.NoError(t, err)
		want := map[string]bool{}
		for i, c := range fleet {
			if !c.Disabled && i%3 == 0 && i%100 < 30 {
				want[c.DNSHostName] = true
			}
		}
		assert.Equal(t, want, names(hosts))
		assert.Len(t, hosts, 225)
	})

	t.Run("wrong password is a logon failure with data 52e", func(t *testing.T) {
		for _, user := range []string{addc.AdminUPN, addc.AdminDownLevel} {
			_, err := source(func(s *LDAPSource) { s.User = user; s.Password = "wrong" }).Discover(ctx)
			require.Error(t, err)
			assert.ErrorIs(t, err, derrors.LogonFailure)
			assert.ErrorIs(t, err, derrors.ReasonBadCredentials)
			sub, ok := ADSubCode(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, ADLogonFailure, sub)
			de, _ := derrors.As(err)
			assert.Equal(t, derrors.StepLDAPBind, de.Step)
			assert.Equal(t, dc.Addr.String(), de.Host)
			assert.Equal(t, uint32(49), de.Code.Value)
			assert.Contains(t, de.Detail, "AD data 52e: wrong password")
			assert.NotContains(t, err.Error(), addc.AdminPassword)
		}
	})

	t.Run("StartTLS, ldaps and plain", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mod  func(s *LDAPSource)
		}{
			{"starttls", func(s *LDAPSource) {}},
			{"ldaps", func(s *LDAPSource) { s.URL = dc.LDAPURL(true) }},
			{"plain", func(s *LDAPSource) { s.Plain = true; s.CAPEM = nil }},
			{"starttls by name", func(s *LDAPSource) { s.ServerName = dcFQDN }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				hosts, err := source(func(s *LDAPSource) {
					s.BaseDN = addc.KiosksOU
					s.NoResolve = true
					tc.mod(s)
				}).Discover(ctx)
				require.NoError(t, err)
				assert.Len(t, hosts, 180)
			})
		}
	})

	t.Run("NTLM bind", func(t *testing.T) {
		// Samba 4.17 has no "sicily" NTLM bind (only SASL GSS-SPNEGO, which
		// go-ldap lacks): it drops the connection. Windows DCs accept it.
		// What the lab proves is that the failure is a typed bind error.
		_, err := source(func(s *LDAPSource) { s.NTLM = true; s.User = addc.AdminDownLevel }).Discover(ctx)
		require.Error(t, err)
		de, ok := derrors.As(err)
		require.True(t, ok)
		assert.Equal(t, derrors.StepLDAPBind, de.Step)
		assert.NotContains(t, err.Error(), addc.AdminPassword)
	})

	t.Run("TLS fails verification without the DC's CA", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mod  func(s *LDAPSource)
		}{
			{"starttls system roots", func(s *LDAPSource) { s.CAPEM = nil }},
			{"ldaps system roots", func(s *LDAPSource) { s.URL = dc.LDAPURL(true); s.CAPEM = nil }},
			{"starttls wrong name", func(s *LDAPSource) { s.ServerName = "other.lab.test" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := source(func(s *LDAPSource) { s.NoResolve = true; tc.mod(s) }).Discover(ctx)
				require.Error(t, err)
				var cve *tls.CertificateVerificationError
				assert.ErrorAs(t, err, &cve)
				de, ok := derrors.As(err)
				require.True(t, ok)
				assert.Equal(t, derrors.StepConnect, de.Step)
			})
		}
		// The explicit opt-out still connects.
		hosts, err := source(func(s *LDAPSource) {
			s.URL = dc.LDAPURL(true)
			s.CAPEM = nil
			s.InsecureSkipVerify = true
			s.BaseDN = addc.KiosksOU
			s.NoResolve = true
		}).Discover(ctx)
		require.NoError(t, err)
		assert.Len(t, hosts, 180)
	})

	t.Run("unknown user and bad base DN", func(t *testing.T) {
		_, err := source(func(s *LDAPSource) { s.User = "nobody@lab.test"; s.Password = "x" }).Discover(ctx)
		assert.ErrorIs(t, err, derrors.LogonFailure)
		_, err = source(func(s *LDAPSource) { s.BaseDN = "OU=Missing," + addc.BaseDN; s.NoResolve = true }).Discover(ctx)
		require.Error(t, err)
		assert.Contains(t, err.Error(), `the base DN "OU=Missing,`+addc.BaseDN+`" is not in the directory`)
		de, ok := derrors.As(err)
		require.True(t, ok)
		assert.Equal(t, derrors.StepDiscover, de.Step)
		assert.Equal(t, uint32(32), de.Code.Value) // noSuchObject
	})

	t.Run("connect failures are typed", func(t *testing.T) {
		// Nothing listens on 3389 of the DC: refused.
		_, err := source(func(s *LDAPSource) { s.URL = "ldap://" + netip.AddrPortFrom(dc.Addr, 3389).String() }).Discover(ctx)
		assert.ErrorIs(t, err, derrors.ConnectionRefused)
		// A dropped port: connect timeout, within the connect timeout.
		undrop := dc.Host.Drop(t, 1389)
		defer undrop()
		start := time.Now()
		_, err = source(func(s *LDAPSource) {
			s.URL = "ldap://" + netip.AddrPortFrom(dc.Addr, 1389).String()
			s.ConnectTimeout = 300 * time.Millisecond
		}).Discover(ctx)
		assert.ErrorIs(t, err, derrors.ConnectionTimeout)
		assert.Less(t, time.Since(start), 10*time.Second)
		// A dial hook that fails to resolve.
		_, err = source(func(s *LDAPSource) {
			s.URL = "ldap://dc1.lab.test"
			s.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
				return nil, &net.DNSError{Err: "no such host", Name: "dc1.lab.test", IsNotFound: true}
			}
		}).Discover(ctx)
		assert.ErrorIs(t, err, derrors.DNSResolutionFailure)
	})

	t.Run("cancelled context", func(t *testing.T) {
		cctx, ccancel := context.WithCancel(ctx)
		ccancel()
		_, err := source(nil).Discover(cctx)
		require.Error(t, err)
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	})

	t.Run("LAPS passwords in every form", func(t *testing.T) { testLAPS(ctx, t, dc, source) })
}

// testLAPS stores each LAPS form on fleet computers of dc (legacy, Windows
// LAPS in clear with its account name, Windows LAPS encrypted with the known
// vector) and discovers them with LDAPSource.LAPS: each host gets its
// credential, a computer without LAPS none, and printing a host never shows
// a password. Samba 4.17 serves no MS-GKDI, so the encrypted form is
// decrypted with the vector's key material (LAPSOptions.Keys); without it
// the host carries the key service's refusal.
func testLAPS(ctx context.Context, t *testing.T, dc *addc.DC, source func(func(*LDAPSource)) LDAPSource) {
	admin, err := dc.Conn(ctx)
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, addc.ExtendLAPSSchema(admin))

	const (
		legacyPw = "Leg@cy-9x!"
		clearPw  = `Cl3ar#{pw}"q`
		customPw = "Cust0m!WLaps"
		expires  = "134100000000000000"
	)
	enc, keys, err := lapstest.WindowsEncrypted()
	require.NoError(t, err)
	fleet := addc.Fleet()
	// WS0000..WS0002 and WS0004 are enabled with DNS records; WS0005 has
	// no LAPS.
	values := map[string]map[string][]string{
		"WS0000": {laps.AttrLegacyPassword: {legacyPw}, laps.AttrLegacyExpiration: {expires}},
		"WS0001": {laps.AttrPassword: {`{"n":"Administrator","t":"1dc3c6e5f2a1b00","p":"` + strings.ReplaceAll(clearPw, `"`, `\"`) + `"}`},
			laps.AttrExpiration: {expires}},
		"WS0002": {laps.AttrEncryptedPassword: {string(enc)}, laps.AttrExpiration: {expires}},
		"WS0004": {laps.AttrPassword: {`{"n":"WLapsAdmin","t":"1dc3c6e5f2a1b00","p":"` + customPw + `"}`}},
	}
	for name, kv := range values {
		require.NoError(t, addc.SetAttributes(admin, "CN="+name+","+addc.WorkstationsOU, kv))
	}
	filter := "(|(cn=WS0000)(cn=WS0001)(cn=WS0002)(cn=WS0004)(cn=WS0005))"
	discover := func(opts *LAPSOptions) map[string]Host {
		hosts, err := source(func(s *LDAPSource) { s.Filter = filter; s.LAPS = opts }).Discover(ctx)
		require.NoError(t, err)
		require.Len(t, hosts, 5)
		out := map[string]Host{}
		for _, h := range hosts {
			out[strings.ToUpper(strings.TrimSuffix(h.Name, "."+addc.Zone))] = h
		}
		return out
	}

	got := discover(&LAPSOptions{Keys: keys})
	tests := []struct {
		name     string
		source   laps.Source
		account  string
		password string
		expires  bool
		filtered bool
	}{
		{"WS0000", laps.Legacy, "", legacyPw, true, false},
		{"WS0001", laps.Clear, "Administrator", clearPw, true, false},
		{"WS0002", laps.Encrypted, lapstest.WindowsAccount, lapstest.WindowsPassword, true, false},
		{"WS0004", laps.Clear, "WLapsAdmin", customPw, false, true},
	}
	var secrets []string
	for _, tc := range tests {
		h := got[tc.name]
		require.NotNil(t, h.LAPS, tc.name)
		assert.NoError(t, h.LAPSError, tc.name)
		assert.Equal(t, tc.source, h.LAPS.Source, tc.name)
		assert.Equal(t, tc.account, h.LAPS.Account, tc.name)
		assert.Equal(t, tc.password, h.LAPS.Password.Reveal(), tc.name)
		assert.Equal(t, tc.expires, !h.LAPS.Expires.IsZero(), tc.name)
		assert.Equal(t, tc.source.String(), h.Attrs["laps"], tc.name)
		assert.Equal(t, tc.filtered, errors.Is(h.LAPS.CheckRemoteAdmin(), laps.ErrFilteredAccount), tc.name)
		for _, c := range fleet {
			if c.Name == tc.name {
				assert.Equal(t, c.Addr, h.Addr, tc.name)
			}
		}
		secrets = append(secrets, tc.password)
	}
	none := got["WS0005"]
	assert.Nil(t, none.LAPS)
	assert.NoError(t, none.LAPSError)
	assert.NotContains(t, none.Attrs, "laps")

	t.Run("a discovered host never prints its password", func(t *testing.T) {
		for _, tc := range tests {
			h := got[tc.name]
			secrettest.AssertHidden(t, h, secrets...)
			secrettest.AssertHidden(t, &h, secrets...)
			secrettest.AssertHidden(t, h.LAPS, secrets...)
			out := secrettest.AssertHidden(t, *h.LAPS, secrets...)
			// The encoders did print the credential, without its password.
			for _, enc := range []string{"json", "xml", "slog JSON", "slog text", "%#v"} {
				assert.Contains(t, out[enc], h.LAPS.Computer, "%s of %s", enc, tc.name)
			}
		}
		all := make([]Host, 0, len(got))
		for _, h := range got {
			all = append(all, h)
		}
		out := secrettest.AssertHidden(t, all, secrets...)
		assert.Contains(t, out["%+v"], "WLapsAdmin", "the account name is no secret")
	})

	t.Run("only the forms asked for", func(t *testing.T) {
		got := discover(&LAPSOptions{Forms: []laps.Source{laps.Legacy}})
		require.NotNil(t, got["WS0000"].LAPS)
		for _, name := range []string{"WS0001", "WS0002", "WS0004", "WS0005"} {
			assert.Nil(t, got[name].LAPS, name)
			assert.NoError(t, got[name].LAPSError, name)
		}
	})

	t.Run("Samba 4.17 has no group key service: the encrypted form carries why", func(t *testing.T) {
		got := discover(&LAPSOptions{GKDI: laps.GKDIConfig{
			Credentials: smb.Credentials{User: "Administrator", Domain: addc.Domain, Password: addc.AdminPassword},
			Dial:        dc.Dial, RequestTimeout: 20 * time.Second,
		}})
		h := got["WS0002"]
		assert.Nil(t, h.LAPS)
		require.Error(t, h.LAPSError)
		assert.ErrorIs(t, h.LAPSError, laps.ErrNoKeyService)
		assert.NotContains(t, h.LAPSError.Error(), addc.AdminPassword)
		// The other forms need no key service.
		assert.Equal(t, clearPw, got["WS0001"].LAPS.Password.Reveal())
		assert.Equal(t, legacyPw, got["WS0000"].LAPS.Password.Reveal())
		t.Logf("%v", h.LAPSError)
	})
}
