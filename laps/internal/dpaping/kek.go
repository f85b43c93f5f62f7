package dpaping

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"math/big"
)

// RootKey is a KDS root key (an msKds-ProvRootKey object): what a domain
// controller derives every group key from.
type RootKey struct {
	ID               GUID
	Data             []byte // msKds-RootKeyData, 64 bytes
	KDFAlgorithm     string // msKds-KDFAlgorithmID, "SP800_108_CTR_HMAC"
	KDFParameters    []byte // msKds-KDFParam
	SecretAlgorithm  string // msKds-SecretAgreementAlgorithmID: "DH", "ECDH_P256", "ECDH_P384"
	SecretParameters []byte // msKds-SecretAgreementParam
	PrivateKeyBits   uint32 // msKds-PrivateKeyLength
	PublicKeyBits    uint32 // msKds-PublicKeyLength
}

// GroupKey derives the envelope a domain controller answers an authorised
// GetKey for security descriptor sd and index (l0, l1, l2) with
// ([MS-GKDI] 3.1.4.1.2): L0 seed from the root key, L1 seed of index 31
// from the L0 seed and sd, lower L1 seeds from higher ones, and likewise L2
// seeds under their L1 seed.
func (rk *RootKey) GroupKey(sd []byte, l0, l1, l2 int32) (*GroupKey, error) {
	if err := checkIndexes(l0, l1, l2); err != nil {
		return nil, err
	}
	g := &GroupKey{
		L0: l0, L1: l1, L2: l2, RootKeyID: rk.ID,
		KDFAlgorithm: rk.KDFAlgorithm, KDFParameters: rk.KDFParameters,
		SecretAlgorithm: rk.SecretAlgorithm, SecretParameters: rk.SecretParameters,
		PrivateKeyBits: rk.PrivateKeyBits, PublicKeyBits: rk.PublicKeyBits,
	}
	h, err := g.hash()
	if err != nil {
		return nil, err
	}
	l0seed := KDF(h, rk.Data, kdsServiceLabel, kdfContext(rk.ID, l0, -1, -1), 64)
	l1key := KDF(h, l0seed, kdsServiceLabel, append(kdfContext(rk.ID, l0, 31, -1), sd...), 64)
	var prev []byte // L1 seed of index l1-1
	for i := int32(31); i > l1; i-- {
		l1key = KDF(h, l1key, kdsServiceLabel, kdfContext(rk.ID, l0, i-1, -1), 64)
	}
	if l1 > 0 {
		prev = KDF(h, l1key, kdsServiceLabel, kdfContext(rk.ID, l0, l1-1, -1), 64)
	}
	l2key := KDF(h, l1key, kdsServiceLabel, kdfContext(rk.ID, l0, l1, 31), 64)
	for i := int32(31); i > l2; i-- {
		l2key = KDF(h, l2key, kdsServiceLabel, kdfContext(rk.ID, l0, l1, i-1), 64)
	}
	g.L2Key = l2key
	if l2 == 31 {
		g.L1Key = l1key
	} else {
		g.L1Key = prev
	}
	return g, nil
}

// KEK returns the key-encryption key of the blob whose key identifier is
// id, from the group key g ([MS-GKDI] 3.1.4.1.2 for the seeds; the public
// key agreement as Windows' DPAPI-NG does it).
func (g *GroupKey) KEK(id *KeyIdentifier) ([]byte, error) {
	if id.RootKeyID != g.RootKeyID || id.L0 != g.L0 {
		return nil, fmt.Errorf("%w: the group key (%s, L0 %d) is not the blob's (%s, L0 %d)",
			ErrMalformed, g.RootKeyID, g.L0, id.RootKeyID, id.L0)
	}
	h, err := g.hash()
	if err != nil {
		return nil, err
	}
	seed, err := g.seedL2(h, id.L1, id.L2)
	if err != nil {
		return nil, err
	}
	if !id.PublicKey() {
		return KDF(h, seed, kdsServiceLabel, id.KeyInfo, 32), nil
	}
	if g.PrivateKeyBits == 0 || g.PrivateKeyBits > maxPrivateKeyBits {
		return nil, fmt.Errorf("%w: private key length of %d bits", ErrMalformed, g.PrivateKeyBits)
	}
	priv := KDF(h, seed, kdsServiceLabel, utf16z(g.SecretAlgorithm), int((g.PrivateKeyBits+7)/8))
	shared, newHash, err := agree(g.SecretAlgorithm, priv, id.KeyInfo)
	if err != nil {
		return nil, err
	}
	other := append(append(utf16z("SHA512"), kdsPublicKeyText...), kdsServiceLabel...)
	secret := concatKDF(newHash, shared, other, newHash().Size())
	return KDF(h, secret, kdsServiceLabel, kdsPublicKeyText, 32), nil
}

// maxPrivateKeyBits bounds the private key an envelope asks to derive (DH
// uses 512 bits, ECDH P-521 521).
const maxPrivateKeyBits = 8192

// Magics of MS-GKDI's public keys (2.2.3): "DHPB" for an FFC DH key, "ECK1",
// "ECK3" and "ECK5" for ECDH P-256, P-384 and P-521.
const (
	magicDHPub   = 0x42504844
	magicECDH256 = 0x314B4345
	magicECDH384 = 0x334B4345
	magicECDH521 = 0x354B4345
)

// agree computes the shared secret of private key priv (big-endian) with
// the protector's public key pub, and the hash Windows derives the secret
// with.
func agree(alg string, priv, pub []byte) ([]byte, func() hash.Hash, error) {
	r := &reader{b: pub}
	magic, n := r.u32(), r.u32()
	if r.err != nil {
		return nil, nil, fmt.Errorf("public key: %w", r.err)
	}
	if n == 0 || n > 1024 {
		return nil, nil, fmt.Errorf("public key: %w: key length %d", ErrMalformed, n)
	}
	switch alg {
	case "DH":
		if magic != magicDHPub {
			return nil, nil, fmt.Errorf("public key: %w: magic %#08x for DH", ErrMalformed, magic)
		}
		p, y := new(big.Int).SetBytes(r.bytes(n)), new(big.Int)
		r.bytes(n) // the generator: the group's own key agreed with it
		y.SetBytes(r.bytes(n))
		if r.err != nil {
			return nil, nil, fmt.Errorf("public key: %w", r.err)
		}
		pm2 := new(big.Int).Sub(p, big.NewInt(2))
		if p.Sign() <= 0 || y.Cmp(big.NewInt(2)) < 0 || y.Cmp(pm2) > 0 {
			return nil, nil, fmt.Errorf("public key: %w: DH value out of range", ErrMalformed)
		}
		z := new(big.Int).Exp(y, new(big.Int).SetBytes(priv), p)
		return z.FillBytes(make([]byte, n)), sha256.New, nil
	case "ECDH_P256", "ECDH_P384", "ECDH_P521":
		curves := map[string]struct {
			magic uint32
			curve ecdh.Curve
			size  uint32
			h     func() hash.Hash
		}{
			"ECDH_P256": {magicECDH256, ecdh.P256(), 32, sha256.New},
			"ECDH_P384": {magicECDH384, ecdh.P384(), 48, sha512.New384},
			"ECDH_P521": {magicECDH521, ecdh.P521(), 66, sha512.New},
		}
		c := curves[alg]
		if magic != c.magic || n != c.size {
			return nil, nil, fmt.Errorf("public key: %w: magic %#08x, length %d for %s", ErrMalformed, magic, n, alg)
		}
		point := append([]byte{4}, r.bytes(2*n)...)
		if r.err != nil {
			return nil, nil, fmt.Errorf("public key: %w", r.err)
		}
		pk, err := c.curve.NewPublicKey(point)
		if err != nil {
			return nil, nil, fmt.Errorf("public key: %w: %v", ErrMalformed, err)
		}
		if len(priv) != int(c.size) {
			return nil, nil, fmt.Errorf("%w: private key of %d bytes for %s", ErrMalformed, len(priv), alg)
		}
		sk, err := c.curve.NewPrivateKey(priv)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: derived private key: %v", ErrUnsupported, err)
		}
		z, err := sk.ECDH(pk)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
		}
		return z, c.h, nil
	}
	return nil, nil, fmt.Errorf("%w: secret agreement algorithm %q", ErrUnsupported, alg)
}

// aesKeyIV is the initial value of RFC 3394 key wrap.
var aesKeyIV = []byte{0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6, 0xA6}

// unwrapKey undoes RFC 3394 AES key wrap with kek.
func unwrapKey(kek, wrapped []byte) ([]byte, error) {
	block, err := newAES(kek)
	if err != nil {
		return nil, err
	}
	if len(wrapped)%8 != 0 || len(wrapped) < 24 {
		return nil, fmt.Errorf("%w: wrapped key of %d bytes", ErrMalformed, len(wrapped))
	}
	n := len(wrapped)/8 - 1
	a := make([]byte, 8)
	copy(a, wrapped[:8])
	r := make([]byte, 8*n)
	copy(r, wrapped[8:])
	buf := make([]byte, 16)
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(buf, binary.BigEndian.Uint64(a)^t)
			copy(buf[8:], r[(i-1)*8:i*8])
			block.Decrypt(buf, buf)
			copy(a, buf[:8])
			copy(r[(i-1)*8:i*8], buf[8:])
		}
	}
	if !bytes.Equal(a, aesKeyIV) {
		return nil, fmt.Errorf("%w: the content key did not unwrap", ErrDecrypt)
	}
	return r, nil
}
