package smbserver

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"github.com/nxdeploy/deployer/deployertest/internal/ntlmssp"
	"slices"
)

// Security mode and capability bits ([MS-SMB2] 2.2.3, 2.2.4).
const (
	secModeSigningEnabled  uint16 = 0x0001
	secModeSigningRequired uint16 = 0x0002
	capLargeMTU            uint32 = 0x00000004
	capEncryption          uint32 = 0x00000040
)

var supportedDialects = []uint16{Dialect202, Dialect210, Dialect300, Dialect302, Dialect311}

// pickDialect returns the highest dialect offered that the server supports.
func (c *conn) pickDialect(offered []uint16) uint16 {
	best := uint16(0)
	for _, d := range offered {
		if slices.Contains(supportedDialects, d) && d <= c.srv.cfg.MaxDialect && d > best {
			best = d
		}
	}
	return best
}

func (c *conn) securityMode() uint16 {
	m := secModeSigningEnabled
	if c.srv.cfg.RequireSigning {
		m |= secModeSigningRequired
	}
	return m
}

func (c *conn) capabilities(d uint16) uint32 {
	var caps uint32
	if d >= Dialect210 {
		caps |= capLargeMTU
	}
	if d == Dialect300 || d == Dialect302 {
		caps |= capEncryption
	}
	return caps
}

func (c *conn) maxIO() uint32 {
	if c.dialect == Dialect202 {
		return smallMTUSize
	}
	return largeMTUSize
}

// negotiateBody encodes a NEGOTIATE response ([MS-SMB2] 2.2.4).
func (c *conn) negotiateBody(d uint16, contexts [][]byte) []byte {
	sec := ntlmssp.NegTokenInitHint()
	b := make([]byte, 64, 64+len(sec)+256)
	le.PutUint16(b, 65)
	le.PutUint16(b[2:], c.securityMode())
	le.PutUint16(b[4:], d)
	le.PutUint16(b[6:], uint16(len(contexts)))
	copy(b[8:24], c.srv.guid[:])
	caps := c.capabilities(d)
	le.PutUint32(b[24:], caps)
	io := uint32(largeMTUSize)
	if d == Dialect202 {
		io = smallMTUSize
	}
	le.PutUint32(b[28:], io)
	le.PutUint32(b[32:], io)
	le.PutUint32(b[36:], io)
	le.PutUint64(b[40:], filetime(c.srv.cfg.Now()))
	le.PutUint64(b[48:], filetime(c.srv.start))
	le.PutUint16(b[56:], headerSize+64)
	le.PutUint16(b[58:], uint16(len(sec)))
	b = append(b, sec...)
	if len(contexts) > 0 {
		for (headerSize+len(b))%8 != 0 {
			b = append(b, 0)
		}
		le.PutUint32(b[60:], uint32(headerSize+len(b)))
		for i, ctx := range contexts {
			b = append(b, ctx...)
			if i < len(contexts)-1 {
				for (headerSize+len(b))%8 != 0 {
					b = append(b, 0)
				}
			}
		}
	}
	return b
}

func negContext(typ uint16, data []byte) []byte {
	b := make([]byte, 8, 8+len(data))
	le.PutUint16(b, typ)
	le.PutUint16(b[2:], uint16(len(data)))
	return append(b, data...)
}

// negotiate handles SMB2 NEGOTIATE ([MS-SMB2] 3.3.5.4).
func (c *conn) negotiate(r *request) (response, bool) {
	b := r.body
	c.mu.Lock()
	already := c.negotiated && !c.wildcard
	c.mu.Unlock()
	if already || len(b) < 36 {
		return response{}, false
	}
	n := int(le.Uint16(b[2:]))
	if n == 0 || len(b) < 36+2*n {
		return errResp(StatusInvalidParameter), true
	}
	offered := make([]uint16, n)
	for i := range offered {
		offered[i] = le.Uint16(b[36+2*i:])
	}
	d := c.pickDialect(offered)
	if d == 0 {
		return errResp(StatusNotSupported), false
	}
	var contexts [][]byte
	cipherID := uint16(0)
	signAlg := signAESCMAC
	if d < Dialect300 {
		signAlg = signHMACSHA256
	}
	if d == Dialect311 {
		off := le.Uint32(b[28:])
		cnt := int(le.Uint16(b[32:]))
		haveSHA512 := false
		var encCtx, signCtx bool
		pos := int(off) - headerSize
		for i := 0; i < cnt; i++ {
			if pos < 0 || pos+8 > len(b) {
				return errResp(StatusInvalidParameter), true
			}
			typ := le.Uint16(b[pos:])
			dl := int(le.Uint16(b[pos+2:]))
			if pos+8+dl > len(b) {
				return errResp(StatusInvalidParameter), true
			}
			data := b[pos+8 : pos+8+dl]
			switch typ {
			case 1:
				if len(data) >= 4 {
					hc := int(le.Uint16(data))
					for j := 0; j < hc && 4+2*j+2 <= len(data); j++ {
						if le.Uint16(data[4+2*j:]) == 1 {
							haveSHA512 = true
						}
					}
				}
			case 2:
				encCtx = true
				if len(data) >= 2 {
					cc := int(le.Uint16(data))
					for j := 0; j < cc && 2+2*j+2 <= len(data); j++ {
						id := le.Uint16(data[2+2*j:])
						if cipherID == 0 && (id == cipherAES128GCM || id == cipherAES128CCM) {
							cipherID = id
						}
					}
				}
			case 8:
				signCtx = true
				if len(data) >= 2 {
					sc := int(le.Uint16(data))
					var algs []uint16
					for j := 0; j < sc && 2+2*j+2 <= len(data); j++ {
						algs = append(algs, le.Uint16(data[2+2*j:]))
					}
					switch {
					case slices.Contains(algs, signAESCMAC):
						signAlg = signAESCMAC
					case slices.Contains(algs, signHMACSHA256):
						signAlg = signHMACSHA256
					}
				}
			}
			pos = pad8(pos+8+dl+headerSize) - headerSize
		}
		if !haveSHA512 {
			return errResp(StatusInvalidParameter), true
		}
		salt := make([]byte, 32)
		_, _ = rand.Read(salt)
		pre := make([]byte, 6, 38)
		le.PutUint16(pre, 1)
		le.PutUint16(pre[2:], 32)
		le.PutUint16(pre[4:], 1)
		contexts = append(contexts, negContext(1, append(pre, salt...)))
		if encCtx {
			e := make([]byte, 4)
			le.PutUint16(e, 1)
			le.PutUint16(e[2:], cipherID)
			contexts = append(contexts, negContext(2, e))
		}
		if signCtx {
			sg := make([]byte, 4)
			le.PutUint16(sg, 1)
			le.PutUint16(sg[2:], signAlg)
			contexts = append(contexts, negContext(8, sg))
		}
	} else if d >= Dialect300 && le.Uint32(b[8:])&capEncryption != 0 {
		cipherID = cipherAES128CCM
	}
	c.mu.Lock()
	c.negotiated, c.wildcard = true, false
	c.dialect = d
	copy(c.clientGUID[:], b[12:28])
	c.clientSecMode = le.Uint16(b[4:])
	c.clientCaps = le.Uint32(b[8:])
	c.clientDialect = offered
	c.cipher = cipherID
	c.signAlg = signAlg
	c.mu.Unlock()
	body := c.negotiateBody(d, contexts)
	if d == Dialect311 {
		// The preauth hash covers the request and the response as sent.
		var zero [64]byte
		c.preauth = sha512.Sum512(append(zero[:], r.raw...))
		r.preauthConn = true
	}
	return response{body: body}, true
}

// smb1Negotiate answers a multi-protocol SMB1 NEGOTIATE that offers SMB2
// dialects with an SMB2 NEGOTIATE response ([MS-SMB2] 3.3.5.3.1).
func (c *conn) smb1Negotiate(frame []byte) bool {
	c.mu.Lock()
	done := c.negotiated
	c.mu.Unlock()
	if done || len(frame) < 35 || frame[4] != 0x72 {
		return false
	}
	data := frame[35:]
	var wildcard, d202 bool
	for _, s := range bytes.Split(data, []byte{0}) {
		if len(s) > 1 && s[0] == 0x02 {
			switch string(s[1:]) {
			case "SMB 2.???":
				wildcard = true
			case "SMB 2.002":
				d202 = true
			}
		}
	}
	d := uint16(0)
	switch {
	case wildcard && c.srv.cfg.MaxDialect > Dialect202:
		d = dialectWildcard
	case wildcard || d202:
		d = Dialect202
	default:
		return false
	}
	c.mu.Lock()
	c.negotiated = true
	c.wildcard = d == dialectWildcard
	if d == Dialect202 {
		c.dialect = Dialect202
		c.signAlg = signHMACSHA256
		c.clientDialect = []uint16{Dialect202}
	}
	c.mu.Unlock()
	r := &request{c: c, hdr: header{Command: cmdNegotiate}}
	out := c.buildResponse(r, response{body: c.negotiateBody(d, nil)})
	return c.send([]outMsg{out}, false, nil)
}
