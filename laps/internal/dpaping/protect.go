package dpaping

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"io"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Protect encrypts plain for "SID=sid" under the group key g, as an
// authorised NCryptProtectSecret does: a random 32-byte key info as the KEK
// context (symmetric key identifier, flags 2), a random AES-256 content key
// wrapped with the KEK, AES-256-GCM with a random 12-byte nonce and a 16-byte
// tag. With detached set the encrypted content follows the CMS structure, as
// Windows LAPS stores it; otherwise it is inside. Randomness comes from rnd.
func Protect(g *GroupKey, sid string, plain []byte, detached bool, rnd io.Reader) ([]byte, error) {
	if _, err := ParseSID(sid); err != nil {
		return nil, err
	}
	info := make([]byte, 32)
	cek := make([]byte, 32)
	nonce := make([]byte, 12)
	for _, b := range [][]byte{info, cek, nonce} {
		if _, err := io.ReadFull(rnd, b); err != nil {
			return nil, err
		}
	}
	id := &KeyIdentifier{Flags: 2, L0: g.L0, L1: g.L1, L2: g.L2, RootKeyID: g.RootKeyID, KeyInfo: info, Domain: g.Domain, Forest: g.Forest}
	kek, err := g.KEK(id)
	if err != nil {
		return nil, err
	}
	wrapped, err := wrapKey(kek, cek)
	if err != nil {
		return nil, err
	}
	block, err := newAES(cek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	content := aead.Seal(nil, nonce, plain, nil)

	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(ci *cryptobyte.Builder) {
		ci.AddASN1ObjectIdentifier(oidEnvelopedData)
		ci.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(x *cryptobyte.Builder) {
			x.AddASN1(cbasn1.SEQUENCE, func(env *cryptobyte.Builder) {
				env.AddASN1Int64(2)
				env.AddASN1(cbasn1.SET, func(set *cryptobyte.Builder) {
					set.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(k *cryptobyte.Builder) {
						k.AddASN1Int64(4)
						k.AddASN1(cbasn1.SEQUENCE, func(kid *cryptobyte.Builder) {
							kid.AddASN1OctetString(id.marshal())
							kid.AddASN1(cbasn1.SEQUENCE, func(o *cryptobyte.Builder) {
								o.AddASN1ObjectIdentifier(oidProtectionDescriptor)
								o.AddASN1(cbasn1.SEQUENCE, func(pd *cryptobyte.Builder) {
									pd.AddASN1ObjectIdentifier(oidSIDDescriptor)
									pd.AddASN1(cbasn1.SEQUENCE, func(r1 *cryptobyte.Builder) {
										r1.AddASN1(cbasn1.SEQUENCE, func(r2 *cryptobyte.Builder) {
											r2.AddASN1(cbasn1.SEQUENCE, func(p *cryptobyte.Builder) {
												p.AddASN1(cbasn1.UTF8String, func(s *cryptobyte.Builder) { s.AddBytes([]byte("SID")) })
												p.AddASN1(cbasn1.UTF8String, func(s *cryptobyte.Builder) { s.AddBytes([]byte(sid)) })
											})
										})
									})
								})
							})
						})
						k.AddASN1(cbasn1.SEQUENCE, func(a *cryptobyte.Builder) { a.AddASN1ObjectIdentifier(oidAES256Wrap) })
						k.AddASN1OctetString(wrapped)
					})
				})
				env.AddASN1(cbasn1.SEQUENCE, func(eci *cryptobyte.Builder) {
					eci.AddASN1ObjectIdentifier(oidData)
					eci.AddASN1(cbasn1.SEQUENCE, func(a *cryptobyte.Builder) {
						a.AddASN1ObjectIdentifier(oidAES256GCM)
						a.AddASN1(cbasn1.SEQUENCE, func(p *cryptobyte.Builder) {
							p.AddASN1OctetString(nonce)
							p.AddASN1Int64(16)
						})
					})
					if !detached {
						eci.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(c *cryptobyte.Builder) { c.AddBytes(content) })
					}
				})
			})
		})
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("dpaping: %w", err)
	}
	if detached {
		out = append(out, content...)
	}
	return out, nil
}

// marshal encodes k.
func (k *KeyIdentifier) marshal() []byte {
	domain, forest := utf16z(k.Domain), utf16z(k.Forest)
	var b []byte
	for _, v := range []uint32{1, gkdiMagic, k.Flags, uint32(k.L0), uint32(k.L1), uint32(k.L2)} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	b = append(b, k.RootKeyID[:]...)
	for _, v := range []int{len(k.KeyInfo), len(domain), len(forest)} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	return append(append(append(b, k.KeyInfo...), domain...), forest...)
}

// wrapKey is RFC 3394 AES key wrap.
func wrapKey(kek, key []byte) ([]byte, error) {
	block, err := newAES(kek)
	if err != nil {
		return nil, err
	}
	if len(key)%8 != 0 || len(key) < 16 {
		return nil, fmt.Errorf("%w: key of %d bytes to wrap", ErrMalformed, len(key))
	}
	n := len(key) / 8
	a := append([]byte{}, aesKeyIV...)
	r := append([]byte{}, key...)
	buf := make([]byte, 16)
	for j := 0; j <= 5; j++ {
		for i := 1; i <= n; i++ {
			copy(buf, a)
			copy(buf[8:], r[(i-1)*8:i*8])
			block.Encrypt(buf, buf)
			binary.BigEndian.PutUint64(a, binary.BigEndian.Uint64(buf[:8])^uint64(n*j+i))
			copy(r[(i-1)*8:i*8], buf[8:])
		}
	}
	return append(a, r...), nil
}
