package smb

import (
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"

	smb2 "github.com/oiweiwei/go-smb2.fork"
)

// OSVersion is the Windows version a server announces in the VERSION field
// of its NTLM CHALLENGE_MESSAGE ([MS-NLMP] 2.2.2.10).
type OSVersion struct {
	Major uint8  // 10 for Windows 10, 11 and Server 2016 and later
	Minor uint8  // 0 for Windows 10 and later
	Build uint16 // e.g. 19045, 22631, 26100
}

// IsZero reports whether the server sent no version.
func (v OSVersion) IsZero() bool { return v == OSVersion{} }

// String formats the version as "10.0.19041", or "" when none was sent.
func (v OSVersion) String() string {
	if v.IsZero() {
		return ""
	}
	return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Build)
}

// Name returns a readable product name for the version, such as
// "Windows 10.0 Build 19041" (the same wording as NetExec and smbclient), or
// "" when the server sent no version.
func (v OSVersion) Name() string {
	if v.IsZero() {
		return ""
	}
	return fmt.Sprintf("Windows %d.%d Build %d", v.Major, v.Minor, v.Build)
}

// ServerIdentity is what a server says about itself in its NTLM
// CHALLENGE_MESSAGE, before any credential is checked: the same facts
// `nxc smb` and `nmap smb-os-discovery` print.
type ServerIdentity struct {
	// NetBIOSName is the computer's NetBIOS name (MsvAvNbComputerName).
	NetBIOSName string
	// NetBIOSDomain is the NetBIOS domain or workgroup (MsvAvNbDomainName).
	NetBIOSDomain string
	// DNSName is the computer's DNS name (MsvAvDnsComputerName).
	DNSName string
	// DNSDomain is the DNS domain (MsvAvDnsDomainName).
	DNSDomain string
	// DNSForest is the DNS forest (MsvAvDnsTreeName).
	DNSForest string
	// OS is the version from the message's VERSION field.
	OS OSVersion
}

// NTLM message constants from [MS-NLMP] 2.2.
const (
	ntlmChallengeType       = 2
	ntlmNegotiateVersion    = 0x02000000
	ntlmChallengeMinLen     = 48
	ntlmChallengeVersionEnd = 56

	avEOL            = 0
	avNbComputerName = 1
	avNbDomainName   = 2
	avDNSComputer    = 3
	avDNSDomain      = 4
	avDNSTree        = 5
)

var ntlmSignature = []byte("NTLMSSP\x00")

// errNotChallenge reports a token that is not an NTLM CHALLENGE_MESSAGE.
var errNotChallenge = errors.New("smb: not an NTLM CHALLENGE_MESSAGE")

// ParseChallenge reads the server identity from an NTLM CHALLENGE_MESSAGE
// ([MS-NLMP] 2.2.1.2): the target info AV pairs and the VERSION field. It
// never panics on malformed input; it returns what it could read and an
// error when the message is not a challenge or its fields point outside it.
func ParseChallenge(msg []byte) (ServerIdentity, error) {
	var id ServerIdentity
	if len(msg) < ntlmChallengeMinLen || string(msg[:8]) != string(ntlmSignature) {
		return id, errNotChallenge
	}
	le := binary.LittleEndian
	if le.Uint32(msg[8:12]) != ntlmChallengeType {
		return id, errNotChallenge
	}
	flags := le.Uint32(msg[20:24])
	if flags&ntlmNegotiateVersion != 0 && len(msg) >= ntlmChallengeVersionEnd {
		id.OS = OSVersion{Major: msg[48], Minor: msg[49], Build: le.Uint16(msg[50:52])}
	}
	infoLen := int(le.Uint16(msg[40:42]))
	infoOff := int(le.Uint32(msg[44:48]))
	if infoLen == 0 {
		return id, nil
	}
	if infoOff < 0 || infoOff > len(msg) || infoLen > len(msg)-infoOff {
		return id, fmt.Errorf("smb: NTLM target info (offset %d, length %d) outside a %d-byte message", infoOff, infoLen, len(msg))
	}
	info := msg[infoOff : infoOff+infoLen]
	for len(info) >= 4 {
		avID := le.Uint16(info[0:2])
		avLen := int(le.Uint16(info[2:4]))
		if avID == avEOL {
			return id, nil
		}
		if avLen > len(info)-4 {
			return id, fmt.Errorf("smb: NTLM AV pair %d of length %d overruns the target info", avID, avLen)
		}
		val := info[4 : 4+avLen]
		switch avID {
		case avNbComputerName:
			id.NetBIOSName = decodeUTF16(val)
		case avNbDomainName:
			id.NetBIOSDomain = decodeUTF16(val)
		case avDNSComputer:
			id.DNSName = decodeUTF16(val)
		case avDNSDomain:
			id.DNSDomain = decodeUTF16(val)
		case avDNSTree:
			id.DNSForest = decodeUTF16(val)
		}
		info = info[4+avLen:]
	}
	return id, nil
}

func decodeUTF16(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// identityInitiator is go-smb2's NTLM initiator with one addition: it keeps
// the server's CHALLENGE_MESSAGE so the session can report who the server
// says it is. go-smb2 wraps any non-SPNEGO initiator in its own SPNEGO
// client, which hands this one the bare NTLM token.
type identityInitiator struct {
	ntlm      *smb2.NTLMInitiator
	challenge []byte
}

var _ smb2.Initiator = (*identityInitiator)(nil)

func newIdentityInitiator(c Credentials) *identityInitiator {
	domain := c.Domain
	if domain == "." {
		domain = ""
	}
	return &identityInitiator{ntlm: &smb2.NTLMInitiator{
		User:     c.User,
		Password: c.Password,
		Hash:     c.NTHash,
		Domain:   domain,
	}}
}

func (i *identityInitiator) OID() asn1.ObjectIdentifier { return i.ntlm.OID() }

func (i *identityInitiator) InitSecContext() ([]byte, error) { return i.ntlm.InitSecContext() }

func (i *identityInitiator) AcceptSecContext(sc []byte) ([]byte, error) {
	i.challenge = append(i.challenge[:0], sc...)
	return i.ntlm.AcceptSecContext(sc)
}

func (i *identityInitiator) Sum(bs []byte) []byte { return i.ntlm.Sum(bs) }

func (i *identityInitiator) SessionKey() []byte { return i.ntlm.SessionKey() }

// identity parses the challenge the server sent, if any.
func (i *identityInitiator) identity() ServerIdentity {
	id, _ := ParseChallenge(i.challenge)
	return id
}
