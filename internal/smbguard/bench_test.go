package smbguard

import (
	"io"
	"net"
	"testing"
)

// replayConn serves the same bytes forever.
type replayConn struct {
	net.Conn
	data []byte
	off  int
}

func (c *replayConn) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}

// BenchmarkGuardReadReplies measures the guard's cost on the largest
// replies go-smb2 asks for: 1 MiB READ responses on a plain (signed)
// session, read as go-smb2's receiver reads them (4-byte size, then the
// frame).
func BenchmarkGuardReadReplies(b *testing.B) {
	body := make([]byte, 16+1<<20)
	le.PutUint16(body[0:], 17)
	body[2] = 80
	le.PutUint32(body[4:], 1<<20)
	frame := framed(reply(cmdRead, 0, 9, body))
	g := New(&replayConn{data: frame}, Options{})
	g.st.negPending = false
	hdr := make([]byte, 4)
	pkt := make([]byte, len(frame)-4)
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for range b.N {
		if _, err := io.ReadFull(g, hdr); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(g, pkt); err != nil {
			b.Fatal(err)
		}
	}
}
