package deployer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/remotesvc"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// testPackage is a real (tiny) MSI built with wixl; see msi/testdata.
const testPackage = "msi/testdata/ok.msi"

// emulated is an emulated Windows host whose service manager runs the
// model of our remote service.
type emulated struct {
	*deployertest.Host
}

type hostOpts struct {
	installer deployertest.Installer
	start     time.Duration
	win       []deployertest.Option
	noWOW64   bool
	// services are preloaded besides the default ones.
	services []deployertest.Service
}

func startEmulated(t *testing.T, o hostOpts) *emulated {
	t.Helper()
	root := t.TempDir()
	admin := filepath.Join(root, "C", "Windows")
	if !o.noWOW64 {
		require.NoError(t, os.MkdirAll(filepath.Join(admin, "SysWOW64"), 0o755))
	}
	if o.start == 0 {
		o.start = 2 * time.Second
	}
	opts := []deployertest.Option{deployertest.WithRoot(root), deployertest.WithStartTimeout(o.start),
		deployertest.WithInstaller(o.installer)}
	if o.services != nil {
		opts = append(opts, deployertest.WithServices(o.services...))
	}
	opts = append(opts, o.win...)
	h := deployertest.Start(t, opts...)
	return &emulated{Host: h}
}

func (e *emulated) connectConfig() deployer.ConnectConfig {
	return deployer.ConnectConfig{SMB: smb.Config{
		Credentials:    smb.Credentials{User: e.User, Password: e.Password},
		Port:           e.Port,
		ConnectTimeout: 2 * time.Second,
		RequestTimeout: 10 * time.Second,
	}}
}

func (e *emulated) target() discovery.Host {
	return discovery.Host{Name: e.Name, Addr: netip.MustParseAddr(e.IP)}
}

// assertClean checks the host holds no service and no file of ours.
func (e *emulated) assertClean(t *testing.T) {
	t.Helper()
	for _, s := range e.Services() {
		assert.False(t, strings.HasPrefix(strings.ToLower(s.Name), "nxdeploy-"), "service %s left on the host", s.Name)
	}
	for _, name := range e.Tasks() {
		assert.False(t, strings.HasPrefix(strings.ToLower(name), "nxdeploy-"), "task %s left on the host", name)
	}
	entries, err := os.ReadDir(e.AdminDir)
	require.NoError(t, err)
	for _, en := range entries {
		assert.False(t, strings.HasPrefix(strings.ToLower(en.Name()), "nxdeploy"), "ADMIN$\\%s left on the host", en.Name())
	}
}

func connect(t *testing.T, e *emulated) *deployer.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := deployer.Connect(ctx, e.target(), e.connectConfig())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRunInstallerOutcomes(t *testing.T) {
	cases := []struct {
		name     string
		outcome  uint32
		kind     derrors.Kind
		reason   derrors.Reason
		message  string
		reboot   bool
		retry    derrors.RetryClass
		excerpts bool
	}{
		{name: "success", outcome: 0},
		{name: "reboot needed", outcome: 3010, reboot: true},
		{name: "reboot initiated", outcome: 1641, reboot: true},
		{name: "another install running", outcome: 1618, kind: derrors.MSIError, reason: derrors.ReasonInstallInProgress,
			message: "MSI error (1618)", retry: derrors.RetryBackoff},
		{name: "fatal", outcome: 1603, kind: derrors.MSIError, message: "MSI error (1603)", excerpts: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{c.outcome}, Duration: 300 * time.Millisecond}})
			conn := connect(t, e)
			var phases []string
			res, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{Path: testPackage},
				deployer.InstallOptions{Progress: func(p deployer.InstallProgress) {
					if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
						phases = append(phases, p.Phase)
					}
				}})
			require.NotNil(t, res)
			assert.Equal(t, c.outcome, res.ExitCode)
			assert.Equal(t, c.reboot, res.RebootNeeded)
			assert.NoError(t, res.CleanupErr)
			assert.Equal(t, []string{"upload", "start", "install", "cleanup"}, phases)
			if c.kind == 0 {
				require.NoError(t, err)
				if c.reboot {
					require.NotNil(t, res.Notice)
					assert.Equal(t, "successful installation(reboot needed)", res.Notice.Message())
				}
			} else {
				require.Error(t, err)
				de, ok := derrors.As(err)
				require.True(t, ok)
				assert.Equal(t, c.kind, de.Kind)
				assert.Equal(t, c.reason, de.Reason)
				assert.Equal(t, c.message, de.Message())
				assert.Equal(t, derrors.StepMSIExec, de.Step)
				assert.Equal(t, c.retry, derrors.Retry(err))
				assert.Equal(t, e.Name, de.Host)
				if c.excerpts {
					assert.NotEmpty(t, de.Detail, "the log excerpt is attached")
				}
			}
			if c.kind == 0 {
				assert.Nil(t, res.Log, "a success's log is not read back (the host deletes it)")
			} else {
				require.NotNil(t, res.Log, "a failure's log is read back")
			}
			e.assertClean(t)
		})
	}
}

// TestMSIFailureCarriesItsRepro: an MSI failure says, beside the error
// table's verbatim solution, the exact msiexec command that reproduces it
// by hand with a verbose log: ASCII options, the package's own name, and
// each property's name with a placeholder, never its value.
func TestMSIFailureCarriesItsRepro(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{1603}, Duration: 100 * time.Millisecond}})
	conn := connect(t, e)
	_, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{Path: testPackage},
		deployer.InstallOptions{Properties: []msi.Property{{Name: "TENANTKEY", Value: "k3y-9f2c"}, {Name: "SERVER", Value: "engine.example"}}})
	require.Error(t, err)
	info := deployer.NewErrorInfo(e.Name, err)
	want := `msiexec /i "` + filepath.Base(testPackage) + `" /qn /norestart /l*v "C:\Temp\MSI_logs.txt" ` +
		`TENANTKEY="<TENANTKEY value>" SERVER="<SERVER value>"`
	assert.Equal(t, want, info.Repro)
	for _, r := range info.Repro {
		assert.Less(t, r, rune(0x80), "ASCII only: %q", info.Repro)
	}
	assert.Contains(t, info.Solution, "msiexec –i NEXThink_Updater.msi", "the table's text stays verbatim")
	b, err := json.Marshal(info)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "k3y-9f2c")
	assert.NotContains(t, string(b), "engine.example")
	e.assertClean(t)
}

func TestRunInstallerCancelledMidInstallLeavesNothing(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: time.Minute}})
	conn := connect(t, e)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		_, err = deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage},
			deployer.InstallOptions{Progress: func(p deployer.InstallProgress) {
				if p.Phase == "install" {
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
	e.assertClean(t)
}

func TestRunInstallerServiceNeverStarts(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{NeverRunning: true}, start: 500 * time.Millisecond})
	conn := connect(t, e)
	_, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, derrors.WindowsError)
	assert.ErrorIs(t, err, derrors.ReasonServiceStartTimeout)
	de, _ := derrors.As(err)
	assert.Equal(t, "windows error (1053)", de.Message())
	assert.Equal(t, derrors.StepStartService, de.Step)
	e.assertClean(t)
}

func TestRunInstallerUNCPackageUnreadable(t *testing.T) {
	e := startEmulated(t, hostOpts{})
	conn := connect(t, e)
	// The emulated host cannot reach any share: msiexec fails to open the
	// package, which the Deployer documentation calls a file access failure.
	_, err := deployer.RunInstaller(context.Background(), conn,
		deployer.Package{UNC: `\\10.0.0.1\nxshare\NEXThink_Updater.msi`}, deployer.InstallOptions{})
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, derrors.FileAccessFailure, de.Kind, "%v", err)
	assert.Equal(t, derrors.ReasonPackageUnreadable, de.Reason)
	assert.Equal(t, derrors.MSIExitCode(1619), de.Code)
	assert.Equal(t, "file access failure", de.Message())
	assert.Contains(t, de.Solution(), `\\Engine_IP\nxshare\`)
	bad, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{UNC: `C:\not\unc.msi`}, deployer.InstallOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, derrors.FileAccessFailure)
	assert.NotNil(t, bad)
	e.assertClean(t)
}

func TestRunInstallerRejectsBadPackageBeforeTouchingHost(t *testing.T) {
	e := startEmulated(t, hostOpts{})
	conn := connect(t, e)
	notMSI := filepath.Join(t.TempDir(), "x.msi")
	require.NoError(t, os.WriteFile(notMSI, []byte("MZ this is not an msi"), 0o600))
	_, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{Path: notMSI}, deployer.InstallOptions{})
	require.Error(t, err)
	assert.ErrorIs(t, err, derrors.InstallationError)
	assert.Contains(t, err.Error(), notMSI)
	e.assertClean(t)
}

func TestPushServiceQuarantined(t *testing.T) {
	for name, mode := range map[string]deployertest.AVMode{"deleted": deployertest.AVDelete, "blocked": deployertest.AVBlock} {
		t.Run(name, func(t *testing.T) {
			av := deployertest.Antivirus{Mode: mode, Match: func(n string) bool { return strings.Contains(strings.ToLower(n), "nxsvc") }}
			e := startEmulated(t, hostOpts{win: []deployertest.Option{deployertest.WithAntivirus(av)}})
			conn := connect(t, e)
			_, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
			require.Error(t, err)
			assert.ErrorIs(t, err, derrors.ReasonQuarantined, "%v", err)
			assert.ErrorIs(t, err, derrors.WindowsError)
			e.assertClean(t)
		})
	}
}

func TestPushServiceReuseAndSweep(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: time.Minute}})
	conn := connect(t, e)
	ctx := context.Background()

	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "run-1"})
	require.NoError(t, err)
	assert.False(t, rs.Reused)
	assert.Equal(t, "nxdeploy-run-1", rs.Name)
	assert.FileExists(t, filepath.Join(e.AdminDir, "nxdeploy-run-1", "nxsvc.exe"))

	// The same deployment again: our service is found, stopped and reused.
	again, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "run-1"})
	require.NoError(t, err)
	assert.True(t, again.Reused)
	assert.Equal(t, rs.SHA256, again.SHA256)

	require.NoError(t, rs.Close())
	require.NoError(t, again.Close())

	// Someone else's service with a similar name is never touched.
	other, err := conn.ServiceManager().CreateService(ctx, "nxdeployer-other", "", `C:\Windows\other.exe`, svcctl.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, other.Close())
	require.NoError(t, os.MkdirAll(filepath.Join(e.AdminDir, "nxdeploy", "run-2"), 0o755))

	left, err := deployer.Sweep(ctx, conn, func(id string) bool { return false })
	require.NoError(t, err)
	ids := map[string]deployer.Leftover{}
	for _, l := range left {
		ids[l.DeploymentID] = l
	}
	assert.True(t, ids["run-1"].Service && ids["run-1"].Dir)
	assert.True(t, ids["run-2"].Dir && !ids["run-2"].Service)
	e.assertClean(t)
	_, ok := e.Service("nxdeployer-other")
	assert.True(t, ok, "a service without our exact prefix is kept")
}

func TestConnectFailuresAreTyped(t *testing.T) {
	cases := []struct {
		name   string
		opts   []deployertest.Option
		user   string
		reason derrors.Reason
		kind   derrors.Kind
		step   derrors.Step
	}{
		{"wrong password", nil, "wrong", derrors.ReasonBadCredentials, derrors.LogonFailure, derrors.StepLogon},
		{"ADMIN$ missing", []deployertest.Option{deployertest.WithoutAdminShare()}, "", derrors.ReasonAdminShareMissing, derrors.SharedAccessFailure, derrors.StepTreeConnect},
		{"UAC remote restrictions", []deployertest.Option{deployertest.WithUACRemoteRestrictions()}, "", derrors.ReasonAdminShareDenied, derrors.SharedAccessFailure, derrors.StepTreeConnect},
		{"locked out", []deployertest.Option{deployertest.WithAccountLockedOut()}, "", derrors.ReasonAccountLockedOut, derrors.LogonFailure, derrors.StepLogon},
		{"guest only", []deployertest.Option{deployertest.WithGuestOnly()}, "", derrors.ReasonGuestOnly, derrors.LogonFailure, derrors.StepLogon},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := startEmulated(t, hostOpts{win: c.opts})
			cfg := e.connectConfig()
			if c.user == "wrong" {
				cfg.SMB.Credentials.Password = "not-the-password"
			}
			_, err := deployer.Connect(context.Background(), e.target(), cfg)
			require.Error(t, err)
			de, ok := derrors.As(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, c.kind, de.Kind, "%v", err)
			assert.Equal(t, c.reason, de.Reason, "%v", err)
			assert.Equal(t, c.step, de.Step, "%v", err)
			assert.Equal(t, e.Name, de.Host)
			assert.False(t, errors.Is(err, derrors.UnknownError))
		})
	}
}

func TestRunInstallerConnectionDroppedMidUpload(t *testing.T) {
	// Every connection is cut after 20 KiB: the package (10 KiB) and the
	// service binary (18 KiB) cannot both be pushed. Cleanup then goes over
	// a fresh connection.
	e := startEmulated(t, hostOpts{win: []deployertest.Option{deployertest.WithDropAfterBytes(20 << 10)}})
	conn := connect(t, e)
	res, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, derrors.StepUpload, de.Step, "%v", err)
	assert.Equal(t, e.Name, de.Host)
	require.NotNil(t, res)
	assert.NoError(t, res.CleanupErr)
	e.assertClean(t) // no partial upload is left
}

func TestRunInstallerServiceMarkedForDelete(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: time.Minute}})
	conn := connect(t, e)
	ctx := context.Background()
	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "same"})
	require.NoError(t, err)
	_, err = rs.Stop(ctx)
	require.NoError(t, err)
	// Someone (a Services console, say) holds the service open while it is
	// deleted: it lingers, marked for delete.
	holder := connect(t, e)
	held, err := holder.ServiceManager().OpenService(ctx, rs.Name, svcctl.ServiceQueryStatus)
	require.NoError(t, err)
	svc, err := conn.ServiceManager().OpenService(ctx, rs.Name, svcctl.ServiceAllAccess)
	require.NoError(t, err)
	require.NoError(t, svc.Delete(ctx))
	require.NoError(t, svc.Close())
	require.NoError(t, rs.Close())
	release := time.AfterFunc(time.Second, func() { held.Close() })
	defer release.Stop()

	// A deployment with the same id meets ERROR_SERVICE_MARKED_FOR_DELETE;
	// its cleanup waits until the service is gone.
	_, err = deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{DeploymentID: "same"})
	require.Error(t, err)
	assert.ErrorIs(t, err, derrors.ReasonServiceMarkedForDelete, "%v", err)
	assert.Equal(t, derrors.RetryBackoff, derrors.Retry(err))
	de, _ := derrors.As(err)
	assert.Equal(t, "windows error (1072)", de.Message())
	e.assertClean(t)
	_, exists := e.Service(rs.Name)
	assert.False(t, exists)
}

func TestPushServiceReplacesADifferentBinary(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: time.Minute}})
	conn := connect(t, e)
	ctx := context.Background()
	first, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "swap"})
	require.NoError(t, err)
	require.NoError(t, first.Close())

	// The same deployment with another binary (the x86 build, for a host
	// said to be x86; it also runs on this x64 host): our service is
	// stopped, reused, and its binary replaced.
	other, err := remotesvc.Binary("386")
	require.NoError(t, err)
	second, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "swap", Binary: other, Arch: "386", VerifySHA256: true})
	require.NoError(t, err)
	assert.True(t, second.Reused)
	assert.NotEqual(t, first.SHA256, second.SHA256)
	onHost, err := os.ReadFile(filepath.Join(e.AdminDir, "nxdeploy-swap", "nxsvc.exe"))
	require.NoError(t, err)
	assert.Equal(t, other, onHost, "the host runs the new binary")
	// It was started again: with no job it reports a bad job and stops.
	require.Eventually(t, func() bool {
		st, err := second.Status(ctx)
		return err == nil && st.State == svcctl.Stopped && st.ServiceSpecificExitCode == job.CodeBadJob
	}, 10*time.Second, 20*time.Millisecond)
	require.NoError(t, second.Remove(ctx))
	e.assertClean(t)
}

// TestRunInstallerOnAnotherSystemRoot deploys to a host whose Windows
// directory is D:\WINNT (and which has no C:\Windows): the service's
// binary path names it %SystemRoot%, which the host's service manager
// expands, and SystemRoot asks srvsvc where ADMIN$ is.
func TestRunInstallerOnAnotherSystemRoot(t *testing.T) {
	e := startEmulated(t, hostOpts{win: []deployertest.Option{deployertest.WithSystemRoot(`D:\WINNT`)},
		installer: deployertest.Installer{Outcomes: []uint32{0}}})
	ctx := context.Background()
	conn, err := deployer.Connect(ctx, e.target(), e.connectConfig())
	require.NoError(t, err)
	defer conn.Close()
	assert.Equal(t, `D:\WINNT`, conn.SystemRoot())

	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "sysroot"})
	require.NoError(t, err)
	assert.Equal(t, `%SystemRoot%\nxdeploy-sysroot\nxsvc.exe`, rs.BinaryPath)
	require.NoError(t, rs.Remove(ctx))

	// The remote service finds its directory under D:\WINNT.
	res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
	require.NoError(t, err)
	assert.Equal(t, uint32(0), res.ExitCode)
	e.assertClean(t)

	cfg := e.connectConfig()
	cfg.SystemRoot = `E:\Win\`
	other, err := deployer.Connect(ctx, e.target(), cfg)
	require.NoError(t, err)
	defer other.Close()
	assert.Equal(t, `E:\Win`, other.SystemRoot(), "a configured root is used as is")
}

// TestRunInstallerCrashIsNotAnMSIResult: an exception code from the host
// (msiexec or the service crashed: 0xC0000005) is a typed crash naming the
// NTSTATUS, not "MSI error (3221225477)".
func TestRunInstallerCrashIsNotAnMSIResult(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{0xC0000005}}})
	conn := connect(t, e)
	res, err := deployer.RunInstaller(context.Background(), conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok)
	assert.Equal(t, derrors.WindowsError, de.Kind)
	assert.Equal(t, derrors.ReasonProcessCrashed, de.Reason)
	assert.Equal(t, derrors.NTStatusCode(0xC0000005), de.Code)
	assert.Equal(t, "windows error (0xC0000005)", de.Message())
	assert.Contains(t, err.Error(), "STATUS_ACCESS_VIOLATION")
	assert.NotContains(t, err.Error(), "3221225477")
	assert.Contains(t, de.Solution(), "event log")
	assert.False(t, res.Exited)
	assert.Equal(t, uint32(0), res.ExitCode, "no msiexec exit code is reported")
	assert.Equal(t, derrors.NoRetry, derrors.Retry(err))
	e.assertClean(t)
}

// TestRunInstallerBoundsSizes: a property value, a name or all properties
// too long for a command line are refused before the host is touched, with
// an error naming the property (never its value).
func TestRunInstallerBoundsSizes(t *testing.T) {
	e := startEmulated(t, hostOpts{})
	conn := connect(t, e)
	many := make([]msi.Property, 5)
	for i := range many {
		many[i] = msi.Property{Name: fmt.Sprintf("P%d", i), Value: strings.Repeat("v", 5000+i)}
	}
	cases := []struct {
		name  string
		props []msi.Property
		pkg   deployer.Package
		names string
	}{
		{"20 KB value", []msi.Property{{Name: "SERVER", Value: "e1"}, {Name: "CERT", Value: strings.Repeat("A", 20<<10)}}, deployer.Package{Path: testPackage}, `"CERT"`},
		{"long name", []msi.Property{{Name: strings.Repeat("N", 100), Value: "x"}}, deployer.Package{Path: testPackage}, "more than 72"},
		{"all together", many, deployer.Package{Path: testPackage}, `"P4"`},
		{"long UNC path", nil, deployer.Package{UNC: `\\engine\share\` + strings.Repeat("d", 300) + `.msi`}, "package path"},
	}
	t.Run("service arguments", func(t *testing.T) {
		_, err := deployer.PushService(context.Background(), conn, deployer.ServiceSpec{Args: []string{strings.Repeat("a", 40000)}})
		require.Error(t, err)
		assert.ErrorIs(t, err, derrors.ReasonInvalidInput)
		assert.Contains(t, err.Error(), "more than Windows starts (32767)")
		e.assertClean(t)
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := deployer.RunInstaller(context.Background(), conn, c.pkg, deployer.InstallOptions{Properties: c.props})
			require.Error(t, err)
			assert.ErrorIs(t, err, derrors.ReasonInvalidInput)
			assert.ErrorIs(t, err, derrors.InstallationError)
			assert.Contains(t, err.Error(), c.names)
			assert.NotContains(t, err.Error(), "AAAA", "the value is not in the error")
			if c.pkg.UNC == "" {
				assert.ErrorIs(t, err, msi.ErrTooLong)
			}
			e.assertClean(t)
		})
	}
}
