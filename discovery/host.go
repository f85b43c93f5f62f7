package discovery

import (
	"net/netip"

	"github.com/nxdeploy/deployer/laps"
)

// Host is one computer found by a source, in the Deployer documentation's first state,
// Discovered. Hosts from every source (CSV, Active Directory, address range)
// have this one shape, so Probe and Deploy take them alike.
type Host struct {
	// Name is the computer's name as the source knows it: the Deployer documentation's
	// BIOS_NAME for CSV, the DNS host name (or cn) for Active Directory. It is
	// empty when only an address is known.
	Name string
	// Addr is the host's address; the zero Addr means "resolve Name later".
	Addr netip.Addr
	// Source says where the host came from, e.g. "csv:hosts.csv:12",
	// "ldap:ldaps://dc1.lab.test", "range:10.0.0.0/24".
	Source string
	// Attrs holds what the source knows besides name and address, under
	// lower-case keys such as "os", "os_version", "dns_host_name",
	// "last_logon".
	Attrs map[string]string
	// Err is a per-host discovery problem (for example a typed dns resolution
	// failure for a computer whose name does not resolve). The host is still
	// returned, so the operator sees it.
	Err error
	// LAPS is the computer's local administrator credential that LAPS
	// keeps in Active Directory, when the LDAP source was asked to read it
	// (LDAPSource.LAPS) and could: the Deployer logs on to this host with
	// it. It never prints or marshals its password, and encoding/json
	// leaves the field out altogether.
	LAPS *laps.Credential `json:"-"`
	// LAPSError is why the computer's LAPS password could not be read (a
	// malformed value, an encrypted one the key service would not
	// decrypt); nil when it was read or LAPS does not manage the computer.
	LAPSError error `json:"-"`
}

// Target returns the string to connect to: the address when known, else the
// name.
func (h Host) Target() string {
	if h.Addr.IsValid() {
		return h.Addr.String()
	}
	return h.Name
}

// Label returns the name when known, else the address: the host's name in
// logs and errors.
func (h Host) Label() string {
	if h.Name != "" {
		return h.Name
	}
	return h.Addr.String()
}
