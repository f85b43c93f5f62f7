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
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
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
	dir, err := h.Wine.Path(`C:\windows`)
	require.NoError(t, err)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, en := range entries {
		assert.False(t, strings.HasPrefix(strings.ToLower(en.Name()), "nxdeploy"), "C:\\windows\\%s left", en.Name())
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

// buildWineMSI builds <src>/<wxs> (msi/testdata or
// internal/remotesvc/testdata) with wixl into a temporary directory and
// returns the package's path.
func buildWineMSI(t *testing.T, src, wxs string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{wxs, "hello.txt"} {
		b, err := os.ReadFile(filepath.Join(src, f))
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
	exe, err := h.Wine.Path(`C:\windows\nxdeploy-` + id + `\nxsvc.exe`)
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
// side is Wine: a 64-bit prefix that reports Windows 7 and has no ProcessPrng
// shim, so it loads programs as Windows 7 does (one prefix for every case:
// wineboot takes 7-30 s). The package has no TestMain, so the prefix belongs
// to this test rather than to a winelab.Shared.
func TestWineHost(t *testing.T) {
	winelab.Require(t, "wixl", "openssl", "osslsigncode")
	bootStart := time.Now()
	w := winelab.NewWith(t, winelab.Options{NoShim: true, WindowsVersion: "win7"})
	t.Logf("wine prefix ready in %v", time.Since(bootStart).Round(time.Millisecond))
	t.Run("RunInstaller", func(t *testing.T) { testWineRunInstaller(t, w) })
	t.Run("cancel rolls back", func(t *testing.T) { testWineCancel(t, w) })
}

// Properties every Wine deployment passes: one public, two secret (one
// with quotes and spaces).
const (
	winePublic = "collector-public.example.test"
	wineSecret = "tenant-S3CR3T-4a7f"
)

var wineProps = []msi.Property{{Name: "SERVER", Value: winePublic}, {Name: "TENANTKEY", Value: wineSecret}, secretProps[0]}

// testWineRunInstaller proves RunInstaller: the library pushes the real
// remote service (amd64, detected from the prefix's syswow64; or a copy
// signed with a throwaway certificate) and a wixl-built MSI into the
// prefix's C:\windows over SMB2, writes the job, creates and starts the
// service over svcctl with the deployment directory as its only argument;
// the emulated SCM mirrors it into Wine's SCM, where the service installs
// through Wine's Windows Installer API; the result comes back through Wine's
// SCM, and nothing is left in either SCM nor on disk. No property value is
// in the service's configuration, on any command line, or in the log
// (the secret one).
func testWineRunInstaller(t *testing.T, w *winelab.Wine) {
	signed := signedBuild(t, "amd64")
	cases := []struct {
		name      string
		src, wxs  string
		id        string
		binary    []byte
		code      uint32
		installed string // a file the package installs, or a directory it must not create
	}{
		{name: "good package", wxs: "ok.wxs", id: "wineok", code: 0, installed: `C:\Program Files\NxTest\hello.txt`},
		{name: "launch condition fails", wxs: "fails.wxs", id: "winefail", code: 1603, installed: `C:\Program Files\NxFail`},
		{name: "reboot required", src: filepath.Join("internal", "remotesvc", "testdata"), wxs: "reboot.wxs", id: "winereboot",
			code: 3010, installed: `C:\Program Files\NxReboot\hello.txt`},
		{name: "code-signed service", wxs: "ok.wxs", id: "winesigned", binary: signed, code: 0, installed: `C:\Program Files\NxTest\hello.txt`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			src := tc.src
			if src == "" {
				src = filepath.Join("msi", "testdata")
			}
			pkg := buildWineMSI(t, src, tc.wxs)
			h := wineHost{winelab.StartHost(t, w, winelab.HostOptions{Program: winelab.ProgramOptions{Logf: t.Logf}})}
			require.Equal(t, filepath.Join(w.Prefix, "drive_c", "windows"), mustEval(t, h.AdminDir),
				"ADMIN$ is the prefix's C:\\windows")
			conn := h.connect(t, ctx)
			wantBin := tc.binary
			if wantBin == nil {
				var err error
				wantBin, err = remotesvc.Binary("amd64")
				require.NoError(t, err)
			}
			wantSum := sha256.Sum256(wantBin)

			var (
				seen    pushed
				phases  []string
				actions []string
				leaks   []string
			)
			begin := time.Now()
			var rawLog []byte
			res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: pkg}, deployer.InstallOptions{
				DeploymentID: tc.id,
				Timeout:      4 * time.Minute,
				// The secret values: nxsvc scrubs them from Wine's log on the
				// host (Wine ignores MsiHiddenProperties); the public one
				// stays there and the Engine redacts it from what it returns.
				Properties:       wineProps,
				SecretProperties: []string{"TENANTKEY", secretProps[0].Name},
				Service:          deployer.ServiceSpec{Binary: tc.binary},
				// The log is what this test reads, on the host and back.
				ReadLogOnSuccess: true,
				Progress: func(p deployer.InstallProgress) {
					if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
						phases = append(phases, p.Phase)
						t.Logf("phase %s at %v", p.Phase, time.Since(begin).Round(time.Millisecond))
					}
					if p.Phase == "install" {
						seen.observe(ctx, h, tc.id)
						for _, l := range winelab.CommandLines() {
							if strings.Contains(l, winePublic) || strings.Contains(l, wineSecret) || strings.Contains(l, "K3y-9f8e7d") {
								leaks = append(leaks, l)
							}
						}
						if p.Action != "" && (len(actions) == 0 || actions[len(actions)-1] != p.Action) {
							actions = append(actions, p.Action)
						}
					}
					if p.Phase == "cleanup" && rawLog == nil {
						if lp, perr := w.Path(`C:\windows\nxdeploy-` + tc.id + `\install.log`); perr == nil {
							rawLog, _ = os.ReadFile(lp)
						}
					}
				},
			})
			took := time.Since(begin)
			require.NotNil(t, res, "%v", err)
			t.Logf("RunInstaller returned after %v: exit %d, err %v; actions seen %v", took.Round(time.Millisecond), res.ExitCode, err, actions)

			// The real remote service ran: the binary pushed into the prefix
			// is the one asked for, and Wine's SCM ran it with the library's
			// command line: the service and its directory, nothing else.
			require.NoError(t, seen.exeErr)
			assert.Equal(t, hex.EncodeToString(wantSum[:]), seen.exeSum, "uploaded nxsvc.exe")
			runs := h.Runs()
			require.Len(t, runs, 1, "one start mirrored into Wine")
			run := runs[0]
			dir := `C:\Windows\nxdeploy-` + tc.id
			assert.Equal(t, dir+`\nxsvc.exe `+dir, run.CommandLine, "Wine's SCM was given the service and its directory")
			assert.Empty(t, leaks, "no property value on any command line")
			assert.NoError(t, run.Err)
			assert.Equal(t, "nxdeploy-"+tc.id, run.Service)
			assert.NotZero(t, run.Running, "Wine reported RUNNING")
			assert.NotZero(t, run.Deleted, "the service was deleted from Wine's SCM")
			assert.Equal(t, winelab.Stopped, run.Final.State)

			assert.Equal(t, []string{"upload", "start", "install", "cleanup"}, phases)
			assert.NotEmpty(t, actions, "Windows Installer's actions reached the progress events")
			require.NotEmpty(t, rawLog, "Wine's log was read on the host before the cleanup")
			host := strings.ToLower(logText(rawLog))
			assert.Contains(t, host, strings.ToLower(winePublic),
				"Wine's log on the host holds the public value (so the checks below mean something)")
			for _, v := range []string{wineSecret, secretProps[0].Value, strings.ReplaceAll(secretProps[0].Value, `"`, "")} {
				assert.NotContains(t, host, strings.ToLower(v), "a secret value left in the log on the host")
			}
			engineSide := []string{res.Log.Excerpt(200), res.Log.ProductName}
			if err != nil {
				engineSide = append(engineSide, err.Error())
				if de, ok := derrors.As(err); ok {
					engineSide = append(engineSide, de.Detail)
				}
			}
			summary, jerr := json.Marshal(res.Log)
			require.NoError(t, jerr)
			for _, d := range append(engineSide, string(summary)) {
				assertNoSecret(t, "what RunInstaller returns", d)
				for _, v := range []string{winePublic, wineSecret} {
					assert.NotContains(t, d, v, "what RunInstaller returns holds a property value")
				}
			}
			assert.Equal(t, tc.code, res.ExitCode)
			assert.NoError(t, res.CleanupErr)
			require.NotNil(t, res.Log, "the installation's log was read back")
			assert.Positive(t, res.Log.Lines)
			installed, perr := w.Path(tc.installed)
			require.NoError(t, perr)
			switch tc.code {
			case 0:
				require.NoError(t, err)
				assert.Equal(t, uint32(0), run.Final.Win32ExitCode)
				want, rerr := os.ReadFile(filepath.Join("msi", "testdata", "hello.txt"))
				require.NoError(t, rerr)
				got, rerr := os.ReadFile(installed)
				require.NoError(t, rerr, "the package installed its file into the prefix")
				assert.Equal(t, string(want), string(got))
				assert.Equal(t, "Nexthink Test Collector", res.Log.ProductName)
			case 3010:
				require.NoError(t, err, "a reboot needed is a success")
				assert.True(t, res.RebootNeeded)
				require.NotNil(t, res.Notice)
				assert.Equal(t, "successful installation(reboot needed)", res.Notice.Message())
				assert.Equal(t, uint32(3010), run.Final.ServiceExitCode)
				assert.FileExists(t, installed)
			default:
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
				// Wine's service manager expands %SystemRoot% as C:\windows.
				assert.Contains(t, strings.ToLower(de.Detail), strings.ToLower(`OriginalDatabase = C:\Windows\nxdeploy-`+tc.id+`\package.msi`),
					"the excerpt comes from the log of our package")
				assert.NotContains(t, de.Detail, wineSecret)
				assert.Regexp(t, `Action ended [0-9:]+: INSTALL\. Return value`, de.Detail, "the excerpt shows how the install ended")
				assert.Equal(t, "LaunchConditions", res.Log.LastAction, "the last action Windows Installer started")
				assert.Equal(t, "Nexthink Failing Test", res.Log.ProductName)
				assert.NoDirExists(t, installed, "nothing installed")
				assert.False(t, errors.Is(err, derrors.UnknownError))
			}
			h.assertClean(t, ctx, "nxdeploy-"+tc.id)
		})
	}
}

// testWineCancel cancels RunInstaller while Windows Installer runs the
// slow package's installation script: the library stops the service, the
// service answers Windows Installer with IDCANCEL, the product rolls back
// (1602 in Wine's SCM), and the library removes everything. Before that,
// the progress events carried Windows Installer's actions and percentages.
func testWineCancel(t *testing.T, w *winelab.Wine) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pkg := buildWineMSI(t, filepath.Join("internal", "remotesvc", "testdata"), "slow.wxs")
	h := wineHost{winelab.StartHost(t, w, winelab.HostOptions{Program: winelab.ProgramOptions{Logf: t.Logf}})}
	conn := h.connect(t, ctx)
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		stoppedAt time.Time
		actions   []string
		percents  []int
		seen      pushed
	)
	res, err := deployer.RunInstaller(ictx, conn, deployer.Package{Path: pkg}, deployer.InstallOptions{
		DeploymentID:     "winecancel",
		PollInterval:     100 * time.Millisecond,
		Properties:       []msi.Property{{Name: "SERVER", Value: winePublic}, {Name: "TENANTKEY", Value: wineSecret}},
		SecretProperties: []string{"TENANTKEY"},
		Progress: func(p deployer.InstallProgress) {
			if p.Phase != "install" || !stoppedAt.IsZero() {
				return
			}
			// The slow package gives time to read Wine's configuration of
			// the service (its ImagePath in the registry) while it runs.
			seen.observe(ctx, h, "winecancel")
			actions = append(actions, p.Action)
			if p.Percent >= 0 {
				percents = append(percents, p.Percent)
			}
			// Inside the script, past its first action: the progress is
			// polled, so under load Script2 itself may be missed.
			if strings.HasPrefix(p.Action, "Script") && !strings.HasPrefix(p.Action, "Script1") {
				t.Logf("cancelling during %s (%d%%)", p.Action, p.Percent)
				stoppedAt = time.Now()
				stop()
			}
		},
	})
	require.False(t, stoppedAt.IsZero(), "the install reached the script past Script1: %v", err)
	t.Logf("progress before the cancel: actions %v, percentages %v", actions, percents)
	assert.NotEmpty(t, percents, "Windows Installer's percentages reached the progress events")
	dir := `%SystemRoot%\nxdeploy-winecancel`
	assert.Contains(t, seen.qc, dir+`\nxsvc.exe `+dir, "Wine's SCM holds the service and its directory as ImagePath, which it expands")
	for _, v := range []string{winePublic, wineSecret} {
		assert.NotContains(t, seen.qc, v, "no property value in the service's configuration")
	}
	require.ErrorIs(t, err, context.Canceled)
	t.Logf("RunInstaller returned %v after the cancel", time.Since(stoppedAt).Round(time.Millisecond))
	require.NotNil(t, res)
	assert.NoError(t, res.CleanupErr)
	runs := h.Runs()
	require.Len(t, runs, 1)
	assert.True(t, runs[0].StopRequested)
	assert.Equal(t, uint32(1066), runs[0].Final.Win32ExitCode)
	assert.Equal(t, uint32(1602), runs[0].Final.ServiceExitCode, "Windows Installer rolled back: ERROR_INSTALL_USEREXIT")
	_, err = w.Run(ctx, "reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\{4E580000-0000-4000-8000-000000000040}`)
	assert.Error(t, err, "the product is not registered")
	installDir, err := w.Path(`C:\Program Files\NxSlow`)
	require.NoError(t, err)
	assert.NoDirExists(t, installDir)
	h.assertClean(t, ctx, "nxdeploy-winecancel")
}

// signedBuild signs the deployer's own service for arch with a throwaway
// self-signed code-signing certificate (openssl, osslsigncode), checks the
// signature, and returns the signed binary.
func signedBuild(t *testing.T, arch string) []byte {
	t.Helper()
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", key, "-out", cert, "-days", "2",
		"-nodes", "-subj", "/CN=nxdeploy throwaway test signer", "-addext", "extendedKeyUsage=codeSigning").CombinedOutput()
	require.NoError(t, err, "%s", out)
	b, err := deployer.ServiceBinary(arch)
	require.NoError(t, err)
	in, signed := filepath.Join(dir, "nxsvc.exe"), filepath.Join(dir, "nxsvc-signed.exe")
	require.NoError(t, os.WriteFile(in, b, 0o644))
	out, err = exec.Command("osslsigncode", "sign", "-certs", cert, "-key", key, "-n", "nxsvc", "-h", "sha256",
		"-in", in, "-out", signed).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", signed).CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "Signature verification: ok")
	s, err := os.ReadFile(signed)
	require.NoError(t, err)
	return s
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	require.NoError(t, err)
	return r
}
