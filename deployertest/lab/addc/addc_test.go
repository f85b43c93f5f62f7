package addc

import (
	"encoding/base64"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDNSRecordA(t *testing.T) {
	// What `samba-tool dns add 10.177.0.1 lab.test st1 A 10.177.1.1` stored
	// (read back with ldapsearch): serial 2, TTL 900.
	want, err := base64.StdEncoding.DecodeString("BAABAAXwAAACAAAAAAADhAAAAAAAAAAACrEBAQ==")
	assert.NoError(t, err)
	assert.Equal(t, want, DNSRecordA(netip.MustParseAddr("10.177.1.1"), 900, 2))
}

func TestFleetShape(t *testing.T) {
	cs := Fleet()
	assert.Len(t, cs, FleetSize)
	var ws, kiosks, disabled, noDNS, disabledNoDNS int
	names := map[string]bool{}
	addrs := map[netip.Addr]bool{}
	for _, c := range cs {
		assert.False(t, names[c.Name], c.Name)
		names[c.Name] = true
		switch c.Parent {
		case WorkstationsOU:
			ws++
		case KiosksOU:
			kiosks++
		default:
			t.Errorf("%s in %s", c.Name, c.Parent)
		}
		if c.Disabled {
			disabled++
		}
		if !c.Addr.IsValid() {
			noDNS++
			if c.Disabled {
				disabledNoDNS++
			}
		} else {
			assert.False(t, addrs[c.Addr], c.Addr)
			addrs[c.Addr] = true
		}
	}
	assert.Equal(t, FleetWorkstations, ws)
	assert.Equal(t, FleetSize-FleetWorkstations, kiosks)
	assert.Equal(t, FleetDisabled, disabled)
	assert.Equal(t, FleetNoDNS, noDNS)
	assert.Zero(t, disabledNoDNS)
	assert.Equal(t, "CN=KIOSK000,OU=Kiosks,OU=Workstations,DC=lab,DC=test", cs[FleetWorkstations].DN())
}
