package discovery

import "context"

// Source finds hosts. CSVSource, ReaderSource, LDAPSource and RangeSource
// implement it as values (a pointer to one works too), so deployer.Discover
// takes any of them: discovery.LDAPSource{URL: ...}, like
// discovery.CSVSource{Path: ...}. Discover does not change its source, and
// one source value may discover again and again, also concurrently.
//
// Discover may return hosts together with a non-nil error when the result is
// partial but usable: a *CSVError lists the lines that were left out, for
// example. Callers deploy to the hosts and show the error. Per-host problems
// (a computer whose name does not resolve) are in Host.Err instead.
type Source interface {
	Discover(ctx context.Context) ([]Host, error)
}

// Compile-time checks that every source implements Source.
var (
	_ Source = CSVSource{}
	_ Source = ReaderSource{}
	_ Source = LDAPSource{}
	_ Source = RangeSource{}
)
