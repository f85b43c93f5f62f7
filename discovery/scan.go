package discovery

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"golang.org/x/sync/errgroup"
)

// Defaults and limits of RangeOptions.
const (
	DefaultScanPort        = 445
	DefaultScanConcurrency = 64
	DefaultScanTimeout     = 2 * time.Second
	// DefaultMaxScanAddrs is the largest range scanned without AllowLarge:
	// a /20.
	DefaultMaxScanAddrs = 4096
	// MaxScanAddrs is the largest range scanned at all: a /12.
	MaxScanAddrs = 1 << 20
)

// PortState is what one address did when dialled.
type PortState int

// Port states.
const (
	// StateOpen: the TCP handshake completed.
	StateOpen PortState = iota + 1
	// StateRefused: the address answered with a reset (nothing listens, or
	// a firewall rejects with tcp-reset).
	StateRefused
	// StateSilent: no answer before the timeout (switched off, or a
	// firewall drops the traffic).
	StateSilent
	// StateUnreachable: an ICMP unreachable, or no route.
	StateUnreachable
	// StateError: any other failure; AddrResult.Err says which.
	StateError
	// StateSkipped: not dialled because the scan was cancelled first.
	StateSkipped
)

// String returns "open", "refused", "silent", "unreachable", "error" or
// "skipped".
func (s PortState) String() string {
	switch s {
	case StateOpen:
		return "open"
	case StateRefused:
		return "refused"
	case StateSilent:
		return "silent"
	case StateUnreachable:
		return "unreachable"
	case StateError:
		return "error"
	case StateSkipped:
		return "skipped"
	}
	return fmt.Sprintf("PortState(%d)", int(s))
}

// RangeOptions tunes ScanRange. The zero value scans TCP 445 with the
// defaults.
type RangeOptions struct {
	// Port is the TCP port to try; DefaultScanPort (SMB) when zero.
	Port int
	// Concurrency bounds dials in flight; DefaultScanConcurrency when zero.
	Concurrency int
	// Rate bounds new dials per second; zero means no bound beyond
	// Concurrency.
	Rate float64
	// Timeout bounds each dial; DefaultScanTimeout when zero. An address
	// that has not answered by then is StateSilent.
	Timeout time.Duration
	// MaxAddrs refuses larger ranges; DefaultMaxScanAddrs when zero.
	MaxAddrs int
	// AllowLarge lifts MaxAddrs up to MaxScanAddrs.
	AllowLarge bool
	// Dial opens the connections; a net.Dialer's by default.
	Dial DialFunc
}

// AddrResult is the outcome for one address.
type AddrResult struct {
	// Addr is the address dialled.
	Addr netip.Addr
	// State classifies the outcome.
	State PortState
	// Elapsed is how long the dial took.
	Elapsed time.Duration
	// Err is the dial error as a *derrors.Error (connection refused,
	// connection timeout, host unreachable, ...), nil when open or skipped.
	Err error
}

// RangeReport is the outcome of a scan for every address, in range order.
type RangeReport struct {
	// Spec is the range as given.
	Spec string
	// Port is the port dialled.
	Port int
	// Results has one entry per address.
	Results []AddrResult
}

// Count returns how many addresses ended in state s.
func (r *RangeReport) Count(s PortState) int {
	n := 0
	for _, res := range r.Results {
		if res.State == s {
			n++
		}
	}
	return n
}

// ParseRange expands a range specification into addresses. spec is one or
// more comma-separated items, each
//   - an address: "10.0.0.5", "2001:db8::5";
//   - a CIDR prefix: "10.0.0.0/24" — for IPv4 prefixes of /30 and shorter the
//     network and broadcast addresses are left out;
//   - an inclusive range "a.b.c.d-e.f.g.h" (or two IPv6 addresses), both ends
//     of one family, the first not after the second.
//
// Addresses come back in the order given, without duplicates. A total above
// max is refused before anything is allocated.
func ParseRange(spec string, max int) ([]netip.Addr, error) {
	type span struct{ first, last netip.Addr }
	var spans []span
	total := new(big.Int)
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var sp span
		switch {
		case strings.Contains(item, "/"):
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("discovery: range %q: %w", item, err)
			}
			p = p.Masked()
			sp.first = p.Addr()
			sp.last = lastOf(p)
			if p.Addr().Is4() && p.Bits() <= 30 {
				sp.first, sp.last = sp.first.Next(), sp.last.Prev()
			}
		case strings.Contains(item, "-"):
			a, b, _ := strings.Cut(item, "-")
			first, err1 := ParseAddr(strings.TrimSpace(a))
			last, err2 := ParseAddr(strings.TrimSpace(b))
			if err := errors.Join(err1, err2); err != nil {
				return nil, fmt.Errorf("discovery: range %q: %w", item, err)
			}
			if first.Is4() != last.Is4() || first.Zone() != last.Zone() {
				return nil, fmt.Errorf("discovery: range %q mixes address families or zones", item)
			}
			if last.Less(first) {
				return nil, fmt.Errorf("discovery: range %q ends before it starts", item)
			}
			sp = span{first, last}
		default:
			a, err := ParseAddr(item)
			if err != nil {
				return nil, fmt.Errorf("discovery: range %q: %w", item, err)
			}
			sp = span{a, a}
		}
		n := new(big.Int).Sub(addrInt(sp.last), addrInt(sp.first))
		total.Add(total, n.Add(n, big.NewInt(1)))
		if total.Cmp(big.NewInt(int64(max))) > 0 {
			return nil, fmt.Errorf("discovery: range %q holds more than %d addresses", spec, max)
		}
		spans = append(spans, sp)
	}
	if len(spans) == 0 {
		return nil, fmt.Errorf("discovery: empty range %q", spec)
	}
	addrs := make([]netip.Addr, 0, int(total.Int64()))
	seen := make(map[netip.Addr]bool, len(addrs))
	for _, sp := range spans {
		for a := sp.first; a.IsValid(); a = a.Next() {
			if !seen[a] && ValidateAddr(a) == nil {
				seen[a] = true
				addrs = append(addrs, a)
			}
			if a == sp.last {
				break
			}
		}
	}
	return addrs, nil
}

// lastOf returns the last address of a masked prefix.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func addrInt(a netip.Addr) *big.Int { return new(big.Int).SetBytes(a.AsSlice()) }

// ScanRange dials the port (TCP 445 by default) on every address of spec
// (see ParseRange) and classifies each as open, refused, silent or
// unreachable. It returns a Host for each open address (Source
// "range:SPEC", Attrs "port"), and the report for every address. Dials run
// with bounded concurrency, at most Rate new dials a second, each within
// Timeout. Cancelling ctx stops the scan: addresses not yet dialled are
// StateSkipped, and the context's error is returned with what was found.
func ScanRange(ctx context.Context, spec string, opts RangeOptions) ([]Host, *RangeReport, error) {
	max := opts.MaxAddrs
	if max <= 0 {
		max = DefaultMaxScanAddrs
	}
	if opts.AllowLarge {
		max = MaxScanAddrs
	} else if max > MaxScanAddrs {
		max = MaxScanAddrs
	}
	addrs, err := ParseRange(spec, max)
	if err != nil {
		if !opts.AllowLarge && strings.Contains(err.Error(), "holds more than") {
			err = fmt.Errorf("%w (set AllowLarge to scan up to %d)", err, MaxScanAddrs)
		}
		return nil, nil, err
	}
	port := opts.Port
	if port == 0 {
		port = DefaultScanPort
	}
	if port < 1 || port > 65535 {
		return nil, nil, fmt.Errorf("discovery: port %d out of range", port)
	}
	limit := opts.Concurrency
	if limit <= 0 {
		limit = DefaultScanConcurrency
	}
	timeout := orDuration(opts.Timeout, DefaultScanTimeout)
	dial := opts.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	lim := newLimiter(opts.Rate)

	report := &RangeReport{Spec: spec, Port: port, Results: make([]AddrResult, len(addrs))}
	var g errgroup.Group
	g.SetLimit(limit)
	for i, a := range addrs {
		report.Results[i] = AddrResult{Addr: a, State: StateSkipped}
		if lim.wait(ctx) != nil {
			continue
		}
		g.Go(func() error {
			defer func() {
				// A DialFunc of the caller's that panics fails its address,
				// not the scan.
				if p := recover(); p != nil {
					report.Results[i] = AddrResult{Addr: a, State: StateError,
						Err: derrors.New(a.String(), derrors.StepConnect, derrors.UnknownError, fmt.Errorf("internal error: %v", p))}
				}
			}()
			r := probeAddr(ctx, dial, a, port, timeout)
			r.Err = derrors.AtPort(r.Err, port)
			report.Results[i] = r
			return nil
		})
	}
	_ = g.Wait()

	var hosts []Host
	label := "range:" + spec
	for _, r := range report.Results {
		if r.State == StateOpen {
			hosts = append(hosts, Host{Addr: r.Addr, Source: label, Attrs: map[string]string{"port": fmt.Sprint(port)}})
		}
	}
	return hosts, report, ctx.Err()
}

// probeAddr dials one address and classifies the outcome.
func probeAddr(ctx context.Context, dial DialFunc, a netip.Addr, port int, timeout time.Duration) AddrResult {
	if ctx.Err() != nil {
		return AddrResult{Addr: a, State: StateSkipped}
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	conn, err := dial(dctx, "tcp", netip.AddrPortFrom(a, uint16(port)).String())
	res := AddrResult{Addr: a, Elapsed: time.Since(start)}
	if err == nil {
		conn.Close()
		res.State = StateOpen
		return res
	}
	if ctx.Err() != nil && dctx.Err() != context.DeadlineExceeded {
		return AddrResult{Addr: a, State: StateSkipped}
	}
	if dctx.Err() == context.DeadlineExceeded && !errors.Is(err, syscall.ECONNREFUSED) &&
		!errors.Is(err, syscall.EHOSTUNREACH) && !errors.Is(err, syscall.ENETUNREACH) {
		err = fmt.Errorf("no answer within %v: %w", timeout, err)
	}
	e := derrors.Wrap(a.String(), derrors.StepConnect, err)
	res.Err = e
	switch e.Kind {
	case derrors.ConnectionRefused:
		res.State = StateRefused
	case derrors.ConnectionTimeout:
		res.State = StateSilent
	case derrors.HostUnreachable:
		res.State = StateUnreachable
	default:
		res.State = StateError
	}
	return res
}

// limiter spaces events at least 1/rate apart (a ticker-like schedule
// without a goroutine: each wait takes the next free slot).
type limiter struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func newLimiter(rate float64) *limiter {
	if rate <= 0 {
		return &limiter{}
	}
	return &limiter{interval: time.Duration(float64(time.Second) / rate)}
}

// wait blocks until the caller's slot, or returns ctx's error.
func (l *limiter) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.interval == 0 {
		return nil
	}
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(slot)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RangeSource is a Source scanning an address range for hosts answering on
// TCP 445 (see ScanRange). The per-address report is not kept: call
// ScanRange for it.
type RangeSource struct {
	// Spec is the range, as ParseRange reads it.
	Spec string
	// Options tune the scan.
	Options RangeOptions
}

// Discover scans the range and returns the hosts that answered.
func (s RangeSource) Discover(ctx context.Context) ([]Host, error) {
	hosts, _, err := ScanRange(ctx, s.Spec, s.Options)
	return hosts, err
}
