package dpaping

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/asn1"
	"fmt"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers of DPAPI-NG blobs.
var (
	oidEnvelopedData        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 3}
	oidData                 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidAES256Wrap           = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 45}
	oidAES256GCM            = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 46}
	oidProtectionDescriptor = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 74, 1}
	oidSIDDescriptor        = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 74, 1, 1}
)

// Blob is a parsed DPAPI-NG blob: a CMS EnvelopedData (RFC 5652) with one
// KEK recipient whose key identifier names an MS-GKDI group key, and the
// content encrypted with AES-256-GCM under a content key wrapped with
// AES-256 key wrap. Windows LAPS writes the encrypted content after the CMS
// structure instead of inside it.
type Blob struct {
	// KeyID names the group key that protects the content key.
	KeyID *KeyIdentifier
	// SID is the protection descriptor's principal ("SID=S-1-5-...").
	SID string
	// WrappedKey is the wrapped content key.
	WrappedKey []byte
	// Nonce and TagSize are AES-GCM's parameters.
	Nonce   []byte
	TagSize int
	// Content is the encrypted content with its tag.
	Content []byte
}

// maxBlob bounds what ParseBlob accepts.
const maxBlob = 1 << 20

// ParseBlob decodes a DPAPI-NG blob.
func ParseBlob(b []byte) (*Blob, error) {
	if len(b) > maxBlob {
		return nil, fmt.Errorf("%w: blob of %d bytes", ErrMalformed, len(b))
	}
	in := cryptobyte.String(b)
	var ci, env cryptobyte.String
	var ctype asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) || !ci.ReadASN1ObjectIdentifier(&ctype) {
		return nil, fmt.Errorf("%w: not a CMS ContentInfo", ErrMalformed)
	}
	if !ctype.Equal(oidEnvelopedData) {
		return nil, fmt.Errorf("%w: CMS content type %s, not enveloped data", ErrUnsupported, ctype)
	}
	if !ci.ReadASN1(&env, cbasn1.Tag(0).Constructed().ContextSpecific()) || !env.ReadASN1(&env, cbasn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: CMS enveloped data", ErrMalformed)
	}
	var version int64
	if !env.ReadASN1Integer(&version) {
		return nil, fmt.Errorf("%w: enveloped data version", ErrMalformed)
	}
	env.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) // originatorInfo
	var recipients cryptobyte.String
	if !env.ReadASN1(&recipients, cbasn1.SET) {
		return nil, fmt.Errorf("%w: recipient infos", ErrMalformed)
	}
	blob := &Blob{}
	if err := blob.readRecipient(recipients); err != nil {
		return nil, err
	}
	if err := blob.readContentInfo(&env); err != nil {
		return nil, err
	}
	if blob.Content == nil {
		// Windows LAPS: the encrypted content follows the structure.
		blob.Content = append([]byte{}, in...)
	}
	if len(blob.Content) < blob.TagSize {
		return nil, fmt.Errorf("%w: encrypted content of %d bytes", ErrMalformed, len(blob.Content))
	}
	return blob, nil
}

// readRecipient reads the one KEK recipient ([2] KEKRecipientInfo).
func (blob *Blob) readRecipient(recipients cryptobyte.String) error {
	var kekri, kekid, keyID, alg cryptobyte.String
	var version int64
	if !recipients.ReadASN1(&kekri, cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return fmt.Errorf("%w: the recipient is not a KEK recipient", ErrUnsupported)
	}
	if !recipients.Empty() {
		return fmt.Errorf("%w: more than one recipient", ErrUnsupported)
	}
	if !kekri.ReadASN1Integer(&version) || !kekri.ReadASN1(&kekid, cbasn1.SEQUENCE) ||
		!kekid.ReadASN1(&keyID, cbasn1.OCTET_STRING) {
		return fmt.Errorf("%w: KEK recipient", ErrMalformed)
	}
	kid, err := ParseKeyIdentifier(keyID)
	if err != nil {
		return err
	}
	blob.KeyID = kid
	kekid.SkipOptionalASN1(cbasn1.GeneralizedTime)
	var other cryptobyte.String
	if !kekid.ReadASN1(&other, cbasn1.SEQUENCE) {
		return fmt.Errorf("%w: KEK identifier without a protection descriptor", ErrMalformed)
	}
	if blob.SID, err = readDescriptor(other); err != nil {
		return err
	}
	var algOID asn1.ObjectIdentifier
	if !kekri.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&algOID) {
		return fmt.Errorf("%w: key encryption algorithm", ErrMalformed)
	}
	if !algOID.Equal(oidAES256Wrap) {
		return fmt.Errorf("%w: key encryption algorithm %s", ErrUnsupported, algOID)
	}
	var wrapped cryptobyte.String
	if !kekri.ReadASN1(&wrapped, cbasn1.OCTET_STRING) {
		return fmt.Errorf("%w: encrypted key", ErrMalformed)
	}
	blob.WrappedKey = append([]byte{}, wrapped...)
	return nil
}

// readDescriptor reads the OtherKeyAttribute holding the protection
// descriptor: one "SID" rule is supported, as Windows LAPS writes.
func readDescriptor(other cryptobyte.String) (string, error) {
	var id, pdType asn1.ObjectIdentifier
	var attr, rules, rule, pair cryptobyte.String
	if !other.ReadASN1ObjectIdentifier(&id) || !id.Equal(oidProtectionDescriptor) {
		return "", fmt.Errorf("%w: KEK identifier attribute %s", ErrUnsupported, id)
	}
	if !other.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&pdType) {
		return "", fmt.Errorf("%w: protection descriptor", ErrMalformed)
	}
	if !pdType.Equal(oidSIDDescriptor) {
		return "", fmt.Errorf("%w: protection descriptor type %s (only SID= is supported)", ErrUnsupported, pdType)
	}
	if !attr.ReadASN1(&rules, cbasn1.SEQUENCE) || !rules.ReadASN1(&rule, cbasn1.SEQUENCE) ||
		!rule.ReadASN1(&pair, cbasn1.SEQUENCE) {
		return "", fmt.Errorf("%w: protection descriptor rules", ErrMalformed)
	}
	if !rules.Empty() || !rule.Empty() {
		return "", fmt.Errorf("%w: a protection descriptor with more than one rule", ErrUnsupported)
	}
	var name, value cryptobyte.String
	if !pair.ReadASN1(&name, cbasn1.UTF8String) || !pair.ReadASN1(&value, cbasn1.UTF8String) || !pair.Empty() {
		return "", fmt.Errorf("%w: protection descriptor rule", ErrMalformed)
	}
	if !strings.EqualFold(string(name), "SID") {
		return "", fmt.Errorf("%w: protection descriptor rule %q", ErrUnsupported, string(name))
	}
	if _, err := ParseSID(string(value)); err != nil {
		return "", err
	}
	return string(value), nil
}

// readContentInfo reads EncryptedContentInfo: AES-256-GCM parameters and,
// when present, the encrypted content.
func (blob *Blob) readContentInfo(env *cryptobyte.String) error {
	var eci, alg, params cryptobyte.String
	var ctype, algOID asn1.ObjectIdentifier
	if !env.ReadASN1(&eci, cbasn1.SEQUENCE) || !eci.ReadASN1ObjectIdentifier(&ctype) ||
		!eci.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&algOID) {
		return fmt.Errorf("%w: encrypted content info", ErrMalformed)
	}
	if !ctype.Equal(oidData) {
		return fmt.Errorf("%w: encrypted content type %s", ErrUnsupported, ctype)
	}
	if !algOID.Equal(oidAES256GCM) {
		return fmt.Errorf("%w: content encryption algorithm %s", ErrUnsupported, algOID)
	}
	var nonce cryptobyte.String
	tag := int64(12) // RFC 5084's default ICV length
	if !alg.ReadASN1(&params, cbasn1.SEQUENCE) || !params.ReadASN1(&nonce, cbasn1.OCTET_STRING) ||
		(params.PeekASN1Tag(cbasn1.INTEGER) && !params.ReadASN1Integer(&tag)) {
		return fmt.Errorf("%w: AES-GCM parameters", ErrMalformed)
	}
	if len(nonce) == 0 || len(nonce) > 64 || tag < 12 || tag > 16 {
		return fmt.Errorf("%w: AES-GCM nonce of %d bytes, tag of %d", ErrMalformed, len(nonce), tag)
	}
	blob.Nonce, blob.TagSize = append([]byte{}, nonce...), int(tag)
	var content cryptobyte.String
	var present bool
	if !eci.ReadOptionalASN1(&content, &present, cbasn1.Tag(0).ContextSpecific()) {
		return fmt.Errorf("%w: encrypted content", ErrMalformed)
	}
	if present {
		blob.Content = append([]byte{}, content...)
		return nil
	}
	// BER allows the content in constructed form: octet strings in a row.
	if !eci.ReadOptionalASN1(&content, &present, cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return fmt.Errorf("%w: encrypted content", ErrMalformed)
	}
	if present {
		blob.Content = []byte{}
		for !content.Empty() {
			var part cryptobyte.String
			if !content.ReadASN1(&part, cbasn1.OCTET_STRING) {
				return fmt.Errorf("%w: encrypted content segment", ErrMalformed)
			}
			blob.Content = append(blob.Content, part...)
		}
	}
	return nil
}

func newAES(key []byte) (cipher.Block, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: AES-256 key of %d bytes", ErrMalformed, len(key))
	}
	return aes.NewCipher(key)
}

// Decrypt unwraps the content key with kek and decrypts the content.
func (blob *Blob) Decrypt(kek []byte) ([]byte, error) {
	cek, err := unwrapKey(kek, blob.WrappedKey)
	if err != nil {
		return nil, err
	}
	block, err := newAES(cek)
	if err != nil {
		return nil, err
	}
	var aead cipher.AEAD
	switch {
	case len(blob.Nonce) == 12:
		aead, err = cipher.NewGCMWithTagSize(block, blob.TagSize)
	case blob.TagSize == 16:
		aead, err = cipher.NewGCMWithNonceSize(block, len(blob.Nonce))
	default:
		err = fmt.Errorf("%w: AES-GCM with a %d-byte nonce and a %d-byte tag", ErrUnsupported, len(blob.Nonce), blob.TagSize)
	}
	if err != nil {
		return nil, err
	}
	out, err := aead.Open(nil, blob.Nonce, blob.Content, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: the content did not authenticate", ErrDecrypt)
	}
	return out, nil
}
