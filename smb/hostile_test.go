package smb_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/smbguard"
	"github.com/nxdeploy/deployer/smb"
)

// hostileServer accepts connections on loopback and answers the n-th frame
// a client sends with replies(n, request). It stands for a host that sends
// whatever it likes.
func hostileServer(t *testing.T, replies func(n int, req []byte) [][]byte) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				for n := 0; ; n++ {
					var hdr [4]byte
					if _, err := io.ReadFull(c, hdr[:]); err != nil {
						return
					}
					req := make([]byte, binary.BigEndian.Uint32(hdr[:])&0xFFFFFF)
					if _, err := io.ReadFull(c, req); err != nil {
						return
					}
					for _, r := range replies(n, req) {
						if _, err := c.Write(r); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// The builders below write server replies by hand, as a hostile host would.

func frame(msg []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(msg))), msg...)
}

func header(cmd uint16, status uint32, msgID uint64, sessionID uint64) []byte {
	h := make([]byte, 64)
	copy(h, "\xfeSMB")
	binary.LittleEndian.PutUint16(h[4:], 64)
	binary.LittleEndian.PutUint32(h[8:], status)
	binary.LittleEndian.PutUint16(h[12:], cmd)
	binary.LittleEndian.PutUint16(h[14:], 64) // credits
	binary.LittleEndian.PutUint32(h[16:], 1)  // server to client
	binary.LittleEndian.PutUint64(h[24:], msgID)
	binary.LittleEndian.PutUint64(h[40:], sessionID)
	return h
}

// negotiate21 is an SMB 2.1 NEGOTIATE response that does not require
// signing.
func negotiate21(msgID uint64) []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint16(b[0:], 65)
	binary.LittleEndian.PutUint16(b[2:], 1) // signing enabled
	binary.LittleEndian.PutUint16(b[4:], 0x0210)
	for _, at := range []int{28, 32, 36} {
		binary.LittleEndian.PutUint32(b[at:], 1<<20)
	}
	return append(header(0, 0, msgID, 0), b...)
}

// der encodes one DER element.
func der(tag byte, content ...[]byte) []byte {
	var c []byte
	for _, p := range content {
		c = append(c, p...)
	}
	out := []byte{tag}
	switch n := len(c); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, c...)
}

var oidNTLM = []byte{0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}

// spnegoChallenge wraps an NTLM token in a SPNEGO NegTokenResp naming mech.
func spnegoChallenge(mech, ntlm []byte) []byte {
	return der(0xa1, der(0x30,
		der(0xa0, der(0x0a, []byte{1})),
		der(0xa1, der(0x06, mech)),
		der(0xa2, der(0x04, ntlm))))
}

// ntlmChallenge builds a CHALLENGE_MESSAGE whose TargetName has the given
// offset and whose TargetInfo holds avPairs (an EOL pair is appended).
func ntlmChallenge(targetNameOffset uint32, avPairs []byte) []byte {
	m := make([]byte, 56)
	copy(m, "NTLMSSP\x00")
	binary.LittleEndian.PutUint32(m[8:], 2)
	binary.LittleEndian.PutUint16(m[12:], 16) // with offset 0xFFFFFFF0, offset+length wraps to 0
	binary.LittleEndian.PutUint16(m[14:], 16)
	binary.LittleEndian.PutUint32(m[16:], targetNameOffset)
	binary.LittleEndian.PutUint32(m[20:], 0x00000001|0x00000004|0x00080000|0x00800000|0x02000000|0x20000000|0x80000000)
	copy(m[24:], "chalenge")
	info := append(append([]byte(nil), avPairs...), 0, 0, 0, 0)
	binary.LittleEndian.PutUint16(m[40:], uint16(len(info)))
	binary.LittleEndian.PutUint16(m[42:], uint16(len(info)))
	binary.LittleEndian.PutUint32(m[44:], 56)
	m = append(m, info...)
	m = append(m, "T\x00A\x00R\x00G\x00E\x00T\x00!\x00!\x00"...) // a real TargetName, for offsets that point here
	return m
}

// sessionSetup1 is the first SESSION_SETUP response carrying token.
func sessionSetup1(msgID uint64, token []byte) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint16(b[0:], 9)
	binary.LittleEndian.PutUint16(b[4:], 72)
	binary.LittleEndian.PutUint16(b[6:], uint16(len(token)))
	return append(append(header(1, 0xC0000016, msgID, 0x1234), b...), token...)
}

func msgID(req []byte) uint64 { return binary.LittleEndian.Uint64(req[24:32]) }

func TestHostileRepliesBeforeLogonAreTypedErrors(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	withNext := func(msg []byte, next uint32) []byte {
		binary.LittleEndian.PutUint32(msg[20:], next)
		return msg
	}
	errorReply := func(id uint64, byteCount uint32) []byte {
		b := make([]byte, 9)
		binary.LittleEndian.PutUint16(b[0:], 9)
		binary.LittleEndian.PutUint32(b[4:], byteCount)
		return append(header(0, 0xC00000BB, id, 0), b...)
	}
	atLogon := func(token []byte) func(int, []byte) [][]byte {
		return func(n int, req []byte) [][]byte {
			if n == 0 {
				return [][]byte{frame(negotiate21(msgID(req)))}
			}
			return [][]byte{frame(sessionSetup1(msgID(req), token))}
		}
	}
	tests := []struct {
		name    string
		replies func(n int, req []byte) [][]byte
		step    derrors.Step
		reason  derrors.Reason
		problem string
	}{
		{"an 8-byte negotiate answer (go-smb2 packet.go:160 slice bounds [:24] with capacity 4)",
			func(int, []byte) [][]byte { return [][]byte{{0, 0, 0, 4, 0xFE, 'S', 'M', 'B'}} },
			derrors.StepNegotiate, derrors.ReasonMalformedReply, "shorter than an SMB2 header"},
		{"a NextCommand past the frame (slice bounds [:4096])",
			func(_ int, req []byte) [][]byte { return [][]byte{frame(withNext(negotiate21(msgID(req)), 4096))} },
			derrors.StepNegotiate, derrors.ReasonMalformedReply, "NextCommand 4096"},
		{"a compound whose second message is 8 bytes",
			func(_ int, req []byte) [][]byte {
				return [][]byte{frame(append(withNext(negotiate21(msgID(req)), 128), make([]byte, 8)...))}
			},
			derrors.StepNegotiate, derrors.ReasonMalformedReply, "NextCommand 128"},
		{"an encrypted frame before any session",
			func(int, []byte) [][]byte { return [][]byte{frame(append([]byte("\xfdSMB"), make([]byte, 112)...))} },
			derrors.StepNegotiate, derrors.ReasonMalformedReply, "without encryption keys"},
		{"an error reply whose ByteCount wraps uint32",
			func(_ int, req []byte) [][]byte { return [][]byte{frame(errorReply(msgID(req), 0xFFFFFFFC))} },
			derrors.StepNegotiate, derrors.ReasonMalformedReply, "error data"},
		{"a Direct TCP frame of 16 MiB",
			func(int, []byte) [][]byte { return [][]byte{{0, 0xFF, 0xFF, 0xFF}} },
			derrors.StepNegotiate, derrors.ReasonMalformedReply, "more than"},
		{"an SMB1 answer",
			func(int, []byte) [][]byte { return [][]byte{frame(append([]byte("\xffSMB\x72"), make([]byte, 40)...))} },
			derrors.StepNegotiate, derrors.ReasonSMB1Only, "SMB1"},
		{"an NTLM challenge whose TargetName offset is 0xFFFFFFF0 (uint32 wrap in ntlm.(*Client).Authenticate)",
			atLogon(spnegoChallenge(oidNTLM, ntlmChallenge(0xFFFFFFF0, nil))),
			derrors.StepLogon, derrors.ReasonMalformedReply, "TargetName at offset 4294967280"},
		{"an NTLM challenge with a 2-byte MsvAvFlags pair",
			atLogon(spnegoChallenge(oidNTLM, ntlmChallenge(60, []byte{6, 0, 2, 0, 1, 0}))),
			derrors.StepLogon, derrors.ReasonMalformedReply, "MsvAvFlags"},
		{"SPNEGO naming a mechanism that was not offered (nil mechanism in go-smb2's spnegoClient)",
			atLogon(spnegoChallenge([]byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}, ntlmChallenge(60, nil))),
			derrors.StepLogon, derrors.ReasonMalformedReply, "SPNEGO selects mechanism"},
		{"a session setup security buffer past the end",
			func(n int, req []byte) [][]byte {
				if n == 0 {
					return [][]byte{frame(negotiate21(msgID(req)))}
				}
				r := sessionSetup1(msgID(req), []byte{1, 2, 3, 4})
				binary.LittleEndian.PutUint16(r[64+4:], 0xFFF0)
				binary.LittleEndian.PutUint16(r[64+6:], 0x20)
				return [][]byte{frame(r)}
			},
			derrors.StepLogon, derrors.ReasonMalformedReply, "security buffer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := hostileServer(t, tt.replies)
			start := time.Now()
			s, err := smb.Dial(context.Background(), "127.0.0.1", smb.Config{
				Credentials: smb.Credentials{User: "admin", Password: "pw"}, Port: port, Label: "HOSTILE",
				SigningOptional: true, RequestTimeout: 5 * time.Second,
			}, nil)
			require.Nil(t, s)
			var e *derrors.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, "HOSTILE", e.Host)
			assert.Equal(t, tt.step, e.Step, "%v", err)
			assert.Equal(t, derrors.SharedAccessFailure, e.Kind, "%v", err)
			assert.Equal(t, tt.reason, e.Reason, "%v", err)
			assert.ErrorContains(t, err, tt.problem)
			assert.Less(t, time.Since(start), 4*time.Second, "the guard fails at once, not at the request timeout")
			assert.False(t, derrors.SafeToRetry(err))
			var me *smbguard.MalformedError
			if tt.reason == derrors.ReasonMalformedReply {
				assert.True(t, errors.As(err, &me), "%v", err)
			}
		})
	}
}

// TestAServerThatDoesNotSign: Info says whether the server signed, and the
// default client (signing required) stops at logon with the reason instead
// of failing later with "unknown error: signing required".
func TestAServerThatDoesNotSign(t *testing.T) {
	// The emulated host at SMB 2.1 signs only when the client requires it.
	h := deployertest.Start(t, deployertest.WithMaxDialect(0x0210))
	ctx := context.Background()
	for _, allow := range []bool{true, false} {
		s, err := smb.Dial(ctx, h.IP, smb.Config{Credentials: smb.Credentials{User: h.User, Password: h.Password},
			Port: h.Port, SigningOptional: allow}, nil)
		require.NoError(t, err)
		info := s.Info()
		assert.False(t, info.SigningRequired)
		assert.Equal(t, !allow, info.Signed, "allow unsigned %v", allow)
		assert.True(t, info.EncryptionNotOffered)
		require.NoError(t, s.Close())
	}

	// A server that completes the logon and never signs.
	port := hostileServer(t, func(n int, req []byte) [][]byte {
		switch n {
		case 0:
			return [][]byte{frame(negotiate21(msgID(req)))}
		case 1:
			return [][]byte{frame(sessionSetup1(msgID(req), spnegoChallenge(oidNTLM, ntlmChallenge(60, nil))))}
		case 2:
			b := []byte{9, 0, 0, 0, 0, 0, 0, 0}
			return [][]byte{frame(append(header(1, 0, msgID(req), 0x1234), b...))}
		}
		return [][]byte{frame(append(header(2, 0, msgID(req), 0x1234), 4, 0, 0, 0))}
	})
	_, err := smb.Dial(ctx, "127.0.0.1", smb.Config{Credentials: smb.Credentials{User: "admin", Password: "pw"},
		Port: port, RequestTimeout: 3 * time.Second}, nil)
	var e *derrors.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, derrors.StepLogon, e.Step, "%v", err)
	assert.Equal(t, derrors.SharedAccessFailure, e.Kind, "%v", err)
	assert.Equal(t, derrors.ReasonSigningUnavailable, e.Reason, "%v", err)
}

// TestTransformFrameOnASessionWithoutKeys: after an SMB 2.1 logon (no
// encryption keys), an encrypted frame made go-smb2's receiver goroutine
// dereference its nil decrypter (session.go:390, via conn.go:538): the
// process died. Now the operation fails with a typed error.
func TestTransformFrameOnASessionWithoutKeys(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // after the server's cleanup
	port := hostileServer(t, func(n int, req []byte) [][]byte {
		switch n {
		case 0:
			return [][]byte{frame(negotiate21(msgID(req)))}
		case 1:
			return [][]byte{frame(sessionSetup1(msgID(req), spnegoChallenge(oidNTLM, ntlmChallenge(60, nil))))}
		case 2:
			return [][]byte{frame(append(header(1, 0, msgID(req), 0x1234), 9, 0, 0, 0, 0, 0, 0, 0))}
		}
		tf := make([]byte, 52+64)
		copy(tf, "\xfdSMB")
		binary.LittleEndian.PutUint32(tf[36:], 64)
		binary.LittleEndian.PutUint16(tf[42:], 1)
		binary.LittleEndian.PutUint64(tf[44:], 0x1234)
		return [][]byte{frame(tf)}
	})
	ctx := context.Background()
	s, err := smb.Dial(ctx, "127.0.0.1", smb.Config{Credentials: smb.Credentials{User: "admin", Password: "pw"},
		Port: port, SigningOptional: true, RequestTimeout: 3 * time.Second, Label: "HOSTILE"}, nil)
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Mount(ctx, "ADMIN$")
	var e *derrors.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, derrors.StepTreeConnect, e.Step)
	assert.Equal(t, derrors.ReasonMalformedReply, e.Reason, "%v", err)
	assert.ErrorContains(t, err, "encrypted frame on a session without encryption keys")
}
