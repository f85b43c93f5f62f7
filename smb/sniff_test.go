package smb

import (
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// respHeader returns a 64-byte SMB2 response header.
func respHeader(cmd uint16, status uint32) []byte {
	h := make([]byte, smb2HeaderLen)
	copy(h, "\xfeSMB")
	binary.LittleEndian.PutUint16(h[4:], 64)
	binary.LittleEndian.PutUint32(h[8:], status)
	binary.LittleEndian.PutUint16(h[12:], cmd)
	binary.LittleEndian.PutUint32(h[16:], smb2FlagServerToRedir)
	return h
}

// negotiateResp builds a NEGOTIATE response; cipher 0 adds no context.
func negotiateResp(dialect, secMode uint16, caps uint32, cipher uint16) []byte {
	p := respHeader(smb2CmdNegotiate, statusSuccess)
	b := make([]byte, 64)
	binary.LittleEndian.PutUint16(b[0:], 65)
	binary.LittleEndian.PutUint16(b[2:], secMode)
	binary.LittleEndian.PutUint16(b[4:], dialect)
	binary.LittleEndian.PutUint32(b[24:], caps)
	binary.LittleEndian.PutUint32(b[36:], 8<<20)
	p = append(p, b...)
	if cipher != 0 {
		binary.LittleEndian.PutUint16(p[smb2HeaderLen+6:], 2)
		binary.LittleEndian.PutUint32(p[smb2HeaderLen+60:], uint32(len(p)))
		// a preauth context (type 1) first, then the cipher context
		pre := []byte{1, 0, 6, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0}
		p = append(p, pre...)
		enc := []byte{2, 0, 4, 0, 0, 0, 0, 0, 1, 0, byte(cipher), byte(cipher >> 8)}
		p = append(p, enc...)
	}
	return p
}

func sessionResp(status uint32, flags uint16) []byte {
	p := respHeader(smb2CmdSessionSetup, status)
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b[0:], 9)
	binary.LittleEndian.PutUint16(b[2:], flags)
	return append(p, b...)
}

func frame(pkt []byte) []byte {
	f := make([]byte, 4, 4+len(pkt))
	binary.BigEndian.PutUint32(f, uint32(len(pkt)))
	return append(f, pkt...)
}

func TestSniffFacts(t *testing.T) {
	big := make([]byte, maxSniffedFrame+10)
	tests := []struct {
		name   string
		stream [][]byte
		want   wireFacts
	}{
		{"smb311 gcm guest", [][]byte{
			negotiateResp(0x0311, negSigningRequired, 0, cipherAES128GCM),
			sessionResp(statusMoreProcessing, 0),
			sessionResp(statusSuccess, sessionFlagGuest),
		}, wireFacts{negotiated: true, dialect: 0x0311, securityMode: negSigningRequired, cipher: cipherAES128GCM,
			sessionDone: true, sessionFlags: sessionFlagGuest, sessionStatus: statusSuccess, maxWriteSize: 8 << 20}},
		{"smb302 with a skipped big frame", [][]byte{
			big,
			negotiateResp(0x0302, 0, capEncryption, 0),
			sessionResp(0xC000006D, 0),
		}, wireFacts{negotiated: true, dialect: 0x0302, capabilities: capEncryption, sessionDone: true,
			sessionStatus: 0xC000006D, maxWriteSize: 8 << 20}},
		{"encrypt data flag", [][]byte{
			negotiateResp(0x0300, 0, 0, 0),
			sessionResp(statusSuccess, sessionFlagEncryptData),
		}, wireFacts{negotiated: true, dialect: 0x0300, sessionDone: true, sessionFlags: sessionFlagEncryptData,
			maxWriteSize: 8 << 20}},
	}
	for _, tt := range tests {
		for _, step := range []int{1, 3, 1 << 20} {
			c := &sniffConn{now: time.Now}
			var stream []byte
			for _, p := range tt.stream {
				stream = append(stream, frame(p)...)
			}
			for len(stream) > 0 {
				k := min(step, len(stream))
				c.feed(stream[:k])
				stream = stream[k:]
			}
			got := c.snapshot()
			assert.False(t, got.negotiatedAt.IsZero(), tt.name)
			got.negotiatedAt = time.Time{}
			assert.Equal(t, tt.want, got, "%s, %d-byte reads", tt.name, step)
		}
	}
}

func TestSniffConnPassesThrough(t *testing.T) {
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	c := newSniffConn(a)
	stream := append(frame(negotiateResp(0x0311, 0, 0, cipherAES128CCM)), frame(sessionResp(statusSuccess, 0))...)
	stream = append(stream, []byte("tail bytes after logon")...)
	go func() { _, _ = b.Write(stream) }()
	got := make([]byte, len(stream))
	n := 0
	for n < len(got) {
		k, err := c.Read(got[n:min(n+7, len(got))])
		require.NoError(t, err)
		n += k
	}
	assert.Equal(t, stream, got)
	f := c.snapshot()
	assert.Equal(t, uint16(0x0311), f.dialect)
	assert.Equal(t, uint16(cipherAES128CCM), f.cipher)
	assert.True(t, f.sessionDone)
	assert.Equal(t, "AES-128-CCM", cipherName(f.cipher))
}

func TestCipherNames(t *testing.T) {
	assert.Equal(t, "AES-128-GCM", cipherName(cipherAES128GCM))
	assert.Equal(t, "AES-256-CCM", cipherName(cipherAES256CCM))
	assert.Equal(t, "AES-256-GCM", cipherName(cipherAES256GCM))
	assert.Equal(t, "", cipherName(9))
}

func FuzzSniff(f *testing.F) {
	f.Add(append(frame(negotiateResp(0x0311, 2, 0, 2)), frame(sessionResp(statusSuccess, 1))...), 5)
	f.Add(frame(negotiateResp(0x0302, 0, capEncryption, 0)), 1)
	f.Add([]byte{0, 0, 0, 70, 0xfe, 'S', 'M', 'B'}, 2)
	f.Fuzz(func(t *testing.T, stream []byte, step int) {
		if step <= 0 {
			step = 1
		}
		c := &sniffConn{now: time.Now}
		for len(stream) > 0 {
			k := min(step, len(stream))
			c.feed(stream[:k])
			stream = stream[k:]
		}
		f := c.snapshot()
		if len(c.frame) > maxSniffedFrame {
			t.Fatalf("buffered %d bytes", len(c.frame))
		}
		if f.sessionDone && !c.done {
			t.Fatal("session done but still sniffing")
		}
	})
}
