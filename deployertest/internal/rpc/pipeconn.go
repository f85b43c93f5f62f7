package rpc

import (
	"context"
	"errors"
	"io"
	"sync"
)

// maxPipeBacklog bounds the unprocessed bytes written to a pipe.
const maxPipeBacklog = maxCallSize + 1<<16

// errPipeBacklog is returned by Write when the client writes far ahead of
// the server.
var errPipeBacklog = errors.New("rpc: pipe backlog exceeded")

// pipeConn is one named pipe instance in message mode carrying one
// association. A goroutine processes the PDUs written to it in order; each
// PDU sent back is one message.
type pipeConn struct {
	assoc  *association
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	in      []byte
	inReady chan struct{} // capacity 1: input arrived
	out     [][]byte
	outWait chan struct{} // closed and replaced when out grows
	closed  bool
	broken  bool
}

func newPipeConn(a *association) *pipeConn {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pipeConn{assoc: a, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		inReady: make(chan struct{}, 1), outWait: make(chan struct{})}
	go p.loop()
	return p
}

// Write queues one message written by the client.
func (p *pipeConn) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		return 0, io.ErrClosedPipe
	case p.broken:
		return 0, errFatal
	case len(p.in)+len(b) > maxPipeBacklog:
		return 0, errPipeBacklog
	}
	p.in = append(p.in, b...)
	select {
	case p.inReady <- struct{}{}:
	default:
	}
	return len(b), nil
}

// ReadMessage returns the next PDU for the client.
func (p *pipeConn) ReadMessage(ctx context.Context) ([]byte, error) {
	for {
		p.mu.Lock()
		if len(p.out) > 0 {
			m := p.out[0]
			p.out[0] = nil
			p.out = p.out[1:]
			p.mu.Unlock()
			return m, nil
		}
		if p.closed || p.broken {
			p.mu.Unlock()
			return nil, io.EOF
		}
		wait := p.outWait
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close ends the association and closes its context handles.
func (p *pipeConn) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.outWait)
	p.outWait = make(chan struct{})
	p.mu.Unlock()
	p.cancel()
	<-p.done
	return nil
}

// loop processes complete PDUs as they arrive.
func (p *pipeConn) loop() {
	defer close(p.done)
	defer p.assoc.close()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-p.inReady:
		}
		for {
			pdu := p.nextPDU()
			if pdu == nil {
				break
			}
			out, err := p.assoc.process(p.ctx, pdu)
			p.mu.Lock()
			p.out = append(p.out, out...)
			if err != nil {
				p.broken = true
				p.in = nil
			}
			close(p.outWait)
			p.outWait = make(chan struct{})
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// nextPDU removes and returns the first complete PDU of the input, or nil.
// A header declaring less than a header's length breaks the pipe.
func (p *pipeConn) nextPDU() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.in) < headerSize {
		return nil
	}
	h, _ := parseHeader(p.in)
	n := int(h.FragLen)
	if n < headerSize {
		// Hand the garbage to the association, which rejects it.
		n = len(p.in)
	}
	if len(p.in) < n {
		return nil
	}
	pdu := append([]byte(nil), p.in[:n]...)
	p.in = p.in[n:]
	return pdu
}
