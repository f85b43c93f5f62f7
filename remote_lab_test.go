package deployer_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/msi"
)

// TestRunInstallerFailsClosedOnSamba deploys to a Samba host (version 6.1
// in its NTLM challenge, so not refused as too old) whose srvsvc cannot set
// a DACL (Samba 4.17 opens the file without WRITE_DAC for
// NetrpSetFileSecurity): the deployment stops with "deployment directory
// not protected" before the package, the job or any property is written,
// and leaves nothing behind.
func TestRunInstallerFailsClosedOnSamba(t *testing.T) {
	l := newProbeLab(t, lab.SambaOptions{NTACLs: true})
	ctx := context.Background()
	conn, err := deployer.Connect(ctx, l.host, l.opts.ConnectConfig)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{
		DeploymentID: "samba1",
		Properties:   []msi.Property{{Name: "TENANTKEY", Value: "k3y"}},
	})
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, derrors.ReasonDirectoryUnprotected, de.Reason, "%v", err)
	assert.Equal(t, derrors.WindowsError, de.Kind)
	assert.Equal(t, derrors.StepUpload, de.Step)
	assert.Equal(t, derrors.Win32Code(5), de.Code)
	assert.NotEmpty(t, de.Solution())
	require.NotNil(t, res)
	assert.NoError(t, res.CleanupErr)
	left, err := filepath.Glob(filepath.Join(l.s.AdminShareDir, "nxdeploy*"))
	require.NoError(t, err)
	assert.Empty(t, left, "nothing left in ADMIN$")
}
