package smbserver

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	smb2 "github.com/oiweiwei/go-smb2.fork"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
)

const (
	testUser = "deployer"
	testPass = "S3cret!pass"
)

// echoPipe is a message-mode pipe that answers each message with itself.
type echoPipe struct {
	mu     sync.Mutex
	q      [][]byte
	ready  chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newEchoPipe() *echoPipe {
	return &echoPipe{ready: make(chan struct{}, 1024), closed: make(chan struct{})}
}

func (p *echoPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	p.q = append(p.q, append([]byte(nil), b...))
	p.mu.Unlock()
	p.ready <- struct{}{}
	return len(b), nil
}

func (p *echoPipe) ReadMessage(ctx context.Context) ([]byte, error) {
	select {
	case <-p.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.closed:
		return nil, os.ErrClosed
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.q[0]
	p.q = p.q[1:]
	return m, nil
}

func (p *echoPipe) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// echoOpener opens echo pipes named "echo", "svcctl" and "srvsvc".
func echoOpener() pipe.Opener {
	return pipe.OpenerFunc(func(name string, _ pipe.Caller) (pipe.Conn, error) {
		switch name {
		case "echo", "svcctl", "srvsvc":
			return newEchoPipe(), nil
		}
		return nil, os.ErrNotExist
	})
}

type testServer struct {
	srv   *Server
	addr  string
	admin string
	cdir  string
}

// startServer runs a server on a loopback port with ADMIN$, C$ and IPC$.
func startServer(t testing.TB, mutate func(*Config)) *testServer {
	t.Helper()
	base := t.TempDir()
	cdir := filepath.Join(base, "C")
	admin := filepath.Join(cdir, "Windows")
	require.NoError(t, os.MkdirAll(admin, 0o755))
	cfg := Config{
		NetBIOSName: "WIN-TEST",
		Domain:      "LAB",
		DNSName:     "win-test.lab.test",
		DNSDomain:   "lab.test",
		Accounts: []Account{
			{User: testUser, Password: testPass, Admin: true},
			{User: "plain", Password: "plainpw", Admin: false},
		},
		Shares: []Share{
			{Name: "IPC$", Type: SharePipe},
			{Name: "ADMIN$", Path: admin, AdminOnly: true},
			{Name: "C$", Path: cdir, AdminOnly: true},
		},
		Pipes: echoOpener(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, l)
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, srv.Close())
		<-done
	})
	return &testServer{srv: srv, addr: l.Addr().String(), admin: admin, cdir: cdir}
}

// dialGo logs on with go-smb2.fork.
func dialGo(t testing.TB, addr, user, pass string, neg smb2.Negotiator) (*smb2.Session, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	d := &smb2.Dialer{Negotiator: neg, Initiator: &smb2.NTLMInitiator{User: user, Password: pass, Domain: "WORKGROUP"}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := d.DialContext(ctx, nc)
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	t.Cleanup(func() { _ = s.Logoff() })
	return s, nil
}
