package deployer_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
)

// okProductCode and okVersion are msi/testdata/ok.msi's (msiinfo export
// ok.msi Property).
const (
	okProductCode = "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}"
	okVersion     = "1.2.3"
)

// TestDeployerInstalledCheck deploys ok.msi through the Deployer on
// emulated hosts that already have its product (same version, older,
// newer) or not, with the check on and off, and checks the state, the
// events, what ran on the host, and that the Remote Registry service is
// back as it was. An older version is upgraded (a minor upgrade: REINSTALL
// added by the Engine from the registry, or by the remote service); a
// newer one is refused by Windows Installer, as on Windows (1638).
func TestDeployerInstalledCheck(t *testing.T) {
	tests := []struct {
		name      string
		installed string // version already on the host; "" none
		skipCheck bool
		registry  deployertest.RemoteRegistryState
		installs  bool
		pushed    bool // the remote service ran (to check the product itself)
		refused   bool // Windows Installer refused another version (1638): Failed
		skipped   deployer.SkipReason
		message   string
	}{
		{"same version", okVersion, false, deployertest.RemoteRegistryDisabled, false, true, false, deployer.SkipAlreadyOnHost,
			"already has product " + okProductCode + " version 1.2.3 (Windows Installer, asked by the remote service)"},
		{"same version, registry stopped", okVersion, false, deployertest.RemoteRegistryStopped, false, true, false, deployer.SkipAlreadyOnHost, "With Collector without installing"},
		{"same version, registry running", okVersion, false, deployertest.RemoteRegistryRunning, false, false, false, deployer.SkipAlreadyOnHost,
			"already has product " + okProductCode + " version 1.2.3 (its Uninstall key)"},
		{"older version", "1.2.0", false, deployertest.RemoteRegistryDisabled, true, true, false, "", "upgrading to 1.2.3"},
		{"older version, registry running", "1.2.0", false, deployertest.RemoteRegistryRunning, true, true, false, "", "upgrading to 1.2.3"},
		{"newer version", "2.0.0", false, deployertest.RemoteRegistryRunning, true, true, true, "", "newer than the package's 1.2.3"},
		{"newer version, registry disabled", "2.0.0", false, deployertest.RemoteRegistryDisabled, true, true, true, "", "newer than the package's 1.2.3"},
		{"not installed", "", false, deployertest.RemoteRegistryDisabled, true, true, false, "", ""},
		{"check off", okVersion, true, deployertest.RemoteRegistryDisabled, true, true, false, "", ""},
		// Remote Registry will not start: it is not started at all; the
		// remote service checks the product.
		{"registry unstartable", okVersion, false, deployertest.RemoteRegistryBroken, false, true, false, deployer.SkipAlreadyOnHost, "asked by the remote service"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := hostOpts{win: []deployertest.Option{deployertest.WithRemoteRegistry(tc.registry)}}
			if tc.installed != "" {
				o.win = append(o.win, deployertest.WithInstalledProduct(deployertest.InstalledProduct{
					ProductCode: okProductCode, Name: "Nexthink Test Collector", Version: tc.installed}))
			}
			h := startEmulated(t, o)
			before, _ := h.Service("RemoteRegistry")
			var (
				mu     sync.Mutex
				events []deployer.Event
			)
			var logs lockedLog
			d, err := deployer.New(deployer.Config{Connect: h.connectConfig(), Package: deployer.Package{Path: testPackage},
				SkipInstalledCheck: tc.skipCheck,
				Logger:             slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				OnEvent: func(ev deployer.Event) {
					mu.Lock()
					events = append(events, ev)
					mu.Unlock()
				}})
			require.NoError(t, err)
			defer d.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sum, err := d.Run(ctx, []discovery.Host{h.target()})
			require.NoError(t, err)
			recs := d.Hosts()
			require.Len(t, recs, 1)
			if tc.refused {
				assert.Equal(t, 1, sum.States[deployer.Failed], "%+v", sum)
				require.NotNil(t, recs[0].Error)
				assert.Equal(t, uint32(1638), recs[0].Error.Code, "ERROR_PRODUCT_VERSION: %+v", recs[0].Error)
			} else {
				assert.Equal(t, 1, sum.States[deployer.WithCollector], "%+v", sum)
				require.NotNil(t, recs[0].Package)
				assert.Equal(t, okVersion, recs[0].Package.ProductVersion)
			}
			assert.Equal(t, tc.skipped, recs[0].Skipped)
			ran := false
			for _, s := range h.Services() {
				ran = ran || strings.HasPrefix(strings.ToLower(s.Name), "nxdeploy-")
			}
			var msgs []string
			mu.Lock()
			for _, ev := range events {
				msgs = append(msgs, ev.Message)
				if ev.DeploymentID != "" {
					ran = true
				}
			}
			mu.Unlock()
			assert.Equal(t, tc.pushed, ran, "the remote service ran: %q", msgs)
			if tc.message != "" {
				assert.Contains(t, strings.Join(msgs, "\n"), tc.message)
			}
			v, ok := h.InstalledVersion(okProductCode)
			assert.True(t, ok)
			switch {
			case tc.refused:
				assert.Equal(t, tc.installed, v, "the newer version stays")
			case tc.installs:
				assert.Equal(t, okVersion, v, "the emulated installer recorded the package's version")
			}
			after, _ := h.Service("RemoteRegistry")
			assert.Equal(t, before.StartType, after.StartType, "Remote Registry's start type put back")
			assert.Equal(t, before.State, after.State, "Remote Registry's state put back")
			if tc.registry != deployertest.RemoteRegistryRunning {
				assert.Equal(t, 0, after.Runs, "Remote Registry is never started: the remote service checks the product")
			}
			assert.NotContains(t, logs.String(), "installed check skipped: the registry cannot be read",
				"the registry is read only where Remote Registry runs")
			h.assertClean(t)
		})
	}
}

// TestUninstall removes a product through the public API on an emulated
// host, then removes it again (1605: already absent, not an error), and
// refuses a code that is not a GUID before touching the host.
func TestUninstall(t *testing.T) {
	h := startEmulated(t, hostOpts{win: []deployertest.Option{deployertest.WithInstalledProduct(
		deployertest.InstalledProduct{ProductCode: okProductCode, Name: "Nexthink Test Collector", Version: okVersion})}})
	c := connect(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	res, err := deployer.Uninstall(ctx, c, strings.ToLower(okProductCode), deployer.InstallOptions{})
	require.NoError(t, err)
	assert.True(t, res.Exited)
	assert.Equal(t, uint32(0), res.ExitCode)
	assert.False(t, res.NotInstalled)
	assert.Equal(t, derrors.MSISuccess, res.Outcome)
	_, ok := h.InstalledVersion(okProductCode)
	assert.False(t, ok, "the product's Uninstall key is gone")
	h.assertClean(t)

	res, err = deployer.Uninstall(ctx, c, okProductCode, deployer.InstallOptions{})
	require.NoError(t, err, "an absent product is already uninstalled")
	assert.True(t, res.NotInstalled)
	assert.Equal(t, uint32(1605), res.ExitCode)
	h.assertClean(t)

	_, err = deployer.Uninstall(ctx, c, "not-a-guid", deployer.InstallOptions{})
	require.Error(t, err)
	e, ok := derrors.As(err)
	require.True(t, ok)
	assert.Equal(t, derrors.ReasonInvalidInput, e.Reason)
}

// TestUninstallFailure: an uninstall Windows Installer fails has
// RunInstaller's error mapping (MSI error with the code).
func TestUninstallFailure(t *testing.T) {
	h := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{1603}},
		win: []deployertest.Option{deployertest.WithInstalledProduct(
			deployertest.InstalledProduct{ProductCode: okProductCode, Name: "Nexthink Test Collector", Version: okVersion})}})
	c := connect(t, h)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := deployer.Uninstall(ctx, c, okProductCode, deployer.InstallOptions{})
	require.Error(t, err)
	e, ok := derrors.As(err)
	require.True(t, ok)
	assert.Equal(t, derrors.MSIError, e.Kind)
	assert.Equal(t, uint32(1603), res.ExitCode)
	_, still := h.InstalledVersion(okProductCode)
	assert.True(t, still, "a failed uninstall leaves the product")
	h.assertClean(t)
}

// lockedLog is a log destination the Deployer's goroutines may share.
type lockedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
