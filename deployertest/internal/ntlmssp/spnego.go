package ntlmssp

import (
	"bytes"
	"encoding/asn1"
	"errors"
)

var (
	oidSPNEGO = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 2}
	oidNTLM   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10}
)

var ErrMalformedSPNEGO = errors.New("ntlmssp: malformed SPNEGO token")

// derTLV encodes one DER element.
func derTLV(tag byte, content []byte) []byte {
	n := len(content)
	var l []byte
	switch {
	case n < 0x80:
		l = []byte{byte(n)}
	case n < 0x100:
		l = []byte{0x81, byte(n)}
	case n < 0x10000:
		l = []byte{0x82, byte(n >> 8), byte(n)}
	default:
		l = []byte{0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	}
	out := make([]byte, 0, 1+len(l)+n)
	out = append(out, tag)
	out = append(out, l...)
	return append(out, content...)
}

func derOID(o asn1.ObjectIdentifier) []byte {
	b, _ := asn1.Marshal(o)
	return b
}

// NegTokenInitHint is the GSS-API token in the NEGOTIATE response: SPNEGO
// offering NTLMSSP only, with the negHints Windows sends.
func NegTokenInitHint() []byte {
	mechs := derTLV(0x30, derOID(oidNTLM))
	hint := derTLV(0x30, derTLV(0xA0, derTLV(0x1B, []byte("not_defined_in_RFC4178@please_ignore"))))
	init := derTLV(0x30, append(derTLV(0xA0, mechs), derTLV(0xA3, hint)...))
	return derTLV(0x60, append(derOID(oidSPNEGO), derTLV(0xA0, init)...))
}

// NegTokenResp encodes a SPNEGO NegTokenResp ([RFC 4178] 4.2.2); state < 0
// omits negState.
func NegTokenResp(state int, mech bool, token, mic []byte) []byte {
	var body []byte
	if state >= 0 {
		body = append(body, derTLV(0xA0, derTLV(0x0A, []byte{byte(state)}))...)
	}
	if mech {
		body = append(body, derTLV(0xA1, derOID(oidNTLM))...)
	}
	if token != nil {
		body = append(body, derTLV(0xA2, derTLV(0x04, token))...)
	}
	if mic != nil {
		body = append(body, derTLV(0xA3, derTLV(0x04, mic))...)
	}
	return derTLV(0xA1, derTLV(0x30, body))
}

// Token is a parsed client SPNEGO token.
type Token struct {
	// Raw is set for a bare NTLMSSP message (no SPNEGO around it).
	Raw bool
	// Init is set for a NegTokenInit.
	Init bool
	// MechTypes is the DER of the client's MechTypeList, for mechListMIC.
	MechTypes []byte
	// NTLMFirst reports that the client's optimistic token is NTLMSSP.
	NTLMFirst bool
	// Mech is the mechanism token (an NTLMSSP message).
	Mech []byte
	// MIC is the client's mechListMIC.
	MIC []byte
}

// ctxFields splits a DER SEQUENCE of context-tagged fields by tag number.
func ctxFields(seq []byte) (map[int]asn1.RawValue, error) {
	var outer asn1.RawValue
	if rest, err := asn1.Unmarshal(seq, &outer); err != nil || len(rest) != 0 || outer.Tag != asn1.TagSequence {
		return nil, ErrMalformedSPNEGO
	}
	out := map[int]asn1.RawValue{}
	for b := outer.Bytes; len(b) > 0; {
		var f asn1.RawValue
		rest, err := asn1.Unmarshal(b, &f)
		if err != nil || f.Class != asn1.ClassContextSpecific {
			return nil, ErrMalformedSPNEGO
		}
		var inner asn1.RawValue
		if _, err := asn1.Unmarshal(f.Bytes, &inner); err != nil {
			return nil, ErrMalformedSPNEGO
		}
		out[f.Tag] = inner
		b = rest
	}
	return out, nil
}

func octets(f map[int]asn1.RawValue, tag int) []byte {
	v, ok := f[tag]
	if !ok || v.Tag != asn1.TagOctetString {
		return nil
	}
	return v.Bytes
}

func ParseSPNEGO(b []byte) (*Token, error) {
	if bytes.HasPrefix(b, Signature) {
		return &Token{Raw: true, NTLMFirst: true, Mech: b}, nil
	}
	if len(b) == 0 {
		return nil, ErrMalformedSPNEGO
	}
	switch b[0] {
	case 0x60:
		var app asn1.RawValue
		if _, err := asn1.Unmarshal(b, &app); err != nil || app.Class != asn1.ClassApplication || app.Tag != 0 {
			return nil, ErrMalformedSPNEGO
		}
		var oid asn1.ObjectIdentifier
		rest, err := asn1.Unmarshal(app.Bytes, &oid)
		if err != nil || !oid.Equal(oidSPNEGO) {
			return nil, ErrMalformedSPNEGO
		}
		var ctx asn1.RawValue
		if _, err := asn1.Unmarshal(rest, &ctx); err != nil || ctx.Class != asn1.ClassContextSpecific || ctx.Tag != 0 {
			return nil, ErrMalformedSPNEGO
		}
		f, err := ctxFields(ctx.Bytes)
		if err != nil {
			return nil, err
		}
		mt, ok := f[0]
		if !ok {
			return nil, ErrMalformedSPNEGO
		}
		var mechs []asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(mt.FullBytes, &mechs); err != nil {
			return nil, ErrMalformedSPNEGO
		}
		in := &Token{Init: true, MechTypes: mt.FullBytes, Mech: octets(f, 2), MIC: octets(f, 3)}
		in.NTLMFirst = len(mechs) > 0 && mechs[0].Equal(oidNTLM)
		hasNTLM := false
		for _, m := range mechs {
			hasNTLM = hasNTLM || m.Equal(oidNTLM)
		}
		if !hasNTLM {
			return nil, ErrMalformedSPNEGO
		}
		return in, nil
	case 0xA1:
		var ctx asn1.RawValue
		if _, err := asn1.Unmarshal(b, &ctx); err != nil || ctx.Class != asn1.ClassContextSpecific || ctx.Tag != 1 {
			return nil, ErrMalformedSPNEGO
		}
		f, err := ctxFields(ctx.Bytes)
		if err != nil {
			return nil, err
		}
		return &Token{NTLMFirst: true, Mech: octets(f, 2), MIC: octets(f, 3)}, nil
	}
	return nil, ErrMalformedSPNEGO
}
