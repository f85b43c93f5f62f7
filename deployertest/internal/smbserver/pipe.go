package smbserver

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
)

// pipeWait is how long a pipe read waits for a reply before going async.
const pipeWait = 30 * time.Millisecond

// pipeOpen is an open named pipe in message mode.
type pipeOpen struct {
	name   string
	conn   pipe.Conn
	ctx    context.Context
	cancel context.CancelFunc
	msgs   chan pipeMsg
	done   chan struct{}

	readMu sync.Mutex
	rest   []byte
	err    error
}

type pipeMsg struct {
	b   []byte
	err error
}

func newPipeOpen(name string, pc pipe.Conn) *pipeOpen {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeOpen{name: name, conn: pc, ctx: ctx, cancel: cancel, msgs: make(chan pipeMsg), done: make(chan struct{})}
	go p.pump()
	return p
}

// pump moves outbound messages from the pipe to readers, one at a time.
func (p *pipeOpen) pump() {
	defer close(p.done)
	for {
		m, err := p.conn.ReadMessage(p.ctx)
		select {
		case p.msgs <- pipeMsg{b: m, err: err}:
		case <-p.ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

func (p *pipeOpen) close() {
	p.cancel()
	_ = p.conn.Close()
	<-p.done
}

func (p *pipeOpen) write(b []byte) uint32 {
	if _, err := p.conn.Write(b); err != nil {
		return StatusPipeDisconnected
	}
	return StatusSuccess
}

// next returns up to max bytes of the next message, going async when the
// reply is not ready; a message longer than max yields StatusBufferOverflow
// and its tail is kept for the next read.
func (p *pipeOpen) next(r *request, max int) ([]byte, uint32) {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	if len(p.rest) == 0 {
		if p.err != nil {
			return nil, StatusPipeBroken
		}
		var m pipeMsg
		t := time.NewTimer(pipeWait)
		select {
		case m = <-p.msgs:
			t.Stop()
		case <-t.C:
			r.goAsync()
			select {
			case m = <-p.msgs:
			case <-r.ctx.Done():
				return nil, StatusCancelled
			case <-p.ctx.Done():
				return nil, StatusPipeBroken
			}
		case <-r.ctx.Done():
			t.Stop()
			return nil, StatusCancelled
		case <-p.ctx.Done():
			t.Stop()
			return nil, StatusPipeBroken
		}
		if m.err != nil {
			p.err = m.err
			return nil, StatusPipeBroken
		}
		p.rest = m.b
	}
	n := min(max, len(p.rest))
	out := p.rest[:n]
	p.rest = p.rest[n:]
	if len(p.rest) > 0 {
		return out, StatusBufferOverflow
	}
	p.rest = nil
	return out, StatusSuccess
}

// createPipe opens a named pipe on IPC$.
func (c *conn) createPipe(r *request, name string, access uint32) response {
	name = strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(name), `\`), `pipe\`)
	if name == "" {
		return errResp(StatusObjectNameInvalid)
	}
	op := c.srv.cfg.Pipes
	if op == nil {
		return errResp(StatusObjectNameNotFound)
	}
	pc, err := op.OpenPipe(name, r.sess.caller(c.remote))
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		return errResp(StatusObjectNameNotFound)
	case errors.Is(err, fs.ErrPermission):
		return errResp(StatusAccessDenied)
	default:
		return errResp(StatusPipeNotAvailable)
	}
	o := &open{sess: r.sess, tree: r.tree, access: access, name: name, rel: name, pipe: newPipeOpen(name, pc)}
	c.register(o)
	body := make([]byte, 88, 96)
	le.PutUint16(body, 89)
	le.PutUint32(body[4:], actionOpened)
	le.PutUint64(body[40:], 4096)
	le.PutUint32(body[56:], 0x80)
	le.PutUint64(body[64:], o.id)
	le.PutUint64(body[72:], o.id)
	return response{body: body}
}

// FSCTL codes ([MS-SMB2] 2.2.31).
const (
	fsctlDFSGetReferrals           uint32 = 0x00060194
	fsctlDFSGetReferralsEx         uint32 = 0x000601B0
	fsctlPipeTransceive            uint32 = 0x0011C017
	fsctlPipeWait                  uint32 = 0x00110018
	fsctlValidateNegotiateInfo     uint32 = 0x00140204
	fsctlQueryNetworkInterfaceInfo uint32 = 0x001401FC
	fsctlCreateOrGetObjectID       uint32 = 0x000900C0
)

func ioctlBody(ctl uint32, fid []byte, out []byte) []byte {
	body := make([]byte, 48, 48+len(out)+1)
	le.PutUint16(body, 49)
	le.PutUint32(body[4:], ctl)
	copy(body[8:24], fid)
	le.PutUint32(body[24:], headerSize+48)
	le.PutUint32(body[32:], headerSize+48)
	le.PutUint32(body[36:], uint32(len(out)))
	if len(out) == 0 {
		return append(body, 0)
	}
	return append(body, out...)
}

// ioctl handles IOCTL ([MS-SMB2] 3.3.5.15).
func (c *conn) ioctl(r *request) (response, bool) {
	b := r.body
	if len(b) < 56 {
		return errResp(StatusInvalidParameter), true
	}
	ctl := le.Uint32(b[4:])
	fid := b[8:24]
	in, ok := bodyBuf(b, le.Uint32(b[24:]), le.Uint32(b[28:]))
	if !ok {
		return errResp(StatusInvalidParameter), true
	}
	maxOut := le.Uint32(b[44:])
	switch ctl {
	case fsctlValidateNegotiateInfo:
		return c.validateNegotiate(in, fid)
	case fsctlDFSGetReferrals, fsctlDFSGetReferralsEx:
		return errResp(StatusNotFound), true
	case fsctlQueryNetworkInterfaceInfo:
		return errResp(StatusNotSupported), true
	case fsctlPipeWait:
		if r.tree.share.Type != SharePipe {
			return errResp(StatusInvalidDeviceRequest), true
		}
		return response{body: ioctlBody(ctl, fid, nil)}, true
	case fsctlPipeTransceive:
		o, st := c.lookupOpen(r, fid)
		if st != StatusSuccess {
			return errResp(st), true
		}
		if o.pipe == nil {
			return errResp(StatusInvalidDeviceRequest), true
		}
		if st := o.pipe.write(in); st != StatusSuccess {
			return errResp(st), true
		}
		out, st := o.pipe.next(r, int(min(maxOut, c.maxIO())))
		if st != StatusSuccess && st != StatusBufferOverflow {
			return errResp(st), true
		}
		var realFID [16]byte
		le.PutUint64(realFID[:], o.id)
		le.PutUint64(realFID[8:], o.id)
		return response{status: st, body: ioctlBody(ctl, realFID[:], out)}, true
	}
	if ctl == fsctlCreateOrGetObjectID {
		o, st := c.lookupOpen(r, fid)
		if st != StatusSuccess {
			return errResp(st), true
		}
		if o.pipe != nil {
			return errResp(StatusInvalidDeviceRequest), true
		}
		inf, err := o.stat()
		if err != nil {
			return errResp(statusOf(err)), true
		}
		// FILE_OBJECTID_BUFFER ([MS-FSCC] 2.1.3.1): the object ID is derived from the file's inode, the birth
		// IDs repeat it, as NTFS does for a file that never moved.
		out := make([]byte, 64)
		le.PutUint64(out, inf.ino)
		copy(out[16:], c.srv.guid[:])
		copy(out[32:48], out[:16])
		var realFID [16]byte
		le.PutUint64(realFID[:], o.id)
		le.PutUint64(realFID[8:], o.id)
		return response{body: ioctlBody(ctl, realFID[:], out)}, true
	}
	if _, st := c.lookupOpen(r, fid); st != StatusSuccess && !allFF(fid) {
		return errResp(st), true
	}
	return errResp(StatusInvalidDeviceRequest), true
}

func allFF(b []byte) bool {
	for _, x := range b {
		if x != 0xFF {
			return false
		}
	}
	return true
}

// validateNegotiate answers FSCTL_VALIDATE_NEGOTIATE_INFO; a mismatch drops
// the connection as Windows does ([MS-SMB2] 3.3.5.15.12).
func (c *conn) validateNegotiate(in, fid []byte) (response, bool) {
	if len(in) < 24 {
		return response{}, false
	}
	caps := le.Uint32(in)
	mode := le.Uint16(in[20:])
	n := int(le.Uint16(in[22:]))
	if len(in) < 24+2*n {
		return response{}, false
	}
	ds := make([]uint16, n)
	for i := range ds {
		ds[i] = le.Uint16(in[24+2*i:])
	}
	c.mu.Lock()
	ok := caps == c.clientCaps && string(in[4:20]) == string(c.clientGUID[:]) && mode == c.clientSecMode
	dialect := c.dialect
	c.mu.Unlock()
	if !ok || c.pickDialect(ds) != dialect {
		return response{}, false
	}
	out := make([]byte, 24)
	le.PutUint32(out, c.capabilities(dialect))
	copy(out[4:20], c.srv.guid[:])
	le.PutUint16(out[20:], c.securityMode())
	le.PutUint16(out[22:], dialect)
	return response{body: ioctlBody(fsctlValidateNegotiateInfo, fid, out)}, true
}
