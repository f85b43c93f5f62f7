package svcctl_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// sessionPipes opens \pipe\svcctl on one SMB session and remembers every
// pipe it opened.
type sessionPipes struct {
	sess  *smb.Session
	mu    sync.Mutex
	pipes []*smb.Pipe
}

func (s *sessionPipes) open(ctx context.Context) (net.Conn, error) {
	p, err := s.sess.OpenPipe(ctx, "svcctl")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.pipes = append(s.pipes, p)
	s.mu.Unlock()
	return p, nil
}

func (s *sessionPipes) last() *smb.Pipe {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pipes[len(s.pipes)-1]
}

// TestWinhostOverSessionPipe runs the service manager over a pipe on the
// caller's SMB session: no TCP connection or logon of the client's own, the
// whole life cycle, and a new pipe on the same session when one is lost.
func TestWinhostOverSessionPipe(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) }) // after the host's own cleanups
	p := startWinhost(t)
	ctx := testCtx(t)
	sess, err := smb.Dial(ctx, p.h.IP, smb.Config{
		Credentials:    smb.Credentials{User: p.h.User, Password: p.h.Password},
		Port:           p.h.Port,
		RequestTimeout: 10 * time.Second,
	}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })

	pipes := &sessionPipes{sess: sess}
	cfg := svcctl.Config{
		Pipe:           pipes.open,
		RequestTimeout: 10 * time.Second,
		Dial: func(context.Context, string, string) (net.Conn, error) {
			t.Error("the client dialed a connection of its own")
			return nil, errors.New("no dialing")
		},
	}
	c, err := svcctl.Dial(ctx, p.h.IP, cfg)
	require.NoError(t, err)
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	svc, err := m.CreateService(ctx, "nxd-pipe", "", winSvcPath, svcctl.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, svc.Start(ctx))
	st, err := svc.QueryStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, svcctl.Running, st.State)

	// The pipe goes away under the client: the next call opens a new one on
	// the same session and reopens the handles.
	gen := c.Generation()
	require.NoError(t, pipes.last().Close())
	st, err = svcctl.StopAndWait(ctx, svc, svcctl.WaitOptions{Timeout: 10 * time.Second})
	require.NoError(t, err)
	assert.Equal(t, svcctl.Stopped, st.State)
	assert.Greater(t, c.Generation(), gen, "a new transport on a new pipe")
	assert.GreaterOrEqual(t, len(pipes.pipes), 2)

	require.NoError(t, svc.Delete(ctx))
	require.NoError(t, svc.Close())
	require.NoError(t, m.Close())
	require.NoError(t, c.Close())
	_, ok := p.h.Service("nxd-pipe")
	assert.False(t, ok)

	// The session is still usable after the client closed its pipes.
	_, err = sess.ListShares(ctx)
	assert.NoError(t, err)
}

func TestSessionPipeRefusesAuthenticatedBinds(t *testing.T) {
	cfg := svcctl.Config{
		Pipe: func(context.Context) (net.Conn, error) {
			t.Error("the pipe was opened")
			return nil, errors.New("unused")
		},
		RPCAuth: svcctl.RPCAuthPrivacy,
	}
	_, err := svcctl.Dial(context.Background(), "192.0.2.1", cfg)
	requireTyped(t, err, derrors.StepOpenSCManager, derrors.UnknownError, 0)
	assert.ErrorContains(t, err, "RPCAuthNone")
}
