package tsch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/winelab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/tsch"
)

// Wine's Task Scheduler service (schedsvc) implements ITaskSchedulerService
// on its own \pipe\atsvc: register, retrieve, enumerate, task info and
// delete are real; SchRpcRun, SchRpcStop and SchRpcGetLastRunInfo answer
// E_NOTIMPL (Wine 8). It takes no RPC-level authentication. The tests reach
// it through winelab's pipe bridge.

func startScheduler(t *testing.T) (*winelab.Wine, context.Context) {
	t.Helper()
	w := winelab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	_, err := w.Net(ctx, "start", "Schedule")
	require.NoError(t, err)
	return w, ctx
}

func TestWineScheduler(t *testing.T) {
	w, ctx := startScheduler(t)
	c, err := tsch.Open(ctx, "wine", smb.PipeOpener(w.OpenPipe), tsch.Config{Unsealed: true})
	require.NoError(t, err)
	defer func() { assert.NoError(t, c.Close()) }()

	task := tsch.Task{
		Name:        "nxdeploy-0001",
		Command:     `C:\Windows\nxdeploy\0001\nxsvc.exe`,
		Arguments:   `run "C:\Windows\nxdeploy\0001" --job job.bin & <more>`,
		Description: "Collector deployment 0001",
	}
	path, err := c.Register(ctx, task, false)
	require.NoError(t, err)
	assert.Equal(t, `\nxdeploy-0001`, path)

	// Wine keeps the definition and hands it back.
	def, err := c.Definition(ctx, task.Name)
	require.NoError(t, err)
	assert.Contains(t, def, `<Command>C:\Windows\nxdeploy\0001\nxsvc.exe</Command>`)
	assert.Contains(t, def, `<Arguments>run &#34;C:\Windows\nxdeploy\0001&#34; --job job.bin &amp; &lt;more&gt;</Arguments>`)
	assert.Contains(t, def, `<UserId>S-1-5-18</UserId>`)

	// Its state comes from the definition's Settings/Enabled, parsed by
	// Wine's XML reader.
	enabled, state, err := c.Info(ctx, task.Name)
	require.NoError(t, err)
	assert.True(t, enabled)
	assert.Equal(t, tsch.StateReady, state)

	_, err = c.Register(ctx, task, false)
	assert.ErrorIs(t, err, tsch.ErrTaskExists)
	requireCode(t, err, tsch.StepRegisterTask, 0x800700B7, 183)
	_, err = c.Register(ctx, task, true)
	require.NoError(t, err)

	_, err = c.Run(ctx, task.Name)
	assert.ErrorIs(t, err, tsch.ErrNotImplemented)
	requireCode(t, err, tsch.StepRunTask, 0x80004001, 0)
	_, err = c.LastRun(ctx, task.Name)
	assert.ErrorIs(t, err, tsch.ErrNotImplemented)

	// A sweep finds the deployer's tasks by prefix, across pages.
	for i := range 120 {
		_, err := c.Register(ctx, tsch.Task{Name: fmt.Sprintf("NXDEPLOY-%04d", 1000+i), Command: `C:\x.exe`}, false)
		require.NoError(t, err)
	}
	_, err = c.Register(ctx, tsch.Task{Name: "OtherVendorTask", Command: `C:\y.exe`}, false)
	require.NoError(t, err)
	ours, err := c.Tasks(ctx, "nxdeploy-")
	require.NoError(t, err)
	assert.Len(t, ours, 121)
	for _, name := range ours {
		require.NoError(t, c.Delete(ctx, name))
	}
	ours, err = c.Tasks(ctx, "nxdeploy-")
	require.NoError(t, err)
	assert.Empty(t, ours)
	all, err := c.Tasks(ctx, "")
	require.NoError(t, err)
	assert.Contains(t, all, "OtherVendorTask")

	require.NoError(t, c.Delete(ctx, task.Name), "deleting twice is fine")
	_, _, err = c.Info(ctx, task.Name)
	assert.ErrorIs(t, err, tsch.ErrTaskNotFound)
	requireCode(t, err, tsch.StepQueryTask, 0x80070002, 2)

	// RunOnce cleans up when the run fails.
	_, err = c.RunOnce(ctx, tsch.Task{Name: "nxdeploy-once", Command: `C:\z.exe`}, tsch.WaitOptions{})
	assert.ErrorIs(t, err, tsch.ErrNotImplemented)
	ours, err = c.Tasks(ctx, "nxdeploy-")
	require.NoError(t, err)
	assert.Empty(t, ours, "RunOnce left its task behind")
}

// requireCode checks err's step, HRESULT and, when win32 is not 0, its
// Win32 code.
func requireCode(t *testing.T, err error, step derrors.Step, hr uint32, win32 uint32) {
	t.Helper()
	de, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, step, de.Step)
	code, ok := tsch.HRESULT(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, hr, code)
	if win32 != 0 {
		assert.Equal(t, derrors.Win32Code(win32), de.Code)
	}
}

// TestWineSealedRefused binds with sealing (the default): Wine's Task
// Scheduler registers no authentication service, so the bind is refused,
// typed at the open step.
func TestWineSealedRefused(t *testing.T) {
	w, ctx := startScheduler(t)
	_, err := tsch.Open(ctx, "wine", smb.PipeOpener(w.OpenPipe), tsch.Config{
		Credentials: smb.Credentials{User: "someone", Password: "secret"},
	})
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, tsch.StepOpenScheduler, de.Step)
	assert.False(t, strings.Contains(err.Error(), "secret"))
	t.Logf("%v", err)
	_ = errors.New
}
