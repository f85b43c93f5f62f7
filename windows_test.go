package deployer_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
)

// TestRunInstallerByWindowsVersion deploys to emulated hosts of several
// Windows versions and architectures (announced in NTLM and srvsvc, loaded
// by the emulator's loader model): the remote service runs from Windows 7
// and on 32-bit Windows, and a Windows XP host is refused before anything
// is written there, with the reason that names it.
func TestRunInstallerByWindowsVersion(t *testing.T) {
	xp := deployertest.Windows{Name: "Windows XP SP3", Major: 5, Minor: 1, Build: 2600}
	for _, tc := range []struct {
		name    string
		windows deployertest.Windows
		arch    deployertest.Arch
		refused bool
	}{
		{"Windows 7", deployertest.Windows7, deployertest.AMD64, false},
		{"Server 2012 R2", deployertest.Server2012R2, deployertest.AMD64, false},
		{"32-bit Windows 10", deployertest.Windows10, deployertest.X86, false},
		{"Windows 11 on ARM64", deployertest.Windows11, deployertest.ARM64, false},
		{"Windows XP", xp, deployertest.X86, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmulated(t, hostOpts{noWOW64: true,
				win: []deployertest.Option{deployertest.WithWindows(tc.windows), deployertest.WithArch(tc.arch)}})
			conn := connect(t, e)
			res, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
			require.NotNil(t, res)
			if !tc.refused {
				require.NoError(t, err)
				assert.Equal(t, uint32(0), res.ExitCode)
				e.assertClean(t)
				return
			}
			require.Error(t, err)
			de, ok := derrors.As(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, derrors.ReasonWindowsTooOld, de.Reason)
			assert.Equal(t, derrors.WindowsError, de.Kind)
			assert.Equal(t, derrors.StepUpload, de.Step)
			assert.Contains(t, err.Error(), "Windows 5.1")
			e.assertClean(t) // nothing written on the host
		})
	}
}
