package deployer_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/smb"
)

// maxDeploymentRequests bounds the SMB requests of one successful
// deployment of a small MSI, not counting the status polls while the
// installer runs: issue 15's 40.
const maxDeploymentRequests = 40

// TestDeploymentRequests counts the SMB requests of one deployment on an
// emulated host, as the Deployer makes it: connect, the installed check
// (the open of \pipe\winreg: refused where Remote Registry is disabled, as
// on Windows 10 and 11, so the remote service checks the product; read
// where it runs, as on Windows Server), push, install, follow, clean up,
// close. Polls are not counted: every request between the first "install"
// progress (the service started) and the "cleanup" progress is a poll,
// except the last status query, which found the service stopped, and, when
// the remote service checked the product, the one open of the result file,
// which after a success with nothing installed before is not there. Counts
// are deterministic, so the bound is exact.
func TestDeploymentRequests(t *testing.T) {
	for _, tc := range []struct {
		name string
		rr   deployertest.RemoteRegistryState
		ask  bool // the remote service checks the product
	}{
		{"Remote Registry disabled", deployertest.RemoteRegistryDisabled, true},
		{"Remote Registry running", deployertest.RemoteRegistryRunning, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmulated(t, hostOpts{win: []deployertest.Option{deployertest.WithRemoteRegistry(tc.rr)}})
			var cnt connCounter
			cfg := e.connectConfig()
			cfg.SMB.Dial = cnt.dial
			cfg.SMB.Encryption = smb.EncryptNever
			ctx := context.Background()
			pkg, err := deployer.PackageIdentityOf(testPackage) // an x64 package
			require.NoError(t, err)

			conn, err := deployer.Connect(ctx, e.target(), cfg)
			require.NoError(t, err)
			require.Equal(t, tc.ask, deployer.CheckInstalledAsks(ctx, conn, pkg), "the installed check")

			var (
				mu                 sync.Mutex
				pollFrom, pollTo   int64 = -1, -1
				polls, installSeen int
			)
			opts := deployer.InstallOptions{
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
			}
			if tc.ask {
				opts = deployer.WithSkipIfInstalled(opts, pkg)
			}
			res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, opts)
			require.NoError(t, err)
			require.Zero(t, res.ExitCode)
			require.False(t, res.AlreadyInstalled)
			require.NoError(t, conn.Close())
			e.assertClean(t)

			require.GreaterOrEqual(t, pollFrom, int64(0), "no install progress")
			require.Greater(t, pollTo, pollFrom, "no cleanup progress")
			// The window holds the polls, the last status query and the
			// result's open.
			polls = int(pollTo-pollFrom) - 1
			if tc.ask {
				polls--
			}
			require.GreaterOrEqual(t, polls, 0)
			n := int(cnt.writes.Load()) - polls
			t.Logf("%d requests per deployment besides %d requests of polls (%d progress events while installing); by command: %s",
				n, polls, installSeen, cnt.breakdown(1))
			require.LessOrEqual(t, n, maxDeploymentRequests, "SMB requests of one deployment, polls excluded")
		})
	}
}
