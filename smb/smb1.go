package smb

import (
	"context"
	"encoding/binary"
	"io"
	"time"
)

// smb1Negotiate is an SMB1 NEGOTIATE request ([MS-CIFS] 2.2.4.52.1) that
// offers what Windows clients offer: "NT LM 0.12" and the SMB2 dialects
// ([MS-SMB2] 3.2.4.2.2.1). A server that can speak SMB2 answers it with an
// SMB2 NEGOTIATE response; one that speaks only SMB1 answers in SMB1.
var smb1Negotiate = func() []byte {
	dialects := []string{"NT LM 0.12", "SMB 2.002", "SMB 2.???"}
	hdr := make([]byte, 32)
	copy(hdr, "\xffSMB")
	hdr[4] = 0x72                                   // SMB_COM_NEGOTIATE
	hdr[9] = 0x18                                   // case-insensitive, canonical paths
	binary.LittleEndian.PutUint16(hdr[10:], 0xC801) // unicode, NT status, long names
	binary.LittleEndian.PutUint16(hdr[24:], 0xFFFF) // TID
	var names []byte
	for _, d := range dialects {
		names = append(names, 0x02)
		names = append(names, d...)
		names = append(names, 0)
	}
	msg := append(hdr, 0) // WordCount
	msg = binary.LittleEndian.AppendUint16(msg, uint16(len(names)))
	msg = append(msg, names...)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	return append(frame, msg...)
}()

// speaksOnlySMB1 asks the host, on a new connection, the question Windows
// clients ask first: an SMB1 NEGOTIATE that offers SMB2 too. It reports
// true only when the host answers in SMB1, so a host that refused our SMB2
// negotiate (a reset or a closed connection) can be named for what it is.
// Every failure to tell (no answer, an SMB2 answer) is false.
func (s *Session) speaksOnlySMB1(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.connectTimeout())
	conn, err := s.cfg.dial()(cctx, "tcp", s.info.Addr.String())
	cancel()
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(min(s.cfg.requestTimeout(), 5*time.Second)))
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	if _, err := conn.Write(smb1Negotiate); err != nil {
		return false
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil || hdr[0] != 0 {
		return false
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size < 5 || size > 1<<16 {
		return false
	}
	msg := make([]byte, size)
	if _, err := io.ReadFull(conn, msg); err != nil {
		return false
	}
	return string(msg[:4]) == "\xffSMB" && msg[4] == 0x72
}
