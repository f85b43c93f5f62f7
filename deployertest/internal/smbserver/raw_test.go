package smbserver

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"encoding/binary"
	"github.com/nxdeploy/deployer/deployertest/internal/ntlmssp"
	"github.com/nxdeploy/deployer/deployertest/internal/utf16le"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawClient speaks just enough SMB2 2.0.2 to test what go-smb2 cannot send.
type rawClient struct {
	t     *testing.T
	nc    net.Conn
	msgID uint64
	sid   uint64
	tid   uint32
}

func newRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	return newRawConn(t, nc)
}

// newRawConn speaks SMB2 on nc, which it closes on cleanup.
func newRawConn(t *testing.T, nc net.Conn) *rawClient {
	t.Helper()
	t.Cleanup(func() { _ = nc.Close() })
	require.NoError(t, nc.SetDeadline(time.Now().Add(30*time.Second)))
	return &rawClient{t: t, nc: nc}
}

func (c *rawClient) sendFrame(payload []byte) {
	c.t.Helper()
	f := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(f, uint32(len(payload)))
	_, err := c.nc.Write(append(f, payload...))
	require.NoError(c.t, err)
}

// msg builds one request message.
func (c *rawClient) msg(cmd uint16, body []byte, flags uint32) []byte {
	h := header{Command: cmd, Credits: 64, Flags: flags, MessageID: c.msgID, SessionID: c.sid, TreeID: c.tid, CreditCharge: 1}
	c.msgID++
	b := make([]byte, headerSize+len(body))
	h.encode(b)
	le.PutUint32(b[32:], 0)
	copy(b[headerSize:], body)
	return b
}

func (c *rawClient) recv() (header, []byte) {
	c.t.Helper()
	b, err := readFrame(c.nc, maxFrame)
	require.NoError(c.t, err)
	h, ok := parseHeader(b)
	require.True(c.t, ok, "not an SMB2 response")
	return h, b
}

// call sends one request and returns the final response, skipping interim ones.
func (c *rawClient) call(cmd uint16, body []byte) (header, []byte) {
	c.t.Helper()
	c.sendFrame(c.msg(cmd, body, 0))
	for {
		h, b := c.recv()
		if h.Status != StatusPending {
			return h, b[headerSize:]
		}
	}
}

func negotiateReq(dialects ...uint16) []byte {
	b := make([]byte, 36+2*len(dialects))
	le.PutUint16(b, 36)
	le.PutUint16(b[2:], uint16(len(dialects)))
	le.PutUint16(b[4:], 1)
	for i, d := range dialects {
		le.PutUint16(b[36+2*i:], d)
	}
	return b
}

func sessionSetupReq(tok []byte) []byte {
	b := make([]byte, 24, 24+len(tok))
	le.PutUint16(b, 25)
	b[3] = 1
	le.PutUint16(b[12:], headerSize+24)
	le.PutUint16(b[14:], uint16(len(tok)))
	return append(b, tok...)
}

// ntlmAuthenticate builds an NTLMv2 AUTHENTICATE for challenge msg ch.
func ntlmAuthenticate(t *testing.T, ch []byte, user, domain, pass string) []byte {
	t.Helper()
	require.True(t, len(ch) >= 48)
	var serverChal [8]byte
	copy(serverChal[:], ch[24:32])
	ti, ok := ntlmssp.SecBuf(ch, 40)
	require.True(t, ok)
	nt := ntlmssp.NTHash(pass)
	m := hmac.New(md5.New, nt[:])
	m.Write(utf16le.Encode(strings.ToUpper(user) + domain))
	respKey := m.Sum(nil)
	blob := []byte{1, 1, 0, 0, 0, 0, 0, 0}
	ts := make([]byte, 8)
	le.PutUint64(ts, filetime(time.Now()))
	blob = append(blob, ts...)
	blob = append(blob, []byte("clichal!")...)
	blob = append(blob, 0, 0, 0, 0)
	blob = append(blob, ti...)
	blob = append(blob, 0, 0, 0, 0)
	m = hmac.New(md5.New, respKey)
	m.Write(serverChal[:])
	m.Write(blob)
	ntResp := append(m.Sum(nil), blob...)
	fields := [][]byte{make([]byte, 24), ntResp, utf16le.Encode(domain), utf16le.Encode(user), utf16le.Encode("WS"), nil}
	msg := make([]byte, 64)
	copy(msg, ntlmssp.Signature)
	le.PutUint32(msg[8:], 3)
	le.PutUint32(msg[60:], ntlmssp.FlagUnicode|ntlmssp.FlagNTLM|ntlmssp.FlagESS|ntlmssp.Flag128)
	for i, f := range fields {
		le.PutUint16(msg[12+8*i:], uint16(len(f)))
		le.PutUint16(msg[14+8*i:], uint16(len(f)))
		le.PutUint32(msg[16+8*i:], uint32(len(msg)))
		msg = append(msg, f...)
	}
	return msg
}

func ntlmNegotiateMsg() []byte {
	b := make([]byte, 32)
	copy(b, ntlmssp.Signature)
	le.PutUint32(b[8:], 1)
	le.PutUint32(b[12:], ntlmssp.FlagUnicode|ntlmssp.FlagNTLM|ntlmssp.FlagESS|ntlmssp.Flag128|ntlmssp.FlagRequestTarget)
	return b
}

// logon negotiates 2.0.2 and authenticates with raw NTLMSSP tokens.
func (c *rawClient) logon(user, pass string) uint32 {
	c.t.Helper()
	h, _ := c.call(cmdNegotiate, negotiateReq(Dialect202))
	require.Equal(c.t, StatusSuccess, h.Status)
	h, body := c.call(cmdSessionSetup, sessionSetupReq(ntlmNegotiateMsg()))
	require.Equal(c.t, StatusMoreProcessingRequired, h.Status)
	c.sid = h.SessionID
	tok, ok := bodyBuf(body, uint32(le.Uint16(body[4:])), uint32(le.Uint16(body[6:])))
	require.True(c.t, ok)
	h, _ = c.call(cmdSessionSetup, sessionSetupReq(ntlmAuthenticate(c.t, tok, user, "", pass)))
	return h.Status
}

func (c *rawClient) treeConnect(share string) uint32 {
	p := utf16le.Encode(`\\srv\` + share)
	b := make([]byte, 8, 8+len(p))
	le.PutUint16(b, 9)
	le.PutUint16(b[4:], headerSize+8)
	le.PutUint16(b[6:], uint16(len(p)))
	h, _ := c.call(cmdTreeConnect, append(b, p...))
	c.tid = h.TreeID
	return h.Status
}

func createReq(name string, access, disp, opts uint32) []byte {
	n := utf16le.Encode(name)
	b := make([]byte, 56, 56+len(n)+1)
	le.PutUint16(b, 57)
	le.PutUint32(b[4:], 2)
	le.PutUint32(b[24:], access)
	le.PutUint32(b[32:], 7)
	le.PutUint32(b[36:], disp)
	le.PutUint32(b[40:], opts)
	le.PutUint16(b[44:], headerSize+56)
	le.PutUint16(b[46:], uint16(len(n)))
	b = append(b, n...)
	if len(n) == 0 {
		b = append(b, 0)
	}
	return b
}

func readReq(fid []byte, n uint32) []byte {
	b := make([]byte, 49)
	le.PutUint16(b, 49)
	le.PutUint32(b[4:], n)
	copy(b[16:32], fid)
	return b
}

func writeReq(fid []byte, off uint64, data []byte) []byte {
	b := make([]byte, 48, 48+len(data))
	le.PutUint16(b, 49)
	le.PutUint16(b[2:], headerSize+48)
	le.PutUint32(b[4:], uint32(len(data)))
	le.PutUint64(b[8:], off)
	copy(b[16:32], fid)
	return append(b, data...)
}

func closeReq(fid []byte) []byte {
	b := make([]byte, 24)
	le.PutUint16(b, 24)
	copy(b[8:24], fid)
	return b
}

func TestRawSMB1NegotiateAndAnonymous(t *testing.T) {
	ts := startServer(t, nil)
	cases := []struct {
		name    string
		dialect string
		want    uint16
	}{
		{name: "wildcard", dialect: "SMB 2.???", want: dialectWildcard},
		{name: "2.002 only", dialect: "SMB 2.002", want: Dialect202},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newRaw(t, ts.addr)
			smb1 := make([]byte, 32, 64)
			copy(smb1, []byte{0xFF, 'S', 'M', 'B', 0x72})
			data := []byte("\x02NT LM 0.12\x00\x02" + tc.dialect + "\x00")
			smb1 = append(smb1, 0, byte(len(data)), byte(len(data)>>8))
			smb1 = append(smb1, data...)
			c.sendFrame(smb1)
			h, b := c.recv()
			require.Equal(t, StatusSuccess, h.Status)
			assert.Equal(t, tc.want, le.Uint16(b[headerSize+4:]))
		})
	}
	t.Run("only SMB1 dialects drop the connection", func(t *testing.T) {
		c := newRaw(t, ts.addr)
		smb1 := make([]byte, 32, 64)
		copy(smb1, []byte{0xFF, 'S', 'M', 'B', 0x72})
		data := []byte("\x02NT LM 0.12\x00")
		smb1 = append(smb1, 0, byte(len(data)), 0)
		c.sendFrame(append(smb1, data...))
		_, err := readFrame(c.nc, maxFrame)
		assert.ErrorIs(t, err, io.EOF)
	})
	t.Run("anonymous logon is rejected", func(t *testing.T) {
		c := newRaw(t, ts.addr)
		assert.Equal(t, StatusLogonFailure, c.logon("", ""))
	})
	t.Run("raw NTLMSSP logon", func(t *testing.T) {
		c := newRaw(t, ts.addr)
		require.Equal(t, StatusSuccess, c.logon(testUser, testPass))
		assert.Equal(t, StatusSuccess, c.treeConnect("ADMIN$"))
	})
}

func TestRawCancelPendingPipeRead(t *testing.T) {
	ts := startServer(t, nil)
	c := newRaw(t, ts.addr)
	require.Equal(t, StatusSuccess, c.logon(testUser, testPass))
	require.Equal(t, StatusSuccess, c.treeConnect("IPC$"))
	h, body := c.call(cmdCreate, createReq("echo", 0x0012019F, dispOpen, 0))
	require.Equal(t, StatusSuccess, h.Status)
	fid := append([]byte(nil), body[64:80]...)

	readID := c.msgID
	c.sendFrame(c.msg(cmdRead, readReq(fid, 1024), 0))
	h, _ = c.recv()
	require.Equal(t, StatusPending, h.Status)
	require.NotZero(t, h.Flags&flagAsync)
	require.Equal(t, readID, h.MessageID)
	cancel := c.msg(cmdCancel, fixed(4, 4), flagAsync)
	le.PutUint64(cancel[24:], readID)
	le.PutUint64(cancel[32:], h.AsyncID)
	c.sendFrame(cancel)
	h, _ = c.recv()
	assert.Equal(t, StatusCancelled, h.Status)
	assert.Equal(t, readID, h.MessageID)

	// The pipe still works after the cancel.
	h, _ = c.call(cmdWrite, writeReq(fid, 0, []byte("ping")))
	require.Equal(t, StatusSuccess, h.Status)
	h, body = c.call(cmdRead, readReq(fid, 1024))
	require.Equal(t, StatusSuccess, h.Status)
	assert.Equal(t, "ping", string(body[16:16+le.Uint32(body[4:])]))
}

func TestRawCompoundRelated(t *testing.T) {
	ts := startServer(t, nil)
	c := newRaw(t, ts.addr)
	require.Equal(t, StatusSuccess, c.logon(testUser, testPass))
	require.Equal(t, StatusSuccess, c.treeConnect("ADMIN$"))
	related := make([]byte, 16)
	for i := range related {
		related[i] = 0xFF
	}
	m1 := c.msg(cmdCreate, createReq("comp.txt", 0x0012019F, dispOverwriteIf, 0), 0)
	m2 := c.msg(cmdWrite, writeReq(related, 0, []byte("compound")), flagRelated)
	m3 := c.msg(cmdClose, closeReq(related), flagRelated)
	c.sendFrame(compound(m1, m2, m3))
	_, resp := c.recv()
	msgs, ok := splitChain(resp)
	require.True(t, ok)
	require.Len(t, msgs, 3)
	for _, m := range msgs {
		h, _ := parseHeader(m)
		assert.Equal(t, StatusSuccess, h.Status, "command %d", h.Command)
	}
	got, err := os.ReadFile(ts.admin + "/comp.txt")
	require.NoError(t, err)
	assert.Equal(t, "compound", string(got))
}

// compound chains messages into one frame: each but the last padded to 8 bytes, with NextCommand set.
func compound(msgs ...[]byte) []byte {
	var chain []byte
	for i, m := range msgs {
		if i < len(msgs)-1 {
			for len(m)%8 != 0 {
				m = append(m, 0)
			}
			le.PutUint32(m[20:], uint32(len(m)))
		}
		chain = append(chain, m...)
	}
	return chain
}

func ioctlReq(ctl uint32, fid []byte, in []byte) []byte {
	b := make([]byte, 56, 56+len(in)+1)
	le.PutUint16(b, 57)
	le.PutUint32(b[4:], ctl)
	copy(b[8:24], fid)
	le.PutUint32(b[24:], headerSize+56)
	le.PutUint32(b[28:], uint32(len(in)))
	le.PutUint32(b[44:], 65536)
	le.PutUint32(b[48:], 1)
	b = append(b, in...)
	if len(in) == 0 {
		b = append(b, 0)
	}
	return b
}

func TestRawSessionTreeAndIoctl(t *testing.T) {
	ts := startServer(t, nil)
	c := newRaw(t, ts.addr)
	require.Equal(t, StatusSuccess, c.logon(testUser, testPass))
	assert.Equal(t, 1, ts.srv.Sessions())
	require.Equal(t, StatusSuccess, c.treeConnect("ADMIN$"))
	ff := bytes.Repeat([]byte{0xFF}, 16)

	cases := []struct {
		name string
		ctl  uint32
		want uint32
	}{
		{name: "DFS referrals", ctl: fsctlDFSGetReferrals, want: StatusNotFound},
		{name: "network interfaces", ctl: fsctlQueryNetworkInterfaceInfo, want: StatusNotSupported},
		{name: "unknown FSCTL", ctl: 0x00090000, want: StatusInvalidDeviceRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := c.call(cmdIoctl, ioctlReq(tc.ctl, ff, nil))
			assert.Equal(t, tc.want, h.Status)
		})
	}

	t.Run("delete on close", func(t *testing.T) {
		h, body := c.call(cmdCreate, createReq("tmp.txt", 0x0012019F|accDelete, dispCreate, optDeleteOnClose))
		require.Equal(t, StatusSuccess, h.Status)
		fid := append([]byte(nil), body[64:80]...)
		_, err := os.Stat(ts.admin + "/tmp.txt")
		require.NoError(t, err)
		h, _ = c.call(cmdClose, closeReq(fid))
		require.Equal(t, StatusSuccess, h.Status)
		_, err = os.Stat(ts.admin + "/tmp.txt")
		assert.True(t, os.IsNotExist(err))
		h, _ = c.call(cmdClose, closeReq(fid))
		assert.Equal(t, StatusFileClosed, h.Status)
	})

	t.Run("echo", func(t *testing.T) {
		h, _ := c.call(cmdEcho, fixed(4, 4))
		assert.Equal(t, StatusSuccess, h.Status)
	})

	t.Run("tree disconnect then logoff", func(t *testing.T) {
		h, _ := c.call(cmdTreeDisconnect, fixed(4, 4))
		require.Equal(t, StatusSuccess, h.Status)
		h, _ = c.call(cmdCreate, createReq("x.txt", 0x0012019F, dispOpenIf, 0))
		assert.Equal(t, StatusNetworkNameDeleted, h.Status)
		h, _ = c.call(cmdLogoff, fixed(4, 4))
		require.Equal(t, StatusSuccess, h.Status)
		assert.Equal(t, 0, ts.srv.Sessions())
		h, _ = c.call(cmdTreeConnect, fixed(9, 9))
		assert.Equal(t, StatusUserSessionDeleted, h.Status)
	})
}
