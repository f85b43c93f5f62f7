package deployer_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/smb"
)

// unreachableHosts returns n hosts on loopback addresses where nothing
// listens on the port: each connection is refused at once, so a run is all
// Deployer and store, no host.
func unreachableHosts(tb testing.TB, n int) ([]discovery.Host, int) {
	tb.Helper()
	ln, err := net.Listen("tcp", deployertest.FleetAddress(0)+":0")
	require.NoError(tb, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(tb, ln.Close())
	hosts := make([]discovery.Host, n)
	for i := range hosts {
		hosts[i] = discovery.Host{Name: fmt.Sprintf("PC-%05d", i), Addr: netip.MustParseAddr(deployertest.FleetAddress(i)),
			Source: "bench"}
	}
	return hosts, port
}

// BenchmarkStoreUnreachable deploys to 3,000 unreachable hosts at
// concurrency 16, alternately with the store in memory and in a file (group
// commit; each first in turn, each from a collected heap), so both meet the
// same load on the machine: it reports each one's
// time per run and the file store's cost over memory, from the medians, and
// the quartiles of that cost pair by pair.
//
//	go test -run '^$' -bench '^BenchmarkStoreUnreachable$' -benchtime 10x .
func BenchmarkStoreUnreachable(b *testing.B) {
	hosts, port := unreachableHosts(b, 3000)
	run := func(file bool) time.Duration {
		var store deployer.Store = deployer.NewMemoryStore()
		var fs *deployer.FileStore
		if file {
			var err error
			fs, err = deployer.OpenFileStore(filepath.Join(b.TempDir(), "hosts.journal"))
			require.NoError(b, err)
			store = fs
		}
		d, err := deployer.New(deployer.Config{
			Connect: deployer.ConnectConfig{SMB: smb.Config{Credentials: smb.Credentials{User: "u", Password: "p"},
				Port: port, ConnectTimeout: time.Second}},
			Package: deployer.Package{Path: testPackage},
			Store:   store,
		})
		require.NoError(b, err)
		start := time.Now()
		sum, err := d.Run(context.Background(), hosts)
		took := time.Since(start)
		require.NoError(b, err)
		if sum.States[deployer.Failed] != len(hosts) {
			b.Fatalf("%d of %d failed", sum.States[deployer.Failed], len(hosts))
		}
		require.NoError(b, d.Close())
		if fs != nil {
			require.NoError(b, fs.Close())
		}
		return took
	}
	var mem, file []time.Duration
	var over []float64 // each pair's file-over-memory, in percent
	for i := 0; b.Loop(); i++ {
		// Each run starts from a collected heap, and the two take turns
		// to go first, so neither pays for the other's garbage.
		var m, f time.Duration
		if i%2 == 0 {
			runtime.GC()
			m = run(false)
			runtime.GC()
			f = run(true)
		} else {
			runtime.GC()
			f = run(true)
			runtime.GC()
			m = run(false)
		}
		mem, file = append(mem, m), append(file, f)
		over = append(over, 100*(f.Seconds()-m.Seconds())/m.Seconds())
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	m, f := median(mem), median(file)
	b.ReportMetric(float64(m.Microseconds())/1000, "memory-ms")
	b.ReportMetric(float64(f.Microseconds())/1000, "file-ms")
	b.ReportMetric(100*(f.Seconds()-m.Seconds())/m.Seconds(), "file-over-memory-%")
	// The spread of the pairs (the first and third quartiles), to judge
	// the median by.
	slices.Sort(over)
	b.ReportMetric(over[len(over)/4], "pair-q1-%")
	b.ReportMetric(over[len(over)*3/4], "pair-q3-%")
}
