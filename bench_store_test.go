package deployer_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
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
// concurrency 16 with the store in memory and in a file (group commit): the
// file store's cost over memory is the difference of the two ns/op.
//
//	go test -run '^$' -bench '^BenchmarkStoreUnreachable$' -benchtime 5x -count 3 .
func BenchmarkStoreUnreachable(b *testing.B) {
	hosts, port := unreachableHosts(b, 3000)
	for _, kind := range []string{"memory", "file"} {
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				var store deployer.Store = deployer.NewMemoryStore()
				var fs *deployer.FileStore
				if kind == "file" {
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
				b.StartTimer()
				sum, err := d.Run(context.Background(), hosts)
				require.NoError(b, err)
				b.StopTimer()
				if sum.States[deployer.Failed] != len(hosts) {
					b.Fatalf("%d of %d failed", sum.States[deployer.Failed], len(hosts))
				}
				require.NoError(b, d.Close())
				if fs != nil {
					require.NoError(b, fs.Close())
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*len(hosts)), "µs/host")
		})
	}
}
