package smbserver

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha512"
	"encoding/binary"
	"github.com/nxdeploy/deployer/deployertest/internal/ntlmssp"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
)

const (
	maxFrame     = 16<<20 + 4096
	largeMTUSize = 8 << 20
	smallMTUSize = 64 << 10
	creditLimit  = 8192
)

// conn is one client connection.
type conn struct {
	srv    *Server
	nc     net.Conn
	remote string
	ctx    context.Context
	cancel context.CancelFunc

	wmu sync.Mutex

	mu            sync.Mutex
	negotiated    bool
	wildcard      bool
	dialect       uint16
	clientGUID    [16]byte
	clientSecMode uint16
	clientCaps    uint32
	clientDialect []uint16
	cipher        uint16
	signAlg       uint16
	preauth       [64]byte
	sessions      map[uint64]*session
	opens         map[uint64]*open
	nextFID       uint64
	nextAsync     uint64
	pending       map[uint64]*request
	asyncs        map[uint64]*request
	// gate is closed when the latest request received has finished or gone async: requests of a connection are
	// processed one after another in the order they arrived, as Windows and Samba process them, so a READ sees
	// the WRITE sent before it and a CLOSE follows the WRITEs pipelined ahead of it. Only the reader goroutine
	// replaces it.
	gate        chan struct{}
	held        int
	wg          sync.WaitGroup
	nonce       uint64
	noncePrefix [4]byte
	// last is when the latest request arrived (UnixNano), for the idle
	// time srvsvc reports.
	last atomic.Int64
}

// session is an SMB2 session ([MS-SMB2] 3.3.1.8).
type session struct {
	id        uint64
	valid     bool
	user      string
	domain    string
	admin     bool
	guest     bool
	key       []byte
	sign      *signer
	enc, dec  cipher.AEAD
	signReq   bool
	encrypt   bool
	preauth   [64]byte
	ntlm      *ntlmssp.Challenge
	mechTypes []byte
	rawNTLM   bool
	trees     map[uint32]*tree
	nextTree  uint32
	// since is when the logon completed.
	since time.Time
}

func (ss *session) caller(remote string) pipe.Caller {
	return pipe.Caller{User: ss.user, Domain: ss.domain, Admin: ss.admin, Guest: ss.guest,
		SessionKey: append([]byte(nil), ss.key...), RemoteAddr: remote}
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String(), ctx: ctx, cancel: cancel,
		sessions: map[uint64]*session{}, opens: map[uint64]*open{},
		pending: map[uint64]*request{}, asyncs: map[uint64]*request{}, held: 1, gate: closedGate()}
	_, _ = rand.Read(c.noncePrefix[:])
	return c
}

// request is one SMB2 request being processed.
type request struct {
	c         *conn
	hdr       header
	raw       []byte
	body      []byte
	encrypted bool
	compound  bool
	sess      *session
	tree      *tree
	ctx       context.Context
	cancel    context.CancelFunc
	asyncID   uint64
	relFID    *[16]byte
	// usedFID is the file id the request resolved (its own, or the chain's), for the related request after it.
	usedFID *[16]byte
	// release opens the connection's gate for the next request; a request that goes async calls it early.
	release func()
	// chain is the compound response being built, for the last request of a chain going async.
	chain *chainOut
	last  bool
	// response shaping
	signFinal   bool
	preauthSess *session
	preauthConn bool
}

// response is what a handler produces.
type response struct {
	status uint32
	body   []byte
	none   bool // CANCEL: nothing is sent
}

func errResp(status uint32) response { return response{status: status} }

func closedGate() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// chainOut is the response of a compound chain under construction.
type chainOut struct {
	out       []outMsg
	encrypted bool
	sess      *session
}

func (c *conn) serve() {
	defer c.close()
	for {
		frame, err := readFrame(c.nc, maxFrame)
		if err != nil {
			return
		}
		if !c.handleFrame(frame) {
			return
		}
	}
}

func (c *conn) close() {
	c.cancel()
	_ = c.nc.Close()
	c.wg.Wait()
	c.mu.Lock()
	opens := make([]*open, 0, len(c.opens))
	for _, o := range c.opens {
		opens = append(opens, o)
	}
	c.opens = map[uint64]*open{}
	var trees []*tree
	for _, ss := range c.sessions {
		for _, t := range ss.trees {
			trees = append(trees, t)
		}
	}
	c.sessions = map[uint64]*session{}
	c.mu.Unlock()
	for _, o := range opens {
		c.closeOpen(o)
	}
	for _, t := range trees {
		t.close()
	}
}

// handleFrame processes one transport frame; false ends the connection.
func (c *conn) handleFrame(frame []byte) bool {
	c.last.Store(time.Now().UnixNano())
	if len(frame) >= 4 && frame[0] == 0xFF && frame[1] == 'S' && frame[2] == 'M' && frame[3] == 'B' {
		return c.smb1Negotiate(frame)
	}
	encrypted := false
	var encSess *session
	if len(frame) >= 4 && frame[0] == 0xFD && frame[1] == 'S' && frame[2] == 'M' && frame[3] == 'B' {
		plain, ss, ok := c.decrypt(frame)
		if !ok {
			return false
		}
		frame, encrypted, encSess = plain, true, ss
	}
	if !isSMB2(frame) {
		return false
	}
	msgs, ok := splitChain(frame)
	if !ok {
		return false
	}
	first, _ := parseHeader(msgs[0])
	c.mu.Lock()
	negotiated := c.negotiated
	c.mu.Unlock()
	if !negotiated && first.Command != cmdNegotiate {
		return false
	}
	if len(msgs) == 1 && (first.Command == cmdNegotiate || first.Command == cmdSessionSetup || first.Command == cmdCancel) {
		// CANCEL must reach the request it cancels without waiting behind it.
		return c.processChain(msgs, encrypted, encSess, func() {})
	}
	prev, next := c.gate, make(chan struct{})
	c.gate = next
	var once sync.Once
	release := func() { once.Do(func() { close(next) }) }
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer release()
		select {
		case <-prev:
		case <-c.ctx.Done():
			return
		}
		if !c.processChain(msgs, encrypted, encSess, release) {
			_ = c.nc.Close()
		}
	}()
	return true
}

func splitChain(frame []byte) ([][]byte, bool) {
	var msgs [][]byte
	for len(frame) > 0 {
		h, ok := parseHeader(frame)
		if !ok {
			return nil, false
		}
		if h.NextCommand == 0 {
			msgs = append(msgs, frame)
			break
		}
		if h.NextCommand%8 != 0 || int(h.NextCommand) < headerSize || int(h.NextCommand) > len(frame) {
			return nil, false
		}
		msgs = append(msgs, frame[:h.NextCommand])
		frame = frame[h.NextCommand:]
	}
	return msgs, len(msgs) > 0
}

func (c *conn) decrypt(frame []byte) ([]byte, *session, bool) {
	if len(frame) < 52+headerSize {
		return nil, nil, false
	}
	sid := le.Uint64(frame[44:])
	size := le.Uint32(frame[36:])
	c.mu.Lock()
	ss := c.sessions[sid]
	c.mu.Unlock()
	if ss == nil || ss.dec == nil || int(size) != len(frame)-52 {
		return nil, nil, false
	}
	nonce := frame[20 : 20+ss.dec.NonceSize()]
	ct := make([]byte, 0, len(frame)-52+16)
	ct = append(ct, frame[52:]...)
	ct = append(ct, frame[4:20]...)
	plain, err := ss.dec.Open(nil, nonce, ct, frame[20:52])
	if err != nil {
		return nil, nil, false
	}
	return plain, ss, true
}

// processChain handles one message or a compound chain and sends the
// responses; false ends the connection. release lets the connection's next
// request start; it is called once the chain is processed (or earlier, when
// its last request goes async).
//
// Related requests follow Windows ([MS-SMB2] 3.3.5.2.7.2, and smbtorture's
// smb2.compound tests, which Samba passes): they take the session, tree and
// file of the request before them; a first request marked related, or one
// whose predecessor had no valid session, fails with
// STATUS_INVALID_PARAMETER; when a CREATE fails, every related request after
// it fails with the CREATE's status; any other failure leaves the chain's file
// handle usable.
func (c *conn) processChain(msgs [][]byte, encrypted bool, encSess *session, release func()) bool {
	chain := &chainOut{encrypted: encrypted}
	var prev header
	var relFID [16]byte
	haveRel := false
	prevSessOK := false
	var createErr uint32
	compound := len(msgs) > 1
	for i, m := range msgs {
		h, _ := parseHeader(m)
		related := h.Flags&flagRelated != 0
		if related && i > 0 {
			h.SessionID = prev.SessionID
			h.TreeID = prev.TreeID
		}
		r := &request{c: c, hdr: h, raw: m, body: m[headerSize:], encrypted: encrypted, compound: compound,
			release: release, chain: chain, last: i == len(msgs)-1}
		if related && haveRel {
			r.relFID = &relFID
		}
		var resp response
		keep := true
		switch {
		case related && (i == 0 || !prevSessOK):
			resp = errResp(StatusInvalidParameter)
		case related && createErr != 0:
			resp = errResp(createErr)
			r.sess = c.lookupSession(h.SessionID)
		default:
			resp, keep = c.dispatch(r)
		}
		if !keep {
			return false
		}
		prevSessOK = r.sess != nil
		if resp.none {
			continue
		}
		// The next related request uses the file of this one: the new handle of a CREATE, else the handle this
		// request resolved, even if it failed afterwards (a READ denied for access leaves the chain's handle usable).
		switch {
		case h.Command == cmdCreate && resp.status == StatusSuccess && len(resp.body) >= 80:
			copy(relFID[:], resp.body[64:80])
			haveRel, createErr = true, 0
		case h.Command == cmdCreate && resp.status != StatusSuccess:
			clear(relFID[:])
			haveRel, createErr = false, resp.status
		case r.usedFID != nil:
			relFID, haveRel = *r.usedFID, true
		case !related:
			haveRel = false
		}
		prev = r.hdr
		if r.sess != nil && chain.sess == nil {
			chain.sess = r.sess
		}
		chain.out = append(chain.out, c.buildResponse(r, resp))
	}
	release()
	if len(chain.out) == 0 {
		return true
	}
	if encrypted && chain.sess == nil {
		chain.sess = encSess
	}
	return c.send(chain.out, encrypted, chain.sess)
}

// lookupSession returns the valid session id, or nil.
func (c *conn) lookupSession(id uint64) *session {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ss := c.sessions[id]; ss != nil && ss.valid {
		return ss
	}
	return nil
}

// grant computes the credits to grant for a request charging charge.
func (c *conn) grant(req header, interimDone bool) uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if interimDone {
		return 0
	}
	charge := int(req.CreditCharge)
	if charge == 0 {
		charge = 1
	}
	c.held -= charge
	if c.held < 0 {
		c.held = 0
	}
	g := int(req.Credits)
	if g == 0 {
		g = 1
	}
	if g > creditLimit-c.held {
		g = creditLimit - c.held
	}
	if c.held+g < 1 {
		g = 1 - c.held
	}
	if g < 0 {
		g = 0
	}
	c.held += g
	return uint16(g)
}

// outMsg is one encoded response awaiting padding, signing and framing.
type outMsg struct {
	b    []byte
	sign *signer
}

// buildResponse encodes one response message and decides whether it is signed.
func (c *conn) buildResponse(r *request, resp response) outMsg {
	body := resp.body
	if resp.status != StatusSuccess && resp.status != StatusMoreProcessingRequired && body == nil {
		body = make([]byte, 9)
		le.PutUint16(body, 9)
	}
	h := header{
		CreditCharge: r.hdr.CreditCharge,
		Status:       resp.status,
		Command:      r.hdr.Command,
		Flags:        flagServerToRedir | (r.hdr.Flags & flagRelated),
		MessageID:    r.hdr.MessageID,
		TreeID:       r.hdr.TreeID,
		SessionID:    r.hdr.SessionID,
	}
	if r.hdr.Command == cmdSessionSetup && r.sess != nil {
		h.SessionID = r.sess.id
	}
	h.Credits = c.grant(r.hdr, r.asyncID != 0)
	if r.asyncID != 0 {
		h.Flags |= flagAsync
		h.AsyncID = r.asyncID
	}
	msg := make([]byte, headerSize+len(body), pad8(headerSize+len(body)))
	h.encode(msg)
	copy(msg[headerSize:], body)
	if r.preauthSess != nil {
		r.preauthSess.preauth = sha512.Sum512(append(r.preauthSess.preauth[:], msg...))
	}
	if r.preauthConn {
		c.mu.Lock()
		c.preauth = sha512.Sum512(append(c.preauth[:], msg...))
		c.mu.Unlock()
	}
	out := outMsg{b: msg}
	ss := r.sess
	if ss != nil && ss.sign != nil && !r.encrypted && !ss.guest {
		if r.signFinal || (r.hdr.Command != cmdSessionSetup && (r.hdr.Flags&flagSigned != 0 || ss.signReq)) {
			out.sign = ss.sign
		}
	}
	return out
}

// send pads, signs, frames (and encrypts) a chain of responses and writes it.
func (c *conn) send(msgs []outMsg, encrypt bool, ss *session) bool {
	if d := c.srv.cfg.ResponseDelay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.ctx.Done():
			t.Stop()
			return false
		}
	}
	size := 0
	for i := range msgs {
		if i < len(msgs)-1 {
			n := pad8(len(msgs[i].b))
			msgs[i].b = append(msgs[i].b, make([]byte, n-len(msgs[i].b))...)
			le.PutUint32(msgs[i].b[20:], uint32(n))
		}
		size += len(msgs[i].b)
	}
	payload := make([]byte, 0, size)
	for _, m := range msgs {
		if m.sign != nil {
			m.sign.sign(m.b)
		}
		payload = append(payload, m.b...)
	}
	if encrypt && ss != nil && ss.enc != nil {
		payload = c.encrypt(ss, payload)
	}
	frame := make([]byte, 4, 4+len(payload))
	binary.BigEndian.PutUint32(frame, uint32(len(payload)))
	frame = append(frame, payload...)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(frame)
	return err == nil
}

// encrypt wraps payload in a TRANSFORM_HEADER ([MS-SMB2] 2.2.41).
func (c *conn) encrypt(ss *session, payload []byte) []byte {
	th := make([]byte, 52)
	copy(th, []byte{0xFD, 'S', 'M', 'B'})
	c.mu.Lock()
	c.nonce++
	n := c.nonce
	c.mu.Unlock()
	le.PutUint64(th[20:], n)
	copy(th[28:32], c.noncePrefix[:])
	ns := ss.enc.NonceSize()
	clear(th[20+ns : 36])
	le.PutUint32(th[36:], uint32(len(payload)))
	le.PutUint16(th[42:], 1)
	le.PutUint64(th[44:], ss.id)
	sealed := ss.enc.Seal(nil, th[20:20+ns], payload, th[20:52])
	ct := sealed[:len(payload)]
	copy(th[4:20], sealed[len(payload):])
	return append(th, ct...)
}

// goAsync turns r into an asynchronous operation: it sends the interim
// STATUS_PENDING response, registers the AsyncId for CANCEL and lets the
// connection's next request start. It returns false for a request inside a
// compound chain other than the last one, which must finish synchronously; the
// last one goes async as on Windows, its interim response ending the chain's
// response.
func (r *request) goAsync() bool {
	if (r.compound && !r.last) || r.asyncID != 0 {
		return r.asyncID != 0
	}
	c := r.c
	c.mu.Lock()
	c.nextAsync++
	r.asyncID = c.nextAsync
	c.asyncs[r.asyncID] = r
	c.mu.Unlock()
	h := header{CreditCharge: r.hdr.CreditCharge, Status: StatusPending, Command: r.hdr.Command,
		Flags: flagServerToRedir | flagAsync, MessageID: r.hdr.MessageID, AsyncID: r.asyncID, SessionID: r.hdr.SessionID}
	h.Credits = c.grant(r.hdr, false)
	if r.hdr.Flags&flagRelated != 0 {
		h.Flags |= flagRelated
	}
	msg := make([]byte, headerSize+9, headerSize+16)
	h.encode(msg)
	le.PutUint16(msg[headerSize:], 9)
	out := []outMsg{{b: msg}}
	if r.compound && r.chain != nil {
		out = append(r.chain.out, out...)
		r.chain.out = nil
	}
	c.send(out, r.encrypted, r.sess)
	if r.release != nil {
		r.release()
	}
	return true
}
