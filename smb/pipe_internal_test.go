package smb

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAwaitsAnswer: only the last fragment of a request, bind or
// alter-context that the server answers is held for a transceive; every
// other PDU (a first fragment, an auth3, a "maybe" call, a truncated or
// foreign message) is written at once.
func TestAwaitsAnswer(t *testing.T) {
	pdu := func(ptype, flags, drep byte, fragLen, size int) []byte {
		b := make([]byte, size)
		b[0], b[1], b[2], b[3], b[4] = 5, 0, ptype, flags, drep
		if drep&0x10 != 0 {
			binary.LittleEndian.PutUint16(b[8:], uint16(fragLen))
		} else {
			binary.BigEndian.PutUint16(b[8:], uint16(fragLen))
		}
		return b
	}
	const first, last, maybe, le, be = 0x01, 0x02, 0x40, 0x10, 0x00
	for _, tc := range []struct {
		name string
		b    []byte
		want bool
	}{
		{"whole request", pdu(0, first|last, le, 40, 40), true},
		{"last fragment of a request", pdu(0, last, le, 40, 40), true},
		{"bind", pdu(11, first|last, le, 72, 72), true},
		{"alter context", pdu(14, first|last, le, 72, 72), true},
		{"big-endian request", pdu(0, first|last, be, 40, 40), true},
		{"first fragment of a request", pdu(0, first, le, 40, 40), false},
		{"maybe call", pdu(0, first|last|maybe, le, 40, 40), false},
		{"auth3: no answer", pdu(16, first|last, le, 40, 40), false},
		{"response", pdu(2, first|last, le, 40, 40), false},
		{"fragment length beyond the write", pdu(0, first|last, le, 80, 40), false},
		{"fragment length short of the write", pdu(0, first|last, le, 20, 40), false},
		{"not DCE/RPC version 5", append([]byte{4}, pdu(0, first|last, le, 40, 40)[1:]...), false},
		{"shorter than a header", pdu(0, first|last, le, 10, 10), false},
		{"empty", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, awaitsAnswer(tc.b))
		})
	}
}

// TestTransceiveRefused: the statuses after which the request was not
// written, so it is sent with WRITE instead, and others that end the call.
func TestTransceiveRefused(t *testing.T) {
	for code, want := range map[uint32]bool{
		0xC00000BB: true,  // STATUS_NOT_SUPPORTED
		0xC0000010: true,  // STATUS_INVALID_DEVICE_REQUEST
		0xC0000002: true,  // STATUS_NOT_IMPLEMENTED
		0xC00000AE: true,  // STATUS_PIPE_BUSY
		0xC000014B: false, // STATUS_PIPE_BROKEN
		0xC0000022: false, // STATUS_ACCESS_DENIED
		0x80000005: false, // STATUS_BUFFER_OVERFLOW: written, answer too long
	} {
		assert.Equal(t, want, transceiveRefused(code), "0x%08X", code)
	}
}
