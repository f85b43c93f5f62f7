package deployer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nxdeploy/deployer/discovery"
)

// Discover returns the hosts the sources find (a CSV file in the Deployer documentation's
// BIOS_NAME,IP_ADDRESS format, Active Directory, an address range), each in
// the Deployer documentation's first state, Discovered. A host found by several sources is
// returned once: the first source's record, with attributes the others add.
//
// A source that fails contributes what it could read and its error; Discover
// returns every host it has together with the sources' errors joined, so a
// bad line in a CSV file never loses the good ones. Hosts with a per-host
// problem (a name that does not resolve) carry it in Host.Err.
func Discover(ctx context.Context, sources ...discovery.Source) ([]discovery.Host, error) {
	var (
		hosts []discovery.Host
		errs  []error
		seen  = map[string]int{}
	)
	for i, src := range sources {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		found, err := src.Discover(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("source %d: %w", i+1, err))
		}
		for _, h := range found {
			key := hostKey(h)
			if j, ok := seen[key]; ok {
				mergeAttrs(&hosts[j], h)
				continue
			}
			seen[key] = len(hosts)
			hosts = append(hosts, h)
		}
	}
	return hosts, errors.Join(errs...)
}

// hostKey identifies a host across sources: its name, case-insensitively, or
// its address when it has no name.
func hostKey(h discovery.Host) string {
	if h.Name != "" {
		return "n:" + strings.ToLower(h.Name)
	}
	return "a:" + h.Addr.String()
}

func mergeAttrs(dst *discovery.Host, src discovery.Host) {
	if !dst.Addr.IsValid() && src.Addr.IsValid() {
		dst.Addr, dst.Err = src.Addr, nil
	}
	for k, v := range src.Attrs {
		if _, ok := dst.Attrs[k]; ok {
			continue
		}
		if dst.Attrs == nil {
			dst.Attrs = map[string]string{}
		}
		dst.Attrs[k] = v
	}
}
