package deployer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
)

func TestValidateDeploymentID(t *testing.T) {
	good := []string{"a", "0", "3f2a9c1b7e4d", "run-1", "Run_2", "v1.2.3", "com10", "lpt", "console", strings.Repeat("x", 40)}
	for _, id := range good {
		assert.NoError(t, deployer.ValidateDeploymentID(id), "%q", id)
	}
	bad := []string{"", ".", "..", "...", ".x", "-x", "_x", "x.", "a/b", `a\b`, "a b", "a:b", "é", "x\u202Ey", "x\x00",
		"CON", "con", "Nul", "aux.log", "COM1", "lpt9.txt", "PRN", strings.Repeat("x", 41)}
	for _, id := range bad {
		err := deployer.ValidateDeploymentID(id)
		require.Error(t, err, "%q", id)
		assert.ErrorIs(t, err, deployer.ErrInvalidName)
		var ne *deployer.NameError
		require.ErrorAs(t, err, &ne)
		assert.Equal(t, id, ne.Name)
	}
	assert.Contains(t, deployer.ValidateDeploymentID("x\u202Ey").Error(), `"x\u202ey"`, "a bidi override is shown escaped")
	assert.NoError(t, deployer.ValidateDeploymentID(deployer.NewDeploymentID()))
}

func TestConnectRejectsUnsafePrefixAndSystemRoot(t *testing.T) {
	e := startEmulated(t, hostOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, c := range []struct{ prefix, root string }{
		{prefix: ".."}, {prefix: "nx.deploy"}, {prefix: "CON"}, {prefix: "9nx"}, {prefix: strings.Repeat("n", 25)},
		{root: `C:\Windows\..`}, {root: `C:\Windows" & evil`}, {root: `\\server\share`}, {root: `C:\` + strings.Repeat("w", 200)},
	} {
		cfg := e.connectConfig()
		cfg.Prefix, cfg.SystemRoot = c.prefix, c.root
		_, err := deployer.Connect(ctx, e.target(), cfg)
		require.Error(t, err, "%+v", c)
		assert.ErrorIs(t, err, derrors.ReasonInvalidInput, "%+v", c)
	}
}

// windowsFiles are files every Windows directory has, planted in the
// emulated C:\Windows so a test can tell whether a cleanup reached them.
var windowsFiles = []string{
	`System32/kernel32.dll`,
	`System32/drivers/etc/hosts`,
	`win.ini`,
	`Temp/setup.tmp`,
	`nxdeploy/other1/package.msi`, // another deployment of ours, still running
	`nxdeploy/other1/nxsvc.exe`,
}

// foreignServices are services that are not ours although their names start
// with our prefix.
var foreignServices = []deployertest.Service{
	{Name: "nxdeploy-..", StartType: "DEMAND_START", BinaryPath: `%SystemRoot%\System32\svchost.exe -k foreign`},
	{Name: "nxdeploy-.", StartType: "DEMAND_START", BinaryPath: `%SystemRoot%\System32\svchost.exe -k foreign`},
	{Name: "nxdeploy-agent", StartType: "AUTO_START", BinaryPath: `"C:\Program Files\Agent\agent.exe" --service`},
}

// plantWindows writes windowsFiles under the host's ADMIN$.
func plantWindows(t *testing.T, e *emulated) {
	t.Helper()
	for _, f := range windowsFiles {
		p := filepath.Join(e.AdminDir, filepath.FromSlash(f))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(f), 0o644))
	}
}

// assertWindowsIntact checks that every planted file and every foreign
// service is still there.
func assertWindowsIntact(t *testing.T, e *emulated) {
	t.Helper()
	for _, f := range windowsFiles {
		assert.FileExists(t, filepath.Join(e.AdminDir, filepath.FromSlash(f)), "a file outside the deployment directory was deleted")
	}
	for _, s := range foreignServices {
		_, ok := e.Service(s.Name)
		assert.True(t, ok, "the foreign service %q was deleted", s.Name)
	}
}

// assertNoServiceOf checks that no service of deployment id is left.
func assertNoServiceOf(t *testing.T, e *emulated, name string) {
	t.Helper()
	for _, s := range e.Services() {
		if s.Name == name && !s.MarkedForDelete {
			for _, f := range foreignServices {
				if f.Name == name {
					return // the foreign one, checked by assertWindowsIntact
				}
			}
			t.Errorf("service %q left on the host", name)
		}
	}
}

// TestUnsafeDeploymentIDsTouchNothing: a deployment ID that is not a plain
// name ("..", "." and their kin) is refused before anything reaches the
// host, by RunInstaller and PushService alike; before it was, ".." made the
// cleanup delete C:\Windows and "." every deployment under nxdeploy.
func TestUnsafeDeploymentIDsTouchNothing(t *testing.T) {
	ids := []string{"..", ".", "...", ".hidden", "run.", "CON", "nul.txt", "a/../..", `..\..`, "x\u202Ey", " run", ""}
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: 100 * time.Millisecond}, services: foreignServices})
	plantWindows(t, e)
	conn := connect(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, id := range ids {
		if id == "" {
			continue // "" asks for a fresh random ID
		}
		t.Run(fmt.Sprintf("RunInstaller %q", id), func(t *testing.T) {
			_, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{DeploymentID: id})
			require.Error(t, err)
			assert.ErrorIs(t, err, deployer.ErrInvalidName)
			assert.ErrorIs(t, err, derrors.ReasonInvalidInput)
			assert.Contains(t, err.Error(), fmt.Sprintf("%q", id), "the error names the ID, invisible characters escaped")
			assertWindowsIntact(t, e)
			assertNoServiceOf(t, e, "nxdeploy-"+id)
			assert.NoFileExists(t, filepath.Join(e.AdminDir, "package.msi"))
		})
		t.Run(fmt.Sprintf("PushService %q", id), func(t *testing.T) {
			rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: id})
			if rs != nil {
				_ = rs.Remove(ctx)
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, deployer.ErrInvalidName)
			assertWindowsIntact(t, e)
			assertNoServiceOf(t, e, "nxdeploy-"+id)
			assert.NoFileExists(t, filepath.Join(e.AdminDir, "nxsvc.exe"))
		})
	}
}

// TestSweepTouchesOnlyOurDeployments: Sweep removes our leftovers and
// nothing else: not a service whose name merely starts with our prefix
// ("nxdeploy-..", "nxdeploy-agent" with its own binary elsewhere), not
// ADMIN$'s contents, not a deployment the caller keeps.
func TestSweepTouchesOnlyOurDeployments(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: time.Minute}, services: foreignServices})
	plantWindows(t, e)
	conn := connect(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "run-1"})
	require.NoError(t, err)
	require.NoError(t, rs.Close())
	// run-2 as versions before 2026-12 left it, run-3 as this one does.
	require.NoError(t, os.MkdirAll(filepath.Join(e.AdminDir, "nxdeploy", "run-2"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(e.AdminDir, "nxdeploy-run-3"), 0o755))

	left, err := deployer.Sweep(ctx, conn, func(id string) bool { return id == "other1" })
	require.NoError(t, err)
	var ids []string
	for _, l := range left {
		ids = append(ids, l.DeploymentID)
	}
	assert.ElementsMatch(t, []string{"run-1", "run-2", "run-3"}, ids)
	assertWindowsIntact(t, e)
	assertNoServiceOf(t, e, "nxdeploy-run-1")
	assert.NoDirExists(t, filepath.Join(e.AdminDir, "nxdeploy-run-1"))
	assert.NoDirExists(t, filepath.Join(e.AdminDir, "nxdeploy", "run-2"))
	assert.NoDirExists(t, filepath.Join(e.AdminDir, "nxdeploy-run-3"))

	// A deployment named like a foreign service ("nxdeploy-agent") neither
	// reuses nor removes it.
	_, err = deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{DeploymentID: "agent"})
	require.Error(t, err)
	assert.ErrorIs(t, err, derrors.ReasonServiceNameTaken)
	agent, ok := e.Service("nxdeploy-agent")
	require.True(t, ok)
	assert.Equal(t, foreignServices[2].BinaryPath, agent.BinaryPath, "the foreign service was not reconfigured")
	assert.False(t, agent.MarkedForDelete)
	assertWindowsIntact(t, e)
}

// TestCleanupStaysInsideTheDeploymentDirectory: links inside a deployment
// directory (junctions and symbolic links on Windows, reported as reparse
// points) are removed themselves, never followed; older versions' prefix
// directory that is itself a link is refused; a tree deeper or larger than
// a deployment's is refused whole.
func TestCleanupStaysInsideTheDeploymentDirectory(t *testing.T) {
	t.Run("links inside", func(t *testing.T) {
		e := startEmulated(t, hostOpts{services: foreignServices})
		plantWindows(t, e)
		dir := filepath.Join(e.AdminDir, "nxdeploy", "evil1")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "install.log"), []byte("log"), 0o644))
		require.NoError(t, os.Symlink("../../System32", filepath.Join(dir, "sys")))
		require.NoError(t, os.Symlink("../../System32/kernel32.dll", filepath.Join(dir, "k.dll")))
		conn := connect(t, e)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := deployer.Sweep(ctx, conn, func(id string) bool { return id == "other1" })
		require.NoError(t, err)
		assertWindowsIntact(t, e)
		assert.NoDirExists(t, dir)
	})
	t.Run("prefix is a link", func(t *testing.T) {
		e := startEmulated(t, hostOpts{services: foreignServices})
		plantWindows(t, e)
		victim := filepath.Join(e.AdminDir, "System32", "abc123", "x.dll")
		require.NoError(t, os.MkdirAll(filepath.Dir(victim), 0o755))
		require.NoError(t, os.WriteFile(victim, []byte("x"), 0o644))
		require.NoError(t, os.Symlink("System32", filepath.Join(e.AdminDir, "nxlinked")))
		cfg := e.connectConfig()
		cfg.Prefix = "nxlinked"
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := deployer.Connect(ctx, e.target(), cfg)
		require.NoError(t, err)
		defer conn.Close()
		_, err = deployer.Sweep(ctx, conn, nil)
		assert.ErrorIs(t, err, deployer.ErrPrefixIsLink, "an older versions' prefix directory that is a link is refused")
		// A deployment does not go through it: its directory is
		// ADMIN$\nxlinked-abc123.
		_, err = deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{DeploymentID: "abc123"})
		assert.NoError(t, err)
		assert.FileExists(t, victim)
		assertWindowsIntact(t, e)
		entries, err := os.ReadDir(filepath.Join(e.AdminDir, "System32"))
		require.NoError(t, err)
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		assert.ElementsMatch(t, []string{"kernel32.dll", "drivers", "abc123"}, names, "nothing was written through the link")
		assert.NoDirExists(t, filepath.Join(e.AdminDir, "nxlinked-abc123"))
	})
	t.Run("deployment directory is a link", func(t *testing.T) {
		e := startEmulated(t, hostOpts{services: foreignServices})
		plantWindows(t, e)
		require.NoError(t, os.Symlink("System32", filepath.Join(e.AdminDir, "nxdeploy-planted1")))
		conn := connect(t, e)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, deployer.InstallOptions{DeploymentID: "planted1"})
		assert.ErrorIs(t, err, derrors.ReasonUnsafeDirectory)
		assertWindowsIntact(t, e)
		assert.NoFileExists(t, filepath.Join(e.AdminDir, "System32", "job"), "nothing was written through the link")
		assert.NoFileExists(t, filepath.Join(e.AdminDir, "System32", "package.msi"), "nothing was written through the link")
		// The link itself is removed, never what it points to.
		_, err = os.Lstat(filepath.Join(e.AdminDir, "nxdeploy-planted1"))
		assert.ErrorIs(t, err, os.ErrNotExist)
		assertNoServiceOf(t, e, "nxdeploy-planted1")
	})
	t.Run("too deep or too large", func(t *testing.T) {
		e := startEmulated(t, hostOpts{services: foreignServices})
		plantWindows(t, e)
		deep := filepath.Join(e.AdminDir, "nxdeploy", "deep1", "a", "b", "c", "d", "e", "f", "g")
		require.NoError(t, os.MkdirAll(deep, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(deep, "x.txt"), []byte("x"), 0o644))
		many := filepath.Join(e.AdminDir, "nxdeploy", "many1")
		require.NoError(t, os.MkdirAll(many, 0o755))
		for i := range 1100 {
			require.NoError(t, os.WriteFile(filepath.Join(many, fmt.Sprintf("f%04d", i)), nil, 0o644))
		}
		conn := connect(t, e)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		left, err := deployer.Sweep(ctx, conn, func(id string) bool { return id == "other1" })
		require.Error(t, err)
		for _, l := range left {
			assert.Error(t, l.Err, "%s", l.DeploymentID)
		}
		assert.FileExists(t, filepath.Join(deep, "x.txt"), "a tree deeper than a deployment's is refused whole")
		assert.FileExists(t, filepath.Join(many, "f0000"), "a tree larger than a deployment's is refused whole")
		assert.True(t, strings.Contains(err.Error(), "deep1") && strings.Contains(err.Error(), "many1"), "%v", err)
		assertWindowsIntact(t, e)
	})
}

// TestDeploymentsShareNoDirectory: a deployment's directory is
// ADMIN$\nxdeploy-<id>, nothing shared with other deployments: no run
// creates ADMIN$\nxdeploy (Sweep removes an empty one older versions
// left), and two deployments, one finishing while the other starts, many
// times over, all succeed.
func TestDeploymentsShareNoDirectory(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: 50 * time.Millisecond}})
	first, second := connect(t, e), connect(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	prefixDir := filepath.Join(e.AdminDir, "nxdeploy")

	require.NoError(t, os.MkdirAll(prefixDir, 0o755))
	left, err := deployer.Sweep(ctx, first, nil)
	require.NoError(t, err)
	assert.Empty(t, left)
	assert.NoDirExists(t, prefixDir, "Sweep removes an empty ADMIN$\\nxdeploy an older version left")

	_, err = deployer.RunInstaller(ctx, first, deployer.Package{Path: testPackage}, deployer.InstallOptions{
		Progress: func(p deployer.InstallProgress) {
			if p.Phase == "install" {
				assert.NoDirExists(t, prefixDir, "a deployment needs no ADMIN$\\nxdeploy")
			}
		}})
	require.NoError(t, err)

	for i := range 12 {
		delay := time.Duration(i%4) * 3 * time.Millisecond
		var (
			once   sync.Once
			errB   = make(chan error, 1)
			startB = func() {
				go func() {
					time.Sleep(delay)
					_, err := deployer.RunInstaller(ctx, second, deployer.Package{Path: testPackage}, deployer.InstallOptions{})
					errB <- err
				}()
			}
		)
		_, errA := deployer.RunInstaller(ctx, first, deployer.Package{Path: testPackage}, deployer.InstallOptions{
			Progress: func(p deployer.InstallProgress) {
				if p.Phase == "cleanup" {
					once.Do(startB)
				}
			}})
		require.NoError(t, errA, "round %d: the first deployment", i)
		require.NoError(t, <-errB, "round %d: the deployment that started while the first one cleaned up", i)
	}
	e.assertClean(t)
	assert.NoDirExists(t, prefixDir)
}

// TestSweepRemovesOurServiceWithALongCommandLine: a service of ours whose
// command line is longer than the 8 KiB of configuration the service
// manager returns is still recognised as ours (its program is in our
// deployment directory) and removed.
func TestSweepRemovesOurServiceWithALongCommandLine(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: time.Minute}})
	conn := connect(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "long1", Args: []string{strings.Repeat("j", 9000)}})
	require.NoError(t, err)
	require.NoError(t, rs.Close())
	left, err := deployer.Sweep(ctx, conn, nil)
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.True(t, left[0].Service && left[0].Dir)
	e.assertClean(t)
}
