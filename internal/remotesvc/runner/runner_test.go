//go:build !windows

package runner

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer/internal/remotesvc/job"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func needSh(t *testing.T) string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("runner tests drive /bin/sh: not found")
	}
	return sh
}

func shJob(t *testing.T, script string, timeout time.Duration) job.Job {
	t.Helper()
	dir := t.TempDir()
	return job.Job{
		ID:         "t1",
		Command:    []string{needSh(t), "-c", script},
		LogPath:    filepath.Join(dir, "logs", "install.log"),
		ResultPath: filepath.Join(dir, "result.json"),
		Timeout:    timeout,
	}
}

func TestRunExitCodes(t *testing.T) {
	for _, tc := range []struct {
		script string
		code   uint32
	}{
		{"exit 0", 0},
		{"exit 3", 3},
		{`echo "ran in $PWD" > logs/install.log; exit 42`, 42},
	} {
		t.Run(tc.script, func(t *testing.T) {
			j := shJob(t, tc.script, 10*time.Second)
			res := Run(context.Background(), j)
			assert.Equal(t, job.OutcomeExited, res.Outcome)
			assert.Equal(t, tc.code, res.ExitCode)
			assert.Equal(t, "t1", res.ID)
			assert.False(t, res.Started.IsZero())
			assert.False(t, res.Ended.Before(res.Started))
			assert.DirExists(t, filepath.Dir(j.LogPath), "log directory created")
			if tc.code == 0 {
				assert.Empty(t, res.Error)
			} else {
				assert.Contains(t, res.Error, strconv.Itoa(int(tc.code)))
			}
		})
	}
	j := shJob(t, "echo hi > logs/install.log", 10*time.Second)
	res := Run(context.Background(), j)
	require.Equal(t, uint32(0), res.ExitCode)
	b, err := os.ReadFile(j.LogPath)
	require.NoError(t, err)
	assert.Equal(t, "hi\n", string(b), "default working directory is the result's directory")
}

// treeScript starts a background grandchild and a foreground child, each
// recording its pid, then waits; killing only sh would leave both running.
const treeScript = `sleep 300 & echo $! > bg.pid; sleep 300 & echo $! > fg.pid; wait`

func waitPids(t *testing.T, dir string) []int {
	t.Helper()
	var pids []int
	require.Eventually(t, func() bool {
		pids = pids[:0]
		for _, n := range []string{"bg.pid", "fg.pid"} {
			b, err := os.ReadFile(filepath.Join(dir, n))
			if err != nil {
				return false
			}
			p, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				return false
			}
			pids = append(pids, p)
		}
		return true
	}, 10*time.Second, 10*time.Millisecond)
	return pids
}

func assertDead(t *testing.T, pids []int) {
	t.Helper()
	for _, p := range pids {
		assert.Eventually(t, func() bool {
			return syscall.Kill(p, 0) == syscall.ESRCH
		}, 5*time.Second, 10*time.Millisecond, "pid %d still alive", p)
	}
}

func TestRunTimeoutKillsTree(t *testing.T) {
	j := shJob(t, treeScript, time.Second)
	res := Run(context.Background(), j)
	assert.Equal(t, job.OutcomeTimeout, res.Outcome)
	assert.Equal(t, job.CodeTimeout, res.ExitCode)
	assert.Contains(t, res.Error, "longer than 1s")
	assertDead(t, waitPids(t, filepath.Dir(j.ResultPath)))
}

func TestRunStopKillsTree(t *testing.T) {
	j := shJob(t, treeScript, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan job.Result, 1)
	go func() { done <- Run(ctx, j) }()
	pids := waitPids(t, filepath.Dir(j.ResultPath))
	cancel()
	var res job.Result
	select {
	case res = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	assert.Equal(t, job.OutcomeStopped, res.Outcome)
	assert.Equal(t, job.CodeStopped, res.ExitCode)
	assertDead(t, pids)
}

func TestRunStartFailures(t *testing.T) {
	dir := t.TempDir()
	base := job.Job{ID: "s", LogPath: filepath.Join(dir, "l", "x.log"), ResultPath: filepath.Join(dir, "r.json"), Timeout: time.Second}
	for _, tc := range []struct {
		name    string
		mutate  func(*job.Job)
		outcome job.Outcome
		code    uint32
	}{
		{"missing exe", func(j *job.Job) { j.Command = []string{filepath.Join(dir, "nope.exe")} }, job.OutcomeStartFailed, job.CodeStartFailed},
		{"no command", func(j *job.Job) { j.Command = nil }, job.OutcomeBadJob, job.CodeBadJob},
		{"cmdline off windows", func(j *job.Job) { j.Command = []string{needSh(t)}; j.CmdLine = "sh -c true" }, job.OutcomeStartFailed, job.CodeStartFailed},
		{"log dir blocked", func(j *job.Job) {
			j.Command = []string{needSh(t)}
			blocker := filepath.Join(dir, "file")
			require.NoError(t, os.WriteFile(blocker, nil, 0o600))
			j.LogPath = filepath.Join(blocker, "x.log")
		}, job.OutcomeStartFailed, job.CodeStartFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := base
			tc.mutate(&j)
			res := Run(context.Background(), j)
			assert.Equal(t, tc.outcome, res.Outcome)
			assert.Equal(t, tc.code, res.ExitCode)
			assert.NotEmpty(t, res.Error)
			assert.True(t, res.Started.IsZero())
			assert.False(t, res.Ended.IsZero())
		})
	}
}

func TestServiceBadJobWritesFallback(t *testing.T) {
	validB64, err := job.Job{
		ID: "ok", Command: []string{"msiexec.exe"}, LogPath: `C:\x\l.log`, ResultPath: `C:\x\r.json`, Timeout: time.Second,
	}.EncodeBase64()
	require.NoError(t, err)
	for _, tc := range []struct {
		name      string
		cmdArgs   []string
		startArgs []string
		want      string
	}{
		{"unknown argument", []string{"--bogus"}, nil, "unknown argument"},
		{"no job file", nil, nil, "read job file"},
		{"bad base64", []string{"--job-b64", "%%%"}, nil, "base64"},
		{"invalid job", []string{"--job-b64", base64.StdEncoding.EncodeToString([]byte(`{"id":""}`))}, nil, "id must have"},
		{"start args win", []string{"--job-b64", validB64}, []string{"--bogus"}, "unknown argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			res := Service(context.Background(), tc.cmdArgs, tc.startArgs, filepath.Join(dir, "nxsvc.exe"))
			assert.Equal(t, job.OutcomeBadJob, res.Outcome)
			assert.Equal(t, job.CodeBadJob, res.ExitCode)
			assert.Contains(t, res.Error, tc.want)
			b, err := os.ReadFile(filepath.Join(dir, FallbackResultName))
			require.NoError(t, err)
			got, err := job.DecodeResult(b)
			require.NoError(t, err)
			assert.Equal(t, res, got)
		})
	}
	res := Service(context.Background(), []string{"--bogus"}, nil, filepath.Join(t.TempDir(), "missing", "nxsvc.exe"))
	assert.Equal(t, job.CodeBadJob, res.ExitCode)
	assert.Contains(t, res.Error, "write result", "a result that cannot be written is reported in Error")
}

func TestServiceRunsJobFileOnWindowsPaths(t *testing.T) {
	// A valid job names Windows paths: on Linux the job file next to the
	// executable is found and decoded, and the Windows executable fails to start.
	dir := t.TempDir()
	j := job.Job{ID: "w", Command: []string{`C:\Windows\System32\msiexec.exe`, "/qn"}, LogPath: `C:\x\l.log`, ResultPath: `C:\x\r.json`, Timeout: 5 * time.Second}
	b, err := j.Encode()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, job.FileName), b, 0o600))
	t.Chdir(dir)
	res := Service(context.Background(), nil, nil, filepath.Join(dir, "nxsvc.exe"))
	assert.Equal(t, "w", res.ID, "job file next to the executable was used")
	assert.Equal(t, job.OutcomeStartFailed, res.Outcome)
	assert.Equal(t, job.CodeStartFailed, res.ExitCode)
}
