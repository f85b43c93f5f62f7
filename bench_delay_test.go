package deployer_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/smb"
)

// benchOneWayDelay is the one-way delay of BenchmarkDeployOneHostDelayed: a
// branch office about 50 ms of round trip away.
const benchOneWayDelay = 25 * time.Millisecond

// BenchmarkDeployOneHostDelayed is BenchmarkDeployOneHost through the lab's
// delay proxy at 25 ms each way: the time of one deployment (connect, push,
// install of no time, follow, clean up) when every round trip costs 50 ms,
// with the SMB requests it takes.
func BenchmarkDeployOneHostDelayed(b *testing.B) {
	f, err := demo.Start(demo.Options{Faults: []demo.Fault{demo.Healthy}, InstallTime: time.Microsecond})
	require.NoError(b, err)
	b.Cleanup(func() { f.Close() })
	targets := f.Targets()
	proxy := lab.StartDelayProxy(b, net.JoinHostPort(targets[0].Addr.String(), strconv.Itoa(f.Port)), benchOneWayDelay, nil)
	var cnt connCounter
	cfg := benchConfig(f, 1)
	cfg.Connect.SMB.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return cnt.dial(ctx, network, proxy.Addr())
	}
	cfg.Connect.SMB.Encryption = smb.EncryptIfOffered
	cfg.Install.PollInterval = 50 * time.Millisecond
	benchDeployLoop(b, cfg, targets, &cnt)
}
