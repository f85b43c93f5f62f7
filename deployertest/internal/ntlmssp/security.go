package ntlmssp

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"errors"
)

// SignatureSize is the size of an NTLMSSP message signature.
const SignatureSize = 16

// ErrBadSignature is returned for a message whose signature (or sequence
// number) does not verify.
var ErrBadSignature = errors.New("ntlmssp: bad message signature")

// Magic constants of the session keys ([MS-NLMP] 3.4.5.2, 3.4.5.3).
const (
	magicSignC2S = "session key to client-to-server signing key magic constant\x00"
	magicSignS2C = "session key to server-to-client signing key magic constant\x00"
	magicSealC2S = "session key to client-to-server sealing key magic constant\x00"
	magicSealS2C = "session key to server-to-client sealing key magic constant\x00"
)

// direction is one way's signing key, sealing handle and sequence number.
type direction struct {
	signKey []byte
	seal    *rc4.Cipher
	seq     uint32
}

// Security is the server's message integrity and confidentiality state of
// one NTLM session under extended session security ([MS-NLMP] 3.4): each
// direction has its own keys, RC4 handle and sequence number. It is not
// safe for concurrent use.
type Security struct {
	exported []byte
	flags    uint32
	in, out  direction
}

// NewServerSecurity returns the server's state for the session whose
// exported session key is exported and whose negotiated flags are flags.
func NewServerSecurity(exported []byte, flags uint32) *Security {
	s := &Security{exported: append([]byte(nil), exported...), flags: flags}
	s.in = s.newDirection(magicSignC2S, magicSealC2S)
	s.out = s.newDirection(magicSignS2C, magicSealS2C)
	return s
}

// resetHandles gives both directions fresh RC4 handles and keeps their
// sequence numbers, as Windows (and Samba) do after the SPNEGO
// mechListMIC exchange.
func (s *Security) resetHandles() {
	in, out := s.in.seq, s.out.seq
	s.in = s.newDirection(magicSignC2S, magicSealC2S)
	s.out = s.newDirection(magicSignS2C, magicSealS2C)
	s.in.seq, s.out.seq = in, out
}

func (s *Security) newDirection(signMagic, sealMagic string) direction {
	sign := md5.Sum(append(append([]byte{}, s.exported...), signMagic...))
	base := s.exported
	switch {
	case s.flags&Flag128 != 0:
	case s.flags&Flag56 != 0:
		base = base[:7]
	default:
		base = base[:5]
	}
	seal := md5.Sum(append(append([]byte{}, base...), sealMagic...))
	c, _ := rc4.NewCipher(seal[:]) // a 16-byte key is always valid
	return direction{signKey: sign[:], seal: c}
}

// mac computes the signature of msg in direction d and advances its
// sequence number.
func (s *Security) mac(d *direction, msg []byte) []byte {
	var seq [4]byte
	le.PutUint32(seq[:], d.seq)
	m := hmac.New(md5.New, d.signKey)
	m.Write(seq[:])
	m.Write(msg)
	sum := m.Sum(nil)[:8]
	if s.flags&FlagKeyExch != 0 {
		d.seal.XORKeyStream(sum, sum)
	}
	out := make([]byte, SignatureSize)
	out[0] = 1
	copy(out[4:12], sum)
	copy(out[12:], seq[:])
	d.seq++
	return out
}

// Sign returns the server's signature of msg (integrity only).
func (s *Security) Sign(msg []byte) []byte { return s.mac(&s.out, msg) }

// Verify checks the client's signature of msg (integrity only).
func (s *Security) Verify(msg, sig []byte) error {
	if !hmac.Equal(s.mac(&s.in, msg), sig) {
		return ErrBadSignature
	}
	return nil
}

// Seal encrypts data in place and returns the signature of msg, the whole
// signed message, read before data is encrypted (data is a part of msg, or
// all of it).
func (s *Security) Seal(msg, data []byte) []byte {
	var seq [4]byte
	le.PutUint32(seq[:], s.out.seq)
	m := hmac.New(md5.New, s.out.signKey)
	m.Write(seq[:])
	m.Write(msg)
	sum := m.Sum(nil)[:8]
	s.out.seal.XORKeyStream(data, data)
	if s.flags&FlagKeyExch != 0 {
		s.out.seal.XORKeyStream(sum, sum)
	}
	out := make([]byte, SignatureSize)
	out[0] = 1
	copy(out[4:12], sum)
	copy(out[12:], seq[:])
	s.out.seq++
	return out
}

// Unseal decrypts data (a part of msg) in place and checks the client's
// signature of msg as decrypted.
func (s *Security) Unseal(msg, data, sig []byte) error {
	s.in.seal.XORKeyStream(data, data)
	if !hmac.Equal(s.mac(&s.in, msg), sig) {
		return ErrBadSignature
	}
	return nil
}

// MechListMIC checks the client's mechListMIC of mechTypes and returns
// the server's. Each takes its direction's next sequence number (0 after
// the logon), and both directions then get fresh RC4 handles with their
// sequence numbers kept.
func (s *Security) MechListMIC(mechTypes, clientMIC []byte) ([]byte, error) {
	if err := s.Verify(mechTypes, clientMIC); err != nil {
		return nil, err
	}
	mic := s.Sign(mechTypes)
	s.resetHandles()
	return mic, nil
}
