package dpaping

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"unicode/utf16"
)

// GUID is a GUID in its wire form (the first three fields little-endian).
type GUID [16]byte

// String formats g as Windows does: 8-4-4-4-12 hexadecimal digits.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(g[0:4]), binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]), g[8:10], g[10:16])
}

// ParseGUID parses the 8-4-4-4-12 form.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("%w: GUID %q", ErrMalformed, s)
	}
	b, err := hex.DecodeString(s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36])
	if err != nil {
		return g, fmt.Errorf("%w: GUID %q", ErrMalformed, s)
	}
	binary.LittleEndian.PutUint32(g[0:4], binary.BigEndian.Uint32(b[0:4]))
	binary.LittleEndian.PutUint16(g[4:6], binary.BigEndian.Uint16(b[4:6]))
	binary.LittleEndian.PutUint16(g[6:8], binary.BigEndian.Uint16(b[6:8]))
	copy(g[8:], b[8:])
	return g, nil
}

// gkdiMagic is "KDSK", the magic of key identifiers and group key envelopes.
const gkdiMagic = 0x4B53444B

// Flag of key identifiers and envelopes: the L2 key field (or key info) is
// a public key, not a seed.
const flagPublicKey = 1

// reader reads little-endian fields and reports truncation once.
type reader struct {
	b   []byte
	err error
}

func (r *reader) u32() uint32 {
	if r.err != nil || len(r.b) < 4 {
		r.fail()
		return 0
	}
	v := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return v
}

func (r *reader) bytes(n uint32) []byte {
	if r.err != nil || uint64(len(r.b)) < uint64(n) {
		r.fail()
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) guid() GUID {
	var g GUID
	copy(g[:], r.bytes(16))
	return g
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated", ErrMalformed)
	}
}

// utf16String decodes a UTF-16LE string with its NUL terminator (an empty
// field is the empty string).
func utf16String(b []byte) (string, error) {
	if len(b) == 0 {
		return "", nil
	}
	if len(b)%2 != 0 || b[len(b)-2] != 0 || b[len(b)-1] != 0 {
		return "", fmt.Errorf("%w: string not NUL-terminated UTF-16", ErrMalformed)
	}
	u := make([]uint16, 0, len(b)/2-1)
	for i := 0; i+2 < len(b); i += 2 {
		u = append(u, binary.LittleEndian.Uint16(b[i:]))
	}
	return string(utf16.Decode(u)), nil
}

// KeyIdentifier is the MS-GKDI key identifier a DPAPI-NG blob carries in
// its KEK recipient: which group key protects it, and the key info (a random
// context, or the protector's public key).
type KeyIdentifier struct {
	Flags      uint32
	L0, L1, L2 int32
	RootKeyID  GUID
	KeyInfo    []byte
	Domain     string
	Forest     string
}

// PublicKey reports that KeyInfo is the protector's public key (it could not
// read the group key's seed when it encrypted).
func (k *KeyIdentifier) PublicKey() bool { return k.Flags&flagPublicKey != 0 }

// maxKeyInfo bounds a key identifier's key info (a 4096-bit FFC public key
// with its parameters is about 1.5 KiB).
const maxKeyInfo = 64 << 10

// ParseKeyIdentifier decodes a key identifier.
func ParseKeyIdentifier(b []byte) (*KeyIdentifier, error) {
	r := &reader{b: b}
	version, magic := r.u32(), r.u32()
	k := &KeyIdentifier{Flags: r.u32(), L0: int32(r.u32()), L1: int32(r.u32()), L2: int32(r.u32()), RootKeyID: r.guid()}
	infoLen, domainLen, forestLen := r.u32(), r.u32(), r.u32()
	if r.err != nil {
		return nil, fmt.Errorf("key identifier: %w", r.err)
	}
	if version != 1 || magic != gkdiMagic {
		return nil, fmt.Errorf("key identifier: %w: version %d, magic %#08x", ErrMalformed, version, magic)
	}
	if infoLen > maxKeyInfo {
		return nil, fmt.Errorf("key identifier: %w: key info of %d bytes", ErrMalformed, infoLen)
	}
	k.KeyInfo = r.bytes(infoLen)
	domain, forest := r.bytes(domainLen), r.bytes(forestLen)
	if r.err != nil {
		return nil, fmt.Errorf("key identifier: %w", r.err)
	}
	var err error
	if k.Domain, err = utf16String(domain); err != nil {
		return nil, fmt.Errorf("key identifier domain: %w", err)
	}
	if k.Forest, err = utf16String(forest); err != nil {
		return nil, fmt.Errorf("key identifier forest: %w", err)
	}
	if err := checkIndexes(k.L0, k.L1, k.L2); err != nil {
		return nil, fmt.Errorf("key identifier: %w", err)
	}
	return k, nil
}

func checkIndexes(l0, l1, l2 int32) error {
	if l0 < 0 || l1 < 0 || l1 > 31 || l2 < 0 || l2 > 31 {
		return fmt.Errorf("%w: group key index (%d, %d, %d)", ErrMalformed, l0, l1, l2)
	}
	return nil
}

// GroupKey is a group key envelope ([MS-GKDI] 2.2.4): the answer of GetKey,
// or what a root key derives offline.
type GroupKey struct {
	Flags            uint32
	L0, L1, L2       int32
	RootKeyID        GUID
	KDFAlgorithm     string
	KDFParameters    []byte
	SecretAlgorithm  string
	SecretParameters []byte
	PrivateKeyBits   uint32
	PublicKeyBits    uint32
	Domain, Forest   string
	// L1Key is the L1 seed of (L0, L1, -1) when L2 is 31, else of
	// (L0, L1-1, -1); it may be empty.
	L1Key []byte
	// L2Key is the L2 seed of (L0, L1, L2), or the group's public key when
	// Flags has the public key flag (the caller is not authorised).
	L2Key []byte
}

// PublicKey reports that the envelope holds only the group's public key:
// the account that asked is not allowed to decrypt.
func (g *GroupKey) PublicKey() bool { return g.Flags&flagPublicKey != 0 }

// maxEnvelopeField bounds each variable field of an envelope.
const maxEnvelopeField = 64 << 10

// ParseGroupKey decodes a group key envelope.
func ParseGroupKey(b []byte) (*GroupKey, error) {
	r := &reader{b: b}
	version, magic := r.u32(), r.u32()
	g := &GroupKey{Flags: r.u32(), L0: int32(r.u32()), L1: int32(r.u32()), L2: int32(r.u32()), RootKeyID: r.guid()}
	var lens [10]uint32
	for i := range lens {
		lens[i] = r.u32()
	}
	if r.err != nil {
		return nil, fmt.Errorf("group key envelope: %w", r.err)
	}
	if version != 1 || magic != gkdiMagic {
		return nil, fmt.Errorf("group key envelope: %w: version %d, magic %#08x", ErrMalformed, version, magic)
	}
	kdfAlgLen, kdfParLen, secAlgLen, secParLen := lens[0], lens[1], lens[2], lens[3]
	g.PrivateKeyBits, g.PublicKeyBits = lens[4], lens[5]
	l1Len, l2Len, domainLen, forestLen := lens[6], lens[7], lens[8], lens[9]
	for _, n := range []uint32{kdfAlgLen, kdfParLen, secAlgLen, secParLen, l1Len, l2Len, domainLen, forestLen} {
		if n > maxEnvelopeField {
			return nil, fmt.Errorf("group key envelope: %w: field of %d bytes", ErrMalformed, n)
		}
	}
	kdfAlg := r.bytes(kdfAlgLen)
	g.KDFParameters = r.bytes(kdfParLen)
	secAlg := r.bytes(secAlgLen)
	g.SecretParameters = r.bytes(secParLen)
	domain, forest := r.bytes(domainLen), r.bytes(forestLen)
	g.L1Key, g.L2Key = r.bytes(l1Len), r.bytes(l2Len)
	if r.err != nil {
		return nil, fmt.Errorf("group key envelope: %w", r.err)
	}
	var err error
	for _, f := range []struct {
		dst *string
		src []byte
	}{{&g.KDFAlgorithm, kdfAlg}, {&g.SecretAlgorithm, secAlg}, {&g.Domain, domain}, {&g.Forest, forest}} {
		if *f.dst, err = utf16String(f.src); err != nil {
			return nil, fmt.Errorf("group key envelope: %w", err)
		}
	}
	if err := checkIndexes(g.L0, g.L1, g.L2); err != nil {
		return nil, fmt.Errorf("group key envelope: %w", err)
	}
	return g, nil
}

// Marshal encodes g as a group key envelope.
func (g *GroupKey) Marshal() []byte {
	kdfAlg, secAlg := utf16z(g.KDFAlgorithm), utf16z(g.SecretAlgorithm)
	domain, forest := utf16z(g.Domain), utf16z(g.Forest)
	var b []byte
	for _, v := range []uint32{1, gkdiMagic, g.Flags, uint32(g.L0), uint32(g.L1), uint32(g.L2)} {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	b = append(b, g.RootKeyID[:]...)
	for _, v := range []int{len(kdfAlg), len(g.KDFParameters), len(secAlg), len(g.SecretParameters)} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	b = binary.LittleEndian.AppendUint32(b, g.PrivateKeyBits)
	b = binary.LittleEndian.AppendUint32(b, g.PublicKeyBits)
	for _, v := range []int{len(g.L1Key), len(g.L2Key), len(domain), len(forest)} {
		b = binary.LittleEndian.AppendUint32(b, uint32(v))
	}
	for _, f := range [][]byte{kdfAlg, g.KDFParameters, secAlg, g.SecretParameters, domain, forest, g.L1Key, g.L2Key} {
		b = append(b, f...)
	}
	return b
}

// kdfParametersMagic opens MS-GKDI's KDF parameters (2.2.1).
var kdfParametersMagic = [8]byte{0, 0, 0, 0, 1, 0, 0, 0}

// ParseKDFParameters returns the hash named by KDF parameters.
func ParseKDFParameters(b []byte) (Hash, error) {
	r := &reader{b: b}
	head := r.bytes(8)
	n, zero := r.u32(), r.u32()
	name := r.bytes(n)
	if r.err != nil {
		return Hash{}, fmt.Errorf("KDF parameters: %w", r.err)
	}
	if [8]byte(head) != kdfParametersMagic || zero != 0 {
		return Hash{}, fmt.Errorf("KDF parameters: %w: bad magic", ErrMalformed)
	}
	s, err := utf16String(name)
	if err != nil {
		return Hash{}, fmt.Errorf("KDF parameters: %w", err)
	}
	return HashByName(s)
}

// KDFParameters encodes KDF parameters naming hash h.
func KDFParameters(h Hash) []byte {
	name := utf16z(h.name)
	b := append([]byte{}, kdfParametersMagic[:]...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(name)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, name...)
}

// hash returns the envelope's KDF hash.
func (g *GroupKey) hash() (Hash, error) {
	if g.KDFAlgorithm != "SP800_108_CTR_HMAC" {
		return Hash{}, fmt.Errorf("%w: KDF algorithm %q", ErrUnsupported, g.KDFAlgorithm)
	}
	return ParseKDFParameters(g.KDFParameters)
}

// seedL2 derives the L2 seed key of (g.L0, l1, l2) from the envelope, as
// [MS-GKDI] 3.2.4 lets a client: L1 seeds derive downwards from the
// envelope's L1 key, and L2 seeds downwards from the L2 seed of index 31 of
// their L1 (or from the envelope's own L2 seed under the same L1).
func (g *GroupKey) seedL2(h Hash, l1, l2 int32) ([]byte, error) {
	if g.PublicKey() {
		return nil, ErrNotAuthorized
	}
	if l1 > g.L1 || (l1 == g.L1 && l2 > g.L2) {
		return nil, fmt.Errorf("%w: key (%d, %d, %d) is newer than the envelope's (%d, %d, %d)",
			ErrMalformed, g.L0, l1, l2, g.L0, g.L1, g.L2)
	}
	if l1 == g.L1 && len(g.L2Key) > 0 {
		key := g.L2Key
		for i := g.L2 - 1; i >= l2; i-- {
			key = KDF(h, key, kdsServiceLabel, kdfContext(g.RootKeyID, g.L0, l1, i), 64)
		}
		return key, nil
	}
	// Start from the L1 seed the envelope carries.
	cur := g.L1
	if g.L2 != 31 {
		cur--
	}
	if len(g.L1Key) == 0 || cur < l1 {
		return nil, fmt.Errorf("%w: the envelope (%d, %d, %d) holds no L1 key for L1 index %d",
			ErrMalformed, g.L0, g.L1, g.L2, l1)
	}
	key := g.L1Key
	for cur > l1 {
		cur--
		key = KDF(h, key, kdsServiceLabel, kdfContext(g.RootKeyID, g.L0, cur, -1), 64)
	}
	key = KDF(h, key, kdsServiceLabel, kdfContext(g.RootKeyID, g.L0, l1, 31), 64)
	for i := int32(30); i >= l2; i-- {
		key = KDF(h, key, kdsServiceLabel, kdfContext(g.RootKeyID, g.L0, l1, i), 64)
	}
	return key, nil
}
