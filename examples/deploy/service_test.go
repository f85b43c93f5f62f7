package main

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/internal/remotesvc"
)

// TestRunServiceBinariesAndSecrets writes the remote service's builds (as
// an operator does before signing them), deploys to emulated hosts with
// them and a secret property, and shows that a binary that is not a build
// of the service is refused with its reason.
func TestRunServiceBinariesAndSecrets(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runDeploy(t, "-write-service-binaries", dir)
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	for _, arch := range []string{"amd64", "386"} {
		b, err := os.ReadFile(filepath.Join(dir, "nxsvc-"+arch+".exe"))
		require.NoError(t, err)
		build, _, err := remotesvc.Identify(b)
		require.NoError(t, err)
		assert.Equal(t, arch, build)
	}
	assert.Contains(t, out, "x86 and ARM64")

	fleet, err := demo.Start(demo.Options{Faults: []demo.Fault{demo.Healthy, demo.Healthy}, InstallTime: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	csvPath := filepath.Join(dir, "hosts.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(fleet.CSV()), 0o600))
	t.Setenv("DEPLOY_TEST_PW", fleet.Password)
	base := []string{"-csv", csvPath, "-msi", testMSI, "-user", fleet.User,
		"-password-env", "DEPLOY_TEST_PW", "-port", strconv.Itoa(fleet.Port), "-prop", "TENANTKEY=k3y-9f2c", "-hide-prop", "TENANTKEY"}

	code, out, errOut = runDeploy(t, append(base, "-service-binary", filepath.Join(dir, "nxsvc-amd64.exe"),
		"-service-binary", filepath.Join(dir, "nxsvc-386.exe"))...)
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Regexp(t, `(?m)^With Collector\s+2$`, out)
	assert.NotContains(t, out+errOut, "k3y-9f2c")

	bogus := filepath.Join(dir, "bogus.exe")
	require.NoError(t, os.WriteFile(bogus, []byte("MZ not the service"), 0o644))
	// The hosts have the product now: -reinstall pushes anyway.
	code, out, errOut = runDeploy(t, append(base, "-reinstall", "-service-binary", bogus)...)
	require.Equal(t, exitHostsFailed, code, "stderr: %s", errOut)
	assert.Regexp(t, `(?m)^Failed\s+2$`, out)
	assert.Contains(t, out, "installation error")

	code, _, errOut = runDeploy(t, "-demo", "-hide-prop", "NOPE")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-hide-prop NOPE names no -prop")
	code, _, errOut = runDeploy(t, "-demo", "-write-service-binaries", dir)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "give no hosts or -demo")
}
