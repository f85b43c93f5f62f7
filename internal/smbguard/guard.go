package smbguard

import (
	"bufio"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
)

// MaxFrame is the largest frame a server may send. go-smb2 never asks for
// more than 1 MiB of data in one request (its winMaxPayloadSize), so a reply
// is at most that plus headers; anything larger is refused rather than
// buffered.
const MaxFrame = 1<<20 + 64<<10

// maxRequestsTracked bounds the table of writes awaiting their reply. go-smb2
// keeps at most its credit balance (65535) in flight.
const maxRequestsTracked = 1 << 16

// Options configure a Conn.
type Options struct {
	// Host names the server in errors.
	Host string
	// SPNEGOWrapsNTLM says go-smb2 wraps the logon's initiator in its own
	// SPNEGO client (true for smb.Dial's NTLM initiator), whose answer to a
	// server that names another mechanism is a nil dereference.
	SPNEGOWrapsNTLM bool
	// SessionKey returns the logon's session key once the security context
	// is complete (go-smb2's Initiator.SessionKey). Without it, encrypted
	// frames cannot be checked and are refused.
	SessionKey func() []byte
}

// MalformedError describes a reply that failed a check.
type MalformedError struct {
	// Command is the SMB2 command of the reply, such as "NEGOTIATE", or
	// "frame" for the transport framing.
	Command string
	// Problem says what is wrong.
	Problem string
}

func (e *MalformedError) Error() string {
	return "malformed " + e.Command + " reply: " + e.Problem
}

// ErrSMB1 is the cause when the server answers with an SMB1 message.
var ErrSMB1 = errors.New("the server answered in SMB1")

// Conn is a net.Conn whose reads return only frames that passed every
// check. Writes pass through unchanged; Conn reads its own requests to know
// what the replies answer.
type Conn struct {
	net.Conn
	opts Options

	// read side, used only by the goroutine that reads (go-smb2's receiver)
	r       *bufio.Reader
	pending []byte
	hdr     [4]byte

	// write side: go-smb2 writes a frame's 4-byte size and its message in
	// two calls; the size is held and sent with the message in one
	// system call (writev), not two TCP segments.
	wmu    sync.Mutex
	held   [4]byte
	isHeld bool

	mu    sync.Mutex
	fault *derrors.Error
	st    state
	out   outParser
}

// New wraps c.
func New(c net.Conn, opts Options) *Conn {
	g := &Conn{Conn: c, opts: opts, r: bufio.NewReaderSize(c, readBuffer)}
	g.st.writes = make(map[uint64]uint32)
	return g
}

// readBuffer is what one read of the connection asks for at least: a
// frame's size and a small reply arrive in one system call; a larger
// reply's rest is read straight into its frame.
const readBuffer = 4 << 10

// Err returns the error that closed the connection, or nil.
func (g *Conn) Err() *derrors.Error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fault
}

// Facts returns what the server said in negotiate and session setup.
func (g *Conn) Facts() Facts {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.st.facts
}

// Read returns bytes of frames that passed the checks. A frame that fails
// closes the connection and Read returns the *derrors.Error (Kind
// SharedAccessFailure, Reason ReasonMalformedReply or ReasonSMB1Only).
func (g *Conn) Read(p []byte) (int, error) {
	if len(g.pending) == 0 {
		if err := g.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// next reads and checks one frame.
func (g *Conn) next() error {
	if f := g.Err(); f != nil {
		return f
	}
	if _, err := io.ReadFull(g.r, g.hdr[:]); err != nil {
		return err
	}
	size := int(binary.BigEndian.Uint32(g.hdr[:]))
	if g.hdr[0] != 0 {
		return g.reject(&MalformedError{"frame", fmt.Sprintf("not a Direct TCP frame (first byte 0x%02X)", g.hdr[0])})
	}
	if size > MaxFrame {
		return g.reject(&MalformedError{"frame", fmt.Sprintf("%d bytes, more than the %d a reply can need", size, MaxFrame)})
	}
	buf := make([]byte, 4+size)
	copy(buf, g.hdr[:])
	if _, err := io.ReadFull(g.r, buf[4:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	g.mu.Lock()
	err := g.st.checkFrame(buf[4:], g.opts)
	g.mu.Unlock()
	if err != nil {
		return g.reject(err)
	}
	g.pending = buf
	return nil
}

// reject records cause as the connection's fault and closes it.
func (g *Conn) reject(cause error) error {
	g.mu.Lock()
	if g.fault == nil {
		reason := derrors.ReasonMalformedReply
		if errors.Is(cause, ErrSMB1) {
			reason = derrors.ReasonSMB1Only
		}
		g.fault = &derrors.Error{Host: g.opts.Host, Kind: derrors.SharedAccessFailure, Reason: reason, Err: cause}
	}
	f := g.fault
	g.mu.Unlock()
	_ = g.Conn.Close()
	return f
}

// Write reads the requests go-smb2 sends (to learn the length of each write
// and the messages the SMB 3.1.1 key derivation hashes), then sends them. A
// frame's size written alone is held and sent with the next Write, the
// frame's message, in one system call.
func (g *Conn) Write(p []byte) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	g.mu.Lock()
	atBoundary := g.out.nhdr == 0
	err := g.out.feed(p, &g.st, g.opts)
	g.mu.Unlock()
	if err != nil {
		_ = g.reject(err)
		return 0, g.Err()
	}
	if !g.isHeld {
		if atBoundary && len(p) == 4 && binary.BigEndian.Uint32(p) > 0 {
			copy(g.held[:], p)
			g.isHeld = true
			return len(p), nil
		}
		return g.Conn.Write(p)
	}
	g.isHeld = false
	bufs := net.Buffers{g.held[:], p}
	n, err := bufs.WriteTo(g.Conn)
	return max(int(n)-len(g.held), 0), err
}

// Facts is what the server said in the clear during negotiate and session
// setup.
type Facts struct {
	// Negotiated is set once a NEGOTIATE response was read, at NegotiatedAt.
	Negotiated   bool
	NegotiatedAt time.Time
	Dialect      uint16
	SecurityMode uint16
	Capabilities uint32
	// Cipher is the SMB 3.1.1 encryption context's cipher, 0 if none.
	Cipher uint16
	// MaxTransactSize, MaxReadSize and MaxWriteSize are the server's limits.
	MaxTransactSize, MaxReadSize, MaxWriteSize uint32
	// SessionDone is set once the final SESSION_SETUP response was read.
	SessionDone   bool
	SessionStatus uint32
	SessionFlags  uint16
	// SessionSigned reports that the final SESSION_SETUP response carried a
	// signature.
	SessionSigned bool
	// RepliesSigned counts replies after logon that were signed or
	// encrypted, RepliesUnsigned those that were neither.
	RepliesSigned, RepliesUnsigned int
}

// now is time.Now, replaced in tests.
var now = time.Now

// state is what the checks know about the session so far.
type state struct {
	facts Facts

	// negotiate
	negReq       []byte // last NEGOTIATE request sent
	negMsgID     uint64 // its message id
	negPending   bool   // it awaits its reply
	negotiations int    // NEGOTIATE requests sent
	dialect      uint16
	cipher       uint16
	preauth      [64]byte // SMB 3.1.1 preauth integrity hash (connection, then session)

	// session setup
	ssReqs      int    // SESSION_SETUP requests sent
	ss1         []byte // the first one, for the preauth hash
	ss1ID       uint64 // message ids of the first and second
	ss2ID       uint64
	ss1Answered bool
	sessionID   uint64 // from the first SESSION_SETUP response
	firstFlags  uint16 // session flags of the first SESSION_SETUP response
	sessionDone bool   // the final SESSION_SETUP response was delivered
	active      bool   // the client sent a request after the final SESSION_SETUP response
	keys        *keys  // derived on first use

	writes map[uint64]uint32 // MessageId → length of WRITE requests awaiting their reply
}

// hashPreauth extends the SMB 3.1.1 preauth integrity hash with msg.
func (s *state) hashPreauth(msg []byte) {
	h := sha512.New()
	h.Write(s.preauth[:])
	h.Write(msg)
	h.Sum(s.preauth[:0])
}

// noKeys reports that go-smb2 set up no signing or encryption keys for the
// session: a guest or anonymous first SESSION_SETUP response.
func (s *state) noKeys() bool {
	return s.firstFlags&(sessionFlagGuest|sessionFlagNull) != 0
}

// canEncrypt reports that go-smb2 has encryption keys for the session, so
// that encrypting (either way) does not dereference a nil cipher.
func (s *state) canEncrypt() bool {
	switch s.dialect {
	case dialect300, dialect302:
	case dialect311:
		if s.cipher == 0 {
			return false
		}
	default:
		return false
	}
	return s.ssReqs >= 2 && !s.noKeys()
}
