package svcctl_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// silentServer accepts TCP connections on loopback and never answers, like
// a host whose SMB server hangs after the handshake.
func silentServer(t *testing.T) (port int) {
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
				_, _ = io.Copy(io.Discard, c)
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

// verifyNoLeaks checks, after every other cleanup of t, that t left no
// goroutine behind.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// closedPort returns a loopback port nobody listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

func TestDialFailuresWithoutPeer(t *testing.T) {
	verifyNoLeaks(t)
	creds := smb.Credentials{User: "u", Password: "p"}
	var hookCalls atomic.Int32
	countingDial := func(ctx context.Context, network, address string) (net.Conn, error) {
		hookCalls.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	failingResolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		return nil, errors.New("no DNS server in this test")
	}}
	tests := []struct {
		name  string
		host  string
		cfg   func(t *testing.T) svcctl.Config
		step  derrors.Step
		kind  derrors.Kind
		hooks int32
	}{
		{"dns failure", "nosuchhost.invalid", func(t *testing.T) svcctl.Config {
			return svcctl.Config{Credentials: creds, Resolver: failingResolver, Dial: countingDial}
		}, derrors.StepResolve, derrors.DNSResolutionFailure, 0},
		{"refused", "127.0.0.1", func(t *testing.T) svcctl.Config {
			return svcctl.Config{Credentials: creds, Port: closedPort(t), Dial: countingDial}
		}, derrors.StepConnect, derrors.ConnectionRefused, 1},
		{"connect timeout through the hook", "127.0.0.1", func(t *testing.T) svcctl.Config {
			return svcctl.Config{Credentials: creds, Port: 445, ConnectTimeout: 100 * time.Millisecond,
				Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
					hookCalls.Add(1)
					<-ctx.Done() // a silently dropped SYN
					return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
				}}
		}, derrors.StepConnect, derrors.ConnectionTimeout, 1},
		{"server silent after connect", "127.0.0.1", func(t *testing.T) svcctl.Config {
			return svcctl.Config{Credentials: creds, Port: silentServer(t), Dial: countingDial,
				ConnectTimeout: 200 * time.Millisecond, RequestTimeout: 300 * time.Millisecond}
		}, derrors.StepLogon, derrors.ConnectionTimeout, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hookCalls.Store(0)
			start := time.Now()
			c, err := svcctl.Dial(context.Background(), tt.host, tt.cfg(t))
			assert.Nil(t, c)
			requireTyped(t, err, tt.step, tt.kind, 0)
			assert.Equal(t, tt.hooks, hookCalls.Load(), "every TCP connection goes through Config.Dial")
			assert.Less(t, time.Since(start), 10*time.Second, "generous bound: the timeouts are sub-second")
		})
	}
}

func TestDialHonoursCallerContext(t *testing.T) {
	verifyNoLeaks(t)
	port := silentServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := svcctl.Dial(ctx, "127.0.0.1", svcctl.Config{
		Credentials:    smb.Credentials{User: "u", Password: "p"},
		Port:           port,
		RequestTimeout: time.Hour,
	})
	assert.Nil(t, c)
	requireTyped(t, err, derrors.StepLogon, derrors.ConnectionTimeout, 0)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 10*time.Second, "generous bound: the caller gave 300 ms")
}

func TestDialRejectsUnknownRPCAuth(t *testing.T) {
	port := silentServer(t)
	_, err := svcctl.Dial(context.Background(), "127.0.0.1", svcctl.Config{
		Credentials: smb.Credentials{User: "u", Password: "p"},
		Port:        port,
		RPCAuth:     svcctl.RPCAuth(9),
	})
	requireTyped(t, err, derrors.StepOpenSCManager, derrors.UnknownError, 0)
	assert.Contains(t, err.Error(), "RPCAuth 9")
	assert.Equal(t, "unknown", svcctl.RPCAuth(9).String())
	assert.Equal(t, "445", strconv.Itoa(svcctl.DefaultPort))
}
