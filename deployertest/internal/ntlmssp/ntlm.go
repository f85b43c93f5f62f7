package ntlmssp

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"errors"
	"github.com/nxdeploy/deployer/deployertest/internal/utf16le"
	"strings"
	"time"

	//lint:ignore SA1019 the NT hash of NTLM is MD4 by definition ([MS-NLMP] 3.3.1)
	"golang.org/x/crypto/md4"
)

// NTLM negotiate flags ([MS-NLMP] 2.2.2.5): Flag* name the bits of NEGOTIATE,
// CHALLENGE and AUTHENTICATE messages.
const (
	FlagUnicode       uint32 = 0x00000001
	FlagRequestTarget uint32 = 0x00000004
	FlagSign          uint32 = 0x00000010
	FlagSeal          uint32 = 0x00000020
	FlagNTLM          uint32 = 0x00000200
	FlagAnonymous     uint32 = 0x00000800
	FlagAlwaysSign    uint32 = 0x00008000
	FlagTargetDomain  uint32 = 0x00010000
	FlagTargetServer  uint32 = 0x00020000
	FlagESS           uint32 = 0x00080000
	FlagTargetInfo    uint32 = 0x00800000
	FlagVersion       uint32 = 0x02000000
	Flag128           uint32 = 0x20000000
	FlagKeyExch       uint32 = 0x40000000
	Flag56            uint32 = 0x80000000
)

// Signature opens every NTLMSSP message.
var Signature = []byte("NTLMSSP\x00")

// ErrMalformed is returned for an NTLMSSP message that does not parse.
var ErrMalformed = errors.New("ntlmssp: malformed NTLMSSP message")

// NTHash returns the NT one-way function of password ([MS-NLMP] 3.3.1):
// MD4 of its UTF-16LE encoding.
func NTHash(password string) [16]byte {
	h := md4.New()
	h.Write(utf16le.Encode(password))
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// Identity is what the server tells NTLM clients about itself.
type Identity struct {
	// NetBIOSName and NetBIOSDom are the computer's and its domain's (or
	// workgroup's) NetBIOS names; DNSName and DNSDomain their DNS names.
	NetBIOSName, NetBIOSDom string
	DNSName, DNSDomain      string
	// Major, Minor and Build are the Windows version given in CHALLENGE.
	Major, Minor byte
	Build        uint16
}

// Challenge is the server half of one NTLM exchange.
type Challenge struct {
	// Flags are the flags the CHALLENGE message offered.
	Flags uint32
	// Nonce is the server challenge.
	Nonce [8]byte
}

func (id *Identity) version() []byte {
	v := make([]byte, 8)
	v[0], v[1] = id.Major, id.Minor
	le.PutUint16(v[2:], id.Build)
	v[7] = 15
	return v
}

// BuildChallenge answers an NTLM NEGOTIATE message ([MS-NLMP] 2.2.1.2).
func BuildChallenge(id *Identity, negotiate []byte, challenge [8]byte, now time.Time) (*Challenge, []byte, error) {
	if len(negotiate) < 16 || !bytes.Equal(negotiate[:8], Signature) || le.Uint32(negotiate[8:]) != 1 {
		return nil, nil, ErrMalformed
	}
	cf := le.Uint32(negotiate[12:])
	flags := FlagUnicode | FlagRequestTarget | FlagNTLM | FlagAlwaysSign | FlagTargetDomain | FlagTargetInfo | FlagVersion
	flags |= cf & (FlagSign | FlagSeal | FlagESS | Flag128 | FlagKeyExch | Flag56)
	if flags&FlagESS == 0 {
		flags |= FlagESS
	}
	target := utf16le.Encode(id.NetBIOSDom)
	var ti bytes.Buffer
	av := func(id uint16, v []byte) {
		var h [4]byte
		le.PutUint16(h[:], id)
		le.PutUint16(h[2:], uint16(len(v)))
		ti.Write(h[:])
		ti.Write(v)
	}
	av(2, utf16le.Encode(id.NetBIOSDom))
	av(1, utf16le.Encode(id.NetBIOSName))
	av(4, utf16le.Encode(id.DNSDomain))
	av(3, utf16le.Encode(id.DNSName))
	av(5, utf16le.Encode(id.DNSDomain))
	ts := make([]byte, 8)
	le.PutUint64(ts, filetime(now))
	av(7, ts)
	av(0, nil)
	msg := make([]byte, 56, 56+len(target)+ti.Len())
	copy(msg, Signature)
	le.PutUint32(msg[8:], 2)
	le.PutUint16(msg[12:], uint16(len(target)))
	le.PutUint16(msg[14:], uint16(len(target)))
	le.PutUint32(msg[16:], 56)
	le.PutUint32(msg[20:], flags)
	copy(msg[24:32], challenge[:])
	le.PutUint16(msg[40:], uint16(ti.Len()))
	le.PutUint16(msg[42:], uint16(ti.Len()))
	le.PutUint32(msg[44:], uint32(56+len(target)))
	copy(msg[48:56], id.version())
	msg = append(msg, target...)
	msg = append(msg, ti.Bytes()...)
	return &Challenge{Flags: flags, Nonce: challenge}, msg, nil
}

// Authenticate is a parsed NTLM AUTHENTICATE message ([MS-NLMP] 2.2.1.3).
type Authenticate struct {
	// LMResponse and NTResponse are the client's challenge responses.
	LMResponse, NTResponse []byte
	// Domain, User and Workstation name the client's account and computer.
	Domain, User, Workstation string
	// EncKey is the encrypted random session key (key exchange).
	EncKey []byte
	// Flags are the negotiated flags the client sent.
	Flags uint32
}

// SecBuf returns the payload of the security buffer (length, allocated
// length, offset) at offset at of msg; false when it is out of range.
func SecBuf(msg []byte, at int) ([]byte, bool) {
	if len(msg) < at+8 {
		return nil, false
	}
	n := int(le.Uint16(msg[at:]))
	off := int(le.Uint32(msg[at+4:]))
	if n == 0 {
		return nil, true
	}
	if off < 0 || off > len(msg) || n > len(msg)-off {
		return nil, false
	}
	return msg[off : off+n], true
}

func ParseAuthenticate(msg []byte) (*Authenticate, error) {
	if len(msg) < 64 || !bytes.Equal(msg[:8], Signature) || le.Uint32(msg[8:]) != 3 {
		return nil, ErrMalformed
	}
	a := &Authenticate{Flags: le.Uint32(msg[60:])}
	fields := []*[]byte{&a.LMResponse, &a.NTResponse, nil, nil, nil, &a.EncKey}
	strs := []*string{nil, nil, &a.Domain, &a.User, &a.Workstation, nil}
	for i := range 6 {
		b, ok := SecBuf(msg, 12+8*i)
		if !ok {
			return nil, ErrMalformed
		}
		if fields[i] != nil {
			*fields[i] = b
		} else if a.Flags&FlagUnicode != 0 {
			*strs[i] = utf16le.Decode(b)
		} else {
			*strs[i] = string(b)
		}
	}
	return a, nil
}

// anonymous reports whether the message is an anonymous logon ([MS-NLMP] 3.2.5.1.2).
func (a *Authenticate) Anonymous() bool {
	return a.User == "" && len(a.NTResponse) == 0 && (len(a.LMResponse) == 0 || bytes.Equal(a.LMResponse, []byte{0}))
}

// VerifyNTLMv2 checks an NTLMv2 response against ntHash and returns the
// exported session key ([MS-NLMP] 3.3.2, 3.4.5.1).
func VerifyNTLMv2(a *Authenticate, ch *Challenge, ntHash [16]byte, extraDomains ...string) ([]byte, bool) {
	if len(a.NTResponse) < 16+28 {
		return nil, false
	}
	proof := a.NTResponse[:16]
	blob := a.NTResponse[16:]
	domains := append([]string{a.Domain}, extraDomains...)
	for _, d := range domains {
		m := hmac.New(md5.New, ntHash[:])
		m.Write(utf16le.Encode(strings.ToUpper(a.User) + d))
		respKey := m.Sum(nil)
		m = hmac.New(md5.New, respKey)
		m.Write(ch.Nonce[:])
		m.Write(blob)
		calc := m.Sum(nil)
		if !hmac.Equal(calc, proof) {
			continue
		}
		m = hmac.New(md5.New, respKey)
		m.Write(proof)
		base := m.Sum(nil)
		flags := ch.Flags & a.Flags
		if a.Flags&FlagKeyExch != 0 && ch.Flags&FlagKeyExch != 0 && len(a.EncKey) == 16 && flags&(FlagSign|FlagSeal) != 0 {
			c, err := rc4.NewCipher(base)
			if err != nil {
				return nil, false
			}
			key := make([]byte, 16)
			c.XORKeyStream(key, a.EncKey)
			return key, true
		}
		return base, true
	}
	return nil, false
}

// ServerMAC computes the server's NTLMSSP signature of msg with sequence
// number seq under extended session security ([MS-NLMP] 3.4.4.2).
func ServerMAC(exported []byte, flags uint32, seq uint32, msg []byte) []byte {
	sk := md5.Sum(append(append([]byte{}, exported...), "session key to server-to-client signing key magic constant\x00"...))
	sealBase := exported
	switch {
	case flags&Flag128 != 0:
	case flags&Flag56 != 0:
		sealBase = exported[:7]
	default:
		sealBase = exported[:5]
	}
	sealKey := md5.Sum(append(append([]byte{}, sealBase...), "session key to server-to-client sealing key magic constant\x00"...))
	var seqb [4]byte
	le.PutUint32(seqb[:], seq)
	m := hmac.New(md5.New, sk[:])
	m.Write(seqb[:])
	m.Write(msg)
	sum := m.Sum(nil)[:8]
	if flags&FlagKeyExch != 0 {
		c, err := rc4.NewCipher(sealKey[:])
		if err == nil {
			c.XORKeyStream(sum, sum)
		}
	}
	out := make([]byte, 16)
	out[0] = 1
	copy(out[4:12], sum)
	copy(out[12:], seqb[:])
	return out
}
