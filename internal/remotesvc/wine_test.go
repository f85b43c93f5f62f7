//go:build linux

package remotesvc_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/winelab"
	"github.com/nxdeploy/deployer/internal/remotesvc"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
	"github.com/nxdeploy/deployer/msi"
)

// The Wine proofs share one prefix (initializing one takes 7-30 s): 64-bit,
// reporting Windows 7 (6.1), without the ProcessPrng shim, so its loader
// refuses what Windows 7 refuses to a Go ≥ 1.22 program.
var lab = winelab.Shared{Options: winelab.Options{NoShim: true, WindowsVersion: "win7"}}

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

func wineLab(t *testing.T, tools ...string) (*winelab.Wine, context.Context) {
	t.Helper()
	winelab.Require(t, tools...)
	w := lab.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return w, ctx
}

// deployment is one nxsvc installed in the prefix the way the deployer
// installs it: C:\windows\nxdeploy\<id>\nxsvc.exe, its argument the
// directory.
type deployment struct {
	t    *testing.T
	w    *winelab.Wine
	id   string
	dir  string // Windows path, no trailing backslash
	host string // Linux path of dir
	name string // service name
}

func newDeployment(t *testing.T, w *winelab.Wine, id string) *deployment {
	t.Helper()
	d := &deployment{t: t, w: w, id: id, dir: `C:\windows\nxdeploy\` + id, name: "nxdeploy-" + id}
	var err error
	d.host, err = w.Path(d.dir)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(d.host, 0o755))
	exe, err := remotesvc.Binary("AMD64")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d.host, "nxsvc.exe"), exe, 0o755))
	t.Cleanup(func() { _ = os.RemoveAll(d.host) })
	return d
}

func (d *deployment) binPath() string { return d.dir + `\nxsvc.exe ` + d.dir }

// installJob is an install of package.msi with a 3-minute timeout.
func (d *deployment) installJob(props ...job.Property) job.Job {
	return job.Job{ID: d.id, Operation: job.Install, Package: "package.msi", Properties: props, Timeout: 3 * time.Minute}
}

func (d *deployment) writeJob(j job.Job) {
	d.t.Helper()
	b, err := j.Encode()
	require.NoError(d.t, err)
	require.NoError(d.t, os.WriteFile(filepath.Join(d.host, job.FileJob), b, 0o644))
}

// stage builds testdata/<name>.wxs with wixl into the directory as package.msi.
func (d *deployment) stage(name string) {
	d.t.Helper()
	buildMSI(d.t, name, filepath.Join(d.host, "package.msi"))
}

func buildMSI(t *testing.T, name, dst string) {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{name + ".wxs", "hello.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	wixl(t, dir, name+".wxs", dst)
}

// wixl builds dir/wxs (its sources beside it) into dst.
func wixl(t *testing.T, dir, wxs, dst string) {
	t.Helper()
	cmd := exec.Command("wixl", "-a", "x64", "-o", "pkg.msi", wxs)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "wixl: %s", out)
	b, err := os.ReadFile(filepath.Join(dir, "pkg.msi"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(dst, b, 0o644))
}

// create registers the service with binPath() (or binPath) and removes it
// (stopping it first if needed) when the test ends.
func (d *deployment) create(ctx context.Context, binPath ...string) {
	d.t.Helper()
	bp := d.binPath()
	if len(binPath) > 0 {
		bp = binPath[0]
	}
	_, err := d.w.SC(ctx, "create", d.name, "binpath=", bp)
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

func (d *deployment) start(ctx context.Context) {
	d.t.Helper()
	out, err := d.w.SC(ctx, "start", d.name)
	require.NoError(d.t, err, out)
}

func (d *deployment) waitStopped(ctx context.Context) winelab.ServiceStatus {
	d.t.Helper()
	st, err := d.w.WaitState(ctx, d.name, winelab.Stopped, 100*time.Millisecond)
	require.NoError(d.t, err)
	return st
}

// run creates and starts the service and waits until it stopped.
func (d *deployment) run(ctx context.Context) winelab.ServiceStatus {
	d.t.Helper()
	d.create(ctx)
	d.start(ctx)
	return d.waitStopped(ctx)
}

func (d *deployment) result() job.Result {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.host, job.FileResult))
	require.NoError(d.t, err, "the service wrote its result")
	r, err := job.DecodeResult(b)
	require.NoError(d.t, err, "%s", b)
	return r
}

// files lists the names of the files the run left in the directory,
// sorted.
func (d *deployment) files() []string {
	d.t.Helper()
	entries, err := os.ReadDir(d.host)
	require.NoError(d.t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// What runs leave in their directory (sorted): a success nxsvc.exe alone;
// a failure, or any run of a job with KeepLog, also the log and the
// result.
var (
	leftQuiet  = []string{"nxsvc.exe"}
	leftFailed = []string{job.FileLog, "nxsvc.exe", job.FileResult}
	leftKept   = leftFailed
)

func (d *deployment) progress() (job.Progress, error) {
	b, err := os.ReadFile(filepath.Join(d.host, job.FileProgress))
	if err != nil {
		return job.Progress{}, err
	}
	return job.DecodeProgress(b)
}

func (d *deployment) log() string {
	d.t.Helper()
	b, err := os.ReadFile(filepath.Join(d.host, job.FileLog))
	require.NoError(d.t, err, "the verbose log exists")
	return decodeLog(b)
}

// decodeLog returns a log as text: Windows writes UTF-16LE with a BOM, Wine
// ANSI.
func decodeLog(b []byte) string {
	if bytes.HasPrefix(b, []byte{0xff, 0xfe}) {
		u := make([]uint16, (len(b)-2)/2)
		for i := range u {
			u[i] = uint16(b[2+2*i]) | uint16(b[3+2*i])<<8
		}
		return string(utf16.Decode(u))
	}
	return string(b)
}

// assertExit checks the service's exit status: 0, or 1066 with code as
// the service-specific exit code.
func assertExit(t *testing.T, st winelab.ServiceStatus, code uint32) {
	t.Helper()
	assert.Equal(t, winelab.Stopped, st.State)
	if code == 0 {
		assert.Equal(t, uint32(0), st.Win32ExitCode)
		return
	}
	assert.Equal(t, uint32(winelab.ErrorServiceSpecific), st.Win32ExitCode)
	assert.Equal(t, code, st.ServiceExitCode)
}

// productRegistered reports whether Windows Installer registered the
// product (its uninstall key exists).
func productRegistered(ctx context.Context, w *winelab.Wine, code string) bool {
	_, err := w.Run(ctx, "reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\`+code)
	return err == nil
}

// TestWineOldGoServiceFailsNewOneRuns is the reason for the rewrite: on a
// prefix that loads programs as Windows 7 does, a Go service (built as the
// deployer's earlier one was) aborts before it starts, and nxsvc installs.
func TestWineOldGoServiceFailsNewOneRuns(t *testing.T) {
	w, ctx := wineLab(t, "wixl", "go")
	out, err := w.Run(ctx, "cmd", "/c", "ver")
	require.NoError(t, err)
	assert.Contains(t, out, "Windows 6.1.", "the prefix reports Windows 7")
	shim, err := w.Path(`C:\windows\system32\bcryptprimitives.dll`)
	require.NoError(t, err)
	assert.NoFileExists(t, shim, "no ProcessPrng shim in the prefix")

	// The Go service: GOOS=windows build of testdata/gosvc.
	old := newDeployment(t, w, "gosvc")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(old.host, "gosvc.exe"), "./testdata/gosvc")
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "%s", b)
	_, err = w.Run(ctx, old.dir+`\gosvc.exe`)
	var runErr *winelab.RunError
	require.ErrorAs(t, err, &runErr, "the Go program aborts")
	assert.Contains(t, runErr.Stderr, "bcryptprimitives.dll not found")
	t.Logf("Go service run directly: exit %d, %q", runErr.ExitCode, firstLine(runErr.Stderr))
	old.create(ctx, old.dir+`\gosvc.exe`)
	_, _ = w.SC(ctx, "start", old.name)
	st := old.waitStopped(ctx)
	assert.NotZero(t, st.Win32ExitCode, "the Go service never ran")
	t.Logf("Go service through the SCM: STOPPED, WIN32_EXIT_CODE %d", st.Win32ExitCode)

	d := newDeployment(t, w, "newsvc")
	d.stage("good")
	d.writeJob(d.installJob())
	st = d.run(ctx)
	assertExit(t, st, 0)
	assert.Equal(t, leftQuiet, d.files())
	t.Logf("nxsvc on the same prefix: exit %d, files left %v", st.ExitCode(), d.files())
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// TestWineInstallOutcomes runs the Windows Installer API through nxsvc for
// a package that installs, one whose launch condition fails, and one that
// schedules a reboot, and reads each outcome from the service's exit code
// and the files it leaves: a success nxsvc.exe alone (the log deleted, no
// result file), a failure the log and the result file; a job with KeepLog
// keeps both after a success too.
func TestWineInstallOutcomes(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	const good = "{4E580000-0000-4000-8000-000000000010}"
	tests := []struct {
		name    string
		wxs     string
		keep    bool
		code    uint32
		product string
		dir     string // the product's directory
		file    string // installed file, or "" when nothing is installed
		left    []string
	}{
		{"installs", "good", false, 0, good, `C:\Program Files\NxGood`, `C:\Program Files\NxGood\hello.txt`, leftQuiet},
		{"launch condition fails", "fail", false, 1603, "{4E580000-0000-4000-8000-000000000020}", `C:\Program Files\NxFail`, "", leftFailed},
		{"reboot required", "reboot", false, 3010, "{4E580000-0000-4000-8000-000000000030}", `C:\Program Files\NxReboot`,
			`C:\Program Files\NxReboot\hello.txt`, leftQuiet},
		// The same package again, once removed (a quiet uninstall).
		{"installs, keep log", "good", true, 0, good, `C:\Program Files\NxGood`, `C:\Program Files\NxGood\hello.txt`, leftKept},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ensureAbsent(t, ctx, w, tc.product, tc.dir)
			id := "out-" + tc.wxs
			if tc.keep {
				id += "-keep"
			}
			d := newDeployment(t, w, id)
			d.stage(tc.wxs)
			j := d.installJob(job.Property{Name: "SERVER", Value: "collector.example.test"})
			j.KeepLog = tc.keep
			d.writeJob(j)
			before := snapshot(t, w)
			st := d.run(ctx)
			assertExit(t, st, tc.code)
			assert.Equal(t, tc.left, d.files(), "the files the run left (the job, the progress file and the package deleted)")
			assert.Equal(t, tc.file != "", productRegistered(ctx, w, tc.product))
			if tc.file != "" {
				p, err := w.Path(tc.file)
				require.NoError(t, err)
				assert.FileExists(t, p)
			}
			if slices.Contains(tc.left, job.FileResult) {
				r := d.result()
				assert.Equal(t, job.Result{ID: d.id, Code: tc.code, Outcome: job.OutcomeDone, MSI: tc.code, HasMSI: true}, r)
				logText := d.log()
				assert.Contains(t, logText, "collector.example.test", "the log is Windows Installer's, with the job's property")
				var parser msi.Parser
				parser.Feed([]byte(logText))
				sum := parser.Close()
				require.NotNil(t, sum)
				assert.Positive(t, sum.Lines)
				if tc.code == 1603 {
					// Wine's log has no "Return value 3." and no status line:
					// the excerpt is the log's tail, and the last action started
					// is the launch conditions'.
					excerpt := sum.Excerpt(20)
					assert.Regexp(t, `Action ended [0-9:]+: INSTALL\. Return value`, excerpt)
					assert.Equal(t, "LaunchConditions", sum.LastAction)
					t.Logf("1603 excerpt:\n%s", excerpt)
				}
			}
			// Besides the deployment directory, only what Windows Installer
			// keeps for an installed product changed.
			for _, f := range changed(before, snapshot(t, w)) {
				switch {
				case strings.HasPrefix(f, `windows/nxdeploy/`+d.id+"/"):
				case strings.HasPrefix(f, "windows/inf/"):
					// Wine's device set-up writes .pnf files in the
					// background after the prefix boots.
				case tc.file != "" && (strings.HasPrefix(f, "windows/installer/") || strings.HasPrefix(f, "program files/nx")):
				default:
					t.Errorf("the deployment left %s on the host", f)
				}
			}
		})
	}
}

// snapshot lists the files of drive C (lower case, slash separated).
func snapshot(t *testing.T, w *winelab.Wine) map[string]bool {
	t.Helper()
	root, err := w.Path(`C:\`)
	require.NoError(t, err)
	files := map[string]bool{}
	require.NoError(t, filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if e.Type().IsRegular() {
			rel, _ := filepath.Rel(root, p)
			files[strings.ToLower(filepath.ToSlash(rel))] = true
		}
		return nil
	}))
	return files
}

func changed(before, after map[string]bool) []string {
	var out []string
	for f := range after {
		if !before[f] {
			out = append(out, f)
		}
	}
	return out
}

// TestWineProgressAndSecrets follows a slow install (twelve one-second
// custom actions, immediate then deferred) and checks what an attacker on the host could
// read meanwhile: the service's configuration (ImagePath) names only the
// directory, no process's command line carries a property value, and the
// verbose log (kept: the job has KeepLog) has no secret value at the end;
// the progress file moves through the actions; and every look at the
// directory finds the job, the progress file or the result (nxsvc writes
// the progress file before it deletes the job, and deletes it after the
// result).
func TestWineProgressAndSecrets(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	d := newDeployment(t, w, "secrets")
	d.stage("slow")
	const public, secret = "collector-public.example.test", "tenant-S3CR3T-välue-9f2c"
	j := d.installJob(job.Property{Name: "SERVER", Value: public}, job.Property{Name: "TENANTKEY", Value: secret, Secret: true})
	j.KeepLog = true
	d.writeJob(j)
	d.create(ctx)
	imagePath, err := w.Run(ctx, "reg", "query", `HKLM\System\CurrentControlSet\Services\`+d.name, "/v", "ImagePath")
	require.NoError(t, err)
	assert.Contains(t, imagePath, d.binPath(), "the service's configuration names the directory")
	assert.NotContains(t, imagePath, public)
	assert.NotContains(t, imagePath, secret)

	var (
		mu      sync.Mutex
		actions []string
		seqs    []uint32
		scans   int
		leaks   []string
		ours    bool
		gaps    int // scans that found neither job, progress nor result
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			lines := winelab.CommandLines()
			p, err := d.progress()
			names, _ := os.ReadDir(d.host)
			mu.Lock()
			scans++
			held := false
			for _, e := range names {
				held = held || e.Name() == job.FileJob || e.Name() == job.FileProgress || e.Name() == job.FileResult
			}
			if !held {
				gaps++
			}
			for _, l := range lines {
				if strings.Contains(l, public) || strings.Contains(l, secret) {
					leaks = append(leaks, l)
				}
				if strings.Contains(l, d.dir+`\nxsvc.exe`) {
					ours = true
				}
			}
			if err == nil && (len(actions) == 0 || actions[len(actions)-1] != p.Action) {
				actions = append(actions, p.Action)
				seqs = append(seqs, p.Seq)
			}
			mu.Unlock()
		}
	}()
	d.start(ctx)
	st := d.waitStopped(ctx)
	close(stop)
	<-done
	assertExit(t, st, 0)
	assert.Equal(t, leftKept, d.files(), "KeepLog keeps the log and the result after a success")
	assert.Equal(t, job.Result{ID: d.id, Outcome: job.OutcomeDone, HasMSI: true}, d.result())
	ensureAbsent(t, ctx, w, "{4E580000-0000-4000-8000-000000000040}", `C:\Program Files\NxSlow`)

	mu.Lock()
	defer mu.Unlock()
	t.Logf("%d scans of every process's command line; actions seen in the progress file: %v", scans, actions)
	assert.True(t, ours, "the scans saw nxsvc's own command line")
	assert.Empty(t, leaks, "no command line carries a property value")
	assert.Zero(t, gaps, "the directory held the job, the progress file or the result in every scan")
	waits := 0
	for _, a := range actions {
		if strings.HasPrefix(a, "Wait") || strings.HasPrefix(a, "Script") {
			waits++
		}
	}
	assert.GreaterOrEqual(t, waits, 6, "the progress file followed the actions as they ran")
	for i := 1; i < len(seqs); i++ {
		assert.Greater(t, seqs[i], seqs[i-1], "seq increases")
	}
	logText := d.log()
	assert.Contains(t, logText, public, "public properties stay in the log")
	assert.NotContains(t, logText, secret, "the secret value is not in the log")
	assert.NotContains(t, logText, "tenant-S3CR3T", "not even in part")
	assert.Contains(t, logText, "TENANTKEY", "the secret property's name still is")
}

// waitAction waits until the progress file names an action with prefix.
func (d *deployment) waitAction(prefix string) job.Progress {
	d.t.Helper()
	var p job.Progress
	require.Eventually(d.t, func() bool {
		var err error
		p, err = d.progress()
		return err == nil && strings.HasPrefix(p.Action, prefix)
	}, 2*time.Minute, 50*time.Millisecond, "the install reached an action %s*", prefix)
	return p
}

// TestWineCancel stops the service during the install, once before
// Windows Installer's script runs (during immediate custom actions) and
// once inside the script (during deferred ones): nxsvc answers Windows
// Installer's next message with IDCANCEL, the product rolls back, and the
// service stops with the API's 1602. Nothing of the product is left.
func TestWineCancel(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	const product = "{4E580000-0000-4000-8000-000000000040}"
	for _, tc := range []struct {
		name, at string
	}{
		{"before the script", "Wait3"},
		{"inside the script", "Script2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ensureAbsent(t, ctx, w, product, `C:\Program Files\NxSlow`)
			d := newDeployment(t, w, "cancel-"+strings.ToLower(tc.at))
			d.stage("slow")
			d.writeJob(d.installJob())
			d.create(ctx)
			d.start(ctx)
			p := d.waitAction(tc.at)
			t.Logf("stopping during %s (%d%%, %s)", p.Action, p.Percent, p.Phase)
			begin := time.Now()
			_, err := w.SC(ctx, "stop", d.name)
			require.NoError(t, err)
			st := d.waitStopped(ctx)
			t.Logf("STOPPED %v after sc stop", time.Since(begin).Round(time.Millisecond))
			assertExit(t, st, 1602)
			r := d.result()
			assert.Equal(t, job.Result{ID: d.id, Code: 1602, Outcome: job.OutcomeCancelled, MSI: 1602, HasMSI: true,
				Error: "cancelled by a stop request"}, r)
			assert.Equal(t, leftFailed, d.files(), "a cancelled run keeps the log and the result")
			logText := d.log()
			// Wine logs a deferred action once when it schedules it and once
			// when the script runs it.
			if tc.at == "Wait3" {
				assert.NotContains(t, logText, ": Wait6. Return value", "the install did not run to its end")
			} else {
				assert.LessOrEqual(t, strings.Count(logText, ": Script6. Return value"), 1, "the script did not run to its end")
			}
			dir, err := w.Path(`C:\Program Files\NxSlow`)
			require.NoError(t, err)
			if tc.at == "Wait3" {
				assert.NotContains(t, logText, "InstallInitialize", "cancelled before the script")
			} else {
				assert.Contains(t, logText, "InstallFinalize", "cancelled inside the script")
			}
			assert.False(t, productRegistered(ctx, w, product), "the product rolled back: not registered")
			assert.NoDirExists(t, dir, "the product rolled back: no file left")
		})
	}
}

// ensureAbsent removes product (through nxsvc) and its directory when an
// earlier test left them.
func ensureAbsent(t *testing.T, ctx context.Context, w *winelab.Wine, product, dir string) {
	t.Helper()
	if productRegistered(ctx, w, product) {
		un := newDeployment(t, w, "remove-"+strings.Trim(product, "{}")[28:])
		un.writeJob(job.Job{ID: un.id, Operation: job.Uninstall, ProductCode: product, Timeout: time.Minute})
		assertExit(t, un.run(ctx), 0)
	}
	p, err := w.Path(dir)
	require.NoError(t, err)
	require.NoError(t, os.RemoveAll(p))
}

// TestWineTimeout lets the job's timeout cancel the install.
func TestWineTimeout(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	ensureAbsent(t, ctx, w, "{4E580000-0000-4000-8000-000000000040}", `C:\Program Files\NxSlow`)
	d := newDeployment(t, w, "timeout")
	d.stage("slow")
	j := d.installJob()
	j.Timeout = 3 * time.Second
	d.writeJob(j)
	st := d.run(ctx)
	assertExit(t, st, job.CodeTimeout)
	r := d.result()
	assert.Equal(t, job.OutcomeTimeout, r.Outcome)
	assert.Equal(t, job.CodeTimeout, r.Code)
	assert.Equal(t, uint32(1602), r.MSI, "Windows Installer rolled back")
	assert.Equal(t, leftFailed, d.files(), "a run cancelled at its timeout keeps the log and the result")
	assert.False(t, productRegistered(ctx, w, "{4E580000-0000-4000-8000-000000000040}"))
}

// TestWineHardStop cancels an install whose custom action runs longer than
// the grace period: Windows Installer cannot answer, so after the grace
// period nxsvc writes its result and ends.
func TestWineHardStop(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	d := newDeployment(t, w, "hardstop")
	d.stage("stuck")
	j := d.installJob()
	j.Grace = 2 * time.Second
	d.writeJob(j)
	d.create(ctx)
	d.start(ctx)
	d.waitAction("Stuck")
	begin := time.Now()
	_, err := w.SC(ctx, "stop", d.name)
	require.NoError(t, err)
	st := d.waitStopped(ctx)
	took := time.Since(begin)
	t.Logf("STOPPED %v after sc stop (grace 2 s)", took.Round(time.Millisecond))
	assertExit(t, st, job.CodeStopped)
	assert.Less(t, took, 10*time.Second, "the hard stop came after the grace period, not after the custom action")
	r := d.result()
	assert.Equal(t, job.OutcomeHardStop, r.Outcome)
	assert.False(t, r.HasMSI)
	// Let the orphaned custom action (ping, 12 s) end before the next test.
	require.Eventually(t, func() bool {
		for _, l := range winelab.CommandLines() {
			if strings.Contains(l, "ping.exe -n 12") {
				return false
			}
		}
		return true
	}, time.Minute, 200*time.Millisecond)
}

// TestWineBadJobs: what the service reports for a job it cannot run.
func TestWineBadJobs(t *testing.T) {
	w, ctx := wineLab(t)
	tests := []struct {
		name    string
		setup   func(d *deployment) string // returns the binary path
		message string                     // "" when there is no result file
	}{
		{"garbage job", func(d *deployment) string {
			require.NoError(t, os.WriteFile(filepath.Join(d.host, job.FileJob), []byte("TENANTKEY=secret SERVER=collector"), 0o644))
			return d.binPath()
		}, "job file: not a job file (bad magic)"},
		{"truncated job", func(d *deployment) string {
			b, err := d.installJob().Encode()
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(d.host, job.FileJob), b[:len(b)-3], 0o644))
			return d.binPath()
		}, "job file: job file length differs from its header (truncated or extended)"},
		{"no job file", func(d *deployment) string { return d.binPath() }, "the job file cannot be read"},
		{"a version-1 job (an Engine that expects the result and the log after every run)", func(d *deployment) string {
			b, err := d.installJob().Encode()
			require.NoError(t, err)
			b[4] = 1
			require.NoError(t, os.WriteFile(filepath.Join(d.host, job.FileJob), b, 0o644))
			return d.binPath()
		}, "job file: job file version not supported"},
		{"a malformed keep-log record", func(d *deployment) string {
			j := d.installJob()
			j.KeepLog = true
			b, err := j.Encode()
			require.NoError(t, err)
			b[len(b)-6] = 1 // the record's flags
			require.NoError(t, os.WriteFile(filepath.Join(d.host, job.FileJob), b, 0o644))
			return d.binPath()
		}, "job file: record carries flags it may not have"},
		{"relative directory argument", func(d *deployment) string { return d.dir + `\nxsvc.exe nxdeploy` }, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDeployment(t, w, "bad"+string(rune('a'+i)))
			bp := tc.setup(d)
			d.create(ctx, bp)
			_, _ = w.SC(ctx, "start", d.name)
			st := d.waitStopped(ctx)
			assertExit(t, st, job.CodeBadJob)
			if tc.message == "" {
				assert.NoFileExists(t, filepath.Join(d.host, job.FileResult))
				return
			}
			r := d.result()
			assert.Equal(t, job.Result{Code: job.CodeBadJob, Outcome: job.OutcomeBadJob, Error: tc.message}, r)
			assert.NotContains(t, d.files(), job.FileLog, "Windows Installer was not called")
		})
	}
}

// TestWineUninstall removes an installed product by its code, then the
// same product again, now absent.
func TestWineUninstall(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	const product = "{4E580000-0000-4000-8000-000000000010}"
	in := newDeployment(t, w, "uninst-in")
	in.stage("good")
	in.writeJob(in.installJob())
	assertExit(t, in.run(ctx), 0)
	require.True(t, productRegistered(ctx, w, product))

	d := newDeployment(t, w, "uninst")
	d.writeJob(job.Job{ID: d.id, Operation: job.Uninstall, ProductCode: product, Timeout: time.Minute})
	assertExit(t, d.run(ctx), 0)
	assert.Equal(t, leftQuiet, d.files(), "a removal that succeeds leaves nxsvc.exe alone")
	assert.False(t, productRegistered(ctx, w, product), "the product is gone")

	// The product absent: MsiConfigureProductEx answers 1605
	// (ERROR_UNKNOWN_PRODUCT) under Wine as on Windows (Wine's msiexec /x
	// answers 0), a success: nothing left but nxsvc.exe, and with KeepLog
	// the log and the result.
	for _, keep := range []bool{false, true} {
		again := newDeployment(t, w, fmt.Sprintf("uninst-absent-%v", keep))
		again.writeJob(job.Job{ID: again.id, Operation: job.Uninstall, ProductCode: product, Timeout: time.Minute, KeepLog: keep})
		assertExit(t, again.run(ctx), 1605)
		if !keep {
			assert.Equal(t, leftQuiet, again.files(), "already absent is a success")
			continue
		}
		assert.Equal(t, leftKept, again.files())
		assert.Equal(t, job.Result{ID: again.id, Code: 1605, Outcome: job.OutcomeDone, MSI: 1605, HasMSI: true}, again.result())
	}
}

// TestWineSignedBuild runs a code-signed copy of nxsvc (signed with a
// throwaway certificate) as the service: the signature changes nothing it
// does.
func TestWineSignedBuild(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	signed, _ := remotesvc.SignForTest(t, "amd64")
	d := newDeployment(t, w, "signed")
	require.NoError(t, os.WriteFile(filepath.Join(d.host, "nxsvc.exe"), signed, 0o755))
	build, isSigned, err := remotesvc.Identify(signed)
	require.NoError(t, err)
	require.True(t, isSigned)
	require.Equal(t, "amd64", build)
	d.stage("good")
	d.writeJob(d.installJob())
	assertExit(t, d.run(ctx), 0)
	assert.Equal(t, leftQuiet, d.files())
}

// TestWineBadPackage gives the job a SHA-256 the package does not have (a
// package changed or truncated on its way): nxsvc installs nothing.
func TestWineBadPackage(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	d := newDeployment(t, w, "badpkg")
	d.stage("good")
	j := d.installJob()
	j.PackageSHA256 = make([]byte, 32)
	d.writeJob(j)
	assertExit(t, d.run(ctx), job.CodeBadPackage)
	r := d.result()
	assert.Equal(t, job.OutcomeBadPackage, r.Outcome)
	assert.False(t, r.HasMSI, "Windows Installer was not called")
	assert.Equal(t, []string{"nxsvc.exe", "package.msi", job.FileResult}, d.files(), "no log; the package that differs is kept")

	// The right digest installs.
	ok := newDeployment(t, w, "goodpkg")
	ok.stage("good")
	b, err := os.ReadFile(filepath.Join(ok.host, "package.msi"))
	require.NoError(t, err)
	sum := sha256.Sum256(b)
	j = ok.installJob()
	j.PackageSHA256 = sum[:]
	ok.writeJob(j)
	assertExit(t, ok.run(ctx), 0)
	assert.Equal(t, leftQuiet, ok.files(), "nxsvc deletes the package once installed, and the log after a success")
}

// okProduct is msi/testdata/ok.msi's ProductCode (version 1.2.3).
const okProduct = "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}"

// buildOKAt builds msi/testdata/ok.wxs with wixl at version (the same
// ProductCode and UpgradeCode) into dst.
func buildOKAt(t *testing.T, version, dst string) {
	t.Helper()
	src := filepath.Join("..", "..", "msi", "testdata")
	dir := t.TempDir()
	wxs, err := os.ReadFile(filepath.Join(src, "ok.wxs"))
	require.NoError(t, err)
	require.Contains(t, string(wxs), `Version="1.2.3"`)
	wxs = bytes.Replace(wxs, []byte(`Version="1.2.3"`), []byte(`Version="`+version+`"`), 1)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "ok.wxs"), wxs, 0o644))
	hello, err := os.ReadFile(filepath.Join(src, "hello.txt"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello.txt"), hello, 0o644))
	wixl(t, dir, "ok.wxs", dst)
}

// uninstallKey is `reg query` of the product's Uninstall key, or "" when
// Windows Installer has not registered it.
func uninstallKey(ctx context.Context, t *testing.T, w *winelab.Wine, code string) string {
	t.Helper()
	out, err := w.Run(ctx, "reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\`+code)
	if err != nil {
		return ""
	}
	return out
}

// TestWineSkipIfInstalled installs ok.msi (1.2.3) through nxsvc, then runs
// a job with the package's ProductCode and SkipIfInstalled 1.2.3: nxsvc
// asks Windows Installer (MsiQueryProductState, MsiGetProductInfo), ends
// with CodeAlreadyInstalled and installs nothing. A job for the same
// product at 1.2.4 is not skipped: with only the skip record (no REINSTALL
// property), nxsvc installs it as a minor upgrade (REINSTALL=ALL
// REINSTALLMODE=vomus; without them Windows Installer refuses with 1638, as
// on Windows), the Uninstall key shows 1.2.4, and the result file names the
// version the host had. 1.2.3 over 1.2.4, a downgrade, is still refused.
func TestWineSkipIfInstalled(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	ensureAbsent(t, ctx, w, okProduct, `C:\Program Files\NxTest`)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		ensureAbsent(t, cctx, w, okProduct, `C:\Program Files\NxTest`)
	})
	ok, err := os.ReadFile(filepath.Join("..", "..", "msi", "testdata", "ok.msi"))
	require.NoError(t, err)

	// A first job with the skip check, on a host without the product: it
	// installs, and with nothing installed before there is no result file
	// (nor log).
	first := newDeployment(t, w, "skip-first")
	require.NoError(t, os.WriteFile(filepath.Join(first.host, "package.msi"), ok, 0o644))
	j := first.installJob()
	j.ProductCode, j.SkipIfInstalled = okProduct, "1.2.3"
	first.writeJob(j)
	assertExit(t, first.run(ctx), 0)
	assert.Equal(t, leftQuiet, first.files())
	key := uninstallKey(ctx, t, w, okProduct)
	require.NotEmpty(t, key, "ok.msi is installed")
	require.Contains(t, key, "1.2.3")

	// The same version again: nothing installed, and nothing left but
	// nxsvc.exe (the Engine knows the version: the package's).
	before := snapshot(t, w)
	same := newDeployment(t, w, "skip-same")
	require.NoError(t, os.WriteFile(filepath.Join(same.host, "package.msi"), ok, 0o644))
	j = same.installJob()
	j.ProductCode, j.SkipIfInstalled = okProduct, "1.2.3"
	same.writeJob(j)
	st := same.run(ctx)
	assertExit(t, st, job.CodeAlreadyInstalled)
	t.Logf("skip: WIN32_EXIT_CODE %d, SERVICE_EXIT_CODE %#x", st.Win32ExitCode, st.ServiceExitCode)
	assert.Equal(t, leftQuiet, same.files(), "no result, no log (Windows Installer was not called), no job, progress or package")
	assert.Equal(t, key, uninstallKey(ctx, t, w, okProduct), "the product's registration is unchanged")
	for _, f := range changed(before, snapshot(t, w)) {
		if !strings.HasPrefix(f, `windows/nxdeploy/`+same.id+"/") && !strings.HasPrefix(f, "windows/inf/") {
			t.Errorf("the skipped job changed %s on the host", f)
		}
	}

	// Another, newer version of the same product is not skipped, and the
	// job names no REINSTALL: Windows Installer refuses a second package of
	// an installed ProductCode without it (1638, ERROR_PRODUCT_VERSION), so
	// nxsvc, finding 1.2.3 older than the package's 1.2.4, installs it as a
	// minor upgrade (REINSTALL=ALL REINSTALLMODE=vomus) and 1.2.4 installs
	// over 1.2.3.
	upg := newDeployment(t, w, "skip-upgrade")
	buildOKAt(t, "1.2.4", filepath.Join(upg.host, "package.msi"))
	j = upg.installJob()
	j.ProductCode, j.SkipIfInstalled = okProduct, "1.2.4"
	upg.writeJob(j)
	st = upg.run(ctx)
	r := upg.result()
	t.Logf("1.2.4 over 1.2.3 (the skip record only): exit %d/%d, result %+v", st.Win32ExitCode, st.ServiceExitCode, r)
	assertExit(t, st, 0)
	assert.Equal(t, job.Result{ID: upg.id, Code: 0, Outcome: job.OutcomeDone, MSI: 0, HasMSI: true, Installed: "1.2.3"}, r,
		"Windows Installer ran; the result names the version the host had")
	assert.Equal(t, []string{"nxsvc.exe", job.FileResult}, upg.files(), "the result for the version upgraded from, no log")
	key = uninstallKey(ctx, t, w, okProduct)
	assert.Contains(t, key, "1.2.4", "Windows Installer registered 1.2.4")
	assert.NotContains(t, key, "1.2.3")

	// And 1.2.4 is now what the skip check finds; with KeepLog the result
	// file says so (and there is no log: Windows Installer was not called).
	again := newDeployment(t, w, "skip-again")
	buildOKAt(t, "1.2.4", filepath.Join(again.host, "package.msi"))
	j = again.installJob()
	j.ProductCode, j.SkipIfInstalled, j.KeepLog = okProduct, "1.2.4", true
	again.writeJob(j)
	assertExit(t, again.run(ctx), job.CodeAlreadyInstalled)
	raw, err := os.ReadFile(filepath.Join(again.host, job.FileResult))
	require.NoError(t, err)
	assert.Contains(t, string(raw), "\ninstalled=1.2.4\n")
	assert.Equal(t, job.Result{ID: again.id, Code: job.CodeAlreadyInstalled, Outcome: job.OutcomeAlreadyInstalled,
		Error: "the product is already installed in the package's version: nothing installed", Installed: "1.2.4"}, again.result())
	assert.Equal(t, []string{"nxsvc.exe", job.FileResult}, again.files())

	// An older package (1.2.3 over 1.2.4) is a downgrade: nxsvc adds
	// nothing and Windows Installer refuses it (1638), the product stays
	// at 1.2.4.
	down := newDeployment(t, w, "skip-downgrade")
	require.NoError(t, os.WriteFile(filepath.Join(down.host, "package.msi"), ok, 0o644))
	j = down.installJob()
	j.ProductCode, j.SkipIfInstalled = okProduct, "1.2.3"
	down.writeJob(j)
	st = down.run(ctx)
	assertExit(t, st, 1638)
	assert.Equal(t, job.Result{ID: down.id, Code: 1638, Outcome: job.OutcomeDone, MSI: 1638, HasMSI: true, Installed: "1.2.4"}, down.result())
	assert.Equal(t, leftFailed, down.files(), "a failure keeps the log and the result")
	assert.Equal(t, key, uninstallKey(ctx, t, w, okProduct), "the product's registration is unchanged")
}

// TestWineStopFile runs nxsvc as a plain process (not under the service
// manager: it runs the job in the foreground, as it does as a Task
// Scheduler task) on the slow package and creates the file "stop" in its
// directory mid-install: nxsvc cancels as for a service stop (1602,
// outcome cancelled), the product rolls back, the process exits, and the
// job, progress and package are gone.
func TestWineStopFile(t *testing.T) {
	w, ctx := wineLab(t, "wixl")
	const product = "{4E580000-0000-4000-8000-000000000040}"
	for _, at := range []string{"Wait3", "Script2"} {
		t.Run(at, func(t *testing.T) {
			ensureAbsent(t, ctx, w, product, `C:\Program Files\NxSlow`)
			d := newDeployment(t, w, "stopfile-"+strings.ToLower(at))
			d.stage("slow")
			d.writeJob(d.installJob())
			type exit struct {
				err error
				at  time.Time
			}
			done := make(chan exit, 1)
			go func() {
				_, err := w.Run(ctx, d.dir+`\nxsvc.exe`, d.dir)
				done <- exit{err, time.Now()}
			}()
			p := d.waitAction(at)
			t.Logf("stop file during %s (%d%%, %s)", p.Action, p.Percent, p.Phase)
			begin := time.Now()
			require.NoError(t, os.WriteFile(filepath.Join(d.host, "stop"), nil, 0o644))
			var e exit
			select {
			case e = <-done:
			case <-ctx.Done():
				t.Fatal("nxsvc did not exit after the stop file")
			}
			t.Logf("process exited %v after the stop file", e.at.Sub(begin).Round(time.Millisecond))
			// Linux keeps the low 8 bits of the Windows exit code.
			var runErr *winelab.RunError
			require.ErrorAs(t, e.err, &runErr)
			assert.Equal(t, 1602&0xFF, runErr.ExitCode, "exit code 1602 (low byte)")
			r := d.result()
			assert.Equal(t, job.Result{ID: d.id, Code: 1602, Outcome: job.OutcomeCancelled, MSI: 1602, HasMSI: true,
				Error: "cancelled by a stop request"}, r)
			logText := d.log()
			if at == "Wait3" {
				assert.NotContains(t, logText, ": Wait6. Return value", "the install did not run to its end")
				assert.NotContains(t, logText, "InstallInitialize", "cancelled before the script")
			} else {
				assert.LessOrEqual(t, strings.Count(logText, ": Script6. Return value"), 1, "the script did not run to its end")
				assert.Contains(t, logText, "InstallFinalize", "cancelled inside the script")
			}
			assert.False(t, productRegistered(ctx, w, product), "the product rolled back: not registered")
			dir, err := w.Path(`C:\Program Files\NxSlow`)
			require.NoError(t, err)
			assert.NoDirExists(t, dir, "the product rolled back: no file left")
			assert.Equal(t, []string{job.FileLog, "nxsvc.exe", job.FileResult, "stop"}, d.files(),
				"nxsvc removed the job, the progress file and the package, and kept the log and the result")
			for _, l := range winelab.CommandLines() {
				assert.NotContains(t, l, d.dir+`\nxsvc.exe`, "no nxsvc process left")
			}
		})
	}
}
