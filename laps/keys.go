package laps

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/nxdeploy/deployer/laps/internal/dpaping"
)

// KeyRequest asks for the group key that protects one encrypted password:
// the arguments of [MS-GKDI] GetKey, and what the blob says about where the
// key lives.
type KeyRequest struct {
	// TargetSD is the security descriptor the blob is protected for, built
	// from its protection descriptor as Windows builds it.
	TargetSD []byte
	// RootKeyID names the KDS root key ("8-4-4-4-12" hexadecimal).
	RootKeyID string
	// L0, L1 and L2 index the group key under the root key.
	L0, L1, L2 int32
	// Domain is the DNS domain the blob was protected in.
	Domain string
	// SID is the principal of the protection descriptor (the group allowed
	// to decrypt, such as Domain Admins).
	SID string
}

// KeySource gives group keys: a *GKDI client asks a domain controller, a
// *RootKey derives them offline. GroupKey returns a group key envelope
// ([MS-GKDI] 2.2.4) from which the requested key derives: for the index
// asked, or a newer one under the same L0 index.
type KeySource interface {
	GroupKey(ctx context.Context, req KeyRequest) ([]byte, error)
}

// Attributes of a KDS root key object (objectClass msKds-ProvRootKey, under
// CN=Master Root Keys,CN=Group Key Distribution Service,CN=Services in the
// configuration partition; readable by Domain and Enterprise Admins).
const (
	AttrRootKeyID               = "cn"
	AttrRootKeyData             = "msKds-RootKeyData"
	AttrKDFAlgorithm            = "msKds-KDFAlgorithmID"
	AttrKDFParameters           = "msKds-KDFParam"
	AttrSecretAgreement         = "msKds-SecretAgreementAlgorithmID"
	AttrSecretAgreementParam    = "msKds-SecretAgreementParam"
	AttrPrivateKeyLength        = "msKds-PrivateKeyLength"
	AttrPublicKeyLength         = "msKds-PublicKeyLength"
	rootKeyAttributeDescription = "KDS root key"
)

// RootKeyAttributeNames lists the attributes ParseRootKey reads.
var RootKeyAttributeNames = []string{AttrRootKeyID, AttrRootKeyData, AttrKDFAlgorithm, AttrKDFParameters,
	AttrSecretAgreement, AttrSecretAgreementParam, AttrPrivateKeyLength, AttrPublicKeyLength}

// RootKey is a domain's KDS root key, from which every group key derives:
// with it, encrypted LAPS passwords decrypt offline, without asking a domain
// controller (as [MS-GKDI] 3.1.4.1.2 has the domain controller derive them).
// It is the most sensitive key of the domain; printing a RootKey shows only
// its identifier.
type RootKey struct {
	rk *dpaping.RootKey
}

// ParseRootKey reads a KDS root key from its object's attribute values.
func ParseRootKey(attrs Attributes) (*RootKey, error) {
	fail := func(attr string, err error) (*RootKey, error) {
		return nil, &Error{Computer: rootKeyAttributeDescription, Attribute: attr, Err: err}
	}
	id, err := dpaping.ParseGUID(string(attrs.first(AttrRootKeyID)))
	if err != nil {
		return fail(AttrRootKeyID, fmt.Errorf("%w: %v", ErrMalformed, err))
	}
	rk := &dpaping.RootKey{
		ID:               id,
		Data:             append([]byte{}, attrs.first(AttrRootKeyData)...),
		KDFAlgorithm:     string(attrs.first(AttrKDFAlgorithm)),
		KDFParameters:    append([]byte{}, attrs.first(AttrKDFParameters)...),
		SecretAlgorithm:  string(attrs.first(AttrSecretAgreement)),
		SecretParameters: append([]byte{}, attrs.first(AttrSecretAgreementParam)...),
	}
	if len(rk.Data) != 64 {
		return fail(AttrRootKeyData, fmt.Errorf("%w: %d bytes, not 64", ErrMalformed, len(rk.Data)))
	}
	if rk.KDFAlgorithm != "SP800_108_CTR_HMAC" {
		return fail(AttrKDFAlgorithm, fmt.Errorf("%w: %q", ErrUnsupported, truncate([]byte(rk.KDFAlgorithm))))
	}
	if _, err := dpaping.ParseKDFParameters(rk.KDFParameters); err != nil {
		return fail(AttrKDFParameters, mapCrypto(err))
	}
	for _, f := range []struct {
		attr string
		dst  *uint32
	}{{AttrPrivateKeyLength, &rk.PrivateKeyBits}, {AttrPublicKeyLength, &rk.PublicKeyBits}} {
		v, err := strconv.ParseUint(string(attrs.first(f.attr)), 10, 32)
		if err != nil {
			return fail(f.attr, fmt.Errorf("%w: not a number", ErrMalformed))
		}
		*f.dst = uint32(v)
	}
	return &RootKey{rk: rk}, nil
}

// ID returns the root key's identifier.
func (k *RootKey) ID() string { return k.rk.ID.String() }

// String names the root key by its identifier.
func (k *RootKey) String() string { return "KDS root key " + k.ID() }

// GoString is String.
func (k *RootKey) GoString() string { return k.String() }

// GroupKey derives the group key envelope for req, as a domain controller
// answers an authorised GetKey.
func (k *RootKey) GroupKey(_ context.Context, req KeyRequest) ([]byte, error) {
	if !strings.EqualFold(req.RootKeyID, k.ID()) {
		return nil, fmt.Errorf("%w: protected with root key %s, not %s", ErrDecrypt, req.RootKeyID, k.ID())
	}
	g, err := k.rk.GroupKey(req.TargetSD, req.L0, req.L1, req.L2)
	if err != nil {
		return nil, mapCrypto(err)
	}
	return g.Marshal(), nil
}
