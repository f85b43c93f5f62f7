package deployertest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sync/errgroup"
)

// Fleet is a set of emulated hosts, each on its own loopback address.
type Fleet struct {
	// Hosts are the hosts, in address order.
	Hosts []*Host
	root  string
}

// FleetAddress returns the loopback address of the i-th host of a fleet:
// 127.10.x.y with y in 1..250, so up to 64,000 hosts.
func FleetAddress(i int) string {
	return fmt.Sprintf("127.10.%d.%d", (i/250)%256, i%250+1)
}

// NewFleet starts n hosts on 127.10.x.y (see FleetAddress), every one with
// opts; WithPort chooses the common port (0: a free port per host). Their C:
// drives share one temporary directory, removed by Close.
func NewFleet(n int, opts ...Option) (*Fleet, error) {
	if n <= 0 || n > 64000 {
		return nil, fmt.Errorf("winhost: fleet of %d hosts", n)
	}
	return newFleet(n, func(int) []Option { return opts })
}

// NewMixedFleet starts one host per fault, as NewFleet does, the i-th with
// opts and WithFault(faults[i]): healthy hosts (Healthy) mixed with broken
// ones, e.g. NewMixedFleet(FaultMix(50)).
func NewMixedFleet(faults []Fault, opts ...Option) (*Fleet, error) {
	if len(faults) == 0 || len(faults) > 64000 {
		return nil, fmt.Errorf("winhost: fleet of %d hosts", len(faults))
	}
	return newFleet(len(faults), func(i int) []Option {
		return append(append([]Option(nil), opts...), WithFault(faults[i]))
	})
}

func newFleet(n int, optsOf func(i int) []Option) (*Fleet, error) {
	root, err := os.MkdirTemp("", "winhost-fleet-")
	if err != nil {
		return nil, fmt.Errorf("winhost: %w", err)
	}
	f := &Fleet{Hosts: make([]*Host, n), root: root}
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error {
			cfg := defaults()
			for _, o := range optsOf(i) {
				o(cfg)
			}
			if cfg.listener != nil {
				return errors.New("winhost: WithListener serves one host; a fleet listens on its own addresses")
			}
			cfg.ip = FleetAddress(i)
			if cfg.root == "" {
				cfg.root = filepath.Join(root, fmt.Sprintf("h%05d", i))
			} else {
				cfg.root = filepath.Join(cfg.root, fmt.Sprintf("h%05d", i))
			}
			if cfg.name == "" {
				cfg.name = fmt.Sprintf("WIN-%05d", i)
			}
			h, err := newHost(cfg)
			if err != nil {
				return fmt.Errorf("host %d: %w", i, err)
			}
			f.Hosts[i] = h
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// Addrs returns every host's host:port.
func (f *Fleet) Addrs() []string {
	out := make([]string, len(f.Hosts))
	for i, h := range f.Hosts {
		out[i] = h.Addr
	}
	return out
}

// Close stops every host and removes the fleet's directory.
func (f *Fleet) Close() error {
	var g errgroup.Group
	g.SetLimit(16)
	for _, h := range f.Hosts {
		if h != nil {
			g.Go(h.Close)
		}
	}
	err := g.Wait()
	if rerr := os.RemoveAll(f.root); err == nil {
		err = rerr
	}
	return err
}
