package discovery

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"golang.org/x/sync/errgroup"
)

// Defaults of ResolveOptions.
const (
	DefaultResolveConcurrency = 32
	DefaultResolveTimeout     = 5 * time.Second
)

// ResolveOptions says how names become addresses.
type ResolveOptions struct {
	// Resolver looks names up; net.DefaultResolver when nil.
	Resolver *net.Resolver
	// Concurrency bounds lookups in flight; DefaultResolveConcurrency when
	// zero.
	Concurrency int
	// Timeout bounds each lookup; DefaultResolveTimeout when zero.
	Timeout time.Duration
	// IPv6 prefers an IPv6 address when a name has both; IPv4 is preferred
	// by default.
	IPv6 bool
}

// ResolveHosts fills in the address of every host that has a Name, no Addr
// and no Err. A dotted name is looked up as rooted (a trailing dot is added,
// so no search domain is appended: dNSHostName is fully qualified). A host
// whose name does not resolve keeps the zero Addr and gets Err, a
// *derrors.Error of kind DNSResolutionFailure at step resolve; the host is
// not dropped. The returned error is only the context's.
func ResolveHosts(ctx context.Context, hosts []Host, opts ResolveOptions) error {
	r := opts.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	limit := opts.Concurrency
	if limit <= 0 {
		limit = DefaultResolveConcurrency
	}
	timeout := orDuration(opts.Timeout, DefaultResolveTimeout)
	var g errgroup.Group
	g.SetLimit(limit)
	for i := range hosts {
		h := &hosts[i]
		if h.Name == "" || h.Addr.IsValid() || h.Err != nil {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			defer func() {
				// A resolver of the caller's (its Dial) that panics fails
				// its host, not the discovery.
				if p := recover(); p != nil {
					h.Err = derrors.New(h.Name, derrors.StepResolve, derrors.UnknownError, fmt.Errorf("internal error: %v", p))
				}
			}()
			lctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			a, err := lookup(lctx, r, h.Name, opts.IPv6)
			if err != nil {
				h.Err = derrors.Wrap(h.Name, derrors.StepResolve, err)
				return nil
			}
			h.Addr = a
			return nil
		})
	}
	_ = g.Wait()
	return ctx.Err()
}

// lookup resolves one name to one address, preferring IPv4 (or IPv6).
func lookup(ctx context.Context, r *net.Resolver, name string, v6 bool) (netip.Addr, error) {
	q := name
	if strings.Contains(q, ".") && !strings.HasSuffix(q, ".") {
		q += "."
	}
	addrs, err := r.LookupNetIP(ctx, "ip", q)
	if err != nil {
		return netip.Addr{}, err
	}
	var first, pick netip.Addr
	for _, a := range addrs {
		a = addrFromIP(a)
		if ValidateAddr(a) != nil {
			continue
		}
		if !first.IsValid() {
			first = a
		}
		if a.Is6() == v6 && !pick.IsValid() {
			pick = a
		}
	}
	if pick.IsValid() {
		return pick, nil
	}
	if first.IsValid() {
		return first, nil
	}
	return netip.Addr{}, &net.DNSError{Err: "no usable address", Name: name, IsNotFound: true}
}
