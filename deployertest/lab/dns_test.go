package lab

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkResolver runs the lookup table against r.
func checkResolver(t *testing.T, r *net.Resolver) {
	t.Helper()
	tests := []struct {
		name, network, host string
		want                []netip.Addr
		notFound            bool
	}{
		{name: "A", network: "ip4", host: "host1.lab.test.", want: []netip.Addr{netip.MustParseAddr("10.1.0.1")}},
		{name: "A is case-insensitive", network: "ip4", host: "HOST1.Lab.Test.",
			want: []netip.Addr{netip.MustParseAddr("10.1.0.1")}},
		{name: "several A", network: "ip4", host: "multi.lab.test.",
			want: []netip.Addr{netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3")}},
		{name: "AAAA", network: "ip6", host: "host1.lab.test.", want: []netip.Addr{netip.MustParseAddr("fd00::1")}},
		{name: "NXDOMAIN", network: "ip4", host: "missing.lab.test.", notFound: true},
		{name: "no address of the family", network: "ip4", host: "v6only.lab.test.", notFound: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := r.LookupNetIP(ctx, tc.network, tc.host)
			if tc.notFound {
				var de *net.DNSError
				require.ErrorAs(t, err, &de)
				assert.True(t, de.IsNotFound, "%v", err)
				return
			}
			require.NoError(t, err)
			assert.ElementsMatch(t, tc.want, got)
		})
	}
}

var testRecords = map[string][]netip.Addr{
	"host1.lab.test":   {netip.MustParseAddr("10.1.0.1"), netip.MustParseAddr("fd00::1")},
	"multi.lab.test.":  {netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3")},
	"v6only.lab.test.": {netip.MustParseAddr("fd00::2")},
}

func TestDNS(t *testing.T) {
	d := StartDNS(t, testRecords)
	checkResolver(t, d.Resolver())
	assert.Positive(t, d.Queries())

	t.Run("TCP and rcodes on the wire", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			qtype uint16
			rcode int
			count int
		}{
			{"host1.lab.test.", dns.TypeA, dns.RcodeSuccess, 1},
			{"v6only.lab.test.", dns.TypeA, dns.RcodeSuccess, 0},
			{"missing.lab.test.", dns.TypeA, dns.RcodeNameError, 0},
		} {
			for _, proto := range []string{"udp", "tcp"} {
				c := dns.Client{Net: proto, Timeout: 5 * time.Second}
				m := new(dns.Msg)
				m.SetQuestion(tc.name, tc.qtype)
				resp, _, err := c.Exchange(m, d.Addr())
				require.NoError(t, err, "%s over %s", tc.name, proto)
				assert.Equal(t, tc.rcode, resp.Rcode, "%s over %s", tc.name, proto)
				assert.Len(t, resp.Answer, tc.count, "%s over %s", tc.name, proto)
				assert.True(t, resp.Authoritative)
			}
		}
	})
}

func TestDNSInNamespace(t *testing.T) {
	t.Parallel()
	n := NewNet(t)
	h := n.AddHost(t, "dns")
	d := h.StartDNS(t, testRecords)
	assert.Equal(t, netip.AddrPortFrom(h.Addr, 53).String(), d.Addr())
	checkResolver(t, n.Resolver(d.Addr()))
}
