package smbguard

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

// TestCCMVector checks the CCM implementation against RFC 3610's packet
// vector #1 (13-byte nonce, 8-byte tag), then round-trips SMB's sizes.
func TestCCMVector(t *testing.T) {
	key, _ := hex.DecodeString("c0c1c2c3c4c5c6c7c8c9cacbcccdcecf")
	nonce, _ := hex.DecodeString("00000003020100a0a1a2a3a4a5")
	hdr, _ := hex.DecodeString("0001020304050607")
	plain, _ := hex.DecodeString("08090a0b0c0d0e0f101112131415161718191a1b1c1d1e")
	want, _ := hex.DecodeString("588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0")
	b, err := aes.NewCipher(key)
	require.NoError(t, err)
	c := newCCM(b, 13, 8)
	assert.Equal(t, want, c.Seal(nil, nonce, plain, hdr))
	got, err := c.Open(nil, nonce, want, hdr)
	require.NoError(t, err)
	assert.Equal(t, plain, got)
	bad := bytes.Clone(want)
	bad[3] ^= 1
	_, err = c.Open(nil, nonce, bad, hdr)
	assert.Error(t, err)

	smb := newCCM(b, 11, 16)
	n := make([]byte, 11)
	for _, size := range []int{0, 1, 15, 16, 17, 1000} {
		p := bytes.Repeat([]byte{7}, size)
		sealed := smb.Seal(nil, n, p, hdr)
		opened, err := smb.Open(nil, n, sealed, hdr)
		require.NoError(t, err, size)
		assert.True(t, bytes.Equal(p, opened), "%d bytes", size)
	}
}

// reply builds a server message.
func reply(cmd uint16, status uint32, msgID uint64, body []byte) []byte {
	h := make([]byte, headerLen)
	copy(h, "\xfeSMB")
	le.PutUint16(h[4:], headerLen)
	le.PutUint32(h[8:], status)
	le.PutUint16(h[12:], cmd)
	le.PutUint32(h[16:], flagServerToRedir)
	le.PutUint64(h[24:], msgID)
	return append(h, body...)
}

func negotiateBody(dialect uint16, caps uint32) []byte {
	b := make([]byte, 64)
	le.PutUint16(b[0:], 65)
	le.PutUint16(b[2:], 3)
	le.PutUint16(b[4:], dialect)
	le.PutUint32(b[24:], caps)
	for _, at := range []int{28, 32, 36} {
		le.PutUint32(b[at:], 8<<20)
	}
	return b
}

func request(cmd uint16, msgID uint64) []byte {
	h := make([]byte, headerLen+8)
	copy(h, "\xfeSMB")
	le.PutUint16(h[4:], headerLen)
	le.PutUint16(h[12:], cmd)
	le.PutUint64(h[24:], msgID)
	return h
}

func framed(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
}

// TestGuardReadsFactsAndPassesBytes: a clean exchange passes byte for byte
// (in any read size) and the facts are read.
func TestGuardReadsFactsAndPassesBytes(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	g := New(a, Options{Host: "pc"})
	ss := make([]byte, 8)
	le.PutUint16(ss, 9)
	first := reply(cmdSessionSetup, statusMoreProcessing, 1, ss)
	ss = bytes.Clone(ss)
	le.PutUint16(ss[2:], sessionFlagGuest)
	final := reply(cmdSessionSetup, 0, 2, ss)
	le.PutUint32(final[16:], flagServerToRedir|flagSigned)
	exchange := []struct{ req, resp []byte }{
		{request(cmdNegotiate, 0), reply(cmdNegotiate, 0, 0, negotiateBody(dialect210, 0))},
		{request(cmdSessionSetup, 1), first},
		{request(cmdSessionSetup, 2), final},
	}
	go func() {
		for _, x := range exchange {
			_, _ = io.ReadFull(b, make([]byte, 4+len(x.req)))
			_, _ = b.Write(framed(x.resp))
		}
		_ = b.Close()
	}()
	for _, x := range exchange {
		_, err := g.Write(framed(x.req)[:3]) // go-smb2 writes the size, then the message
		require.NoError(t, err)
		_, err = g.Write(framed(x.req)[3:])
		require.NoError(t, err)
		want := framed(x.resp)
		got := make([]byte, 0, len(want))
		buf := make([]byte, 7)
		for len(got) < len(want) {
			n, err := g.Read(buf[:min(7, len(want)-len(got))])
			require.NoError(t, err)
			got = append(got, buf[:n]...)
		}
		assert.Equal(t, want, got)
	}
	f := g.Facts()
	assert.True(t, f.Negotiated)
	assert.Equal(t, uint16(dialect210), f.Dialect)
	assert.True(t, f.SessionDone)
	assert.Equal(t, uint16(sessionFlagGuest), f.SessionFlags)
	assert.True(t, f.SessionSigned)
	assert.Nil(t, g.Err())
}

// FuzzCheckFrame feeds any frame to the checks, after a plain SMB 2.1 or
// an SMB 3.1.1 negotiation, a session set up or not: the checks never
// panic, and a frame they pass is one go-smb2's receiver can split and
// read a header from.
func FuzzCheckFrame(f *testing.F) {
	f.Add(byte(0), reply(cmdNegotiate, 0, 0, negotiateBody(dialect311, 0)))
	f.Add(byte(1), reply(cmdRead, 0, 9, make([]byte, 17)))
	f.Add(byte(2), append([]byte("\xfdSMB"), make([]byte, 130)...))
	f.Add(byte(3), reply(cmdQueryDirectory, 0, 9, []byte{9, 0, 72, 0, 64, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, setup byte, frame []byte) {
		s := state{writes: map[uint64]uint32{9: 10}, negPending: true, negotiations: 1}
		if setup&1 != 0 {
			s.dialect, s.negPending, s.ssReqs, s.sessionDone, s.active = dialect210, false, 2, true, true
		}
		if setup&2 != 0 {
			s.dialect, s.cipher = dialect311, cipherGCM
		}
		err := s.checkFrame(frame, Options{SPNEGOWrapsNTLM: setup&4 != 0})
		if err != nil {
			var me *MalformedError
			if !errors.As(err, &me) && !errors.Is(err, ErrSMB1) && !errors.Is(err, errNoSessionKey) {
				t.Fatalf("untyped: %v", err)
			}
			return
		}
		for pkt := frame; ; {
			if len(pkt) < headerLen {
				t.Fatalf("passed a %d-byte message", len(pkt))
			}
			next := le.Uint32(pkt[20:24])
			if next == 0 {
				break
			}
			pkt = pkt[next:]
		}
	})
}

func TestRejectIsTyped(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	g := New(a, Options{Host: "pc"})
	go func() { _, _ = b.Write([]byte{0, 0, 0, 4, 0xFE, 'S', 'M', 'B'}) }()
	_, err := g.Read(make([]byte, 4))
	var e *derrors.Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, derrors.ReasonMalformedReply, e.Reason)
	assert.Equal(t, "pc", e.Host)
	assert.Same(t, e, g.Err())
	_, err = g.Read(make([]byte, 4))
	assert.Same(t, e, err, "the fault stays")
}

// recordingConn keeps every Write it is given.
type recordingConn struct {
	net.Conn
	writes [][]byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, bytes.Clone(p))
	return len(p), nil
}

// TestGuardSendsSizeWithMessage: a frame's size, written alone as go-smb2
// writes it, is held until its message comes and leaves with it (one
// writev on a TCP connection); whatever else is written passes at once,
// and the bytes sent are those written, in order.
func TestGuardSendsSizeWithMessage(t *testing.T) {
	neg, ss := framed(request(cmdNegotiate, 0)), framed(request(cmdSessionSetup, 1))
	tests := []struct {
		name   string
		writes [][]byte
		// sent says how many bytes the connection has after each write.
		sent []int
	}{
		{"size, then message", [][]byte{neg[:4], neg[4:]}, []int{0, len(neg)}},
		{"whole frames", [][]byte{neg, ss}, []int{len(neg), len(neg) + len(ss)}},
		{"size in pieces", [][]byte{neg[:3], neg[3:]}, []int{3, len(neg)}},
		{"message in pieces", [][]byte{neg[:4], neg[4:10], neg[10:], ss[:4], ss[4:]},
			[]int{0, 10, len(neg), len(neg), len(neg) + len(ss)}},
		{"an empty frame passes", [][]byte{{0, 0, 0, 0}, neg[:4], neg[4:]}, []int{4, 4, 4 + len(neg)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &recordingConn{}
			g := New(c, Options{Host: "pc"})
			var want []byte
			for i, w := range tt.writes {
				n, err := g.Write(w)
				require.NoError(t, err)
				assert.Equal(t, len(w), n, "write %d reports its own bytes", i)
				want = append(want, w...)
				assert.Equal(t, tt.sent[i], len(bytes.Join(c.writes, nil)), "after write %d", i)
			}
			assert.Equal(t, want, bytes.Join(c.writes, nil))
		})
	}
}
