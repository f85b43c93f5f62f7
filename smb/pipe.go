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
//
// A call costs one SMB request, as with Windows' own RPC runtime: the last
// fragment of an RPC request, bind or alter-context is held until the Read
// that waits for its answer, and both go in one FSCTL_PIPE_TRANSCEIVE
// instead of a WRITE and a READ. A server that refuses transceive gets
// WRITE and READ from then on.
type Pipe struct {
	s      *Session
	name   string
	f      *smb2.File
	cancel context.CancelFunc

	mu           sync.Mutex
	pending      []byte // a request's last fragment, sent by the next Read
	unread       []byte // what a transceive returned and Read has not yet
	noTransceive bool   // the server refused FSCTL_PIPE_TRANSCEIVE

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
	p := &Pipe{s: s, name: name, f: f, cancel: end}
	s.ipcMu.Lock()
	if s.pipes == nil {
		s.pipes = map[*Pipe]struct{}{}
	}
	s.pipes[p] = struct{}{}
	s.ipcMu.Unlock()
	return p, nil
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

// Read reads one message (or its next part) from the pipe. When a request
// is held (see Pipe), Read sends it and reads its answer in one exchange.
func (p *Pipe) Read(b []byte) (n int, err error) {
	defer p.s.recoverReply(derrors.StepOpenSCManager, &err)
	p.mu.Lock()
	if len(p.unread) > 0 {
		n = copy(b, p.unread)
		p.unread = p.unread[n:]
		p.mu.Unlock()
		return n, nil
	}
	req := p.pending
	p.pending = nil
	p.mu.Unlock()
	if req != nil {
		out, err := p.transceive(req)
		if err != nil {
			return 0, err
		}
		if out != nil {
			n = copy(b, out)
			p.mu.Lock()
			p.unread = out[n:]
			p.mu.Unlock()
			return n, nil
		}
	}
	n, err = p.f.Read(b)
	return max(n, 0), err // go-smb2 returns -1 with its errors
}

// Write writes b to the pipe as one message, or holds it for the Read of
// its answer when b is the last fragment of a call (see Pipe).
func (p *Pipe) Write(b []byte) (n int, err error) {
	defer p.s.recoverReply(derrors.StepOpenSCManager, &err)
	p.mu.Lock()
	held := p.pending
	p.pending = nil
	if held == nil && !p.noTransceive && awaitsAnswer(b) {
		p.pending = append([]byte(nil), b...)
		p.mu.Unlock()
		return len(b), nil
	}
	p.mu.Unlock()
	if held != nil {
		// A second message before the first one's answer was read: send
		// both in order, as written.
		if _, err := p.f.Write(held); err != nil {
			return 0, err
		}
	}
	n, err = p.f.Write(b)
	return max(n, 0), err
}

// maxTransceiveOutput bounds one transceive's answer: one RPC fragment, at
// most the 4,280 bytes a Windows client offers or the 64 KiB some servers
// answer with; a longer message is read on with READ.
const maxTransceiveOutput = 64 << 10

// transceiveBuffers lend the room for one transceive's answer; the answer
// itself, usually a few hundred bytes, is kept in a slice of its size.
var transceiveBuffers = sync.Pool{New: func() any { b := make([]byte, maxTransceiveOutput); return &b }}

// transceive sends req and returns the answer: the pipe's next message.
// When the server refuses transceive, it sends req with WRITE and returns
// nil, so the caller READs the answer.
func (p *Pipe) transceive(req []byte) ([]byte, error) {
	buf := transceiveBuffers.Get().(*[]byte)
	n, err := p.f.Transcieve(req, *buf)
	if err == nil {
		out := append([]byte(nil), (*buf)[:n]...)
		transceiveBuffers.Put(buf)
		return out, nil
	}
	transceiveBuffers.Put(buf)
	var re *smb2.ResponseError
	if errors.As(err, &re) && transceiveRefused(re.Code) {
		p.mu.Lock()
		p.noTransceive = true
		p.mu.Unlock()
		if _, err := p.f.Write(req); err != nil {
			return nil, err
		}
		return nil, nil
	}
	return nil, err
}

// transceiveRefused reports whether an FSCTL_PIPE_TRANSCEIVE failed with a
// status that means the request was not written: the server does not
// implement it, or the pipe had unread data.
func transceiveRefused(status uint32) bool {
	switch status {
	case 0xC00000BB, // STATUS_NOT_SUPPORTED
		0xC0000010, // STATUS_INVALID_DEVICE_REQUEST
		0xC0000002, // STATUS_NOT_IMPLEMENTED
		0xC00000AE: // STATUS_PIPE_BUSY
		return true
	}
	return false
}

// awaitsAnswer reports whether b is one whole DCE/RPC PDU ([C706] 12.6.3)
// that ends a request, bind or alter-context (PFC_LAST_FRAG set, not a
// "maybe" call), so the server answers it.
func awaitsAnswer(b []byte) bool {
	if len(b) < 16 || b[0] != 5 {
		return false
	}
	switch b[2] {
	case 0, 11, 14: // request, bind, alter_context
	default:
		return false
	}
	const lastFrag, maybe = 0x02, 0x40
	if b[3]&lastFrag == 0 || b[3]&maybe != 0 {
		return false
	}
	fragLen := int(b[8]) | int(b[9])<<8
	if b[4]&0x10 == 0 { // big-endian data representation
		fragLen = int(b[8])<<8 | int(b[9])
	}
	return fragLen == len(b)
}

// Close closes the pipe's handle on the server (within the session's
// request timeout, at most 5 s) and ends any read still waiting. It is safe
// to call more than once and from any goroutine. The session's IPC$ tree
// connect stays for its other pipes. After the session's Close it does
// nothing: the logoff closed the pipe on the server.
func (p *Pipe) Close() error {
	p.closeOnce.Do(func() {
		p.forget()
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

// abandon ends the pipe on this side only (its pending reads and its
// context), without a CLOSE request: for a pipe the session's logoff is
// about to close on the server anyway. Close afterwards does nothing.
func (p *Pipe) abandon() {
	p.closeOnce.Do(func() {
		p.forget()
		p.cancel()
	})
}

// forget takes the pipe off its session's open pipes.
func (p *Pipe) forget() {
	p.s.ipcMu.Lock()
	delete(p.s.pipes, p)
	p.s.ipcMu.Unlock()
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
