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
func listenEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveEcho(t, ln)
	return ln.Addr().String()
}

// ping does one 64-byte round trip on c and returns its time.
func ping(t *testing.T, c net.Conn) time.Duration {
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
func medianRTTs(t *testing.T, count int, conns ...net.Conn) []time.Duration {
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
	// The one explicit timing bound of the lab: the proxy adds 2×D per round trip, within a few ms (never less:
	// a chunk must not leave early; the slack above covers a shared 2-core machine under load).
	assert.GreaterOrEqual(t, added, 2*oneWay-500*time.Microsecond, "a chunk left the proxy early")
	assert.LessOrEqual(t, added, 2*oneWay+5*time.Millisecond, "added RTT %v, want 2×%v", added, oneWay)
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
func serveSink(t *testing.T) string {
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
func streamRate(t *testing.T, addr string, size int, latency time.Duration) float64 {
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

func TestDelayProxyThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("moves ~1 GiB through loopback; skipped with -short")
	}
	if raceDetector {
		t.Skip("compares CPU-bound throughputs: meaningless under the race detector's overhead")
	}
	sink := serveSink(t)
	const size = 64 << 20
	const slow = 10 * time.Millisecond
	fast := StartDelayProxy(t, sink, 0, nil)
	delayed := StartDelayProxy(t, sink, slow, nil)
	// Seven back-to-back pairs, the order alternating; the median of the pairs' ratios resists the bursts of
	// load this shared machine sees better than comparing best runs.
	var ratios, rates0, ratesSlow []float64
	for i := range 7 {
		var r0, rs float64
		if i%2 == 0 {
			r0 = streamRate(t, fast.Addr(), size, 0)
			rs = streamRate(t, delayed.Addr(), size, slow)
		} else {
			rs = streamRate(t, delayed.Addr(), size, slow)
			r0 = streamRate(t, fast.Addr(), size, 0)
		}
		rates0, ratesSlow, ratios = append(rates0, r0), append(ratesSlow, rs), append(ratios, rs/r0)
	}
	slices.Sort(ratios)
	slices.Sort(rates0)
	slices.Sort(ratesSlow)
	direct := streamRate(t, sink, size, 0)
	t.Logf("MiB/s (median of 7): direct %.0f, proxy D=0 %.0f, proxy D=%v %.0f; median ratio %.2f (all %.2f)",
		direct, rates0[3], slow, ratesSlow[3], ratios[3], ratios)
	// A delay must not cap throughput: judged against the same proxy at D=0 (the proxy's own cost is not the point).
	assert.GreaterOrEqual(t, ratios[3], 0.8)
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
