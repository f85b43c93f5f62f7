package smbserver

import (
	"bytes"
	"github.com/nxdeploy/deployer/deployertest/internal/ntlmssp"
	"io"
	"net"
	"testing"
	"time"
)

func FuzzParseAuthenticate(f *testing.F) {
	id := &ntlmssp.Identity{NetBIOSName: "H", NetBIOSDom: "D", DNSName: "h", DNSDomain: "d", Major: 10}
	ch, chMsg, err := ntlmssp.BuildChallenge(id, ntlmNegotiateMsg(), [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, time.Unix(0, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ntlmAuthenticate(&testing.T{}, chMsg, "u", "", "p"))
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ntlmssp.ParseAuthenticate(b)
		if err != nil {
			return
		}
		_, _ = ntlmssp.VerifyNTLMv2(a, ch, ntlmssp.NTHash("p"))
		_ = a.Anonymous()
		_, _, _ = ntlmssp.BuildChallenge(id, b, [8]byte{}, time.Unix(0, 0))
	})
}

// FuzzServeFrames feeds arbitrary frames to a connection that negotiated
// and logged on (2.0.2, unsigned), checking the server neither panics nor
// hangs.
func FuzzServeFrames(f *testing.F) {
	seeds := [][]byte{
		negotiateReq(Dialect202, Dialect311),
		createReq("x.txt", 0x0012019F, dispOverwriteIf, 0),
		createReq(`..\x`, 0x0012019F, dispOpen, 0),
		readReq(bytes.Repeat([]byte{0xFF}, 16), 100),
		writeReq(make([]byte, 16), 0, []byte("abc")),
		closeReq(make([]byte, 16)),
		fixed(4, 4),
	}
	cmds := []uint16{cmdNegotiate, cmdCreate, cmdCreate, cmdRead, cmdWrite, cmdClose, cmdEcho}
	for i, s := range seeds {
		f.Add(cmds[i], uint32(0), s)
	}
	f.Add(cmdIoctl, uint32(0), make([]byte, 57))
	f.Add(cmdQueryDirectory, uint32(0), make([]byte, 33))
	f.Add(cmdQueryInfo, uint32(0), make([]byte, 41))
	f.Add(cmdSetInfo, uint32(0), make([]byte, 33))
	f.Add(cmdTreeConnect, uint32(0), make([]byte, 9))
	f.Add(cmdSessionSetup, uint32(0), sessionSetupReq([]byte{0x60, 0x03, 0x06, 0x01, 0x00}))
	f.Add(cmdCreate, flagRelated, createReq("", 0x0012019F, dispOpen, 1))

	ts := startServer(f, nil)
	f.Fuzz(func(t *testing.T, cmd uint16, flags uint32, body []byte) {
		c := newRaw(t, ts.addr)
		if c.logon(testUser, testPass) != StatusSuccess || c.treeConnect("ADMIN$") != StatusSuccess {
			t.Fatal("logon failed")
		}
		m := c.msg(cmd%0x14, body, flags&^(flagAsync|flagServerToRedir))
		c.sendFrame(m)
		_ = c.nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if cmd%0x14 == cmdCancel {
			return
		}
		b, err := readFrame(c.nc, maxFrame)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() && cmd%0x14 == cmdRead {
				return
			}
			// The server may drop a connection on a protocol violation.
			return
		}
		if _, ok := parseHeader(b); !ok && !bytes.HasPrefix(b, []byte{0xFD, 'S', 'M', 'B'}) {
			t.Fatalf("unparseable response % x", b[:min(len(b), 64)])
		}
	})
}

// FuzzHandleFrame feeds one transport frame to a fresh connection: SMB1
// negotiates, SMB2 messages and chains, and TRANSFORM_HEADERs.
func FuzzHandleFrame(f *testing.F) {
	c0 := &rawClient{}
	f.Add(c0.msg(cmdNegotiate, negotiateReq(Dialect202, Dialect210, Dialect300, Dialect311), 0))
	smb1 := append([]byte{0xFF, 'S', 'M', 'B', 0x72}, make([]byte, 27)...)
	data := []byte("\x02NT LM 0.12\x00\x02SMB 2.???\x00")
	f.Add(append(append(smb1, 0, byte(len(data)), 0), data...))
	f.Add(append([]byte{0xFD, 'S', 'M', 'B'}, make([]byte, 120)...))
	chain := c0.msg(cmdNegotiate, negotiateReq(Dialect311), 0)
	le.PutUint32(chain[20:], uint32(len(chain)))
	f.Add(append(chain, c0.msg(cmdEcho, fixed(4, 4), flagRelated)...))
	srv, err := New(Config{Shares: []Share{{Name: "IPC$", Type: SharePipe}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		a, b := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = io.Copy(io.Discard, b)
		}()
		c := newConn(srv, a)
		if c.handleFrame(frame) {
			c.handleFrame(frame)
		}
		c.close()
		_ = b.Close()
		<-done
	})
}
