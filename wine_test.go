//go:build linux

package deployer_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/winelab"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/remotesvc"
	job "github.com/nxdeploy/deployer/internal/remotesvc/legacyjob"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// wineHost is an emulated host in Wine mode: ADMIN$ is the prefix's
// C:\windows and Wine's service manager runs our real remote service.
type wineHost struct {
	*winelab.Host
}

func (h wineHost) connectConfig() deployer.ConnectConfig {
	return deployer.ConnectConfig{SMB: smb.Config{
		Credentials:    smb.Credentials{User: h.User, Password: h.Password},
		Port:           h.Port,
		ConnectTimeout: 5 * time.Second,
		// StartServiceW returns once Wine's service reports RUNNING: the
		// first run of a prefix on two loaded cores takes tens of seconds.
		RequestTimeout: 3 * time.Minute,
	}}
}

func (h wineHost) target() discovery.Host {
	return discovery.Host{Name: h.Name, Addr: netip.MustParseAddr(h.IP)}
}

// assertClean checks that neither service manager holds a service of ours
// and that ADMIN$\nxdeploy (the prefix's C:\windows\nxdeploy) is empty.
func (h wineHost) assertClean(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	for _, s := range h.Services() {
		assert.False(t, strings.HasPrefix(strings.ToLower(s.Name), "nxdeploy-"), "service %s left in the emulated SCM", s.Name)
	}
	out, err := h.Wine.SC(ctx, "query", name)
	var runErr *winelab.RunError
	assert.ErrorAs(t, err, &runErr, "service %s left in Wine's SCM: %s", name, out)
	dir, err := h.Wine.Path(`C:\windows\nxdeploy`)
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	if err == nil {
		assert.Empty(t, entries, "files left in C:\\windows\\nxdeploy")
	}
}

func (h wineHost) connect(t *testing.T, ctx context.Context) *deployer.Conn {
	t.Helper()
	begin := time.Now()
	conn, err := deployer.Connect(ctx, h.target(), h.connectConfig())
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	t.Logf("connected in %v", time.Since(begin).Round(time.Millisecond))
	return conn
}

// buildWineMSI builds msi/testdata/<wxs> with wixl into a temporary
// directory and returns the package's path.
func buildWineMSI(t *testing.T, wxs string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{wxs, "hello.txt"} {
		b, err := os.ReadFile(filepath.Join("msi", "testdata", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	cmd := exec.Command("wixl", "-a", "x64", "-o", "pkg.msi", wxs)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "wixl: %s", out)
	return filepath.Join(dir, "pkg.msi")
}

// pushed records what the host held while the installation ran.
type pushed struct {
	mu       sync.Mutex
	exeSum   string
	qc       string
	exeErr   error
	observed bool
}

// observe reads the uploaded service binary from the prefix and Wine's
// configuration of the service, once, when the install phase begins.
func (p *pushed) observe(ctx context.Context, h wineHost, id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.observed {
		return
	}
	p.observed = true
	exe, err := h.Wine.Path(`C:\windows\nxdeploy\` + id + `\nxsvc.exe`)
	if err == nil {
		var b []byte
		if b, err = os.ReadFile(exe); err == nil {
			sum := sha256.Sum256(b)
			p.exeSum = hex.EncodeToString(sum[:])
		}
	}
	p.exeErr = err
	// Wine's sc has no qc: its services.exe keeps the configuration in
	// the registry, as Windows does.
	p.qc, _ = h.Wine.Run(ctx, "reg", "query", `HKLM\System\CurrentControlSet\Services\nxdeploy-`+id, "/v", "ImagePath")
}

// TestWineHost proves the library end to end against hosts whose Windows
// side is Wine (one prefix for every case: wineboot takes 7-30 s). The
// package has no TestMain, so the prefix belongs to this test rather than
// to a winelab.Shared.
func TestWineHost(t *testing.T) {
	winelab.Require(t, "wixl")
	bootStart := time.Now()
	w := winelab.New(t)
	t.Logf("wine prefix ready in %v", time.Since(bootStart).Round(time.Millisecond))
	t.Run("RunInstaller", func(t *testing.T) { testWineRunInstaller(t, w) })
	t.Run("stop reaches Wine", func(t *testing.T) { testWineStop(t, w) })
}

// testWineRunInstaller proves RunInstaller: the library pushes the real
// nxsvc (amd64, detected from the prefix's syswow64) and a wixl-built MSI
// into the prefix's C:\windows over SMB2, creates and starts the service
// over svcctl; the emulated SCM mirrors it into Wine's SCM, where nxsvc runs
// Wine's msiexec; the exit code comes back through Wine's SCM, and nothing
// is left in either SCM nor on disk.
func testWineRunInstaller(t *testing.T, w *winelab.Wine) {
	wantSum, err := remotesvc.SHA256("amd64")
	require.NoError(t, err)

	cases := []struct {
		name      string
		wxs       string
		id        string
		code      uint32
		installed string // a file the package installs, or a directory it must not create
	}{
		{name: "good package", wxs: "ok.wxs", id: "wineok", code: 0, installed: `C:\Program Files\NxTest\hello.txt`},
		{name: "launch condition fails", wxs: "fails.wxs", id: "winefail", code: 1603, installed: `C:\Program Files\NxFail`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			pkg := buildWineMSI(t, tc.wxs)
			h := wineHost{winelab.StartHost(t, w, winelab.HostOptions{Program: winelab.ProgramOptions{Logf: t.Logf}})}
			require.Equal(t, filepath.Join(w.Prefix, "drive_c", "windows"), mustEval(t, h.AdminDir),
				"ADMIN$ is the prefix's C:\\windows")

			conn := h.connect(t, ctx)

			var (
				seen   pushed
				phases []string
			)
			begin := time.Now()
			var rawLog []byte
			res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: pkg}, deployer.InstallOptions{
				DeploymentID: tc.id,
				Timeout:      4 * time.Minute,
				// Secret values: Wine's msiexec logs them; they never come back.
				Properties: secretProps,
				Progress: func(p deployer.InstallProgress) {
					if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
						phases = append(phases, p.Phase)
						t.Logf("phase %s at %v", p.Phase, time.Since(begin).Round(time.Millisecond))
					}
					if p.Phase == "install" {
						seen.observe(ctx, h, tc.id)
					}
					if p.Phase == "cleanup" && rawLog == nil {
						if lp, perr := w.Path(`C:\windows\nxdeploy\` + tc.id + `\install.log`); perr == nil {
							rawLog, _ = os.ReadFile(lp)
						}
					}
				},
			})
			took := time.Since(begin)
			require.NotNil(t, res, "%v", err)
			t.Logf("RunInstaller returned after %v: exit %d, err %v", took.Round(time.Millisecond), res.ExitCode, err)

			// The real remote service ran: the binary pushed into the
			// prefix is the embedded amd64 nxsvc, and Wine's SCM ran it with
			// the library's command line.
			require.NoError(t, seen.exeErr)
			assert.Equal(t, hex.EncodeToString(wantSum[:]), seen.exeSum, "uploaded nxsvc.exe is remotesvc's amd64 binary")
			runs := h.Runs()
			require.Len(t, runs, 1, "one start mirrored into Wine")
			run := runs[0]
			assert.True(t, strings.HasPrefix(run.CommandLine, `C:\Windows\nxdeploy\`+tc.id+`\nxsvc.exe --job-b64 `), run.CommandLine)
			assert.Contains(t, seen.qc, run.CommandLine, "Wine's SCM holds the library's binary path")
			assert.NoError(t, run.Err)
			assert.Equal(t, "nxdeploy-"+tc.id, run.Service)
			assert.NotZero(t, run.Running, "Wine reported RUNNING")
			assert.NotZero(t, run.Deleted, "the service was deleted from Wine's SCM")
			assert.Equal(t, winelab.Stopped, run.Final.State)
			t.Logf("wine: created %v, started %v, running %v, stopped %v, deleted %v (since StartServiceW)",
				run.Created.Round(time.Millisecond), run.Started.Round(time.Millisecond), run.Running.Round(time.Millisecond),
				run.Stopped.Round(time.Millisecond), run.Deleted.Round(time.Millisecond))

			assert.Equal(t, []string{"upload", "start", "install", "cleanup"}, phases)
			require.NotEmpty(t, rawLog, "Wine's log was read on the host before the cleanup")
			host := strings.ToLower(logText(rawLog))
			assert.Contains(t, host, strings.ToLower(secretProps[1].Value),
				"Wine's log on the host holds the property values (so the checks below mean something)")
			if err != nil {
				assertNoSecret(t, "the error", err.Error())
				if de, ok := derrors.As(err); ok {
					assertNoSecret(t, "the excerpt", de.Detail)
				}
			}
			summary, jerr := json.Marshal(res.Log)
			require.NoError(t, jerr)
			assertNoSecret(t, "the log summary", string(summary))
			assert.Equal(t, tc.code, res.ExitCode)
			assert.NoError(t, res.CleanupErr)
			require.NotNil(t, res.Log, "Wine's msiexec log was read back")
			assert.Positive(t, res.Log.Lines)
			installed, perr := w.Path(tc.installed)
			require.NoError(t, perr)
			if tc.code == 0 {
				require.NoError(t, err)
				assert.Equal(t, uint32(0), run.Final.Win32ExitCode)
				want, rerr := os.ReadFile(filepath.Join("msi", "testdata", "hello.txt"))
				require.NoError(t, rerr)
				got, rerr := os.ReadFile(installed)
				require.NoError(t, rerr, "the package installed its file into the prefix")
				assert.Equal(t, string(want), string(got))
				assert.Equal(t, "Nexthink Test Collector", res.Log.ProductName)
			} else {
				require.Error(t, err)
				de, ok := derrors.As(err)
				require.True(t, ok, "%v", err)
				assert.Equal(t, derrors.MSIError, de.Kind)
				assert.Equal(t, derrors.MSIExitCode(tc.code), de.Code)
				assert.Equal(t, "MSI error (1603)", de.Message())
				assert.Equal(t, derrors.StepMSIExec, de.Step)
				assert.Equal(t, h.Name, de.Host)
				assert.Equal(t, uint32(1066), run.Final.Win32ExitCode, "ERROR_SERVICE_SPECIFIC_ERROR in Wine's SCM")
				assert.Equal(t, tc.code, run.Final.ServiceExitCode)
				// Wine's log has no "Return value 3.", no final status line
				// and not the condition's message: the excerpt is the log's
				// tail, the property dump naming our pushed package and the
				// end of the INSTALL action.
				t.Logf("log excerpt attached to the error:\n%s", de.Detail)
				assert.Contains(t, de.Detail, `OriginalDatabase = C:\Windows\nxdeploy\`+tc.id+`\package.msi`,
					"the excerpt comes from msiexec's log of our package")
				assert.Regexp(t, `Action ended [0-9:]+: INSTALL\. Return value`, de.Detail, "the excerpt shows how the install ended")
				assert.Equal(t, "LaunchConditions", res.Log.LastAction, "the last action msiexec started")
				assert.Equal(t, "Nexthink Failing Test", res.Log.ProductName)
				assert.NoDirExists(t, installed, "nothing installed")
				assert.False(t, errors.Is(err, derrors.UnknownError))
			}
			h.assertClean(t, ctx, "nxdeploy-"+tc.id)
		})
	}
}

// testWineStop proves that stopping our service through the library stops
// it in Wine: nxsvc runs a long command (ping, 10 minutes), RemoteService.Stop
// stops the emulated service, the Program stops Wine's, nxsvc kills the
// command and reports "stopped" through Wine's SCM back to the library.
func testWineStop(t *testing.T, w *winelab.Wine) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	h := wineHost{winelab.StartHost(t, w, winelab.HostOptions{Program: winelab.ProgramOptions{Logf: t.Logf}})}
	conn := h.connect(t, ctx)
	const id = "winestop"
	dir := `C:\Windows\nxdeploy\` + id + `\`
	j := job.Job{ID: id, Command: []string{`C:\windows\system32\ping.exe`, "-n", "600", "127.0.0.1"},
		LogPath: dir + "ping.log", ResultPath: dir + "result.json", Timeout: 10 * time.Minute}
	b64, err := j.EncodeBase64()
	require.NoError(t, err)

	begin := time.Now()
	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: id,
		Args: []string{"--job-b64", b64}, VerifySHA256: true})
	require.NoError(t, err)
	t.Logf("PushService returned (RUNNING) after %v", time.Since(begin).Round(time.Millisecond))
	wst, err := w.QueryService(ctx, rs.Name)
	require.NoError(t, err)
	assert.Equal(t, winelab.Running, wst.State, "running in Wine's SCM")

	begin = time.Now()
	st, err := rs.Stop(ctx)
	require.NoError(t, err)
	t.Logf("Stop returned (STOPPED) after %v", time.Since(begin).Round(time.Millisecond))
	assert.Equal(t, svcctl.Stopped, st.State)
	assert.Equal(t, uint32(1066), st.Win32ExitCode)
	assert.Equal(t, job.CodeStopped, st.ServiceSpecificExitCode, "nxsvc's code for a stop, through Wine's SCM")

	resPath, err := w.Path(dir + "result.json")
	require.NoError(t, err)
	b, err := os.ReadFile(resPath)
	require.NoError(t, err, "nxsvc wrote its result")
	r, err := job.DecodeResult(b)
	require.NoError(t, err)
	assert.Equal(t, job.OutcomeStopped, r.Outcome)
	assert.Equal(t, id, r.ID)

	runs := h.Runs()
	require.Len(t, runs, 1)
	assert.True(t, runs[0].StopRequested)
	assert.NoError(t, runs[0].Err)
	_, err = w.QueryService(ctx, rs.Name)
	var runErr *winelab.RunError
	require.ErrorAs(t, err, &runErr, "the stopped service was deleted from Wine's SCM")

	require.NoError(t, rs.Remove(ctx))
	h.assertClean(t, ctx, rs.Name)
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}
