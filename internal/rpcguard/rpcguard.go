// Package rpcguard stands between go-msrpc and the connection (a named pipe)
// its DCE/RPC calls go over, and bounds what a reply can make go-msrpc
// allocate.
//
// go-msrpc v1.5.2 sizes allocations from counts the server sends: a string's
// actual_count becomes make([]uint16, count) before a byte of it is read (a
// NetrShareGetInfo reply declaring a 0x7FFFFFFF-character string allocates
// 4 GiB), and a conformant array is checked only against the bytes left,
// not against its elements' size. Conn reads each PDU from the connection
// before go-msrpc does: it checks the common header ([C706] 12.6.3), bounds
// the fragment and the whole reassembled response of a call (MaxResponse),
// holds a response's fragments until the last one arrives, and runs the
// interface's Checker on the complete stub; only then does go-msrpc read the
// fragments. A reply that fails closes the connection and go-msrpc's read
// fails with a *derrors.Error (shared access failure, malformed reply).
//
// Checkers walk the NDR of the responses the deployer asks for
// (SrvsvcChecker, SvcctlChecker): every conformant or varying count must fit
// in the bytes that follow it.
package rpcguard

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/smbguard"
)

// Limits.
const (
	// MaxResponse bounds the stub of one call's response, all fragments
	// together. The deployer's largest reply (EnumServicesStatusW into a
	// 256 KiB buffer) is far smaller.
	MaxResponse = 4 << 20
	// maxFragments bounds the fragments of one response.
	maxFragments = 4096
	// maxEmptyReads bounds consecutive empty reads from the pipe.
	maxEmptyReads = 16
)

// PDU types ([C706] 12.6.4).
const (
	ptypeRequest  = 0
	ptypeResponse = 2
	headerLen     = 16
	responseLen   = 24
	flagFirst     = 0x01
	flagLast      = 0x02
)

// Checker checks the complete stub of a response to opnum. It returns nil
// for opnums it does not know.
type Checker func(opnum uint16, stub []byte) error

// Options configure a Conn.
type Options struct {
	// Host names the server in errors.
	Host string
	// Interface names the interface in errors, such as "srvsvc".
	Interface string
	// Check checks each complete response; nil checks framing and sizes
	// only.
	Check Checker
}

// Conn is a net.Conn carrying DCE/RPC PDUs whose reads return only
// responses that passed the checks.
type Conn struct {
	net.Conn
	opts Options

	in      []byte // bytes read from the connection, not parsed yet
	pending []byte // checked bytes not yet read
	held    []byte // fragments of the response being assembled
	stub    []byte // its stub so far
	frags   int

	mu    sync.Mutex
	calls map[uint32]uint16 // call id → opnum of requests awaiting their response
	out   []byte            // partial PDU written so far
	fault *derrors.Error
}

// New wraps c.
func New(c net.Conn, opts Options) *Conn {
	return &Conn{Conn: c, opts: opts, calls: make(map[uint32]uint16)}
}

// Err returns the error that closed the connection, or nil.
func (g *Conn) Err() *derrors.Error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fault
}

// Write records the opnum of each request (by call id), then sends p.
func (g *Conn) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.out = append(g.out, p...)
	for len(g.out) >= headerLen {
		n := int(binary.LittleEndian.Uint16(g.out[8:10]))
		if n < headerLen || len(g.out) < n {
			break
		}
		if g.out[2] == ptypeRequest && n >= responseLen && len(g.calls) < maxFragments {
			g.calls[binary.LittleEndian.Uint32(g.out[12:16])] = binary.LittleEndian.Uint16(g.out[22:24])
		}
		g.out = g.out[n:]
	}
	if len(g.out) == 0 {
		g.out = nil
	}
	g.mu.Unlock()
	return g.Conn.Write(p)
}

// Read returns bytes of PDUs that passed the checks.
func (g *Conn) Read(p []byte) (int, error) {
	for len(g.pending) == 0 {
		if err := g.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.pending)
	g.pending = g.pending[n:]
	return n, nil
}

// next reads one PDU and either releases it (with the fragments held
// before it) or holds it.
func (g *Conn) next() error {
	if f := g.Err(); f != nil {
		return f
	}
	if err := g.fill(headerLen); err != nil {
		return err
	}
	hdr := g.in[:headerLen]
	if hdr[0] != 5 || hdr[1] > 1 {
		return g.reject("a PDU of version %d.%d, not 5.0", hdr[0], hdr[1])
	}
	if hdr[4]&0xF0 != 0x10 {
		return g.reject("a big-endian PDU (data representation 0x%02X), which the deployer never asks for", hdr[4])
	}
	n := int(binary.LittleEndian.Uint16(hdr[8:10]))
	auth := int(binary.LittleEndian.Uint16(hdr[10:12]))
	if n < headerLen || (auth > 0 && auth+8 > n-headerLen) {
		return g.reject("a fragment of %d bytes with %d bytes of authentication", n, auth)
	}
	if err := g.fill(n); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	pdu := append([]byte(nil), g.in[:n]...)
	g.in = g.in[n:]
	if pdu[2] != ptypeResponse {
		g.pending = pdu
		return nil
	}
	if n < responseLen {
		return g.reject("a response fragment of %d bytes", n)
	}
	flags := pdu[3]
	end := n
	if auth > 0 {
		end = n - auth - 8
	}
	if end < responseLen {
		return g.reject("a response fragment whose authentication overlaps its header")
	}
	if flags&flagFirst != 0 {
		g.held, g.stub, g.frags = g.held[:0], g.stub[:0], 0
	}
	g.frags++
	if len(g.stub)+end-responseLen > MaxResponse || g.frags > maxFragments {
		return g.reject("a response of more than %d bytes or %d fragments", MaxResponse, maxFragments)
	}
	g.held = append(g.held, pdu...)
	g.stub = append(g.stub, pdu[responseLen:end]...)
	if flags&flagLast == 0 {
		return nil
	}
	callID := binary.LittleEndian.Uint32(pdu[12:16])
	g.mu.Lock()
	opnum, known := g.calls[callID]
	delete(g.calls, callID)
	g.mu.Unlock()
	if known && g.opts.Check != nil && auth == 0 {
		if err := check(g.opts.Check, opnum, g.stub); err != nil {
			return g.reject("%s opnum %d: %v", g.opts.Interface, opnum, err)
		}
	}
	g.pending, g.held = g.held, nil
	return nil
}

// fill reads from the connection until n bytes are buffered. A named pipe
// in message mode must be read with a buffer that holds a whole message
// (a short read fails with STATUS_BUFFER_OVERFLOW), so each read asks for
// 64 KiB, the most a fragment can be.
func (g *Conn) fill(n int) error {
	if len(g.in) >= n {
		return nil
	}
	buf := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(buf)
	for empty := 0; len(g.in) < n; {
		k, err := g.Conn.Read(*buf)
		if k > 0 {
			g.in = append(g.in, (*buf)[:k]...)
			empty = 0
		} else if err == nil {
			// go-smb2 answers an empty READ reply with (0, nil): do not spin.
			if empty++; empty >= maxEmptyReads {
				return g.reject("%d empty reads in a row", empty)
			}
			continue
		}
		if err != nil && len(g.in) < n {
			if len(g.in) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readBuffers lend fill its 64 KiB read buffer for the time of a read: the
// bytes read are kept in g.in, so a connection holds no buffer between
// calls.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, 1<<16); return &b }}

// check runs c, turning a panic in it into an error.
func check(c Checker, opnum uint16, stub []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("checking it failed: %v", r)
		}
	}()
	return c(opnum, stub)
}

// reject records the fault and closes the connection.
func (g *Conn) reject(format string, args ...any) error {
	g.mu.Lock()
	if g.fault == nil {
		g.fault = &derrors.Error{Host: g.opts.Host, Kind: derrors.SharedAccessFailure, Reason: derrors.ReasonMalformedReply,
			Err: &smbguard.MalformedError{Command: "RPC " + g.opts.Interface, Problem: fmt.Sprintf(format, args...)}}
	}
	f := g.fault
	g.mu.Unlock()
	_ = g.Conn.Close()
	return f
}
