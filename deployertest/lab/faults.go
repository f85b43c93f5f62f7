package lab

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"sync"
	"testing"
)

// Drop makes the host silently drop TCP segments to port (iptables DROP in its INPUT chain): a connect times
// out. The rule is removed by the returned function or on cleanup, whichever comes first.
func (h *Host) Drop(t testing.TB, port int) func() {
	t.Helper()
	return h.iptables(t, "-p", "tcp", "--dport", strconv.Itoa(port), "-j", "DROP")
}

// RejectUnreachable makes the host answer TCP SYNs to port with ICMP host-unreachable: a connect fails at once
// with EHOSTUNREACH ("no route to host").
func (h *Host) RejectUnreachable(t testing.TB, port int) func() {
	t.Helper()
	return h.iptables(t, "-p", "tcp", "--dport", strconv.Itoa(port), "-j", "REJECT",
		"--reject-with", "icmp-host-unreachable")
}

// RejectReset makes the host answer TCP segments to port with a reset: a connect fails with ECONNREFUSED even
// when something listens.
func (h *Host) RejectReset(t testing.TB, port int) func() {
	t.Helper()
	return h.iptables(t, "-p", "tcp", "--dport", strconv.Itoa(port), "-j", "REJECT", "--reject-with", "tcp-reset")
}

// Loss makes the host drop each packet it receives or sends with the given probability (0 < p <= 1),
// on every protocol and port.
func (h *Host) Loss(t testing.TB, probability float64) func() {
	t.Helper()
	if !(probability > 0 && probability <= 1) {
		t.Fatalf("lab: loss probability %v not in (0, 1]", probability)
	}
	p := strconv.FormatFloat(probability, 'f', -1, 64)
	in := h.iptables(t, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP")
	out := h.iptablesChain(t, "OUTPUT", "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP")
	return func() { out(); in() }
}

// IPTables returns the host's current rules (`iptables -S`), to check what a test left in place.
func (h *Host) IPTables(ctx context.Context) (string, error) {
	out, err := h.Command(ctx, "iptables", "-w", "-S").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("lab: iptables -S in %s: %w: %s", h.NS, err, out)
	}
	return string(out), nil
}

// iptables appends a rule to the host's INPUT chain.
func (h *Host) iptables(t testing.TB, rule ...string) func() {
	t.Helper()
	return h.iptablesChain(t, "INPUT", rule...)
}

// iptablesChain appends rule to chain in the host's namespace and returns its idempotent remover, also
// registered with t.Cleanup.
func (h *Host) iptablesChain(t testing.TB, chain string, rule ...string) func() {
	t.Helper()
	Require(t, "iptables")
	ctx := context.Background()
	add := append([]string{"-w", "-A", chain}, rule...)
	if out, err := h.Command(ctx, "iptables", add...).CombinedOutput(); err != nil {
		t.Fatalf("lab: iptables %v in %s: %v: %s", add, h.NS, err, out)
	}
	var once sync.Once
	remove := func() {
		once.Do(func() {
			del := append([]string{"-w", "-D", chain}, rule...)
			if out, err := h.Command(ctx, "iptables", del...).CombinedOutput(); err != nil {
				t.Errorf("lab: iptables %v in %s: %v: %s", del, h.NS, err, out)
			}
		})
	}
	t.Cleanup(remove)
	return remove
}

// Unroute adds `ip route add unreachable ADDR/32` in the client namespace: connecting to addr fails at once
// with EHOSTUNREACH, without a packet leaving the client. The route is removed by the returned function or on
// cleanup.
func (n *Net) Unroute(t testing.TB, addr netip.Addr) func() {
	t.Helper()
	dst := netip.PrefixFrom(addr, addr.BitLen()).String()
	ctx := context.Background()
	if err := run(ctx, n.ipPath, "-n", n.ClientNS, "route", "add", "unreachable", dst); err != nil {
		t.Fatalf("lab: %v", err)
	}
	var once sync.Once
	remove := func() {
		once.Do(func() {
			if err := run(ctx, n.ipPath, "-n", n.ClientNS, "route", "del", "unreachable", dst); err != nil {
				t.Errorf("lab: %v", err)
			}
		})
	}
	t.Cleanup(remove)
	return remove
}
