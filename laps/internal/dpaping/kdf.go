// Package dpaping decrypts DPAPI-NG blobs (what NCryptProtectSecret writes,
// and what Windows LAPS stores in msLAPS-EncryptedPassword): the CMS
// EnvelopedData around them, the MS-GKDI key identifier inside it, the group
// key derivation of [MS-GKDI] 3.1.4.1.2, the key-encryption key (symmetric,
// or agreed with finite-field or elliptic-curve Diffie-Hellman), AES key
// unwrap and AES-GCM.
//
// It was written from Microsoft's documents ([MS-GKDI], RFC 5652, RFC 3394,
// NIST SP 800-108 and SP 800-56A) and checked against blobs Windows produced
// (testdata of the laps package).
package dpaping

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strings"
	"unicode/utf16"
)

// Hash is a hash algorithm named by MS-GKDI's KDF parameters.
type Hash struct {
	name string
	new  func() hash.Hash
}

// Name returns the algorithm's name as MS-GKDI writes it ("SHA512").
func (h Hash) Name() string { return h.name }

var hashes = map[string]Hash{
	"SHA1":   {"SHA1", sha1.New},
	"SHA256": {"SHA256", sha256.New},
	"SHA384": {"SHA384", sha512.New384},
	"SHA512": {"SHA512", sha512.New},
}

// HashByName returns the hash MS-GKDI names name.
func HashByName(name string) (Hash, error) {
	h, ok := hashes[strings.ToUpper(name)]
	if !ok {
		return Hash{}, fmt.Errorf("%w: KDF hash %q", ErrUnsupported, name)
	}
	return h, nil
}

// Errors of this package.
var (
	// ErrMalformed: a structure is truncated or inconsistent.
	ErrMalformed = errors.New("malformed")
	// ErrUnsupported: an algorithm or form this package does not implement.
	ErrUnsupported = errors.New("unsupported")
	// ErrDecrypt: a key did not unwrap, or the content did not
	// authenticate: the key is wrong or the data was altered.
	ErrDecrypt = errors.New("decryption failed")
	// ErrNotAuthorized: the group key holds only the group's public key:
	// the account that asked for it may not decrypt.
	ErrNotAuthorized = errors.New("not authorised to the group key")
)

// utf16z encodes s as UTF-16LE with a terminating NUL, as MS-GKDI writes
// its labels and algorithm names.
func utf16z(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0)
}

// Labels and contexts of the key derivations.
var (
	kdsServiceLabel  = utf16z("KDS service")
	kdsPublicKeyText = utf16z("KDS public key")
)

// KDF is the key derivation function of [MS-GKDI] 3.1.4.1.2: NIST SP 800-108
// in counter mode with HMAC, a 32-bit big-endian counter before the fixed
// input Label || 0x00 || Context || [L]32, L being the output length in bits.
func KDF(h Hash, key, label, context []byte, n int) []byte {
	mac := hmac.New(h.new, key)
	out := make([]byte, 0, n+mac.Size())
	var ctr, bits [4]byte
	binary.BigEndian.PutUint32(bits[:], uint32(n)*8)
	for i := uint32(1); len(out) < n; i++ {
		mac.Reset()
		binary.BigEndian.PutUint32(ctr[:], i)
		mac.Write(ctr[:])
		mac.Write(label)
		mac.Write([]byte{0})
		mac.Write(context)
		mac.Write(bits[:])
		out = mac.Sum(out)
	}
	return out[:n]
}

// concatKDF is the single-step key derivation of NIST SP 800-56A (5.8.1)
// with a hash: H(counter || Z || OtherInfo) for counter 1, 2, ..., where
// OtherInfo is AlgorithmID || PartyUInfo || PartyVInfo. Windows derives the
// DPAPI-NG agreement secret this way (BCryptDeriveKey with BCRYPT_KDF_SP80056A_CONCAT).
func concatKDF(newHash func() hash.Hash, z, otherInfo []byte, n int) []byte {
	var out []byte
	var ctr [4]byte
	for i := uint32(1); len(out) < n; i++ {
		h := newHash()
		binary.BigEndian.PutUint32(ctr[:], i)
		h.Write(ctr[:])
		h.Write(z)
		h.Write(otherInfo)
		out = h.Sum(out)
	}
	return out[:n]
}

// kdfContext is the context of the group key derivations: the root key
// identifier (as a GUID's bytes) and the L0, L1 and L2 indexes as signed
// 32-bit little-endian numbers.
func kdfContext(root GUID, l0, l1, l2 int32) []byte {
	b := make([]byte, 0, 28)
	b = append(b, root[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(l0))
	b = binary.LittleEndian.AppendUint32(b, uint32(l1))
	return binary.LittleEndian.AppendUint32(b, uint32(l2))
}
