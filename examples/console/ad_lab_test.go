package main

import (
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/deployertest/lab/addc"
)

// TestCollectionFromActiveDirectory fills the "From Active Directory" form
// against a Samba AD domain controller: LDAP URL, base OU, filter, bind
// account and password (StartTLS with the pasted CA, and plain LDAP). The
// computers the filter selects become a collection, resolved through the
// DC's DNS; a wrong bind password, an unknown base and an unreachable
// directory each show a clear error on the page, and no page ever shows
// the bind password.
func TestCollectionFromActiveDirectory(t *testing.T) {
	lab.Require(t, "root", "netns", "samba-tool", "samba", "ldbadd")
	n := lab.NewNet(t)
	var computers []addc.Computer
	for i, name := range []string{"PC01", "PC02", "PC03", "PC04", "PC05"} {
		c := addc.Computer{Name: name, Parent: addc.WorkstationsOU, DNSHostName: strings.ToLower(name) + "." + addc.Zone,
			OS: "Windows 11 Enterprise", OSVersion: "10.0 (22631)", LastLogon: addc.FleetEpoch,
			Addr: netip.AddrFrom4([4]byte{10, 250, 0, byte(i + 1)})}
		switch name {
		case "PC04":
			c.OS, c.OSVersion = "Windows 10 Pro", "10.0 (19045)"
		case "PC05":
			c.Disabled = true
		}
		computers = append(computers, c)
	}
	dc := addc.Start(t, n, "dc", computers)

	c, srv := startConsoleWith(t, consoleOptions{LDAPDial: dc.Dial, LDAPResolver: dc.Resolver()})
	cl := newClient(t, srv.URL)
	tok := cl.login()
	const wrongPw = "Not-The-Bind-Pw!7"
	form := func(mod func(url.Values)) url.Values {
		v := url.Values{"csrf": {tok}, "name": {"Lab workstations"}, "url": {dc.LDAPURL(false)},
			"base": {addc.WorkstationsOU}, "filter": {"(operatingSystem=Windows 11*)"},
			"bind_user": {addc.AdminUPN}, "bind_password": {addc.AdminPassword}, "ca": {string(dc.CAPEM)}}
		if mod != nil {
			mod(v)
		}
		return v
	}
	var pages []string
	post := func(v url.Values) (int, string) {
		resp, body := cl.post("/collections/ldap", v)
		body = html.UnescapeString(body)
		pages = append(pages, body)
		return resp.StatusCode, body
	}

	t.Run("StartTLS with the CA: the filter's computers", func(t *testing.T) {
		code, body := post(form(nil))
		require.Equal(t, http.StatusOK, code, body)
		assert.Contains(t, body, "Lab workstations")
		assert.Contains(t, body, "Active Directory "+dc.LDAPURL(false)+": 3 computers")
		_, home := cl.get("/")
		pages = append(pages, home)
		for _, name := range []string{"pc01.lab.test", "pc02.lab.test", "pc03.lab.test"} {
			assert.Contains(t, home, name)
		}
		assert.NotContains(t, home, "pc04.lab.test", "left out by the filter")
		assert.NotContains(t, home, "pc05.lab.test", "disabled")
		c.mu.Lock()
		h, ok := c.hosts["pc01.lab.test"]
		c.mu.Unlock()
		require.True(t, ok, "the console keeps the discovered host")
		assert.Equal(t, "10.250.0.1", h.Addr.String(), "resolved through the DC's DNS")
	})

	t.Run("plain LDAP, no filter", func(t *testing.T) {
		code, body := post(form(func(v url.Values) {
			v.Set("name", "All workstations")
			v.Set("filter", "")
			v.Del("ca")
			v.Set("plain", "on")
		}))
		require.Equal(t, http.StatusOK, code, body)
		assert.Contains(t, body, "Active Directory "+dc.LDAPURL(false)+": 4 computers")
	})

	tests := []struct {
		name   string
		mod    func(url.Values)
		status int
		want   []string
	}{
		{"wrong bind password", func(v url.Values) { v.Set("bind_password", wrongPw) }, http.StatusBadGateway,
			[]string{"Active Directory: ", "logon failure", "52e"}},
		{"unknown base", func(v url.Values) { v.Set("base", "OU=Nowhere,"+addc.BaseDN) }, http.StatusBadGateway,
			[]string{"Active Directory: ", `the base DN "OU=Nowhere,` + addc.BaseDN + `" is not in the directory`}},
		{"no directory there", func(v url.Values) { v.Set("url", "ldap://10.1.255.1:3899") }, http.StatusBadGateway,
			[]string{"Active Directory: ", "10.1.255.1"}},
		{"no URL", func(v url.Values) { v.Set("url", " ") }, http.StatusBadRequest, []string{"give the directory's LDAP URL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c.mu.Lock()
			before := len(c.collections)
			c.mu.Unlock()
			code, body := post(form(tc.mod))
			assert.Equal(t, tc.status, code)
			for _, w := range tc.want {
				assert.Contains(t, strings.ToLower(body), strings.ToLower(w))
			}
			c.mu.Lock()
			assert.Len(t, c.collections, before, "no collection made")
			c.mu.Unlock()
		})
	}

	for _, p := range pages {
		assert.NotContains(t, p, addc.AdminPassword, "a page shows the bind password")
		assert.NotContains(t, p, wrongPw, "a page shows the wrong bind password")
	}
}
