package discovery

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
)

// listen445 serves TCP 445 on addr inside h's namespace (accept, close)
// until cleanup.
func listen445(t *testing.T, h *lab.Host, addr netip.Addr) {
	t.Helper()
	ln, err := h.Listen(context.Background(), "tcp", netip.AddrPortFrom(addr, 445).String())
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

// TestScanRangeLab scans real namespaces: a host with seven addresses of
// which three listen on 445 (the other four reset), a host that drops 445
// (silent), one that resets it although something listens (refused) and one
// that answers ICMP host-unreachable.
func TestScanRangeLab(t *testing.T) {
	lab.Require(t, "root", "netns", "iptables")
	n := lab.NewNet(t)
	multi := n.AddHost(t, "multi")
	extra := multi.AddAddrs(t, 6)
	for _, a := range []netip.Addr{multi.Addr, extra[1], extra[4]} {
		listen445(t, multi, a)
	}
	dropped := n.AddHost(t, "dropped")
	listen445(t, dropped, dropped.Addr)
	dropped.Drop(t, 445)
	reset := n.AddHost(t, "reset")
	listen445(t, reset, reset.Addr)
	reset.RejectReset(t, 445)
	unreach := n.AddHost(t, "unreach")
	unreach.RejectUnreachable(t, 445)

	spec := fmt.Sprintf("%s-%s,%s,%s,%s", multi.Addr, extra[5], dropped.Addr, reset.Addr, unreach.Addr)
	const timeout = time.Second
	start := time.Now()
	hosts, rep, err := ScanRange(context.Background(), spec, RangeOptions{
		Timeout: timeout, Concurrency: 4, Rate: 100, Dial: n.DialContext,
	})
	elapsed := time.Since(start)
	require.NoError(t, err)
	t.Logf("scanned %d addresses in %v", len(rep.Results), elapsed.Round(time.Millisecond))

	var open []netip.Addr
	for _, h := range hosts {
		open = append(open, h.Addr)
		assert.Equal(t, "range:"+spec, h.Source)
	}
	assert.Equal(t, []netip.Addr{multi.Addr, extra[1], extra[4]}, open)

	want := map[netip.Addr]PortState{
		multi.Addr: StateOpen, extra[1]: StateOpen, extra[4]: StateOpen,
		extra[0]: StateRefused, extra[2]: StateRefused, extra[3]: StateRefused, extra[5]: StateRefused,
		dropped.Addr: StateSilent, reset.Addr: StateRefused, unreach.Addr: StateUnreachable,
	}
	require.Len(t, rep.Results, len(want))
	kinds := map[PortState]derrors.Kind{
		StateRefused: derrors.ConnectionRefused, StateSilent: derrors.ConnectionTimeout,
		StateUnreachable: derrors.HostUnreachable,
	}
	for _, r := range rep.Results {
		assert.Equal(t, want[r.Addr], r.State, "%s: %v", r.Addr, r.Err)
		if k, ok := kinds[r.State]; ok {
			assert.ErrorIs(t, r.Err, k, r.Addr.String())
		} else {
			assert.NoError(t, r.Err)
		}
		if r.State == StateSilent {
			// Silent means "no answer within the timeout", not longer.
			assert.GreaterOrEqual(t, r.Elapsed, timeout)
			assert.Less(t, r.Elapsed, timeout+3*time.Second)
		}
	}
	// Everything but the silent address answers at once; the scan is
	// bounded by one timeout, not one per address.
	assert.Less(t, elapsed, 10*timeout)

	// The same through the Source interface.
	var src Source = RangeSource{Spec: multi.Addr.String() + "," + extra[0].String(),
		Options: RangeOptions{Timeout: timeout, Dial: n.DialContext}}
	got, err := src.Discover(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, multi.Addr, got[0].Addr)
}
