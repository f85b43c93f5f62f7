package winelab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
)

// fakeSC is a Windows service manager driven through sc commands, printing
// what Wine 8's sc prints (a status block, or nothing and exit code 1).
type fakeSC struct {
	mu    sync.Mutex
	svcs  map[string]*fakeSvc
	calls []string
	// startFails makes `sc start` fail, leaving the service STOPPED with
	// this Win32 exit code.
	startFails uint32
	// pendingPolls is how many queries after the start report
	// START_PENDING before RUNNING; <0 goes from START_PENDING to STOPPED
	// (with exit) at the first query.
	pendingPolls int
	// runPolls is how many RUNNING queries pass before the service stops by
	// itself with exit; <0 runs until stopped.
	runPolls int
	exit     [2]uint32 // WIN32_EXIT_CODE, SERVICE_EXIT_CODE
	// stopExit is the exit when stopped.
	stopExit [2]uint32
	// queryFails makes that many queries of a started service fail.
	queryFails int
}

type fakeSvc struct {
	bin   string
	state State
	exit  [2]uint32
	polls int
}

var errSC = errors.New("sc: exit code 1")

func (f *fakeSC) SC(ctx context.Context, args ...string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, strings.Join(args, " "))
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if len(args) < 2 {
		return "", errSC
	}
	name := strings.ToLower(args[1])
	svc := f.svcs[name]
	switch args[0] {
	case "create":
		if svc != nil || len(args) != 4 || args[2] != "binpath=" {
			return "", errSC
		}
		f.svcs[name] = &fakeSvc{bin: args[3], state: Stopped, exit: [2]uint32{1077, 0}}
		return "", nil
	case "start":
		if svc == nil || svc.state != Stopped {
			return "", errSC
		}
		if f.startFails != 0 {
			svc.exit = [2]uint32{f.startFails, 0}
			return "", errSC
		}
		svc.state, svc.exit, svc.polls = StartPending, [2]uint32{}, 0
		if f.pendingPolls == 0 {
			svc.state = Running
		}
		return block(name, svc), nil
	case "query":
		if svc == nil {
			return "", errSC
		}
		if svc.state != Stopped && f.queryFails > 0 {
			f.queryFails--
			return "", errSC
		}
		svc.polls++
		switch {
		case svc.state == StartPending && f.pendingPolls < 0:
			// It ran and ended between two queries.
			svc.state, svc.exit = Stopped, f.exit
		case svc.state == StartPending && svc.polls >= f.pendingPolls:
			svc.state, svc.polls = Running, 0
		case svc.state == Running && f.runPolls >= 0 && svc.polls > f.runPolls:
			svc.state, svc.exit = Stopped, f.exit
		case svc.state == StopPending:
			svc.state, svc.exit = Stopped, f.stopExit
		}
		return block(name, svc), nil
	case "stop":
		if svc == nil || svc.state != Running {
			return "", errSC
		}
		svc.state = StopPending
		return block(name, svc), nil
	case "delete":
		if svc == nil {
			return "", errSC
		}
		delete(f.svcs, name)
		return "", nil
	}
	return "", errSC
}

func block(name string, s *fakeSvc) string {
	return fmt.Sprintf("SERVICE_NAME: %s\r\n        TYPE               : 10  WIN32_OWN_PROCESS\r\n"+
		"        STATE              : %d  %v\r\n        WIN32_EXIT_CODE    : %d  (0x%x)\r\n"+
		"        SERVICE_EXIT_CODE  : %d  (0x%x)\r\n        CHECKPOINT         : 0x0\r\n        WAIT_HINT          : 0x0\r\n",
		name, uint32(s.state), s.state, s.exit[0], s.exit[0], s.exit[1], s.exit[1])
}

func (f *fakeSC) has(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.svcs[strings.ToLower(name)] != nil
}

func (f *fakeSC) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, strings.Fields(c)[0])
	}
	return out
}

// harness is an emulated service manager whose Program drives fakeSC.
type harness struct {
	m    *scm.Manager
	s    *scm.Session
	scm  scm.Handle
	runs chan Record
}

const binPath = `C:\Windows\nxdeploy\d1\nxsvc.exe --job-b64 eyJpZCI6ImQxIn0=`

func newHarness(t *testing.T, sc ServiceControl) *harness {
	t.Helper()
	return newHarnessTimeout(t, sc, 5*time.Second)
}

func newHarnessTimeout(t *testing.T, sc ServiceControl, startTimeout time.Duration) *harness {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "nxdeploy", "d1"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nxdeploy", "d1", "nxsvc.exe"), []byte("MZ"), 0o644))
	h := &harness{runs: make(chan Record, 4)}
	h.m = scm.New(scm.Options{AdminDir: dir, StartTimeout: startTimeout, Services: []scm.Preload{},
		Program: scmProgram(sc, ProgramOptions{Poll: 2 * time.Millisecond, StopTimeout: 2 * time.Second,
			CommandTimeout: 5 * time.Second, Logf: t.Logf, OnRun: func(r Record) { h.runs <- r }})})
	t.Cleanup(func() { require.NoError(t, h.m.Close()) })
	h.s = h.m.Open(scm.Caller{User: "Administrator", Admin: true})
	t.Cleanup(func() { _ = h.s.Close() })
	var err error
	h.scm, err = h.s.OpenSCManager("", scm.SCManagerAllAccess)
	require.NoError(t, err)
	return h
}

func (h *harness) create(t *testing.T) scm.Handle {
	t.Helper()
	sh, err := h.s.CreateService(h.scm, scm.CreateParams{Name: "nxdeploy-d1", DesiredAccess: scm.ServiceAllAccess,
		ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand, BinaryPath: binPath})
	require.NoError(t, err)
	return sh
}

func (h *harness) record(t *testing.T) Record {
	t.Helper()
	select {
	case r := <-h.runs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not finish")
		return Record{}
	}
}

func (h *harness) waitStopped(t *testing.T, sh scm.Handle) scm.Status {
	t.Helper()
	var st scm.Status
	require.Eventually(t, func() bool {
		var err error
		st, err = h.s.QueryStatus(sh)
		require.NoError(t, err)
		return st.CurrentState == scm.StateStopped
	}, 10*time.Second, 2*time.Millisecond)
	return st
}

func TestProgramMirrorsRunToCompletion(t *testing.T) {
	cases := []struct {
		name       string
		pending    int
		exit       [2]uint32
		code       uint32
		specific   bool
		win32, svc uint32 // the emulated service's final status
	}{
		{name: "success", exit: [2]uint32{0, 0}, code: 0, win32: 0},
		{name: "msi failure as service-specific code", exit: [2]uint32{1066, 1603}, code: 1603, specific: true, win32: 1066, svc: 1603},
		{name: "win32 exit code", pending: 3, exit: [2]uint32{2, 0}, code: 2, win32: 2},
		{name: "reboot needed", exit: [2]uint32{1066, 3010}, code: 3010, specific: true, win32: 1066, svc: 3010},
		{name: "ended between polls", pending: -1, exit: [2]uint32{1066, 1618}, code: 1618, specific: true, win32: 1066, svc: 1618},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := &fakeSC{svcs: map[string]*fakeSvc{}, pendingPolls: tc.pending, runPolls: 3, exit: tc.exit}
			h := newHarness(t, sc)
			sh := h.create(t)
			require.NoError(t, h.s.StartService(context.Background(), sh, nil))
			st, err := h.s.QueryStatus(sh)
			require.NoError(t, err)
			assert.NotEqual(t, scm.StateStartPending, st.CurrentState, "StartServiceW returned once Wine reported RUNNING")
			r := h.record(t)
			st = h.waitStopped(t, sh)
			assert.Equal(t, tc.win32, st.Win32ExitCode)
			assert.Equal(t, tc.svc, st.ServiceSpecificExitCode)
			assert.Equal(t, tc.code, r.ExitCode)
			assert.Equal(t, tc.specific, r.ServiceSpecific)
			assert.NoError(t, r.Err)
			assert.Equal(t, "nxdeploy-d1", r.Service)
			assert.Equal(t, binPath, r.CommandLine, "the same command line in Wine's SCM")
			assert.False(t, r.StopRequested)
			assert.Equal(t, Stopped, r.Final.State)
			assert.True(t, r.Created > 0 && r.Started >= r.Created && r.Running >= r.Started &&
				r.Stopped >= r.Running && r.Deleted >= r.Stopped, "%+v", r)
			assert.False(t, sc.has("nxdeploy-d1"), "deleted from Wine's SCM")
			cmds := sc.commands()
			assert.Equal(t, []string{"create", "start"}, cmds[:2])
			assert.Equal(t, []string{"delete", "query"}, cmds[len(cmds)-2:])
			assert.NotContains(t, cmds, "stop")
		})
	}
}

func TestProgramStopReachesWine(t *testing.T) {
	sc := &fakeSC{svcs: map[string]*fakeSvc{}, runPolls: -1, stopExit: [2]uint32{1066, 0x4e580003}}
	h := newHarness(t, sc)
	sh := h.create(t)
	require.NoError(t, h.s.StartService(context.Background(), sh, []string{"--extra"}))
	st, err := h.s.Control(sh, scm.ControlStop)
	require.NoError(t, err)
	assert.Equal(t, scm.StateStopPending, st.CurrentState)
	r := h.record(t)
	st = h.waitStopped(t, sh)
	assert.True(t, r.StopRequested)
	assert.Equal(t, uint32(0x4e580003), r.ExitCode)
	assert.True(t, r.ServiceSpecific)
	assert.Equal(t, uint32(1066), st.Win32ExitCode)
	assert.Equal(t, uint32(0x4e580003), st.ServiceSpecificExitCode)
	assert.Contains(t, sc.commands(), "stop")
	assert.False(t, sc.has("nxdeploy-d1"))
	sc.mu.Lock()
	assert.Contains(t, sc.calls, "start nxdeploy-d1 --extra", "start arguments are passed on")
	sc.mu.Unlock()
}

func TestProgramManagerCloseStopsWine(t *testing.T) {
	sc := &fakeSC{svcs: map[string]*fakeSvc{}, runPolls: -1, stopExit: [2]uint32{1066, 0x4e580003}}
	h := newHarness(t, sc)
	sh := h.create(t)
	require.NoError(t, h.s.StartService(context.Background(), sh, nil))
	require.NoError(t, h.m.Close())
	r := h.record(t)
	assert.True(t, r.StopRequested)
	assert.False(t, sc.has("nxdeploy-d1"), "Close leaves nothing in Wine's SCM")
}

func TestProgramStartFails(t *testing.T) {
	sc := &fakeSC{svcs: map[string]*fakeSvc{}, startFails: 193} // ERROR_BAD_EXE_FORMAT
	h := newHarness(t, sc)
	sh := h.create(t)
	err := h.s.StartService(context.Background(), sh, nil)
	require.ErrorIs(t, err, scm.ErrorProcessAborted)
	r := h.record(t)
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "sc start")
	assert.Equal(t, uint32(193), r.ExitCode, "Wine's own exit code for the service")
	assert.False(t, r.ServiceSpecific)
	assert.Zero(t, r.Running)
	assert.False(t, sc.has("nxdeploy-d1"))
	st := h.waitStopped(t, sh)
	assert.Equal(t, uint32(193), st.Win32ExitCode)
}

func TestProgramReplacesLeftoverService(t *testing.T) {
	sc := &fakeSC{svcs: map[string]*fakeSvc{"nxdeploy-d1": {bin: `C:\old.exe`, state: Running}},
		runPolls: 5, stopExit: [2]uint32{1066, 0x4e580003}}
	h := newHarness(t, sc)
	sh := h.create(t)
	require.NoError(t, h.s.StartService(context.Background(), sh, nil))
	r := h.record(t)
	assert.NoError(t, r.Err)
	assert.Equal(t, uint32(0), r.ExitCode)
	cmds := sc.commands()
	assert.Equal(t, []string{"create", "query", "query", "stop"}, cmds[:4], "the old service is stopped")
	assert.Contains(t, cmds, "delete")
	assert.False(t, sc.has("nxdeploy-d1"))
}

func TestProgramLosesService(t *testing.T) {
	sc := &fakeSC{svcs: map[string]*fakeSvc{}, runPolls: -1, queryFails: 100}
	h := newHarness(t, sc)
	sh := h.create(t)
	require.NoError(t, h.s.StartService(context.Background(), sh, nil), "sc start reported RUNNING")
	r := h.record(t)
	assert.Equal(t, uint32(1067), r.ExitCode, "ERROR_PROCESS_ABORTED when Wine's SCM cannot be queried")
	assert.Error(t, r.Err)
	st := h.waitStopped(t, sh)
	assert.Equal(t, uint32(1067), st.Win32ExitCode)
}

func TestProgramCreateFails(t *testing.T) {
	h := newHarness(t, failingSC{})
	sh := h.create(t)
	err := h.s.StartService(context.Background(), sh, nil)
	require.ErrorIs(t, err, scm.ErrorProcessAborted)
	r := h.record(t)
	require.Error(t, r.Err)
	assert.Contains(t, r.Err.Error(), "sc create")
	assert.Equal(t, uint32(1067), r.ExitCode)
	assert.Zero(t, r.Created)
}

// failingSC is a service manager where every sc command fails.
type failingSC struct{}

func (failingSC) SC(context.Context, ...string) (string, error) { return "", errSC }

func TestPrepareRoot(t *testing.T) {
	prefix := t.TempDir()
	windows := filepath.Join(prefix, "drive_c", "windows")
	require.NoError(t, os.MkdirAll(filepath.Join(windows, "temp"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(windows, "temp", "x"), []byte("x"), 0o644))
	root := t.TempDir()
	undo, err := PrepareRoot(prefix, root)
	require.NoError(t, err)

	// What winhost does with the root: C:\Windows and its Temp exist.
	admin := filepath.Join(root, "C", "Windows")
	require.NoError(t, os.MkdirAll(filepath.Join(admin, "Temp"), 0o755))
	got, err := filepath.EvalSymlinks(admin)
	require.NoError(t, err)
	want, err := filepath.EvalSymlinks(windows)
	require.NoError(t, err)
	assert.Equal(t, want, got, "ADMIN$ is the prefix's windows directory")
	assert.FileExists(t, filepath.Join(admin, "Temp", "x"), "Temp is the prefix's temp")
	assert.DirExists(t, filepath.Join(windows, "syswow64"), "an x64 Windows has SysWOW64")

	require.NoError(t, undo())
	entries, err := os.ReadDir(windows)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, "temp", entries[0].Name(), "undo leaves the prefix as it was")

	_, err = PrepareRoot(filepath.Join(prefix, "missing"), t.TempDir())
	require.Error(t, err)
	_, err = PrepareRoot(prefix, root)
	require.Error(t, err, "root already prepared")
}

func TestProgramStartTimeoutStopsWine(t *testing.T) {
	// Wine's service stays START_PENDING past the emulated start timeout:
	// StartServiceW fails with ERROR_SERVICE_REQUEST_TIMEOUT, and the
	// Program stops the service in Wine as soon as it accepts the stop.
	sc := &fakeSC{svcs: map[string]*fakeSvc{}, pendingPolls: 40, runPolls: -1, stopExit: [2]uint32{1066, 0x4e580003}}
	h := newHarnessTimeout(t, sc, 30*time.Millisecond)
	sh := h.create(t)
	err := h.s.StartService(context.Background(), sh, nil)
	require.ErrorIs(t, err, scm.ErrorServiceRequestTimeout)
	r := h.record(t)
	assert.True(t, r.StopRequested)
	assert.Zero(t, r.Running, "RUNNING is not reported after the stop request")
	assert.Equal(t, uint32(0x4e580003), r.ExitCode)
	assert.NoError(t, r.Err)
	assert.False(t, sc.has("nxdeploy-d1"))
	cmds := sc.commands()
	assert.Contains(t, cmds, "stop")
}

// scmProgram runs the program under the service manager itself.
func scmProgram(sc ServiceControl, opts ProgramOptions) scm.Program {
	p := program(sc, opts)
	return func(ctx context.Context, run *scm.Run) (uint32, bool) {
		return p(ctx, serviceRun{Service: run.Service, CommandLine: run.CommandLine, StartArgs: run.StartArgs,
			ReportRunning: run.ReportRunning})
	}
}
