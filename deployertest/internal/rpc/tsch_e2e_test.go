package rpc_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/tsch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTaskSchedulerGoMSRPC drives \pipe\atsvc of the emulated host with
// the deployer's tsch client (go-msrpc, sealed SPNEGO/NTLM over the SMB
// pipe): a task does not run until SchRpcRun and reports
// SCHED_S_TASK_HAS_NOT_RUN until then; its program's exit code is the last
// run result, and CreateProcess' failure as an HRESULT; an unsealed bind gets no call
// through; a hostile definition is refused with its place.
func TestTaskSchedulerGoMSRPC(t *testing.T) {
	h, err := deployertest.New(deployertest.WithHostname("WINHOST2"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	require.NoError(t, os.MkdirAll(filepath.Join(h.AdminDir, "nx"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(h.AdminDir, "nx", "svc.exe"), []byte("MZ"), 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	scfg := smb.Config{Credentials: smb.Credentials{User: h.User, Password: h.Password}, Port: h.Port,
		ConnectTimeout: 2 * time.Second, RequestTimeout: 10 * time.Second}
	c, err := tsch.Dial(ctx, "127.0.0.1", scfg, tsch.Config{})
	require.NoError(t, err)
	defer c.Close()

	task := tsch.Task{Name: "nx-run", Command: `C:\Windows\nx\svc.exe`, Arguments: "no-directory"}
	_, err = c.Register(ctx, task, false)
	require.NoError(t, err)
	_, err = c.Register(ctx, task, false)
	assert.ErrorIs(t, err, tsch.ErrTaskExists)
	time.Sleep(100 * time.Millisecond)
	lr, err := c.LastRun(ctx, task.Name)
	require.NoError(t, err)
	assert.False(t, lr.HasRun, "a task without trigger does not start by itself")
	_, state, err := c.Info(ctx, task.Name)
	require.NoError(t, err)
	assert.Equal(t, tsch.StateReady, state)
	lr, err = c.RunOnce(ctx, tsch.Task{Name: "nx-once", Command: `C:\Windows\nx\svc.exe`, Arguments: "no-directory"},
		tsch.WaitOptions{Poll: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.True(t, lr.HasRun)
	assert.Equal(t, uint32(0x800700C1), lr.Code, "CreateProcess' ERROR_BAD_EXE_FORMAT (the file is no program) as an HRESULT")
	lr, err = c.RunOnce(ctx, tsch.Task{Name: "nx-missing", Command: `C:\Windows\nx\absent.exe`},
		tsch.WaitOptions{Poll: 100 * time.Millisecond})
	require.NoError(t, err)
	assert.Equal(t, uint32(0x80070002), lr.Code, "CreateProcess' ERROR_FILE_NOT_FOUND as an HRESULT")
	names, err := c.Tasks(ctx, "nx-")
	require.NoError(t, err)
	assert.Equal(t, []string{"nx-run"}, names)
	require.NoError(t, c.Delete(ctx, task.Name))
	assert.Empty(t, h.Tasks())

	// Unsealed: the bind is taken, the calls are refused.
	u, err := tsch.Dial(ctx, "127.0.0.1", scfg, tsch.Config{Unsealed: true})
	if err == nil {
		_, err = u.Tasks(ctx, "")
		_ = u.Close()
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), "denied")
}

// TestTaskSchedulerImpacket checks \pipe\atsvc with impacket's TSCH client
// sealed as atexec.py binds it (bare NTLM, packet privacy, auth3).
func TestTaskSchedulerImpacket(t *testing.T) {
	lab.Require(t, "impacket")
	h, err := deployertest.New(deployertest.WithHostname("WINHOST3"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	require.NoError(t, os.MkdirAll(filepath.Join(h.AdminDir, "nx"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(h.AdminDir, "nx", "svc.exe"), []byte("MZ"), 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/python3", "testdata/impacket_tsch.py", strconv.Itoa(h.Port),
		h.User, h.Password, `C:\Windows\nx\svc.exe`).CombinedOutput()
	require.NoError(t, err, string(out))
	var res map[string]any
	require.NoError(t, json.Unmarshal(out, &res), string(out))
	num := func(v uint32) any { return float64(v) }
	assert.Equal(t, `\nxtest`, res["registered"])
	assert.Equal(t, num(0x800700B7), res["register_again"])
	assert.Equal(t, num(0x8004131A), res["register_bad"])
	assert.Equal(t, num(0x00041303), res["before_run"], "SCHED_S_TASK_HAS_NOT_RUN")
	assert.Equal(t, []any{"nxtest"}, res["enum"])
	assert.Equal(t, true, res["xml_has_command"])
	assert.Equal(t, num(0x800700C1), res["last_code"], "the file is no program: ERROR_BAD_EXE_FORMAT")
	assert.Equal(t, true, res["last_year_set"])
	assert.Equal(t, num(0), res["delete"])
	assert.Equal(t, num(0x80070002), res["delete_again"])
	assert.Contains(t, res["connect_level"], "denied")
	assert.Empty(t, h.Tasks())
}
