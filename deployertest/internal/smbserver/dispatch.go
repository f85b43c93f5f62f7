package smbserver

import (
	"context"
)

// dispatch validates r against the connection state and runs its handler.
// keep is false when the connection must be dropped.
func (c *conn) dispatch(r *request) (resp response, keep bool) {
	h := r.hdr
	if h.Flags&flagServerToRedir != 0 {
		return response{}, false
	}
	switch h.Command {
	case cmdNegotiate:
		return c.negotiate(r)
	case cmdSessionSetup:
		return c.sessionSetup(r), true
	case cmdCancel:
		c.cancelRequest(r)
		return response{none: true}, true
	case cmdEcho:
		if h.SessionID == 0 {
			return response{body: fixed(4, 4)}, true
		}
	}
	c.mu.Lock()
	ss := c.sessions[h.SessionID]
	c.mu.Unlock()
	if ss == nil || !ss.valid {
		return errResp(StatusUserSessionDeleted), true
	}
	r.sess = ss
	if r.encrypted {
		c.srv.stEncrypted.Add(1)
	} else {
		if h.Flags&flagSigned != 0 {
			if ss.sign == nil || !ss.sign.verify(r.raw) {
				return errResp(StatusAccessDenied), true
			}
			c.srv.stSigned.Add(1)
		} else if ss.signReq && ss.sign != nil && !ss.guest {
			return errResp(StatusAccessDenied), true
		}
		if ss.encrypt {
			return errResp(StatusAccessDenied), true
		}
	}
	switch h.Command {
	case cmdEcho:
		return response{body: fixed(4, 4)}, true
	case cmdLogoff:
		return c.logoff(r), true
	case cmdTreeConnect:
		return c.treeConnect(r), true
	}
	c.mu.Lock()
	t := ss.trees[h.TreeID]
	c.mu.Unlock()
	if t == nil {
		return errResp(StatusNetworkNameDeleted), true
	}
	r.tree = t
	if t.encrypt && !r.encrypted {
		return errResp(StatusAccessDenied), true
	}
	r.ctx, r.cancel = context.WithCancel(c.ctx)
	defer r.cancel()
	c.mu.Lock()
	c.pending[h.MessageID] = r
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, h.MessageID)
		if r.asyncID != 0 {
			delete(c.asyncs, r.asyncID)
		}
		c.mu.Unlock()
	}()
	switch h.Command {
	case cmdTreeDisconnect:
		return c.treeDisconnect(r), true
	case cmdCreate:
		return c.create(r), true
	case cmdClose:
		return c.closeFile(r), true
	case cmdFlush:
		return c.flush(r), true
	case cmdRead:
		return c.read(r), true
	case cmdWrite:
		return c.write(r), true
	case cmdLock:
		return c.lock(r), true
	case cmdIoctl:
		return c.ioctl(r)
	case cmdQueryDirectory:
		return c.queryDirectory(r), true
	case cmdQueryInfo:
		return c.queryInfo(r), true
	case cmdSetInfo:
		return c.setInfo(r), true
	case cmdChangeNotify:
		return c.changeNotify(r), true
	case cmdOplockBreak:
		return errResp(StatusNotSupported), true
	}
	return errResp(StatusInvalidParameter), true
}

// fixed returns a body of n zero bytes whose StructureSize is ss.
func fixed(ss uint16, n int) []byte {
	b := make([]byte, n)
	le.PutUint16(b, ss)
	return b
}

func (c *conn) cancelRequest(r *request) {
	c.mu.Lock()
	var target *request
	if r.hdr.Flags&flagAsync != 0 {
		target = c.asyncs[r.hdr.AsyncID]
	} else {
		target = c.pending[r.hdr.MessageID]
	}
	c.mu.Unlock()
	if target != nil && target.cancel != nil {
		target.cancel()
	}
}

// changeNotify handles CHANGE_NOTIFY ([MS-SMB2] 3.3.5.19) on a directory: the request goes async and completes with
// STATUS_CANCELLED when cancelled, STATUS_NOTIFY_CLEANUP when its handle is closed, and never reports a change
// (changes are not tracked). Inside a compound chain, where it cannot go async unless it is the last request, it
// fails with STATUS_INTERNAL_ERROR, as Windows answers it there.
func (c *conn) changeNotify(r *request) response {
	if len(r.body) < 32 {
		return errResp(StatusInvalidParameter)
	}
	o, st := c.lookupOpen(r, r.body[8:24])
	if st != StatusSuccess {
		return errResp(st)
	}
	if !o.isDir || o.closed == nil {
		return errResp(StatusInvalidParameter)
	}
	if o.access&accReadData == 0 {
		return errResp(StatusAccessDenied)
	}
	if !r.goAsync() {
		return errResp(StatusInternalError)
	}
	select {
	case <-r.ctx.Done():
		return errResp(StatusCancelled)
	case <-o.closed:
		return errResp(StatusNotifyCleanup)
	}
}
