package deployer_test

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/smb"
)

// BenchmarkClient deploys to a fleet served by another process (examples/
// winhost; scripts/bench/client.sh starts it), so only the client's costs
// are measured: CPU per host deployed (getrusage of this process) and the
// peak heap and RSS at the concurrency asked (sys-ms/host is the kernel's
// part of the CPU). The fleet comes from
// DEPLOYER_BENCH_FLEET (its CSV), DEPLOYER_BENCH_PORT and
// DEPLOYER_BENCH_PASSWORD; DEPLOYER_BENCH_CONCURRENCY sets the concurrency
// (64); DEPLOYER_BENCH_SERVICE, when set, names a service binary pushed
// instead of the built-in one (the emulated hosts check it as Windows'
// loader would, then run their model of the remote service), to measure the
// client with another service, such as a small native one.
func BenchmarkClient(b *testing.B) {
	csv := os.Getenv("DEPLOYER_BENCH_FLEET")
	if csv == "" {
		b.Skip("set DEPLOYER_BENCH_FLEET to a fleet's CSV (see scripts/bench/client.sh)")
	}
	port, err := strconv.Atoi(os.Getenv("DEPLOYER_BENCH_PORT"))
	require.NoError(b, err)
	conc := 64
	if v := os.Getenv("DEPLOYER_BENCH_CONCURRENCY"); v != "" {
		conc, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	hosts, err := deployer.Discover(context.Background(), discovery.CSVSource{Path: csv})
	require.NoError(b, err)
	require.NotEmpty(b, hosts, "no host in %s", csv)
	raiseNoFile(b, uint64(4*conc+1024))
	cfg := deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{
			Credentials:    smb.Credentials{User: "Administrator", Password: os.Getenv("DEPLOYER_BENCH_PASSWORD")},
			Port:           port,
			ConnectTimeout: 30 * time.Second,
			RequestTimeout: 120 * time.Second,
		}},
		Package:            deployer.Package{Path: testPackage},
		Install:            deployer.InstallOptions{PollInterval: 20 * time.Millisecond},
		Concurrency:        conc,
		HostTimeout:        10 * time.Minute,
		LogonFailureBudget: -1,
	}
	if path := os.Getenv("DEPLOYER_BENCH_SERVICE"); path != "" {
		bin, err := os.ReadFile(path)
		require.NoError(b, err)
		cfg.Install.Service = deployer.ServiceSpec{Binary: bin}
	}
	sampler := startHeapSampler(20 * time.Millisecond)
	var before syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &before))
	failed := 0
	b.ResetTimer()
	for b.Loop() {
		d, err := deployer.New(cfg)
		require.NoError(b, err)
		sum, err := d.Run(context.Background(), hosts)
		require.NoError(b, err)
		require.NoError(b, d.Close())
		if sum.States[deployer.WithCollector] == 0 && len(sum.Failed) > 0 {
			b.Fatalf("no host With Collector; first failure: %s", sum.Failed[0].Error.Error)
		}
		// An overloaded emulated fleet may fail a few hosts (a service that
		// did not start in time): they are counted, not hidden.
		failed += len(sum.Failed)
		for i, r := range sum.Failed {
			if i < 3 {
				b.Logf("failed: %s", r.Error.Error)
			}
		}
	}
	b.StopTimer()
	var after syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &after))
	user := time.Duration(after.Utime.Nano() - before.Utime.Nano())
	sys := time.Duration(after.Stime.Nano() - before.Stime.Nano())
	n := float64(len(hosts) * b.N)
	b.ReportMetric(float64((user+sys).Microseconds())/1000/n, "cpu-ms/host")
	// The kernel's share: on loopback, a send also runs the receiving
	// side's TCP processing, charged to the sender.
	b.ReportMetric(float64(sys.Microseconds())/1000/n, "sys-ms/host")
	b.ReportMetric(n/b.Elapsed().Seconds(), "hosts/s")
	b.ReportMetric(float64(sampler.Stop())/mib, "peak-heap-MB")
	b.ReportMetric(float64(vmHWM())/mib, "VmHWM-MB")
	b.ReportMetric(float64(failed), "failed-hosts")
}
