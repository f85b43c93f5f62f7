package smb_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// rewriteConn passes every server message through edit (which may change
// it, or return it as it is) before the client reads it.
type rewriteConn struct {
	net.Conn
	edit func(msg []byte) []byte

	mu  sync.Mutex
	out []byte
}

func (c *rewriteConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.out) == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(c.Conn, hdr[:]); err != nil {
			return 0, err
		}
		msg := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		if _, err := io.ReadFull(c.Conn, msg); err != nil {
			return 0, err
		}
		c.out = frame(c.edit(msg))
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}

// dialRewriting returns a Config.Dial whose connections rewrite with a new
// edit from newEdit each.
func dialRewriting(newEdit func() func([]byte) []byte) smb.DialFunc {
	var d net.Dialer
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &rewriteConn{Conn: c, edit: newEdit()}, nil
	}
}

// unsigned clears a reply's signed flag: a client that does not require
// signing then takes it without a signature check.
func unsigned(msg []byte) []byte {
	binary.LittleEndian.PutUint32(msg[16:], binary.LittleEndian.Uint32(msg[16:])&^0x8)
	return msg
}

// once applies rewrite, unsigned, to the first message of command cmd (and
// of status status, when not zero) that rewrite does not decline by
// returning nil.
func once(cmd uint16, status uint32, rewrite func([]byte) []byte) func() func([]byte) []byte {
	return func() func([]byte) []byte {
		done := false
		return func(m []byte) []byte {
			if done || len(m) < 64 || binary.LittleEndian.Uint16(m[12:14]) != cmd ||
				(status != 0 && binary.LittleEndian.Uint32(m[8:12]) != status) {
				return m
			}
			r := rewrite(m)
			if r == nil {
				return m
			}
			done = true
			return unsigned(r)
		}
	}
}

func put32(at int, v uint32) func([]byte) []byte {
	return func(m []byte) []byte { binary.LittleEndian.PutUint32(m[at:], v); return m }
}

// TestHostileReplyBodiesAfterLogon: on an SMB 2.1 session that does not
// require signing, one reply body is rewritten the way a hostile host would
// send it, and sent unsigned (so it reaches go-smb2's decoders instead of
// failing a signature check). go-smb2 v1.0.2 panics on each in the caller's
// goroutine (writeAt, readAtChunk, readdir, acceptError); the guard fails
// the operation with a typed error and the process goes on.
func TestHostileReplyBodiesAfterLogon(t *testing.T) {
	const (
		cmdCreate, cmdRead, cmdWrite, cmdQueryDirectory = 5, 8, 9, 14
		statusNoMoreFiles                               = 0x80000006
	)
	tests := []struct {
		name    string
		cmd     uint16
		status  uint32
		rewrite func([]byte) []byte
		problem string
	}{
		{"a WRITE reply counting more than was sent (client.go:1655)", cmdWrite, 0,
			put32(64+4, 0xFFFFFF00), "bytes written, the request carried"},
		{"a READ reply whose DataLength wraps uint32 (response.go:1126)", cmdRead, 0,
			put32(64+4, 0xFFFFFFF0), "data at offset 80"},
		{"a directory entry whose NextEntryOffset is past the buffer (client.go:2034)", cmdQueryDirectory, 0,
			func(m []byte) []byte {
				off := int(binary.LittleEndian.Uint16(m[64+2:]))
				binary.LittleEndian.PutUint32(m[off:], 0x7FFFFFF8)
				return m
			}, "NextEntryOffset"},
		{"an error reply whose ByteCount wraps uint32 (response.go:72)", cmdQueryDirectory, statusNoMoreFiles,
			put32(64+4, 0xFFFFFFFC), "error data"},
		{"create contexts past the reply", cmdCreate, 0,
			func(m []byte) []byte {
				binary.LittleEndian.PutUint32(m[64+80:], 0x100)
				binary.LittleEndian.PutUint32(m[64+84:], 0xFFFFFF00)
				return m
			}, "create contexts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := deployertest.Start(t, deployertest.WithMaxDialect(0x0210))
			cfg := smb.Config{
				Credentials: smb.Credentials{User: h.User, Password: h.Password}, Port: h.Port, Label: "HOSTILE",
				SigningOptional: true, Encryption: smb.EncryptNever, RequestTimeout: 3 * time.Second,
				Dial: dialRewriting(once(tt.cmd, tt.status, tt.rewrite)),
			}
			ctx := context.Background()
			s, err := smb.Dial(ctx, h.IP, cfg, nil)
			require.NoError(t, err)
			defer s.Close()
			admin, err := s.Mount(ctx, "ADMIN$")
			require.NoError(t, err)
			data := bytes.Repeat([]byte("x"), 100_000)
			_, err = admin.Upload(ctx, "a.bin", bytes.NewReader(data), int64(len(data)), smb.UploadOptions{VerifySHA256: true})
			if err == nil {
				rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				_, err = smb.RawShare(rctx, admin).ReadDir(".")
				cancel()
				err = derrors.Wrap("HOSTILE", derrors.StepCleanup, err)
			}
			var e *derrors.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, derrors.SharedAccessFailure, e.Kind, "%v", err)
			assert.Equal(t, derrors.ReasonMalformedReply, e.Reason, "%v", err)
			assert.Equal(t, "HOSTILE", e.Host)
			assert.ErrorContains(t, err, tt.problem)
		})
	}
}
