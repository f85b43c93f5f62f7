package deployer_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
)

// maxDeploymentRequests bounds the SMB requests of one deployment on an
// emulated host (Remote Registry disabled, as on Windows 10 and 11), not
// counting the status polls while the installer runs: issue 15's 40.
const maxDeploymentRequests = 40

// TestDeploymentRequests counts the SMB requests of one deployment on an
// emulated host, as the Deployer makes it: connect, the installed check
// (the Remote Registry service enabled, started, read and put back through
// the connection's own service manager), push, install, follow, read the
// result, clean up, close. Polls are not counted: every request between the
// first "install" progress (the service started) and the "cleanup" progress
// is a poll, except the last status query, which found the service
// stopped, and the one open of the result file, which after a success with
// nothing installed before is not there. Counts are deterministic, so the
// bound is exact.
func TestDeploymentRequests(t *testing.T) {
	e := startEmulated(t, hostOpts{})
	var cnt connCounter
	cfg := e.connectConfig()
	cfg.SMB.Dial = cnt.dial
	cfg.SMB.Encryption = smb.EncryptNever
	ctx := context.Background()
	info, err := msi.Inspect(testPackage)
	require.NoError(t, err)

	conn, err := deployer.Connect(ctx, e.target(), cfg)
	require.NoError(t, err)
	// The Deployer's installed check (installed.go): Remote Registry is
	// disabled, as on Windows 10 and 11, so the open of \pipe\winreg fails
	// and the remote service checks the product itself.
	pkg := deployer.PackageIdentity{ProductCode: info.ProductCode, ProductVersion: info.ProductVersion}
	require.True(t, deployer.CheckInstalledAsks(ctx, conn, pkg))

	var (
		mu                 sync.Mutex
		pollFrom, pollTo   int64 = -1, -1
		polls, installSeen int
	)
	res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.WithSkipIfInstalled(deployer.InstallOptions{
		PollInterval: 0,
		Progress: func(p deployer.InstallProgress) {
			mu.Lock()
			defer mu.Unlock()
			switch {
			case p.Phase == "install" && pollFrom < 0:
				pollFrom = cnt.writes.Load()
			case p.Phase == "cleanup":
				pollTo = cnt.writes.Load()
			case p.Phase == "install":
				installSeen++
			}
		},
	}, pkg))
	require.NoError(t, err)
	require.Zero(t, res.ExitCode)
	require.False(t, res.AlreadyInstalled)
	require.NoError(t, conn.Close())
	e.assertClean(t)

	require.GreaterOrEqual(t, pollFrom, int64(0), "no install progress")
	require.Greater(t, pollTo, pollFrom, "no cleanup progress")
	// The window holds the polls, the last status query and the result's
	// open.
	polls = int(pollTo-pollFrom) - 1 - 1
	require.GreaterOrEqual(t, polls, 0)
	n := int(cnt.writes.Load()) - polls
	t.Logf("%d requests per deployment besides %d requests of polls (%d progress events while installing); by command: %s",
		n, polls, installSeen, cnt.breakdown(1))
	require.LessOrEqual(t, n, maxDeploymentRequests, "SMB requests of one deployment, polls excluded")
}
