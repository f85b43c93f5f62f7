package rpc

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/ntlmssp"
)

// Authentication types and levels of the security trailer ([MS-RPCE]
// 2.2.1.1.7, 2.2.1.1.8).
const (
	authTypeSPNEGO uint8 = 9
	authTypeNTLM   uint8 = 10

	authLevelConnect   uint8 = 2
	authLevelIntegrity uint8 = 5
	authLevelPrivacy   uint8 = 6
)

// Account is a local account an authenticated bind may log on with.
type Account struct {
	// User is the account name, matched case-insensitively.
	User string
	// NTHash is the NT one-way function of the account's password.
	NTHash [16]byte
	// Admin marks an administrator whose token is not filtered.
	Admin bool
}

// secTrailer is a PDU's sec_trailer and auth_value.
type secTrailer struct {
	authType, level, padLen uint8
	ctxID                   uint32
	value                   []byte
}

// parseTrailer returns the auth verifier of a PDU whose header declares
// an auth_length.
func parseTrailer(h header, pdu []byte) (secTrailer, bool) {
	at := len(pdu) - int(h.AuthLen) - secTrailerSize
	if h.AuthLen == 0 || at < headerSize {
		return secTrailer{}, false
	}
	return secTrailer{authType: pdu[at], level: pdu[at+1], padLen: pdu[at+2],
		ctxID: h.order().Uint32(pdu[at+4:]), value: pdu[at+secTrailerSize:]}, true
}

// appendTrailer pads b to 4 bytes and appends a sec_trailer and value.
func appendTrailer(b []byte, authType, level uint8, ctxID uint32, value []byte) []byte {
	pad := (4 - len(b)%4) % 4
	b = append(b, make([]byte, pad)...)
	b = append(b, authType, level, uint8(pad), 0)
	b = binary.LittleEndian.AppendUint32(b, ctxID)
	return append(b, value...)
}

// finishAuth sets a PDU's frag_length and auth_length after its trailer
// was appended.
func finishAuth(b []byte, authLen int) []byte {
	binary.LittleEndian.PutUint16(b[8:], uint16(len(b)))
	binary.LittleEndian.PutUint16(b[10:], uint16(authLen))
	return b
}

// rpcAuth is an association's NTLM security context ([MS-RPCE] 3.3.1.5.2):
// raw NTLMSSP (bind, bind_ack, auth3) or SPNEGO around it (bind,
// bind_ack, alter_context, alter_context_resp).
type rpcAuth struct {
	authType, level uint8
	ctxID           uint32
	challenge       *ntlmssp.Challenge
	mechTypes       []byte
	sec             *ntlmssp.Security
	user            string
	admin           bool
	failed          bool
}

// established reports whether the caller has logged on.
func (r *rpcAuth) established() bool { return r != nil && r.sec != nil }

// identity is the host's NTLM identity.
func (s *server) identity() *ntlmssp.Identity {
	dns := strings.ToLower(s.cfg.ServerName)
	return &ntlmssp.Identity{NetBIOSName: strings.ToUpper(s.cfg.ServerName), NetBIOSDom: strings.ToUpper(s.cfg.Workgroup),
		DNSName: dns, DNSDomain: dns, Major: byte(s.cfg.OSMajor), Minor: byte(s.cfg.OSMinor), Build: 20348}
}

// startAuth answers the NEGOTIATE of a bind's verifier with the CHALLENGE
// for bind_ack; nil when the verifier is not one this server takes.
func (a *association) startAuth(t secTrailer) []byte {
	if a.srv == nil || len(a.srv.cfg.RPCAccounts) == 0 || (t.authType != authTypeNTLM && t.authType != authTypeSPNEGO) ||
		t.level < authLevelConnect || t.level > authLevelPrivacy {
		return nil
	}
	negotiate := t.value
	var mechTypes []byte
	if t.authType == authTypeSPNEGO {
		in, err := ntlmssp.ParseSPNEGO(t.value)
		if err != nil || in.Raw || !in.NTLMFirst || len(in.Mech) == 0 {
			return nil
		}
		negotiate, mechTypes = in.Mech, in.MechTypes
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	ch, msg, err := ntlmssp.BuildChallenge(a.srv.identity(), negotiate, nonce, time.Now())
	if err != nil {
		return nil
	}
	level := t.level
	if level > authLevelConnect && level < authLevelIntegrity {
		level = authLevelIntegrity // call and packet levels are integrity on Windows
	}
	a.auth = &rpcAuth{authType: t.authType, level: level, ctxID: t.ctxID, challenge: ch, mechTypes: mechTypes}
	if t.authType == authTypeSPNEGO {
		return ntlmssp.NegTokenResp(1, true, msg, nil)
	}
	return msg
}

// finishAuth checks the AUTHENTICATE of an auth3 or alter_context
// verifier; for SPNEGO it returns the server's final token.
func (a *association) completeAuth(t secTrailer) ([]byte, bool) {
	r := a.auth
	if r == nil || r.sec != nil || r.failed || t.authType != r.authType || t.ctxID != r.ctxID {
		return nil, false
	}
	msg, mic := t.value, []byte(nil)
	if r.authType == authTypeSPNEGO {
		in, err := ntlmssp.ParseSPNEGO(t.value)
		if err != nil || in.Init {
			r.failed = true
			return nil, false
		}
		msg, mic = in.Mech, in.MIC
	}
	auth, err := ntlmssp.ParseAuthenticate(msg)
	if err != nil || auth.Anonymous() {
		r.failed = true
		return nil, false
	}
	var acct *Account
	for i := range a.srv.cfg.RPCAccounts {
		if strings.EqualFold(a.srv.cfg.RPCAccounts[i].User, auth.User) {
			acct = &a.srv.cfg.RPCAccounts[i]
			break
		}
	}
	if acct == nil {
		r.failed = true
		return nil, false
	}
	id := a.srv.identity()
	key, ok := ntlmssp.VerifyNTLMv2(auth, r.challenge, acct.NTHash, "", id.NetBIOSName, id.NetBIOSDom)
	if !ok {
		r.failed = true
		return nil, false
	}
	r.sec = ntlmssp.NewServerSecurity(key, r.challenge.Flags&auth.Flags)
	r.user, r.admin = acct.User, acct.Admin
	if r.authType != authTypeSPNEGO {
		return nil, true
	}
	var serverMIC []byte
	if r.mechTypes != nil && mic != nil {
		if serverMIC, err = r.sec.MechListMIC(r.mechTypes, mic); err != nil {
			r.sec, r.failed = nil, true
			return nil, false
		}
	}
	return ntlmssp.NegTokenResp(0, false, nil, serverMIC), true
}

// unprotect checks (and for privacy decrypts in place) a request
// fragment's verifier; false means the request is refused.
func (a *association) unprotect(h header, pdu []byte) bool {
	r := a.auth
	if !r.established() || r.level < authLevelIntegrity {
		return h.AuthLen == 0
	}
	t, ok := parseTrailer(h, pdu)
	if !ok || len(t.value) != ntlmssp.SignatureSize || t.ctxID != r.ctxID || t.level != r.level {
		return false
	}
	hdr := requestHeaderSize
	if h.Flags&pfcObjectUUID != 0 {
		hdr += 16
	}
	end := len(pdu) - int(h.AuthLen) - secTrailerSize
	if end < hdr {
		return false
	}
	signed := pdu[:len(pdu)-int(h.AuthLen)]
	if r.level == authLevelPrivacy {
		return r.sec.Unseal(signed, pdu[hdr:end], t.value) == nil
	}
	return r.sec.Verify(signed, t.value) == nil
}

// protectResponse adds the verifier to a response fragment b (header and
// stub) and, for privacy, encrypts the stub and its padding.
func (a *association) protectResponse(b []byte) []byte {
	r := a.auth
	pad := (16 - (len(b)-responseHeaderSize)%16) % 16
	b = append(b, make([]byte, pad)...)
	b = append(b, r.authType, r.level, uint8(pad), 0)
	b = binary.LittleEndian.AppendUint32(b, r.ctxID)
	b = finishAuth(append(b, make([]byte, ntlmssp.SignatureSize)...), ntlmssp.SignatureSize)
	signed := b[:len(b)-ntlmssp.SignatureSize]
	var sig []byte
	if r.level == authLevelPrivacy {
		sig = r.sec.Seal(signed, b[responseHeaderSize:len(b)-ntlmssp.SignatureSize-secTrailerSize])
	} else {
		sig = r.sec.Sign(signed)
	}
	copy(b[len(b)-ntlmssp.SignatureSize:], sig)
	return b
}
