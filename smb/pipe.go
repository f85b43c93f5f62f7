package smb

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"time"

	smb2 "github.com/oiweiwei/go-smb2.fork"

	derrors "github.com/nxdeploy/deployer/errors"
)

// Pipe is a named pipe opened on the session's IPC$ share, such as
// \pipe\svcctl: DCE/RPC over the session's own connection and logon, with
// no second TCP connection or SMB session (impacket and Windows' own tools
// work this way). Read and Write move whole RPC fragments; a Read waits for
// the server's answer, with no timeout of its own (the RPC layer bounds its
// calls and closes the pipe when one runs out). Close ends pending reads.
//
// A Pipe is a net.Conn, so an RPC library can take it as the connection of
// an ncacn_ip_tcp binding (the PDUs are the same bytes); it has no
// deadlines: SetDeadline and its kin return ErrNoDeadline.
type Pipe struct {
	s      *Session
	name   string
	f      *smb2.File
	cancel context.CancelFunc

	closeOnce sync.Once
	closeErr  error
}

// OpenPipe opens \pipe\name (name without the prefix, e.g. "svcctl") on the
// session's IPC$ share (connected once per session). ctx bounds the tree
// connect and the open; the pipe
// then lives until Close or the session's end. A failure is a
// *derrors.Error at the tree connect step.
func (s *Session) OpenPipe(ctx context.Context, name string) (_ *Pipe, err error) {
	defer s.recoverReply(derrors.StepTreeConnect, &err)
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	// The share and file carry the context of every request made through
	// them; the pipe's own outlives this call and ends with Close.
	life, end := context.WithCancel(context.Background())
	ipc, err := s.ipcTree(rctx)
	if err != nil {
		end()
		return nil, s.wrap(derrors.StepTreeConnect, err)
	}
	opened := make(chan struct{})
	stop := context.AfterFunc(rctx, func() {
		select {
		case <-opened:
		default:
			end() // the open overran ctx: abandon it
		}
	})
	f, err := ipc.WithContext(life).OpenFile(name, os.O_RDWR, 0)
	close(opened)
	stop()
	if err != nil {
		end()
		var re *smb2.ResponseError
		if errors.As(err, &re) && re.Code == statusNetworkNameDeleted {
			s.dropIPCTree(ipc)
		}
		if rctx.Err() != nil {
			err = errors.Join(err, rctx.Err())
		}
		return nil, s.wrap(derrors.StepTreeConnect, err)
	}
	return &Pipe{s: s, name: name, f: f, cancel: end}, nil
}

// ipcTree returns the session's IPC$ tree connect, connecting it on first
// use: every pipe of the session shares it, and logoff ends it.
func (s *Session) ipcTree(ctx context.Context) (*smb2.Share, error) {
	s.ipcMu.Lock()
	defer s.ipcMu.Unlock()
	if s.ipc != nil {
		return s.ipc, nil
	}
	ipc, err := s.s.WithContext(ctx).Mount(`\\` + s.serverName() + `\IPC$`)
	if err != nil {
		return nil, err
	}
	s.ipc = ipc
	return ipc, nil
}

// statusNetworkNameDeleted is STATUS_NETWORK_NAME_DELETED: the server ended
// the tree connect.
const statusNetworkNameDeleted = 0xC00000C9

// dropIPCTree forgets ipc after the server ended it, so the next pipe
// connects IPC$ afresh.
func (s *Session) dropIPCTree(ipc *smb2.Share) {
	s.ipcMu.Lock()
	defer s.ipcMu.Unlock()
	if s.ipc == ipc {
		s.ipc = nil
	}
}

// Read reads one message (or its next part) from the pipe.
func (p *Pipe) Read(b []byte) (n int, err error) {
	defer p.s.recoverReply(derrors.StepOpenSCManager, &err)
	n, err = p.f.Read(b)
	return max(n, 0), err // go-smb2 returns -1 with its errors
}

// Write writes b to the pipe as one message.
func (p *Pipe) Write(b []byte) (n int, err error) {
	defer p.s.recoverReply(derrors.StepOpenSCManager, &err)
	n, err = p.f.Write(b)
	return max(n, 0), err
}

// Close closes the pipe's handle on the server (within the session's
// request timeout, at most 5 s) and ends any read still waiting. It is safe
// to call more than once and from any goroutine. The session's IPC$ tree
// connect stays for its other pipes.
func (p *Pipe) Close() error {
	p.closeOnce.Do(func() {
		done := make(chan error, 1)
		go func() {
			var err error
			defer func() { done <- err }()
			defer p.s.recoverReply(derrors.StepCleanup, &err)
			err = p.f.Close()
		}()
		timer := time.NewTimer(min(p.s.cfg.requestTimeout(), 5*time.Second))
		defer timer.Stop()
		select {
		case err := <-done:
			if err != nil {
				p.closeErr = p.s.wrap(derrors.StepCleanup, err)
			}
		case <-timer.C:
			p.closeErr = p.s.wrap(derrors.StepCleanup, context.DeadlineExceeded)
		}
		p.cancel()
	})
	return p.closeErr
}

// ErrNoDeadline is returned by a Pipe's SetDeadline methods.
var ErrNoDeadline = errors.New("smb: a named pipe has no deadlines; close it to end a read")

// LocalAddr returns the session's connection's local address.
func (p *Pipe) LocalAddr() net.Addr { return p.s.conn.LocalAddr() }

// RemoteAddr names the pipe: the server's address and \pipe\NAME.
func (p *Pipe) RemoteAddr() net.Addr {
	return pipeAddr(p.s.info.Addr.String() + `\pipe\` + p.name)
}

// SetDeadline returns ErrNoDeadline.
func (p *Pipe) SetDeadline(time.Time) error { return ErrNoDeadline }

// SetReadDeadline returns ErrNoDeadline.
func (p *Pipe) SetReadDeadline(time.Time) error { return ErrNoDeadline }

// SetWriteDeadline returns ErrNoDeadline.
func (p *Pipe) SetWriteDeadline(time.Time) error { return ErrNoDeadline }

var _ net.Conn = (*Pipe)(nil)

// pipeAddr is a Pipe's address.
type pipeAddr string

func (a pipeAddr) Network() string { return "smb-pipe" }
func (a pipeAddr) String() string  { return string(a) }
