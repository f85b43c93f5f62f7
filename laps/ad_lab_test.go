package laps

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/deployertest/lab/addc"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

const (
	rootKeysDN  = "CN=Master Root Keys,CN=Group Key Distribution Service,CN=Services,CN=Configuration," + addc.BaseDN
	lapsReader  = "lapsreader"
	lapsReadPwd = "Rdr-Passw0rd!x"
)

// search reads every computer's LAPS attributes as the discovery's LDAP
// source reads computers: a paged subtree search, attributes by name.
func search(t *testing.T, l *ldap.Conn) map[string]Attributes {
	t.Helper()
	req := ldap.NewSearchRequest(addc.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(objectCategory=computer)", append([]string{"name"}, AttributeNames...), nil)
	res, err := l.SearchWithPaging(req, 100)
	require.NoError(t, err)
	out := map[string]Attributes{}
	for _, e := range res.Entries {
		a := Attributes{}
		for _, name := range AttributeNames {
			if v := e.GetRawAttributeValues(name); len(v) > 0 {
				a[name] = v
			}
		}
		out[e.GetAttributeValue("name")] = a
	}
	return out
}

func dnOf(name string) string { return "CN=" + name + "," + addc.WorkstationsOU }

// TestSambaAD stores each LAPS form on computers of a Samba AD domain
// controller with the LAPS schema added, reads them back over LDAP, and
// checks what an account without LAPS rights sees.
func TestSambaAD(t *testing.T) {
	lab.Require(t, "root", "netns", "samba-tool", "samba", "ldbadd")
	n := lab.NewNet(t)
	var computers []addc.Computer
	for _, name := range []string{"PC-LEGACY", "PC-CLEAR", "PC-WINDOWS", "PC-ROOTKEY", "PC-NONE", "PC-CUSTOM"} {
		computers = append(computers, addc.Computer{Name: name, Parent: addc.WorkstationsOU,
			DNSHostName: strings.ToLower(name) + "." + addc.Zone, OS: "Windows 11 Enterprise", OSVersion: "10.0 (22631)",
			LastLogon: addc.FleetEpoch})
	}
	dc := addc.StartWith(t, n, "dc", computers, addc.Options{Global: []string{addc.SchemaUpdateAllowed}})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, err := dc.Conn(ctx)
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, addc.ExtendLAPSSchema(admin))

	// The values, as each LAPS writes them.
	enc, env := windowsLAPS(t)
	rkAttrs := rootKeyAttributes(t, "kdf_sha256_ecdh_p384.json")
	rk, err := ParseRootKey(rkAttrs)
	require.NoError(t, err)
	ownBlob := protectLAPS(t, rk, "S-1-5-21-1-2-3-512", `{"n":"Administrator","t":"1db0000000000000","p":"R00tKey-pw"}`, 371, 3, 7)
	set := func(name string, kv map[string][]string) {
		require.NoError(t, addc.SetAttributes(admin, dnOf(name), kv))
	}
	set("PC-LEGACY", map[string][]string{AttrLegacyPassword: {"Leg@cy-9x!"}, AttrLegacyExpiration: {"134100000000000000"}})
	set("PC-CLEAR", map[string][]string{AttrPassword: {`{"n":"Administrator","t":"1dc3c6e5f2a1b00","p":"Cl3ar#{pw}\"q"}`}, AttrExpiration: {"134100000000000000"}})
	set("PC-WINDOWS", map[string][]string{AttrEncryptedPassword: {string(enc)}, AttrExpiration: {"134100000000000000"}})
	set("PC-ROOTKEY", map[string][]string{AttrEncryptedPassword: {string(ownBlob)}})
	set("PC-CUSTOM", map[string][]string{AttrPassword: {`{"n":"WLapsAdmin","t":"1dc3c6e5f2a1b00","p":"Cust0m!"}`}})

	// The KDS root key object, as Add-KdsRootKey creates it.
	for _, dn := range []string{"CN=Group Key Distribution Service,CN=Services,CN=Configuration," + addc.BaseDN, rootKeysDN} {
		req := ldap.NewAddRequest(dn, nil)
		req.Attribute("objectClass", []string{"top", "container"})
		if err := admin.Add(req); err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultEntryAlreadyExists) {
			require.NoError(t, err, dn)
		}
	}
	rkReq := ldap.NewAddRequest("CN="+rk.ID()+","+rootKeysDN, nil)
	rkReq.Attribute("objectClass", []string{"top", "msKds-ProvRootKey"})
	for _, name := range RootKeyAttributeNames {
		var vals []string
		for _, v := range rkAttrs[name] {
			if len(v) > 0 {
				vals = append(vals, string(v))
			}
		}
		if len(vals) > 0 {
			rkReq.Attribute(name, vals)
		}
	}
	rkReq.Attribute("msKds-Version", []string{"1"})
	rkReq.Attribute("msKds-CreateTime", []string{"133000000000000000"})
	rkReq.Attribute("msKds-UseStartTime", []string{"133000000000000000"})
	rkReq.Attribute("msKds-DomainID", []string{"CN=DC1,OU=Domain Controllers," + addc.BaseDN})
	require.NoError(t, admin.Add(rkReq))

	t.Run("administrator reads every form", func(t *testing.T) {
		got := search(t, admin)
		// The KDS root key, read back over LDAP.
		res, err := admin.Search(ldap.NewSearchRequest(rootKeysDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
			"(objectClass=msKds-ProvRootKey)", RootKeyAttributeNames, nil))
		require.NoError(t, err)
		require.Len(t, res.Entries, 1)
		ra := Attributes{}
		for _, name := range RootKeyAttributeNames {
			ra[name] = res.Entries[0].GetRawAttributeValues(name)
		}
		readKey, err := ParseRootKey(ra)
		require.NoError(t, err)
		assert.Equal(t, rk.ID(), readKey.ID())

		tests := []struct {
			name     string
			keys     KeySource
			source   Source
			account  string
			password string
			expires  bool
		}{
			{"PC-LEGACY", nil, Legacy, "", "Leg@cy-9x!", true},
			{"PC-CLEAR", nil, Clear, "Administrator", `Cl3ar#{pw}"q`, true},
			{"PC-WINDOWS", env, Encrypted, "Administrator", "Z}-FQ5ZjuB+4Yg", true},
			{"PC-ROOTKEY", readKey, Encrypted, "Administrator", "R00tKey-pw", false},
			{"PC-CUSTOM", nil, Clear, "WLapsAdmin", "Cust0m!", false},
		}
		for _, tc := range tests {
			c, err := Read(ctx, tc.name, got[tc.name], tc.keys)
			require.NoError(t, err, tc.name)
			assert.Equal(t, tc.source, c.Source, tc.name)
			assert.Equal(t, tc.account, c.Account, tc.name)
			assert.Equal(t, tc.password, c.Password.Reveal(), tc.name)
			assert.Equal(t, tc.expires, !c.Expires.IsZero(), tc.name)
		}
		_, err = Read(ctx, "PC-NONE", got["PC-NONE"], nil)
		assert.ErrorIs(t, err, ErrNoPassword)
		c, err := Read(ctx, "PC-CUSTOM", got["PC-CUSTOM"], nil)
		require.NoError(t, err)
		assert.ErrorIs(t, c.CheckRemoteAdmin(), ErrFilteredAccount)
	})

	t.Run("a user without LAPS rights sees none", func(t *testing.T) {
		_, err := dc.SambaTool(ctx, "user", "create", lapsReader, lapsReadPwd)
		require.NoError(t, err)
		raw, err := dc.Dial(ctx, "tcp", netip.AddrPortFrom(dc.Addr, 389).String())
		require.NoError(t, err)
		l := ldap.NewConn(raw, false)
		l.Start()
		defer l.Close()
		require.NoError(t, l.Bind(lapsReader+"@"+addc.Zone, lapsReadPwd))
		got := search(t, l)
		require.Contains(t, got, "PC-CLEAR")
		for _, name := range []string{"PC-LEGACY", "PC-CLEAR", "PC-WINDOWS", "PC-ROOTKEY"} {
			_, err := Read(ctx, name, got[name], envelopeSource(nil))
			assert.ErrorIs(t, err, ErrNoPassword, name)
		}
		// The expiration times are not confidential (searchFlags 0).
		assert.NotEmpty(t, got["PC-CLEAR"][AttrExpiration])
	})

	t.Run("Samba 4.17 serves no group key service", func(t *testing.T) {
		_, err := DialGKDI(ctx, dc.Addr.String(), GKDIConfig{
			Credentials: smb.Credentials{User: "Administrator", Domain: addc.Domain, Password: addc.AdminPassword},
			Dial:        dc.Dial, RequestTimeout: 20 * time.Second,
		})
		require.Error(t, err)
		de, ok := derrors.As(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, StepKeyService, de.Step)
		assert.ErrorIs(t, err, ErrNoKeyService)
		t.Logf("%v", err)
	})
}
