package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listenEcho starts a loopback echo server, closed on cleanup.
func listenEcho(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveEcho(t, ln)
	return ln.Addr().String()
}

// ping does one 64-byte round trip on c and returns its time.
func ping(t testing.TB, c net.Conn) time.Duration {
	t.Helper()
	buf := make([]byte, 64)
	start := time.Now()
	_, err := c.Write(buf)
	require.NoError(t, err)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	return time.Since(start)
}

// medianRTTs pings on every connection in turn (interleaved, so all see the same load), count times after two
// warm-up rounds, and returns each connection's median round-trip time.
func medianRTTs(t testing.TB, count int, conns ...net.Conn) []time.Duration {
	t.Helper()
	rtts := make([][]time.Duration, len(conns))
	for i := range count + 2 {
		for j, c := range conns {
			if d := ping(t, c); i >= 2 {
				rtts[j] = append(rtts[j], d)
			}
		}
	}
	medians := make([]time.Duration, len(conns))
	for j := range rtts {
		slices.Sort(rtts[j])
		medians[j] = rtts[j][len(rtts[j])/2]
	}
	return medians
}

func TestDelayProxyRTT(t *testing.T) {
	const oneWay = 20 * time.Millisecond
	echo := listenEcho(t)
	p := StartDelayProxy(t, echo, oneWay, nil)
	assert.Equal(t, oneWay, p.Delay())

	direct, err := net.Dial("tcp", echo)
	require.NoError(t, err)
	defer direct.Close()
	proxied, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer proxied.Close()

	m := medianRTTs(t, 15, direct, proxied)
	d, v := m[0], m[1]
	added := v - d
	t.Logf("median RTT direct %v, through a %v one-way proxy %v: added %v", d, oneWay, v, added)
	// A chunk must never leave the proxy early, whatever the load (how close to 2×D the added time stays is
	// measured by BenchmarkDelayProxy, not asserted here).
	assert.GreaterOrEqual(t, v, 2*oneWay, "a chunk left the proxy early")
}

func TestDelayProxyIntegrityAndHalfClose(t *testing.T) {
	echo := listenEcho(t)
	p := StartDelayProxy(t, echo, 2*time.Millisecond, nil)
	payload := make([]byte, 3<<20+17)
	_, err := rand.Read(payload)
	require.NoError(t, err)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		if err == nil {
			err = c.(*net.TCPConn).CloseWrite() // the echo server sees EOF only after every delayed chunk
		}
		errc <- err
	}()
	got, err := io.ReadAll(c) // ends when the echo's half-close comes back through the proxy
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.True(t, bytes.Equal(payload, got), "echoed %d bytes, sent %d", len(got), len(payload))
}

func TestDelayProxyCloseEndsConnections(t *testing.T) {
	echo := listenEcho(t)
	p := StartDelayProxy(t, echo, 0, nil)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte("x"))
	require.NoError(t, err)
	_, err = io.ReadFull(c, make([]byte, 1))
	require.NoError(t, err)
	p.Close()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the proxy closed its side")
	_, err = net.DialTimeout("tcp", p.Addr(), time.Second)
	require.Error(t, err, "the listener is closed")
}

// serveSink accepts connections that send bytes and half-close, and answers each with the byte count and the
// time (UnixNano) of its last read.
func serveSink(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 256<<10)
				var total int64
				var last time.Time
				for {
					n, err := c.Read(buf)
					if n > 0 {
						total += int64(n)
						last = time.Now()
					}
					if err != nil {
						break
					}
				}
				var out [16]byte
				binary.BigEndian.PutUint64(out[:8], uint64(total))
				binary.BigEndian.PutUint64(out[8:], uint64(last.UnixNano()))
				_, _ = c.Write(out[:])
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// streamRate sends size bytes to the sink through addr and returns MiB/s, timed from the first write to the
// sink's last read (the same clock: one process), less latency (the one-way delay D of a delay proxy).
func streamRate(t testing.TB, addr string, size int, latency time.Duration) float64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	chunk := make([]byte, 1<<20)
	start := time.Now()
	for sent := 0; sent < size; sent += len(chunk) {
		_, err := c.Write(chunk)
		require.NoError(t, err)
	}
	require.NoError(t, c.(*net.TCPConn).CloseWrite())
	var out [16]byte
	_, err = io.ReadFull(c, out[:])
	require.NoError(t, err)
	require.Equal(t, uint64(size), binary.BigEndian.Uint64(out[:8]))
	last := time.Unix(0, int64(binary.BigEndian.Uint64(out[8:])))
	return float64(size) / (1 << 20) / (last.Sub(start) - latency).Seconds()
}

// TestDelayProxyReadsAhead proves that a delay does not cap throughput, without timing anything: with a one-way
// delay of an hour, a client writes 16 MiB and every Write returns, so the proxy holds far more than one chunk in
// flight, while the target has received nothing yet. Close then ends the connection at once, delay or not.
// (The throughput itself is measured by BenchmarkDelayProxy.)
func TestDelayProxyReadsAhead(t *testing.T) {
	received := make(chan int64, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		received <- n
	}()
	p := StartDelayProxy(t, ln.Addr().String(), time.Hour, nil)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	// The deadline only turns a proxy that stopped reading into a failure instead of a hang.
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(2*time.Minute)))
	chunk := make([]byte, 1<<20)
	for i := range 16 {
		_, err := c.Write(chunk)
		require.NoError(t, err, "write %d of 16 MiB: the proxy stopped reading ahead", i+1)
	}
	p.Close()
	assert.Equal(t, int64(0), <-received, "nothing may reach the target before its delay")
}

// BenchmarkDelayProxy measures the proxy's throughput (MiB/s, one 64 MiB stream per iteration) directly, through
// the proxy at D=0 and at D=10 ms one way, and the round-trip time it adds: judge "no throughput cap" by D=10ms
// against D=0 (the proxy's own cost is not the point), run with
//
//	go test ./deployertest/lab -run '^$' -bench DelayProxy -benchtime 5x -count 3
func BenchmarkDelayProxy(b *testing.B) {
	sink := serveSink(b)
	const size = 64 << 20
	for _, d := range []time.Duration{-1, 0, 10 * time.Millisecond} {
		name, addr := "direct", sink
		if d >= 0 {
			name, addr = "D="+d.String(), StartDelayProxy(b, sink, d, nil).Addr()
		}
		b.Run(name, func(b *testing.B) {
			var total float64
			for range b.N {
				total += streamRate(b, addr, size, max(d, 0))
			}
			b.ReportMetric(total/float64(b.N), "MiB/s")
		})
	}
	b.Run("added-RTT/D=10ms", func(b *testing.B) {
		const oneWay = 10 * time.Millisecond
		echo := listenEcho(b)
		p := StartDelayProxy(b, echo, oneWay, nil)
		direct, err := net.Dial("tcp", echo)
		require.NoError(b, err)
		defer direct.Close()
		proxied, err := net.Dial("tcp", p.Addr())
		require.NoError(b, err)
		defer proxied.Close()
		var added time.Duration
		for range b.N {
			m := medianRTTs(b, 5, direct, proxied)
			added += m[1] - m[0]
		}
		b.ReportMetric(float64(added)/float64(b.N)/float64(time.Millisecond), "ms-added")
	})
}

func TestDelayProxyIntoNamespace(t *testing.T) {
	t.Parallel()
	n := NewNet(t)
	h := n.AddHost(t, "echo")
	ln, err := h.Listen(context.Background(), "tcp", h.Addr.String()+":7000")
	require.NoError(t, err)
	serveEcho(t, ln)
	p := StartDelayProxy(t, ln.Addr().String(), 5*time.Millisecond, n.DialContext)
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c.Close()
	rtt := medianRTTs(t, 3, c)[0]
	assert.GreaterOrEqual(t, rtt, 10*time.Millisecond)
	// A fault on the host shows through the proxy: the proxy's dial is refused, so the client sees EOF.
	h.RejectReset(t, 7000)
	c2, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, c2.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = c2.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}
