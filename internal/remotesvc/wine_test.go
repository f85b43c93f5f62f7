//go:build linux

package remotesvc_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/winelab"
	"github.com/nxdeploy/deployer/internal/remotesvc"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
)

// The Wine proofs share one prefix (initializing one takes 7-30 s).
var lab winelab.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := lab.Close(); err != nil {
		os.Stderr.WriteString("remotesvc: closing wine lab: " + err.Error() + "\n")
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// deployment is one nxsvc instance installed in the Wine prefix the way the
// library installs it on a host: C:\windows\nxdeploy\<id>\nxsvc.exe.
type deployment struct {
	t    *testing.T
	w    *winelab.Wine
	id   string
	dir  string // Windows path, with a trailing backslash
	host string // Linux path of dir
	name string // service name
}

func newDeployment(t *testing.T, w *winelab.Wine, id string) *deployment {
	t.Helper()
	d := &deployment{t: t, w: w, id: id, dir: `C:\windows\nxdeploy\` + id + `\`, name: "nxdeploy-" + id}
	var err error
	d.host, err = w.Path(d.dir)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(d.host, 0o755))
	exe, err := remotesvc.Binary("AMD64")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d.host, "nxsvc.exe"), exe, 0o755))
	return d
}

// job returns a job whose log and result live in the deployment's directory.
func (d *deployment) job(timeout time.Duration, command ...string) job.Job {
	return job.Job{
		ID:         d.id,
		Command:    command,
		LogPath:    d.dir + "install.log",
		ResultPath: d.dir + "result.json",
		Timeout:    timeout,
	}
}

// create registers the service with binpath "nxsvc.exe args..." and deletes it
// (stopping it first if needed) when the test ends.
func (d *deployment) create(ctx context.Context, args ...string) {
	d.t.Helper()
	binpath := strings.Join(append([]string{d.dir + "nxsvc.exe"}, args...), " ")
	_, err := d.w.SC(ctx, "create", d.name, "binpath=", binpath)
	require.NoError(d.t, err)
	d.t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if st, err := d.w.QueryService(cctx, d.name); err == nil && st.State != winelab.Stopped {
			_, _ = d.w.SC(cctx, "stop", d.name)
			_, _ = d.w.WaitState(cctx, d.name, winelab.Stopped, 200*time.Millisecond)
		}
		if _, err := d.w.QueryService(cctx, d.name); err == nil {
			_, _ = d.w.SC(cctx, "delete", d.name)
		}
	})
}

// start starts the service and returns how long `sc start` took.
func (d *deployment) start(ctx context.Context) time.Duration {
	d.t.Helper()
	begin := time.Now()
	out, err := d.w.SC(ctx, "start", d.name)
	require.NoError(d.t, err, out)
	took := time.Since(begin)
	st, err := winelab.ParseSCQuery(out)
	require.NoError(d.t, err)
	// Wine's StartService returns once the process is connected, so the state
	// printed may still be START_PENDING.
	assert.Contains(d.t, []winelab.State{winelab.StartPending, winelab.Running, winelab.StopPending, winelab.Stopped}, st.State)
	return took
}

func (d *deployment) waitStopped(ctx context.Context) winelab.ServiceStatus {
	d.t.Helper()
	st, err := d.w.WaitState(ctx, d.name, winelab.Stopped, 100*time.Millisecond)
	require.NoError(d.t, err)
	return st
}

func (d *deployment) result() job.Result {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.host, "result.json"))
	require.NoError(d.t, err)
	r, err := job.DecodeResult(b)
	require.NoError(d.t, err)
	return r
}

// deleteService deletes the service and checks the SCM forgot it.
func (d *deployment) deleteService(ctx context.Context) {
	d.t.Helper()
	_, err := d.w.SC(ctx, "delete", d.name)
	require.NoError(d.t, err)
	_, err = d.w.QueryService(ctx, d.name)
	var runErr *winelab.RunError
	require.ErrorAs(d.t, err, &runErr, "service gone after sc delete")
}

func b64Args(t *testing.T, j job.Job) []string {
	t.Helper()
	args, err := j.Args()
	require.NoError(t, err)
	return args
}

func buildMSI(t *testing.T, w *winelab.Wine, wxs, winPath string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{wxs, "hello.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	cmd := exec.Command("wixl", "-a", "x64", "-o", "pkg.msi", wxs)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "wixl: %s", out)
	b, err := os.ReadFile(filepath.Join(dir, "pkg.msi"))
	require.NoError(t, err)
	dst, err := w.Path(winPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o644))
}

func msiexecJob(d *deployment, msi string) job.Job {
	return d.job(5*time.Minute, "msiexec.exe", "/i", d.dir+msi, "/qn", "/norestart", "/l*v", d.dir+"install.log")
}

func wineLab(t *testing.T, tools ...string) (*winelab.Wine, context.Context) {
	t.Helper()
	winelab.Require(t, tools...)
	w := lab.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return w, ctx
}

func TestWineInstallsPackage(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	d := newDeployment(t, w, "good1")
	buildMSI(t, w, "good.wxs", d.dir+"pkg.msi")
	d.create(ctx, b64Args(t, msiexecJob(d, "pkg.msi"))...)

	begin := time.Now()
	startTook := d.start(ctx)
	st := d.waitStopped(ctx)
	t.Logf("sc start returned in %v; install finished (STOPPED seen) after %v", startTook.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond))

	assert.Equal(t, uint32(0), st.Win32ExitCode)
	assert.Equal(t, uint32(0), st.ServiceExitCode)
	res := d.result()
	assert.Equal(t, job.OutcomeExited, res.Outcome)
	assert.Equal(t, uint32(0), res.ExitCode)
	assert.Equal(t, "good1", res.ID)
	assert.Empty(t, res.Error)
	t.Logf("msiexec ran %v", res.Duration().Round(time.Millisecond))

	installed, err := w.Path(`C:\Program Files\NxTest\hello.txt`)
	require.NoError(t, err)
	b, err := os.ReadFile(installed)
	require.NoError(t, err)
	assert.Equal(t, "hello from nxdeploy\n", string(b))
	logText := readLog(t, filepath.Join(d.host, "install.log"))
	assert.Contains(t, logText, "NxTest")
	d.deleteService(ctx)
}

func TestWineFailingPackage(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	d := newDeployment(t, w, "fail1")
	buildMSI(t, w, "fail.wxs", d.dir+"pkg.msi")
	d.create(ctx, b64Args(t, msiexecJob(d, "pkg.msi"))...)
	d.start(ctx)
	st := d.waitStopped(ctx)

	assert.Equal(t, uint32(winelab.ErrorServiceSpecific), st.Win32ExitCode)
	assert.Equal(t, uint32(1603), st.ServiceExitCode)
	assert.Equal(t, uint32(1603), st.ExitCode())
	res := d.result()
	assert.Equal(t, job.OutcomeExited, res.Outcome)
	assert.Equal(t, uint32(1603), res.ExitCode)
	assert.Contains(t, res.Error, "1603")

	// Windows logs "Return value 3" and the condition's message; Wine 8's
	// verbose log records the LaunchConditions action only.
	logText := readLog(t, filepath.Join(d.host, "install.log"))
	assert.True(t, strings.Contains(logText, "Return value 3") || strings.Contains(logText, "NXFAIL") ||
		strings.Contains(logText, "LaunchConditions"), "log shows the failing launch condition:\n%s", logText)
	installed, err := w.Path(`C:\Program Files\NxFail`)
	require.NoError(t, err)
	assert.NoDirExists(t, installed)
	d.deleteService(ctx)
}

func TestWineStopKillsProcessTree(t *testing.T) {
	w, ctx := wineLab(t)
	d := newDeployment(t, w, "stop1")
	heartbeat := buildHeartbeat(t, d)
	d.create(ctx, b64Args(t, d.job(time.Hour, heartbeat, d.dir+"parent.txt", d.dir+"child.txt"))...)
	d.start(ctx)
	st, err := w.WaitState(ctx, d.name, winelab.Running, 100*time.Millisecond)
	if err != nil {
		// Say why the service is not running: its result file tells.
		raw, rerr := os.ReadFile(filepath.Join(d.host, "result.json"))
		t.Fatalf("%v (status %+v; result.json: %s %v)", err, st, raw, rerr)
	}
	assert.Equal(t, winelab.Running, st.State, "nxsvc reports RUNNING while its command runs")
	waitBeating(t, d, "parent.txt", "child.txt")

	begin := time.Now()
	out, err := w.SC(ctx, "stop", d.name)
	require.NoError(t, err, out)
	st = d.waitStopped(ctx)
	t.Logf("STOPPED %v after sc stop", time.Since(begin).Round(time.Millisecond))
	assert.Equal(t, uint32(winelab.ErrorServiceSpecific), st.Win32ExitCode)
	assert.Equal(t, job.CodeStopped, st.ServiceExitCode)
	res := d.result()
	assert.Equal(t, job.OutcomeStopped, res.Outcome)
	assert.Equal(t, job.CodeStopped, res.ExitCode)
	assertStill(t, d, "parent.txt", "child.txt")
	d.deleteService(ctx)
}

func TestWineTimeoutKillsProcessTree(t *testing.T) {
	w, ctx := wineLab(t)
	d := newDeployment(t, w, "timeout1")
	heartbeat := buildHeartbeat(t, d)
	d.create(ctx, b64Args(t, d.job(3*time.Second, heartbeat, d.dir+"parent.txt", d.dir+"child.txt"))...)
	d.start(ctx)
	st := d.waitStopped(ctx)
	assert.Equal(t, uint32(winelab.ErrorServiceSpecific), st.Win32ExitCode)
	assert.Equal(t, job.CodeTimeout, st.ServiceExitCode)
	res := d.result()
	assert.Equal(t, job.OutcomeTimeout, res.Outcome)
	assert.GreaterOrEqual(t, res.Duration(), 3*time.Second)
	assertStill(t, d, "parent.txt", "child.txt")
	d.deleteService(ctx)
}

// TestWineJobSources covers the other ways a job reaches nxsvc (a job file by
// path, job.json next to the executable) and the codes of jobs that cannot run.
func TestWineJobSources(t *testing.T) {
	w, ctx := wineLab(t)
	tests := []struct {
		name    string
		setup   func(d *deployment) []string // returns service arguments
		code    uint32
		outcome job.Outcome
	}{
		{"job file by path", func(d *deployment) []string {
			writeJob(t, d, "job-by-path.json", d.job(time.Minute, `C:\windows\system32\cmd.exe`, "/c", "exit", "5"))
			return []string{"--job", d.dir + "job-by-path.json"}
		}, 5, job.OutcomeExited},
		{"job file next to exe", func(d *deployment) []string {
			writeJob(t, d, job.FileName, d.job(time.Minute, `C:\windows\system32\cmd.exe`, "/c", "exit", "0"))
			return nil
		}, 0, job.OutcomeExited},
		{"missing executable", func(d *deployment) []string {
			return b64Args(t, d.job(time.Minute, d.dir+"missing.exe"))
		}, job.CodeStartFailed, job.OutcomeStartFailed},
		{"malformed job", func(d *deployment) []string {
			return []string{"--job-b64", "bm90IGpzb24="}
		}, job.CodeBadJob, job.OutcomeBadJob},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment(t, w, "src"+strconv.Itoa(i))
			d.create(ctx, tc.setup(d)...)
			d.start(ctx)
			st := d.waitStopped(ctx)
			assert.Equal(t, tc.code, st.ExitCode())
			if tc.code == 0 {
				assert.Equal(t, uint32(0), st.Win32ExitCode)
			} else {
				assert.Equal(t, uint32(winelab.ErrorServiceSpecific), st.Win32ExitCode)
			}
			res := d.result()
			assert.Equal(t, tc.outcome, res.Outcome)
			assert.Equal(t, tc.code, res.ExitCode)
			if tc.outcome != job.OutcomeExited {
				assert.NotEmpty(t, res.Error)
			}
			d.deleteService(ctx)
		})
	}
}

func writeJob(t *testing.T, d *deployment, name string, j job.Job) {
	t.Helper()
	b, err := j.Encode()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d.host, name), b, 0o644))
}

// buildHeartbeat compiles testdata/heartbeat.c into the deployment directory
// and returns its Windows path.
func buildHeartbeat(t *testing.T, d *deployment) string {
	t.Helper()
	out, err := exec.Command("x86_64-w64-mingw32-gcc", "-O2", "-s", "-o",
		filepath.Join(d.host, "heartbeat.exe"), filepath.Join("testdata", "heartbeat.c")).CombinedOutput()
	require.NoError(t, err, "mingw: %s", out)
	return d.dir + "heartbeat.exe"
}

func counter(t *testing.T, d *deployment, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(d.host, name))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return -1
	}
	return n
}

// waitBeating waits until every named heartbeat file counts up.
func waitBeating(t *testing.T, d *deployment, names ...string) {
	t.Helper()
	for _, n := range names {
		first := -1
		require.Eventually(t, func() bool {
			c := counter(t, d, n)
			if first < 0 {
				first = c
				return false
			}
			return c > first && first > 0
		}, time.Minute, 100*time.Millisecond, "%s never counted up", n)
	}
}

// assertStill checks that no heartbeat file changes for a second: every
// process of the tree is gone.
func assertStill(t *testing.T, d *deployment, names ...string) {
	t.Helper()
	before := make([]int, len(names))
	for i, n := range names {
		before[i] = counter(t, d, n)
	}
	time.Sleep(time.Second)
	for i, n := range names {
		assert.Equal(t, before[i], counter(t, d, n), "%s still beating: process survived", n)
	}
}

// readLog returns an msiexec log as text; Windows writes UTF-16LE with a BOM,
// Wine writes ASCII.
func readLog(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err, "verbose log exists")
	require.NotEmpty(t, b)
	if bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		b = bytes.ReplaceAll(b[2:], []byte{0}, nil)
	}
	return string(b)
}
