package lab

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

const (
	// delayChunk is the read size of the delay proxy: one chunk is one read.
	delayChunk = 64 << 10
	// delayInFlight is how many chunks may wait in one direction of one connection. At 64 KiB each that is up
	// to 128 MiB, far above the bandwidth-delay product of loopback at the delays tests use (~800 MiB/s ×
	// 10 ms = 8 MiB); when reads return less than a full chunk, fewer bytes fit, still well above it.
	delayInFlight = 2048
	// spinWindow is how long before a lone chunk's due time the writer stops sleeping and spins: Go timers
	// wake about 1 ms late, which would add ~1 ms per direction.
	spinWindow = 1500 * time.Microsecond
	// maxBatch is how many due chunks one writev may carry.
	maxBatch = 16
)

// DelayProxy is a TCP proxy that adds a fixed one-way delay in each direction without capping throughput:
// every chunk read is stamped on arrival and written when its time comes, with many chunks in flight.
// (The kernel here has no netem; this is the lab's latency.)
type DelayProxy struct {
	ln     net.Listener
	target string
	delay  time.Duration
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
	bufs   sync.Pool
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// chunk is one read, due for writing at due.
type chunk struct {
	buf *[]byte
	n   int
	due time.Time
}

// StartDelayProxy listens on 127.0.0.1 (random port) and forwards each connection to target, dialled with dial
// (nil: a net.Dialer; pass Net.DialContext to reach a host inside a namespace), delaying every chunk by oneWay in
// each direction. Half-closes are forwarded after the data before them. It stops on cleanup.
func StartDelayProxy(t testing.TB, target string, oneWay time.Duration,
	dial func(ctx context.Context, network, addr string) (net.Conn, error)) *DelayProxy {
	t.Helper()
	if oneWay < 0 {
		t.Fatalf("lab: negative delay %v", oneWay)
	}
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &DelayProxy{
		ln: ln, target: target, delay: oneWay, dial: dial, ctx: ctx, cancel: cancel,
		conns: make(map[net.Conn]struct{}),
		bufs:  sync.Pool{New: func() any { b := make([]byte, delayChunk); return &b }},
	}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's "127.0.0.1:port".
func (p *DelayProxy) Addr() string { return p.ln.Addr().String() }

// Delay returns the one-way delay.
func (p *DelayProxy) Delay() time.Duration { return p.delay }

// Close stops accepting, closes every proxied connection and waits for the proxy's goroutines. It is called on
// cleanup and may be called earlier; later calls do nothing.
func (p *DelayProxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.cancel()
	_ = p.ln.Close()
	p.wg.Wait()
}

// track registers c for Close; it reports false (and closes c) once the proxy is closed.
func (p *DelayProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

// untrack forgets and closes c.
func (p *DelayProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *DelayProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

// handle proxies one connection.
func (p *DelayProxy) handle(down net.Conn) {
	defer p.wg.Done()
	defer p.untrack(down)
	up, err := p.dial(p.ctx, "tcp", p.target)
	if err != nil {
		return
	}
	if !p.track(up) {
		return
	}
	defer p.untrack(up)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(up, down) }()
	go func() { defer wg.Done(); p.pipe(down, up) }()
	wg.Wait()
}

// pipe copies src to dst, each chunk held until delay after it was read. A reader goroutine stamps and queues
// chunks; this goroutine writes them when due. On EOF the write side of dst is closed after the queued data; on
// any error both connections are closed, which ends the other direction too.
func (p *DelayProxy) pipe(dst, src net.Conn) {
	queue := make(chan chunk, delayInFlight)
	go func() {
		defer close(queue)
		for {
			buf := p.bufs.Get().(*[]byte)
			n, err := src.Read(*buf)
			if n > 0 {
				queue <- chunk{buf: buf, n: n, due: time.Now().Add(p.delay)}
			} else {
				p.bufs.Put(buf)
			}
			if err != nil {
				if !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
					_ = dst.Close()
					_ = src.Close()
				}
				return
			}
		}
	}()
	var (
		failed  bool
		pending *chunk // a chunk taken from the queue that was not yet due
		eof     bool
		batch   []chunk
		bufs    net.Buffers
	)
	for !eof || pending != nil {
		var head chunk
		if pending != nil {
			head, pending = *pending, nil
		} else {
			c, ok := <-queue
			if !ok {
				break
			}
			head = c
		}
		if !failed {
			// Spin for precision only when nothing queues behind this chunk (interactive traffic); in a bulk
			// stream a timer that wakes a little late costs nothing (the chunks behind go out back to back),
			// while spinning between closely spaced chunks would burn a core the stream needs.
			if !waitUntil(p.ctx, head.due, len(queue) == 0) {
				// Close: drop what is queued rather than wait for it.
				failed = true
				_ = dst.Close()
				_ = src.Close()
			}
		}
		// Gather the chunks already due behind head into one writev.
		batch = append(batch[:0], head)
		now := time.Now()
	gather:
		for len(batch) < maxBatch && !eof {
			select {
			case c, ok := <-queue:
				if !ok {
					eof = true
					break gather
				}
				if c.due.After(now) {
					pending = &c
					break gather
				}
				batch = append(batch, c)
			default:
				break gather
			}
		}
		if !failed {
			bufs = bufs[:0]
			for _, c := range batch {
				bufs = append(bufs, (*c.buf)[:c.n])
			}
			if _, err := bufs.WriteTo(dst); err != nil {
				failed = true
				_ = dst.Close()
				_ = src.Close()
			}
		}
		for _, c := range batch {
			p.bufs.Put(c.buf)
		}
	}
	if !failed {
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	}
}

// waitUntil returns true at due, never earlier, or false as soon as ctx is done (the proxy is closing). With
// precise set it sleeps until spinWindow before due, then yields in a loop until due; otherwise it just sleeps
// (Go timers wake up to ~1 ms late).
func waitUntil(ctx context.Context, due time.Time, precise bool) bool {
	wake := due
	if precise {
		wake = due.Add(-spinWindow)
	}
	if d := time.Until(wake); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
	}
	for precise && time.Now().Before(due) {
		if ctx.Err() != nil {
			return false
		}
		runtime.Gosched()
	}
	return ctx.Err() == nil
}
