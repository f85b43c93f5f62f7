package smbguard

import (
	"encoding/binary"
	"fmt"
)

// outKeep is how much of a request the parser keeps: a transform header,
// the SMB2 header and the first fields of the body. NEGOTIATE and
// SESSION_SETUP requests are kept whole (up to maxKeep) for the preauth
// hash.
const (
	outKeep = transformLen + headerLen + 64
	maxKeep = 1 << 20
)

// outParser reads the Direct TCP frames go-smb2 writes (a 4-byte size, then
// the message, in any number of Write calls).
type outParser struct {
	hdr   [4]byte
	nhdr  int
	size  int
	got   int
	keep  []byte
	limit int
}

// feed consumes written bytes and hands each whole request to s.request.
func (o *outParser) feed(p []byte, s *state, opts Options) error {
	for len(p) > 0 {
		if o.nhdr < 4 {
			k := copy(o.hdr[o.nhdr:], p)
			o.nhdr += k
			p = p[k:]
			if o.nhdr == 4 {
				o.size = int(binary.BigEndian.Uint32(o.hdr[:]))
				o.got, o.keep, o.limit = 0, o.keep[:0], outKeep
				if o.size == 0 {
					o.nhdr = 0
				}
			}
			continue
		}
		k := min(o.size-o.got, len(p))
		if len(o.keep) < o.limit {
			k = min(k, o.limit-len(o.keep))
			o.keep = append(o.keep, p[:k]...)
			if o.limit == outKeep && wantsWhole(o.keep) {
				o.limit = min(o.size, maxKeep)
			}
		}
		o.got += k
		p = p[k:]
		if o.got == o.size {
			o.nhdr = 0
			if err := s.request(o.keep, o.size, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// wantsWhole reports a plain NEGOTIATE or SESSION_SETUP request.
func wantsWhole(b []byte) bool {
	if len(b) < headerLen || string(b[:4]) != "\xfeSMB" {
		return false
	}
	cmd := le.Uint16(b[12:14])
	return cmd == cmdNegotiate || cmd == cmdSessionSetup
}

// request records what the replies to a request will be checked against.
// keep holds its first bytes (all of it for NEGOTIATE and SESSION_SETUP);
// size is its length.
func (s *state) request(keep []byte, size int, o Options) error {
	hdr := keep
	switch {
	case len(keep) >= 4 && string(keep[:4]) == "\xfdSMB":
		if len(keep) < transformLen+headerLen {
			return fmt.Errorf("smbguard: the client sent a %d-byte encrypted frame", size)
		}
		k, err := s.sessionKeys(o)
		if err != nil {
			return err
		}
		hdr = k.peekRequest(keep)
		s.active = true
	case len(keep) >= headerLen && string(keep[:4]) == "\xfeSMB":
	default:
		return fmt.Errorf("smbguard: the client sent a frame that is not SMB2")
	}
	cmd := le.Uint16(hdr[12:14])
	msgID := le.Uint64(hdr[24:32])
	switch cmd {
	case cmdNegotiate:
		if len(keep) != size {
			return fmt.Errorf("smbguard: a %d-byte negotiate request", size)
		}
		s.negReq = append(s.negReq[:0], keep...)
		s.negMsgID, s.negPending = msgID, true
		s.negotiations++
		return nil
	case cmdSessionSetup:
		if len(keep) != size {
			return fmt.Errorf("smbguard: a %d-byte session setup request", size)
		}
		s.ssReqs++
		switch s.ssReqs {
		case 1:
			s.ss1, s.ss1ID = append([]byte(nil), keep...), msgID
		case 2:
			s.ss2ID = msgID
			if s.dialect == dialect311 {
				s.hashPreauth(keep)
			}
		}
		return nil
	case cmdWrite:
		if len(hdr) < headerLen+8 {
			return fmt.Errorf("smbguard: a write request too short to read")
		}
		if len(s.writes) >= maxRequestsTracked {
			return fmt.Errorf("smbguard: %d writes await their replies", len(s.writes))
		}
		s.writes[msgID] = le.Uint32(hdr[headerLen+4 : headerLen+8])
	}
	if s.sessionDone {
		s.active = true
	}
	return nil
}
