package smbserver

import (
	"crypto/rand"
	"crypto/sha512"
	"github.com/nxdeploy/deployer/deployertest/internal/ntlmssp"
	"strings"
	"time"
)

// Session flags ([MS-SMB2] 2.2.6).
const (
	sessionFlagGuest   uint16 = 0x0001
	sessionFlagEncrypt uint16 = 0x0004
)

func sessionSetupBody(flags uint16, token []byte) []byte {
	b := make([]byte, 8, 8+len(token)+1)
	le.PutUint16(b, 9)
	le.PutUint16(b[2:], flags)
	if len(token) > 0 {
		le.PutUint16(b[4:], headerSize+8)
		le.PutUint16(b[6:], uint16(len(token)))
		b = append(b, token...)
	} else {
		b = append(b, 0)
	}
	return b
}

// sessionSetup handles SESSION_SETUP with SPNEGO/NTLMSSP ([MS-SMB2] 3.3.5.5).
func (c *conn) sessionSetup(r *request) response {
	b := r.body
	if len(b) < 24 {
		return errResp(StatusInvalidParameter)
	}
	secMode := b[3]
	tok, ok := bodyBuf(b, uint32(le.Uint16(b[12:])), uint32(le.Uint16(b[14:])))
	if !ok || len(tok) == 0 {
		return errResp(StatusInvalidParameter)
	}
	c.mu.Lock()
	dialect := c.dialect
	var ss *session
	if r.hdr.SessionID == 0 {
		ss = &session{id: c.srv.sessionSeq.Add(1), preauth: c.preauth, trees: map[uint32]*tree{}}
		c.sessions[ss.id] = ss
	} else {
		ss = c.sessions[r.hdr.SessionID]
		if ss != nil && ss.valid && ss.ntlm == nil {
			// Re-authentication: start a new exchange on the same session.
			ss.preauth = c.preauth
		}
	}
	c.mu.Unlock()
	if ss == nil {
		return errResp(StatusUserSessionDeleted)
	}
	r.sess = ss
	if dialect == Dialect311 {
		ss.preauth = sha512.Sum512(append(ss.preauth[:], r.raw...))
	}
	fail := func(status uint32) response {
		c.srv.stFailed.Add(1)
		c.mu.Lock()
		if !ss.valid {
			delete(c.sessions, ss.id)
		}
		ss.ntlm = nil
		c.mu.Unlock()
		r.sess = nil
		return errResp(status)
	}
	in, err := ntlmssp.ParseSPNEGO(tok)
	if err != nil {
		return fail(StatusInvalidParameter)
	}
	if ss.ntlm == nil {
		if in.Init {
			ss.mechTypes = in.MechTypes
		}
		ss.rawNTLM = in.Raw
		if !in.NTLMFirst || len(in.Mech) == 0 {
			// The client's optimistic token is for another mechanism:
			// select NTLMSSP and ask for its first token.
			if dialect == Dialect311 {
				r.preauthSess = ss
			}
			ss.ntlm = &ntlmssp.Challenge{}
			return response{status: StatusMoreProcessingRequired, body: sessionSetupBody(0, ntlmssp.NegTokenResp(1, true, nil, nil))}
		}
		return c.ntlmChallenge(r, ss, in.Mech, dialect)
	}
	if ss.ntlm.Flags == 0 {
		return c.ntlmChallenge(r, ss, in.Mech, dialect)
	}
	auth, err := ntlmssp.ParseAuthenticate(in.Mech)
	if err != nil {
		return fail(StatusInvalidParameter)
	}
	ch := ss.ntlm
	cfg := &c.srv.cfg
	if auth.Anonymous() {
		return fail(StatusLogonFailure)
	}
	var exported []byte
	if cfg.GuestOnly {
		ss.guest = true
		ss.user, ss.domain = "Guest", cfg.NetBIOSName
	} else {
		acct := c.srv.account(auth.User)
		if acct == nil {
			return fail(StatusLogonFailure)
		}
		if acct.LogonStatus == StatusAccountLockedOut {
			// A locked-out account is refused before its password is checked.
			return fail(StatusAccountLockedOut)
		}
		h := ntlmssp.NTHash(acct.Password)
		if acct.NTHash != nil {
			h = *acct.NTHash
		}
		key, ok := ntlmssp.VerifyNTLMv2(auth, ch, h, "", strings.ToUpper(cfg.NetBIOSName), strings.ToUpper(cfg.Domain))
		if !ok {
			return fail(StatusLogonFailure)
		}
		if acct.LogonStatus != 0 {
			return fail(acct.LogonStatus)
		}
		exported = key
		ss.user, ss.domain, ss.admin = acct.User, cfg.NetBIOSName, acct.Admin
	}
	if cfg.RequireEncryption && (dialect < Dialect300 || c.cipher == 0 || ss.guest) {
		return fail(StatusAccessDenied)
	}
	var flags uint16
	if ss.guest {
		flags |= sessionFlagGuest
	} else {
		ss.key = make([]byte, 16)
		copy(ss.key, exported)
		if err := c.deriveKeys(ss, dialect); err != nil {
			return fail(StatusInternalError)
		}
		ss.signReq = cfg.RequireSigning || uint16(secMode)&secModeSigningRequired != 0
		if cfg.RequireEncryption {
			ss.encrypt = true
			flags |= sessionFlagEncrypt
		}
		r.signFinal = dialect == Dialect311 || ss.signReq
	}
	var mic []byte
	if in.MIC != nil && ss.mechTypes != nil && exported != nil {
		mic = ntlmssp.ServerMAC(exported, ch.Flags&auth.Flags, 0, ss.mechTypes)
	}
	ss.ntlm = nil
	c.mu.Lock()
	ss.valid, ss.since = true, time.Now()
	c.mu.Unlock()
	c.srv.stLogons.Add(1)
	c.srv.stDialect.Store(uint32(dialect))
	var token []byte
	if !ss.rawNTLM {
		token = ntlmssp.NegTokenResp(0, false, nil, mic)
	}
	return response{body: sessionSetupBody(flags, token)}
}

func (c *conn) ntlmChallenge(r *request, ss *session, token []byte, dialect uint16) response {
	id := &ntlmssp.Identity{NetBIOSName: c.srv.cfg.NetBIOSName, NetBIOSDom: c.srv.cfg.Domain,
		DNSName: c.srv.cfg.DNSName, DNSDomain: c.srv.cfg.DNSDomain,
		Major: c.srv.cfg.OSMajor, Minor: c.srv.cfg.OSMinor, Build: c.srv.cfg.OSBuild}
	var chal [8]byte
	_, _ = rand.Read(chal[:])
	ch, msg, err := ntlmssp.BuildChallenge(id, token, chal, c.srv.cfg.Now())
	if err != nil {
		c.mu.Lock()
		if !ss.valid {
			delete(c.sessions, ss.id)
		}
		c.mu.Unlock()
		r.sess = nil
		return errResp(StatusInvalidParameter)
	}
	ss.ntlm = ch
	if dialect == Dialect311 {
		r.preauthSess = ss
	}
	out := msg
	if !ss.rawNTLM {
		out = ntlmssp.NegTokenResp(1, true, msg, nil)
	}
	return response{status: StatusMoreProcessingRequired, body: sessionSetupBody(0, out)}
}

// deriveKeys computes the signing and encryption keys ([MS-SMB2] 3.3.5.5.3).
func (c *conn) deriveKeys(ss *session, dialect uint16) error {
	c.mu.Lock()
	signAlg, cipherID := c.signAlg, c.cipher
	c.mu.Unlock()
	var signKey, encKey, decKey []byte
	switch dialect {
	case Dialect202, Dialect210:
		signKey = ss.key
		signAlg = signHMACSHA256
	case Dialect300, Dialect302:
		signKey = kdf(ss.key, []byte("SMB2AESCMAC\x00"), []byte("SmbSign\x00"))
		signAlg = signAESCMAC
		encKey = kdf(ss.key, []byte("SMB2AESCCM\x00"), []byte("ServerOut\x00"))
		decKey = kdf(ss.key, []byte("SMB2AESCCM\x00"), []byte("ServerIn \x00"))
	default:
		signKey = kdf(ss.key, []byte("SMBSigningKey\x00"), ss.preauth[:])
		encKey = kdf(ss.key, []byte("SMBS2CCipherKey\x00"), ss.preauth[:])
		decKey = kdf(ss.key, []byte("SMBC2SCipherKey\x00"), ss.preauth[:])
	}
	sg, err := newSigner(signAlg, signKey)
	if err != nil {
		return err
	}
	ss.sign = sg
	if encKey != nil && cipherID != 0 {
		if ss.enc, err = newAEAD(cipherID, encKey); err != nil {
			return err
		}
		if ss.dec, err = newAEAD(cipherID, decKey); err != nil {
			return err
		}
	}
	return nil
}

// logoff ends a session and closes its trees and opens ([MS-SMB2] 3.3.5.6).
func (c *conn) logoff(r *request) response {
	ss := r.sess
	c.mu.Lock()
	delete(c.sessions, ss.id)
	var opens []*open
	for id, o := range c.opens {
		if o.sess == ss {
			opens = append(opens, o)
			delete(c.opens, id)
		}
	}
	trees := ss.trees
	ss.trees = map[uint32]*tree{}
	c.mu.Unlock()
	for _, o := range opens {
		c.closeOpen(o)
	}
	for _, t := range trees {
		t.close()
	}
	return response{body: fixed(4, 4)}
}

// NTHash returns the NT one-way function of password ([MS-NLMP] 3.3.1).
func NTHash(password string) [16]byte { return ntlmssp.NTHash(password) }
