package addc

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// The standard fleet's containers.
const (
	// WorkstationsOU holds the workstations and the Kiosks OU.
	WorkstationsOU = "OU=Workstations," + BaseDN
	// KiosksOU is nested in WorkstationsOU.
	KiosksOU = "OU=Kiosks," + WorkstationsOU
	// DNSZoneDN is where the zone's dnsNode objects live.
	DNSZoneDN = "DC=" + Zone + ",CN=MicrosoftDNS,DC=DomainDnsZones," + BaseDN
)

// The standard fleet's shape; tests assert these exact counts.
const (
	// FleetSize is the number of computer objects in Fleet.
	FleetSize = 2500
	// FleetWorkstations are WS0000..WS2299 in WorkstationsOU; the rest are
	// KIOSK000..KIOSK199 in KiosksOU.
	FleetWorkstations = 2300
	// FleetDisabled computers (every tenth: index%10 == 9) have
	// userAccountControl 4098 (disabled workstation trust account).
	FleetDisabled = 250
	// FleetNoDNS computers (index%25 == 3, all enabled) have no A record.
	FleetNoDNS = 100
)

// FleetEpoch is the fleet's "now": computer i last logged on (i%100) days
// before it.
var FleetEpoch = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// Computer is one computer object of a fleet, with what the directory and
// DNS will say about it.
type Computer struct {
	// Name is the cn and NetBIOS name, e.g. "WS0042".
	Name string
	// Parent is the DN of the OU holding it.
	Parent string
	// Disabled sets ACCOUNTDISABLE in userAccountControl.
	Disabled bool
	// DNSHostName is "ws0042.lab.test".
	DNSHostName string
	// Addr is its DNS A record, or the zero Addr when it has none.
	Addr netip.Addr
	// OS and OSVersion fill operatingSystem and operatingSystemVersion.
	OS, OSVersion string
	// LastLogon fills lastLogonTimestamp.
	LastLogon time.Time
}

// DN returns the computer's distinguished name.
func (c Computer) DN() string { return "CN=" + c.Name + "," + c.Parent }

// Fleet returns the standard fleet of FleetSize computers (see the Fleet*
// constants). Addresses are in 10.250.0.0/16: they are only DNS data and
// never dialled.
func Fleet() []Computer {
	cs := make([]Computer, FleetSize)
	for i := range cs {
		c := Computer{
			Disabled:  i%10 == 9,
			OS:        "Windows 11 Enterprise",
			OSVersion: "10.0 (22631)",
			LastLogon: FleetEpoch.Add(-time.Duration(i%100) * 24 * time.Hour),
		}
		if i%3 == 0 {
			c.OS, c.OSVersion = "Windows 10 Pro", "10.0 (19045)"
		}
		if i < FleetWorkstations {
			c.Name, c.Parent = fmt.Sprintf("WS%04d", i), WorkstationsOU
		} else {
			c.Name, c.Parent = fmt.Sprintf("KIOSK%03d", i-FleetWorkstations), KiosksOU
		}
		c.DNSHostName = strings.ToLower(c.Name) + "." + Zone
		if i%25 != 3 {
			c.Addr = netip.AddrFrom4([4]byte{10, 250, byte(i / 250), byte(i%250 + 1)})
		}
		cs[i] = c
	}
	return cs
}

// filetime converts t to a Windows FILETIME.
func filetime(t time.Time) int64 {
	return (t.Unix()+11644473600)*10_000_000 + int64(t.Nanosecond())/100
}

// DNSRecordA encodes an A record as AD stores it in a dnsNode's dnsRecord
// attribute ([MS-DNSP] 2.3.2.2): little-endian DataLength and Type, Version
// 5, Rank 0xF0 (zone), Flags, Serial, then TtlSeconds big-endian, Reserved,
// TimeStamp 0 (a static record), and the four address bytes.
func DNSRecordA(a netip.Addr, ttl uint32, serial uint32) []byte {
	b := make([]byte, 24+4)
	binary.LittleEndian.PutUint16(b[0:], 4) // DataLength
	binary.LittleEndian.PutUint16(b[2:], 1) // Type A
	b[4] = 5                                // Version
	b[5] = 0xF0                             // Rank: RANK_ZONE
	binary.LittleEndian.PutUint16(b[6:], 0) // Flags
	binary.LittleEndian.PutUint32(b[8:], serial)
	binary.BigEndian.PutUint32(b[12:], ttl)
	// Reserved (16:20) and TimeStamp (20:24) stay zero.
	a4 := a.As4()
	copy(b[24:], a4[:])
	return b
}

// WriteLDIF writes the OUs, the computers and their DNS A records as LDIF
// for ldbadd.
func WriteLDIF(w io.Writer, computers []Computer) (records int, err error) {
	bw := bufio.NewWriter(w)
	for _, ou := range []string{WorkstationsOU, KiosksOU} {
		fmt.Fprintf(bw, "dn: %s\nobjectClass: organizationalUnit\n\n", ou)
	}
	for i, c := range computers {
		uac := 4096 // WORKSTATION_TRUST_ACCOUNT
		if c.Disabled {
			uac |= 2 // ACCOUNTDISABLE
		}
		fmt.Fprintf(bw, "dn: %s\nobjectClass: computer\nsAMAccountName: %s$\nuserAccountControl: %d\n"+
			"dNSHostName: %s\noperatingSystem: %s\noperatingSystemVersion: %s\n",
			c.DN(), c.Name, uac, c.DNSHostName, c.OS, c.OSVersion)
		if !c.LastLogon.IsZero() {
			fmt.Fprintf(bw, "lastLogonTimestamp: %d\n", filetime(c.LastLogon))
		}
		bw.WriteString("\n")
		if c.Addr.IsValid() {
			host := strings.TrimSuffix(c.DNSHostName, "."+Zone)
			fmt.Fprintf(bw, "dn: DC=%s,%s\nobjectClass: top\nobjectClass: dnsNode\ndnsRecord:: %s\n\n",
				host, DNSZoneDN, base64.StdEncoding.EncodeToString(DNSRecordA(c.Addr, 900, uint32(i+1))))
			records++
		}
	}
	return records, bw.Flush()
}
