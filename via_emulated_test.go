package deployer_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/tsch"
)

// A host that refuses RCreateServiceW (ERROR_ACCESS_DENIED) though it grants
// the right to create: ViaService fails there as before; ViaAuto turns to
// the Task Scheduler, which this emulated host does not serve (no
// \pipe\atsvc), so the error names both refusals; ViaTask does not connect.
// In every case nothing is left on the host.
func TestServiceCreationRefused(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{0}},
		win: []deployertest.Option{deployertest.WithServiceCreationRefused()}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, via := range []deployer.Via{deployer.ViaService, deployer.ViaAuto} {
		t.Run(via.String(), func(t *testing.T) {
			cfg := e.connectConfig()
			cfg.Via = via
			c, err := deployer.Connect(ctx, e.target(), cfg)
			require.NoError(t, err)
			defer c.Close()
			assert.False(t, c.ViaTask(), "the service manager granted the right to create")
			res, err := deployer.RunInstaller(ctx, c, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
			require.Error(t, err)
			de, ok := derrors.As(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, derrors.StepCreateService, de.Step, "%v", err)
			assert.Equal(t, derrors.Win32Code(derrors.ErrorAccessDenied), de.Code, "%v", err)
			if via == deployer.ViaAuto {
				assert.Contains(t, err.Error(), "Task Scheduler", "the fallback was tried")
				assert.True(t, c.ViaTask(), "later pushes go to the Task Scheduler")
			} else {
				assert.NotContains(t, err.Error(), "Task Scheduler")
			}
			require.NotNil(t, res)
			assert.NoError(t, res.CleanupErr)
			e.assertClean(t)
		})
	}
	t.Run("task", func(t *testing.T) {
		cfg := e.connectConfig()
		cfg.Via = deployer.ViaTask
		c, err := deployer.Connect(ctx, e.target(), cfg)
		require.Error(t, err)
		assert.Nil(t, c)
		de, ok := derrors.As(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, tsch.StepOpenScheduler, de.Step, "%v", err)
		e.assertClean(t)
	})
	t.Run("probe", func(t *testing.T) {
		// The service manager grants the right to create here (the filter
		// is on the call itself): the probe sees that way in.
		r := deployer.Probe(ctx, e.target(), deployer.ProbeOptions{ConnectConfig: e.connectConfig()})
		require.True(t, r.OK, "%v", r.Err)
		assert.True(t, r.ServiceManager)
		assert.False(t, r.TaskScheduler)
		_, asked := r.Step(deployer.ProbeStepTaskScheduler)
		assert.False(t, asked)
		r = deployer.Probe(ctx, e.target(), deployer.ProbeOptions{ConnectConfig: deployer.ConnectConfig{
			SMB: e.connectConfig().SMB, Via: deployer.ViaTask}})
		require.False(t, r.OK)
		assert.False(t, r.TaskScheduler)
		assert.Equal(t, deployer.ProbeStepTaskScheduler, r.Steps[len(r.Steps)-1].Name)
	})
}
