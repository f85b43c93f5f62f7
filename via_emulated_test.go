package deployer_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/tsch"
)

// connectVia connects to e with the way in via.
func connectVia(t *testing.T, e *emulated, via deployer.Via) *deployer.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := e.connectConfig()
	cfg.Via = via
	c, err := deployer.Connect(ctx, e.target(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// A host that refuses RCreateServiceW (ERROR_ACCESS_DENIED) though it grants
// the right to create: ViaService fails there as before; ViaAuto runs the
// remote service as a task of the host's Task Scheduler (sealed
// \pipe\atsvc) and installs; ViaTask installs through the task from the
// start. Nothing is left on the host: no service, no task, no file.
func TestServiceCreationRefused(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{0}},
		win: []deployertest.Option{deployertest.WithServiceCreationRefused()}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	t.Run("service", func(t *testing.T) {
		c := connectVia(t, e, deployer.ViaService)
		assert.False(t, c.ViaTask())
		res, err := deployer.RunInstaller(ctx, c, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
		require.Error(t, err)
		de, ok := derrors.As(err)
		require.True(t, ok, "%v", err)
		assert.Equal(t, derrors.StepCreateService, de.Step, "%v", err)
		assert.Equal(t, derrors.Win32Code(derrors.ErrorAccessDenied), de.Code, "%v", err)
		assert.NotContains(t, err.Error(), "Task Scheduler")
		require.NotNil(t, res)
		assert.NoError(t, res.CleanupErr)
		e.assertClean(t)
	})
	for _, via := range []deployer.Via{deployer.ViaAuto, deployer.ViaTask} {
		t.Run(via.String(), func(t *testing.T) {
			c := connectVia(t, e, via)
			var phases []string
			res, err := deployer.RunInstaller(ctx, c, deployer.Package{Path: testPackage}, deployer.InstallOptions{
				ReadLogOnSuccess: true,
				Progress: func(p deployer.InstallProgress) {
					if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
						phases = append(phases, p.Phase)
					}
				}})
			require.NoError(t, err)
			assert.True(t, c.ViaTask(), "the remote service ran as a task")
			assert.Equal(t, uint32(0), res.ExitCode)
			assert.NoError(t, res.CleanupErr)
			assert.Equal(t, []string{"upload", "start", "install", "cleanup"}, phases)
			require.NotNil(t, res.Log, "the msiexec log was read back, as asked")
			e.assertClean(t)
		})
	}
	t.Run("probe", func(t *testing.T) {
		// The service manager grants the right to create here (the filter
		// is on the call itself): the probe sees that way in; asked for the
		// Task Scheduler, it sees that one.
		r := deployer.Probe(ctx, e.target(), deployer.ProbeOptions{ConnectConfig: e.connectConfig()})
		require.True(t, r.OK, "%v", r.Err)
		assert.True(t, r.ServiceManager)
		_, asked := r.Step(deployer.ProbeStepTaskScheduler)
		assert.False(t, asked)
		cfg := e.connectConfig()
		cfg.Via = deployer.ViaTask
		r = deployer.Probe(ctx, e.target(), deployer.ProbeOptions{ConnectConfig: cfg})
		require.True(t, r.OK, "%v", r.Err)
		assert.True(t, r.TaskScheduler)
		assert.True(t, r.Admin)
		e.assertClean(t)
	})
}

// Without a Task Scheduler (no \pipe\atsvc) ViaAuto names both refusals
// and ViaTask does not connect; nothing is left.
func TestServiceCreationRefusedWithoutTaskScheduler(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{0}},
		win: []deployertest.Option{deployertest.WithServiceCreationRefused(), deployertest.WithoutTaskScheduler()}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := connectVia(t, e, deployer.ViaAuto)
	res, err := deployer.RunInstaller(ctx, c, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, derrors.StepCreateService, de.Step, "%v", err)
	assert.Equal(t, derrors.Win32Code(derrors.ErrorAccessDenied), de.Code, "%v", err)
	assert.Contains(t, err.Error(), "Task Scheduler", "the fallback was tried")
	require.NotNil(t, res)
	assert.NoError(t, res.CleanupErr)
	e.assertClean(t)

	cfg := e.connectConfig()
	cfg.Via = deployer.ViaTask
	c2, err := deployer.Connect(ctx, e.target(), cfg)
	require.Error(t, err)
	assert.Nil(t, c2)
	de, ok = derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, tsch.StepOpenScheduler, de.Step, "%v", err)

	r := deployer.Probe(ctx, e.target(), deployer.ProbeOptions{ConnectConfig: cfg})
	require.False(t, r.OK)
	assert.False(t, r.TaskScheduler)
	assert.Equal(t, deployer.ProbeStepTaskScheduler, r.Steps[len(r.Steps)-1].Name)
	e.assertClean(t)
}

// A failing package gives the same error through the task as through the
// service: MSI error 1603 at the msiexec step with the log's excerpt.
func TestTaskInstallFailsLikeService(t *testing.T) {
	errs := map[deployer.Via]*derrors.Error{}
	for _, via := range []deployer.Via{deployer.ViaService, deployer.ViaTask} {
		e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{1603}}})
		c := connectVia(t, e, via)
		res, err := deployer.RunInstaller(context.Background(), c, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
		require.Error(t, err)
		require.NotNil(t, res)
		assert.Equal(t, uint32(1603), res.ExitCode)
		assert.NoError(t, res.CleanupErr)
		de, ok := derrors.As(err)
		require.True(t, ok, "%v", err)
		errs[via] = de
		e.assertClean(t)
	}
	s, k := errs[deployer.ViaService], errs[deployer.ViaTask]
	assert.Equal(t, derrors.MSIError, k.Kind)
	assert.Equal(t, derrors.StepMSIExec, k.Step)
	assert.Equal(t, "MSI error (1603)", k.Message())
	assert.NotEmpty(t, k.Detail, "the log excerpt is attached")
	assert.Equal(t, s.Kind, k.Kind)
	assert.Equal(t, s.Reason, k.Reason)
	assert.Equal(t, s.Code, k.Code)
	assert.Equal(t, s.Message(), k.Message())
	assert.Equal(t, s.Detail, k.Detail)
}

// Cancelling an install that runs as a task stops the task (SchRpcStop
// ends nxsvc as TerminateProcess does: no rollback of its own, unlike a
// service stop) and removes the task and the files.
func TestTaskInstallCancelled(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: time.Minute}})
	c := connectVia(t, e, deployer.ViaTask)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var err error
	sawTask := false
	go func() {
		defer close(done)
		_, err = deployer.RunInstaller(ctx, c, deployer.Package{Path: testPackage},
			deployer.InstallOptions{Progress: func(p deployer.InstallProgress) {
				if p.Phase == "install" {
					sawTask = len(e.Tasks()) == 1
					cancel()
				}
			}})
	}()
	select {
	case <-done:
	case <-time.After(45 * time.Second):
		t.Fatal("RunInstaller did not return after cancellation")
	}
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, sawTask, "the install ran as a task")
	e.assertClean(t)
}

// Sweep removes a leftover task of ours (its action runs our program in the
// deployment's directory) with its directory, and leaves a task named like
// ours whose program is elsewhere.
func TestSweepTasks(t *testing.T) {
	e := startEmulated(t, hostOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tc, err := tsch.Dial(ctx, e.IP, smb.Config{Credentials: smb.Credentials{User: e.User, Password: e.Password},
		Port: e.Port, ConnectTimeout: 2 * time.Second, RequestTimeout: 10 * time.Second}, tsch.Config{})
	require.NoError(t, err)
	defer tc.Close()
	dir := filepath.Join(e.AdminDir, "nxdeploy-left1")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nxsvc.exe"), []byte("MZ"), 0o755))
	_, err = tc.Register(ctx, tsch.Task{Name: "nxdeploy-left1", Command: `C:\Windows\nxdeploy-left1\nxsvc.exe`,
		Arguments: `C:\Windows\nxdeploy-left1`}, false)
	require.NoError(t, err)
	_, err = tc.Register(ctx, tsch.Task{Name: "nxdeploy-agent", Command: `C:\Program Files\Agent\agent.exe`}, false)
	require.NoError(t, err)

	c := connectVia(t, e, deployer.ViaAuto)
	left, err := deployer.Sweep(ctx, c, nil)
	require.NoError(t, err)
	require.Len(t, left, 1, "%+v", left)
	assert.Equal(t, "left1", left[0].DeploymentID)
	assert.True(t, left[0].Task)
	assert.True(t, left[0].Dir)
	assert.NoError(t, left[0].Err)
	assert.Equal(t, []string{"nxdeploy-agent"}, e.Tasks(), "the foreign task stays")
	assert.NoDirExists(t, dir)

	// With ViaService the Task Scheduler is left alone.
	_, err = tc.Register(ctx, tsch.Task{Name: "nxdeploy-left2", Command: `C:\Windows\nxdeploy\left2\nxsvc.exe`,
		Arguments: `C:\Windows\nxdeploy\left2`}, false)
	require.NoError(t, err)
	left, err = deployer.Sweep(ctx, connectVia(t, e, deployer.ViaService), nil)
	require.NoError(t, err)
	assert.Empty(t, left)
	assert.Equal(t, []string{"nxdeploy-agent", "nxdeploy-left2"}, e.Tasks())
}
