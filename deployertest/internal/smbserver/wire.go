package smbserver

import (
	"encoding/binary"
	"time"
)

// SMB2 command codes ([MS-SMB2] 2.2.1.2).
const (
	cmdNegotiate      uint16 = 0x0000
	cmdSessionSetup   uint16 = 0x0001
	cmdLogoff         uint16 = 0x0002
	cmdTreeConnect    uint16 = 0x0003
	cmdTreeDisconnect uint16 = 0x0004
	cmdCreate         uint16 = 0x0005
	cmdClose          uint16 = 0x0006
	cmdFlush          uint16 = 0x0007
	cmdRead           uint16 = 0x0008
	cmdWrite          uint16 = 0x0009
	cmdLock           uint16 = 0x000A
	cmdIoctl          uint16 = 0x000B
	cmdCancel         uint16 = 0x000C
	cmdEcho           uint16 = 0x000D
	cmdQueryDirectory uint16 = 0x000E
	cmdChangeNotify   uint16 = 0x000F
	cmdQueryInfo      uint16 = 0x0010
	cmdSetInfo        uint16 = 0x0011
	cmdOplockBreak    uint16 = 0x0012
)

// Header flags ([MS-SMB2] 2.2.1.2).
const (
	flagServerToRedir uint32 = 0x00000001
	flagAsync         uint32 = 0x00000002
	flagRelated       uint32 = 0x00000004
	flagSigned        uint32 = 0x00000008
)

// Dialect revisions.
const (
	// Dialect202 is SMB 2.0.2.
	Dialect202 uint16 = 0x0202
	// Dialect210 is SMB 2.1.
	Dialect210 uint16 = 0x0210
	// Dialect300 is SMB 3.0.
	Dialect300 uint16 = 0x0300
	// Dialect302 is SMB 3.0.2.
	Dialect302 uint16 = 0x0302
	// Dialect311 is SMB 3.1.1.
	Dialect311      uint16 = 0x0311
	dialectWildcard uint16 = 0x02FF
)

// NTSTATUS values the server returns ([MS-ERREF] 2.3.1).
const (
	StatusSuccess                uint32 = 0x00000000
	StatusPending                uint32 = 0x00000103
	StatusBufferOverflow         uint32 = 0x80000005
	StatusNoMoreFiles            uint32 = 0x80000006
	StatusInfoLengthMismatch     uint32 = 0xC0000004
	StatusInvalidHandle          uint32 = 0xC0000008
	StatusInvalidParameter       uint32 = 0xC000000D
	StatusNoSuchFile             uint32 = 0xC000000F
	StatusInvalidDeviceRequest   uint32 = 0xC0000010
	StatusEndOfFile              uint32 = 0xC0000011
	StatusMoreProcessingRequired uint32 = 0xC0000016
	StatusAccessDenied           uint32 = 0xC0000022
	StatusBufferTooSmall         uint32 = 0xC0000023
	StatusObjectNameInvalid      uint32 = 0xC0000033
	StatusObjectNameNotFound     uint32 = 0xC0000034
	StatusObjectNameCollision    uint32 = 0xC0000035
	StatusObjectPathNotFound     uint32 = 0xC000003A
	StatusSharingViolation       uint32 = 0xC0000043
	StatusDeletePending          uint32 = 0xC0000056
	StatusNoEasOnFile            uint32 = 0xC0000052
	StatusLogonFailure           uint32 = 0xC000006D
	StatusPasswordExpired        uint32 = 0xC0000071
	StatusAccountDisabled        uint32 = 0xC0000072
	StatusDiskFull               uint32 = 0xC000007F
	StatusPipeDisconnected       uint32 = 0xC00000B0
	StatusFileIsADirectory       uint32 = 0xC00000BA
	StatusNotSupported           uint32 = 0xC00000BB
	StatusNetworkNameDeleted     uint32 = 0xC00000C9
	StatusBadNetworkName         uint32 = 0xC00000CC
	StatusDirectoryNotEmpty      uint32 = 0xC0000101
	StatusNotADirectory          uint32 = 0xC0000103
	StatusCancelled              uint32 = 0xC0000120
	StatusFileClosed             uint32 = 0xC0000128
	StatusPipeBroken             uint32 = 0xC000014B
	StatusUserSessionDeleted     uint32 = 0xC0000203
	StatusNotFound               uint32 = 0xC0000225
	StatusAccountLockedOut       uint32 = 0xC0000234
	StatusVirusInfected          uint32 = 0xC0000906
	StatusInternalError          uint32 = 0xC00000E5
	StatusInvalidInfoClass       uint32 = 0xC0000003
	StatusObjectPathSyntaxBad    uint32 = 0xC000003B
	StatusPipeNotAvailable       uint32 = 0xC00000AC
	StatusCannotDelete           uint32 = 0xC0000121
	StatusBadImpersonationLevel  uint32 = 0xC00000A5
	StatusNotifyCleanup          uint32 = 0x0000010B
	StatusNotifyEnumDir          uint32 = 0x0000010C
)

const headerSize = 64

var le = binary.LittleEndian

// header is a decoded SMB2 sync or async packet header.
type header struct {
	CreditCharge uint16
	Status       uint32
	Command      uint16
	Credits      uint16
	Flags        uint32
	NextCommand  uint32
	MessageID    uint64
	AsyncID      uint64
	TreeID       uint32
	SessionID    uint64
	Signature    [16]byte
}

func isSMB2(b []byte) bool {
	return len(b) >= 4 && b[0] == 0xFE && b[1] == 'S' && b[2] == 'M' && b[3] == 'B'
}

func parseHeader(b []byte) (header, bool) {
	var h header
	if len(b) < headerSize || !isSMB2(b) || le.Uint16(b[4:]) != 64 {
		return h, false
	}
	h.CreditCharge = le.Uint16(b[6:])
	h.Status = le.Uint32(b[8:])
	h.Command = le.Uint16(b[12:])
	h.Credits = le.Uint16(b[14:])
	h.Flags = le.Uint32(b[16:])
	h.NextCommand = le.Uint32(b[20:])
	h.MessageID = le.Uint64(b[24:])
	if h.Flags&flagAsync != 0 {
		h.AsyncID = le.Uint64(b[32:])
	} else {
		h.TreeID = le.Uint32(b[36:])
	}
	h.SessionID = le.Uint64(b[40:])
	copy(h.Signature[:], b[48:64])
	return h, true
}

func (h *header) encode(b []byte) {
	copy(b, []byte{0xFE, 'S', 'M', 'B'})
	le.PutUint16(b[4:], 64)
	le.PutUint16(b[6:], h.CreditCharge)
	le.PutUint32(b[8:], h.Status)
	le.PutUint16(b[12:], h.Command)
	le.PutUint16(b[14:], h.Credits)
	le.PutUint32(b[16:], h.Flags)
	le.PutUint32(b[20:], h.NextCommand)
	le.PutUint64(b[24:], h.MessageID)
	if h.Flags&flagAsync != 0 {
		le.PutUint64(b[32:], h.AsyncID)
	} else {
		le.PutUint32(b[32:], 0xFEFF)
		le.PutUint32(b[36:], h.TreeID)
	}
	le.PutUint64(b[40:], h.SessionID)
	copy(b[48:64], h.Signature[:])
}

// buffer returns b[off-64 : off-64+n] of a body whose offsets count from the
// start of the SMB2 header, or nil and false when it is out of range.
func bodyBuf(body []byte, off, n uint32) ([]byte, bool) {
	if n == 0 {
		return nil, true
	}
	if off < headerSize {
		return nil, false
	}
	start := uint64(off) - headerSize
	end := start + uint64(n)
	if end > uint64(len(body)) {
		return nil, false
	}
	return body[start:end], true
}

// filetime converts t to a Windows FILETIME (100 ns since 1601).
func filetime(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()/100 + 116444736000000000)
}

// fromFiletime converts a FILETIME to time.Time.
func fromFiletime(ft uint64) time.Time {
	return time.Unix(0, (int64(ft)-116444736000000000)*100)
}

func pad8(n int) int { return (n + 7) &^ 7 }
