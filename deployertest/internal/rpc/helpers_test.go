package rpc

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// host is an SCM and its RPC services on a loopback TCP port.
type host struct {
	mgr      *scm.Manager
	adminDir string
	addr     *net.TCPAddr
	cfg      Config
	// fragments counts the PDUs the server wrote; maxFragment is the
	// largest; maxInFragment is the largest PDU it read.
	fragments, maxFragment, maxInFragment *atomic.Int64
}

// countingListener counts the server's writes (one PDU each).
type countingListener struct {
	net.Listener
	n, max, maxIn *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.n, max: l.max, maxIn: l.maxIn}, nil
}

type countingConn struct {
	net.Conn
	n, max, maxIn *atomic.Int64
	in            []byte // unparsed input, read by the connection's one reader
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.n.Add(1)
	storeMax(c.max, int64(len(b)))
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.in = append(c.in, b[:n]...)
	for len(c.in) >= headerSize {
		fl := int(binary.LittleEndian.Uint16(c.in[8:]))
		if fl < headerSize || len(c.in) < fl {
			break
		}
		storeMax(c.maxIn, int64(fl))
		c.in = c.in[fl:]
	}
	return n, err
}

// startHost starts a Manager with opts (AdminDir defaults to a temp dir)
// and serves cfg over ncacn_ip_tcp on 127.0.0.1 until the test ends.
func startHost(t *testing.T, opts scm.Options, cfg Config) *host {
	t.Helper()
	if opts.AdminDir == "" {
		opts.AdminDir = t.TempDir()
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 500 * time.Millisecond
	}
	mgr := scm.New(opts)
	cfg.SCM = mgr
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := countingListener{Listener: raw, n: new(atomic.Int64), max: new(atomic.Int64), maxIn: new(atomic.Int64)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeTCP(ctx, ln, cfg) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, mgr.Close())
	})
	return &host{mgr: mgr, adminDir: opts.AdminDir, addr: ln.Addr().(*net.TCPAddr), cfg: cfg,
		fragments: ln.n, maxFragment: ln.max, maxInFragment: ln.maxIn}
}

// writeExe creates an executable file at a path relative to the admin dir.
func (h *host) writeExe(t *testing.T, rel string) {
	t.Helper()
	p := filepath.Join(h.adminDir, filepath.FromSlash(rel))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte("MZ"), 0o755))
}

// impacketPython returns the interpreter that can import impacket, or
// skips (fails with DEPLOYER_LAB=required) when there is none.
func impacketPython(t *testing.T) string {
	t.Helper()
	lab.Require(t, "impacket")
	return "/usr/bin/python3"
}
