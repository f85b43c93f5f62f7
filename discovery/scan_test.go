package discovery

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		spec string
		max  int
		want []netip.Addr
		n    int    // when want is nil: expected count
		err  string // substring of the error
	}{
		{spec: "10.0.0.5", max: 10, want: addrs("10.0.0.5")},
		{spec: "10.0.0.0/30", max: 10, want: addrs("10.0.0.1", "10.0.0.2")},
		{spec: "10.0.0.4/31", max: 10, want: addrs("10.0.0.4", "10.0.0.5")},
		{spec: "10.0.0.9/32", max: 10, want: addrs("10.0.0.9")},
		{spec: "10.0.0.7/24", max: 300, n: 254},
		{spec: "10.0.0.254-10.0.1.1", max: 10, want: addrs("10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1")},
		{spec: " 10.0.0.1 - 10.0.0.2 , 10.0.0.2,2001:db8::1-2001:db8::2", max: 10,
			want: addrs("10.0.0.1", "10.0.0.2", "2001:db8::1", "2001:db8::2")},
		{spec: "2001:db8::/126", max: 10, want: addrs("2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3")},
		{spec: "0.0.0.0-0.0.0.2", max: 10, err: "unspecified"},
		{spec: "0.0.0.0/30", max: 10, want: addrs("0.0.0.1", "0.0.0.2")},
		{spec: "10.0.0.0/16", max: 4096, err: "holds more than 4096 addresses"},
		{spec: "2001:db8::/64", max: 1 << 20, err: "holds more than"},
		{spec: "10.0.0.0/20,10.0.16.1", max: 4094, err: "holds more than"},
		{spec: "10.0.0.9-10.0.0.1", max: 10, err: "ends before it starts"},
		{spec: "10.0.0.1-2001:db8::1", max: 10, err: "mixes address families"},
		{spec: "10.0.0.1-x", max: 10, err: "not an IPv4 or IPv6 address"},
		{spec: "10.0.0.0/33", max: 10, err: "range"},
		{spec: "host.lab.test", max: 10, err: "not an IPv4 or IPv6 address"},
		{spec: " , ", max: 10, err: "empty range"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseRange(tt.spec, tt.max)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			if tt.want != nil {
				assert.Equal(t, tt.want, got)
			} else {
				assert.Len(t, got, tt.n)
			}
		})
	}
}

// fakeDial answers by the address's last byte: 1 open (a pipe), 2 refused,
// 3 unreachable, 4 silent (blocks until the context ends), other: an odd
// error.
func fakeDial(ctx context.Context, network, address string) (net.Conn, error) {
	ap := netip.MustParseAddrPort(address)
	op := func(err error) error { return &net.OpError{Op: "dial", Net: network, Err: &net.OpError{Err: err}} }
	switch ap.Addr().As4()[3] {
	case 1:
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	case 2:
		return nil, op(syscall.ECONNREFUSED)
	case 3:
		return nil, op(syscall.EHOSTUNREACH)
	case 4:
		<-ctx.Done()
		return nil, op(ctx.Err())
	}
	return nil, op(syscall.EPERM)
}

func TestScanRangeClassifies(t *testing.T) {
	hosts, rep, err := ScanRange(context.Background(), "10.9.0.1-10.9.0.5", RangeOptions{
		Port: 1445, Timeout: 50 * time.Millisecond, Dial: fakeDial,
	})
	require.NoError(t, err)
	assert.Equal(t, []Host{{Addr: netip.MustParseAddr("10.9.0.1"), Source: "range:10.9.0.1-10.9.0.5",
		Attrs: map[string]string{"port": "1445"}}}, hosts)
	require.Len(t, rep.Results, 5)
	assert.Equal(t, 1445, rep.Port)
	want := []struct {
		state PortState
		kind  derrors.Kind
	}{
		{StateOpen, 0},
		{StateRefused, derrors.ConnectionRefused},
		{StateUnreachable, derrors.HostUnreachable},
		{StateSilent, derrors.ConnectionTimeout},
		{StateError, derrors.UnknownError},
	}
	for i, w := range want {
		r := rep.Results[i]
		assert.Equal(t, w.state, r.State, "%s", r.Addr)
		assert.Equal(t, w.kind, derrors.KindOf(r.Err), "%s: %v", r.Addr, r.Err)
		if r.Err != nil {
			de, _ := derrors.As(r.Err)
			assert.Equal(t, derrors.StepConnect, de.Step)
			assert.Equal(t, r.Addr.String(), de.Host)
		}
	}
	assert.GreaterOrEqual(t, rep.Results[3].Elapsed, 50*time.Millisecond)
	assert.Equal(t, 1, rep.Count(StateSilent))
	assert.Equal(t, "open refused silent unreachable error skipped",
		StateOpen.String()+" "+StateRefused.String()+" "+StateSilent.String()+" "+
			StateUnreachable.String()+" "+StateError.String()+" "+StateSkipped.String())
}

// TestScanRangePanickingDial: a DialFunc that panics for one address fails
// that address (StateError, an internal error) and the scan goes on.
func TestScanRangePanickingDial(t *testing.T) {
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		if strings.HasPrefix(address, "10.9.0.2:") {
			panic("the caller's dialer fails")
		}
		return fakeDial(ctx, network, address)
	}
	hosts, rep, err := ScanRange(context.Background(), "10.9.0.1-10.9.0.2", RangeOptions{Port: 1445, Timeout: 50 * time.Millisecond, Dial: dial})
	require.NoError(t, err)
	assert.Len(t, hosts, 1)
	require.Len(t, rep.Results, 2)
	assert.Equal(t, StateError, rep.Results[1].State)
	assert.ErrorContains(t, rep.Results[1].Err, "internal error: the caller's dialer fails")
}

func TestScanRangeLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	// 127.0.0.2 has no listener on that port: the kernel resets.
	hosts, rep, err := ScanRange(context.Background(), "127.0.0.1-127.0.0.2", RangeOptions{Port: port})
	require.NoError(t, err)
	require.Len(t, hosts, 1)
	assert.Equal(t, netip.MustParseAddr("127.0.0.1"), hosts[0].Addr)
	assert.Equal(t, StateOpen, rep.Results[0].State)
	assert.Equal(t, StateRefused, rep.Results[1].State)

	src := RangeSource{Spec: "127.0.0.1", Options: RangeOptions{Port: port}}
	hosts, err = src.Discover(context.Background())
	require.NoError(t, err)
	assert.Len(t, hosts, 1)
}

func TestScanRangeLimits(t *testing.T) {
	var mu sync.Mutex
	var inFlight, peak int
	var starts []time.Time
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		starts = append(starts, time.Now())
		mu.Unlock()
		time.Sleep(5 * time.Millisecond)
		mu.Lock()
		inFlight--
		mu.Unlock()
		return nil, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	}
	_, rep, err := ScanRange(context.Background(), "10.9.0.0/27", RangeOptions{Concurrency: 3, Rate: 200, Dial: dial})
	require.NoError(t, err)
	assert.Equal(t, 30, rep.Count(StateRefused))
	assert.LessOrEqual(t, peak, 3)
	// The limiter spaces dial starts 5 ms apart: 30 starts span at least
	// 29 intervals (a lower bound; a slow machine only adds to it).
	require.Len(t, starts, 30)
	assert.GreaterOrEqual(t, starts[29].Sub(starts[0]), 29*5*time.Millisecond-time.Millisecond)

	_, _, err = ScanRange(context.Background(), "10.0.0.0/16", RangeOptions{Dial: dial})
	assert.ErrorContains(t, err, "set AllowLarge")
	_, _, err = ScanRange(context.Background(), "10.0.0.0/8", RangeOptions{Dial: dial, AllowLarge: true})
	assert.ErrorContains(t, err, "holds more than "+strconv.Itoa(MaxScanAddrs))
	_, _, err = ScanRange(context.Background(), "10.0.0.1", RangeOptions{Port: 70000})
	assert.ErrorContains(t, err, "port 70000")
}

func TestScanRangeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	dial := func(dctx context.Context, network, address string) (net.Conn, error) {
		once.Do(cancel)
		<-dctx.Done()
		return nil, &net.OpError{Op: "dial", Err: dctx.Err()}
	}
	hosts, rep, err := ScanRange(ctx, "10.9.0.0/28", RangeOptions{Concurrency: 1, Dial: dial})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, hosts)
	require.Len(t, rep.Results, 14)
	assert.Equal(t, 14, rep.Count(StateSkipped))
}

func TestLimiter(t *testing.T) {
	l := newLimiter(0)
	require.NoError(t, l.wait(context.Background()))
	l = newLimiter(1) // one a second: the second wait must block
	require.NoError(t, l.wait(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, l.wait(ctx), context.DeadlineExceeded)
}
