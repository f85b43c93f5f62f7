package smb

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// SMB2 wire constants ([MS-SMB2] 2.2) used to read the server's negotiate
// and session setup responses.
const (
	smb2HeaderLen           = 64
	smb2CmdNegotiate        = 0x0000
	smb2CmdSessionSetup     = 0x0001
	smb2FlagServerToRedir   = 0x00000001
	statusSuccess           = 0x00000000
	statusMoreProcessing    = 0xC0000016
	negSigningRequired      = 0x0002
	capEncryption           = 0x00000040
	ctxEncryption           = 0x0002
	sessionFlagGuest        = 0x0001
	sessionFlagNull         = 0x0002
	sessionFlagEncryptData  = 0x0004
	maxSniffedFrame         = 1 << 16
	negotiateResponseMinLen = smb2HeaderLen + 64
	sessionSetupRespMinLen  = smb2HeaderLen + 8
)

// Cipher IDs of the SMB2_ENCRYPTION_CAPABILITIES context.
const (
	cipherAES128CCM = 0x0001
	cipherAES128GCM = 0x0002
	cipherAES256CCM = 0x0003
	cipherAES256GCM = 0x0004
)

func cipherName(id uint16) string {
	switch id {
	case cipherAES128CCM:
		return "AES-128-CCM"
	case cipherAES128GCM:
		return "AES-128-GCM"
	case cipherAES256CCM:
		return "AES-256-CCM"
	case cipherAES256GCM:
		return "AES-256-GCM"
	}
	return ""
}

// wireFacts is what the server said in clear during negotiate and session
// setup. go-smb2 keeps these in unexported fields, so the session reads them
// off the wire instead.
type wireFacts struct {
	negotiated      bool
	negotiatedAt    time.Time
	dialect         uint16
	securityMode    uint16
	capabilities    uint32
	cipher          uint16
	sessionDone     bool
	sessionFlags    uint16
	sessionStatus   uint32
	maxWriteSize    uint32
	maxReadSize     uint32
	maxTransactSize uint32
}

// parseNegotiateResponse reads a SMB2 NEGOTIATE response (header included)
// into f. It returns false when pkt is not one.
func parseNegotiateResponse(pkt []byte, f *wireFacts) bool {
	if !isResponse(pkt, smb2CmdNegotiate) || len(pkt) < negotiateResponseMinLen {
		return false
	}
	le := binary.LittleEndian
	if le.Uint32(pkt[8:12]) != statusSuccess {
		return false
	}
	b := pkt[smb2HeaderLen:]
	if le.Uint16(b[0:2]) != 65 {
		return false
	}
	f.securityMode = le.Uint16(b[2:4])
	f.dialect = le.Uint16(b[4:6])
	ctxCount := int(le.Uint16(b[6:8]))
	f.capabilities = le.Uint32(b[24:28])
	f.maxTransactSize = le.Uint32(b[28:32])
	f.maxReadSize = le.Uint32(b[32:36])
	f.maxWriteSize = le.Uint32(b[36:40])
	ctxOff := int(le.Uint32(b[60:64]))
	for i := 0; i < ctxCount && ctxOff >= 0 && ctxOff+8 <= len(pkt); i++ {
		typ := le.Uint16(pkt[ctxOff : ctxOff+2])
		n := int(le.Uint16(pkt[ctxOff+2 : ctxOff+4]))
		data := pkt[ctxOff+8:]
		if n > len(data) {
			break
		}
		data = data[:n]
		if typ == ctxEncryption && len(data) >= 4 && le.Uint16(data[0:2]) >= 1 {
			f.cipher = le.Uint16(data[2:4])
		}
		ctxOff += (8 + n + 7) &^ 7
	}
	f.negotiated = true
	return true
}

// parseSessionSetupResponse reads a SMB2 SESSION_SETUP response into f. It
// returns false when pkt is not one.
func parseSessionSetupResponse(pkt []byte, f *wireFacts) bool {
	if !isResponse(pkt, smb2CmdSessionSetup) || len(pkt) < smb2HeaderLen+4 {
		return false
	}
	le := binary.LittleEndian
	status := le.Uint32(pkt[8:12])
	f.sessionStatus = status
	if status == statusMoreProcessing {
		return true
	}
	if status == statusSuccess && len(pkt) >= sessionSetupRespMinLen {
		f.sessionFlags = le.Uint16(pkt[smb2HeaderLen+2 : smb2HeaderLen+4])
	}
	f.sessionDone = true
	return true
}

func isResponse(pkt []byte, cmd uint16) bool {
	if len(pkt) < smb2HeaderLen || string(pkt[:4]) != "\xfeSMB" {
		return false
	}
	le := binary.LittleEndian
	return le.Uint16(pkt[12:14]) == cmd && le.Uint32(pkt[16:20])&smb2FlagServerToRedir != 0
}

// sniffConn passes every byte through and, until the session is set up,
// reassembles the Direct TCP frames ([MS-SMB2] 2.1) the server sends to
// read its negotiate and session setup responses. After that it costs one
// boolean check per Read.
type sniffConn struct {
	net.Conn

	mu    sync.Mutex
	done  bool
	hdr   [4]byte
	nhdr  int
	frame []byte
	want  int
	skip  int
	facts wireFacts
	now   func() time.Time
}

func newSniffConn(c net.Conn) *sniffConn {
	return &sniffConn{Conn: c, now: time.Now}
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if !c.done {
			c.feed(p[:n])
		}
		c.mu.Unlock()
	}
	return n, err
}

// feed consumes stream bytes. Frames longer than maxSniffedFrame are
// skipped: negotiate and session setup responses are far smaller.
func (c *sniffConn) feed(b []byte) {
	for len(b) > 0 && !c.done {
		switch {
		case c.skip > 0:
			k := min(c.skip, len(b))
			c.skip -= k
			b = b[k:]
		case c.nhdr < 4:
			k := copy(c.hdr[c.nhdr:], b)
			c.nhdr += k
			b = b[k:]
			if c.nhdr == 4 {
				size := int(binary.BigEndian.Uint32(c.hdr[:]) & 0xFFFFFF)
				if c.hdr[0] != 0 || size > maxSniffedFrame {
					c.skip = size
					c.nhdr = 0
					continue
				}
				c.want = size
				c.frame = c.frame[:0]
				if size == 0 {
					c.nhdr = 0
				}
			}
		default:
			k := min(c.want-len(c.frame), len(b))
			c.frame = append(c.frame, b[:k]...)
			b = b[k:]
			if len(c.frame) == c.want {
				c.packet(c.frame)
				c.nhdr = 0
			}
		}
	}
}

// packet handles one frame, which may hold compounded responses.
func (c *sniffConn) packet(pkt []byte) {
	for len(pkt) >= smb2HeaderLen {
		next := int(binary.LittleEndian.Uint32(pkt[20:24]))
		one := pkt
		if next > 0 && next < len(pkt) {
			one = pkt[:next]
		}
		if parseNegotiateResponse(one, &c.facts) {
			c.facts.negotiatedAt = c.now()
		} else if parseSessionSetupResponse(one, &c.facts) && c.facts.sessionDone {
			c.done = true
			c.frame = nil
			return
		}
		if next <= 0 || next >= len(pkt) {
			return
		}
		pkt = pkt[next:]
	}
}

// snapshot returns the facts read so far.
func (c *sniffConn) snapshot() wireFacts {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.facts
}
