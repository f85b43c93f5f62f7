package deployer_test

import (
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/winreg"
)

// startSlowFleet starts n healthy hosts whose installations take install.
func startSlowFleet(t *testing.T, n int, install time.Duration) *demo.Fleet {
	t.Helper()
	f, err := demo.Start(demo.Options{Faults: faultsOf(n, demo.Healthy), InstallTime: install})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

// waitFor polls cond until it holds or the test's patience runs out.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestScheduleCancelReschedule drives a long-lived Deployer as a console
// does: hosts scheduled while others install, one cancelled before it
// starts, one cancelled in flight, both rescheduled later.
func TestScheduleCancelReschedule(t *testing.T) {
	checkLeaks(t)
	f := startSlowFleet(t, 4, 1500*time.Millisecond)
	targets := f.Targets()
	cfg := fleetConfig(f)
	cfg.Concurrency = 1
	d, ev := newDeployer(t, cfg)

	require.NoError(t, d.Schedule(targets[0], targets[1]))
	waitFor(t, "the first host installing", func() bool {
		r, _ := d.Host(targets[0].Name)
		return r.State == deployer.Installing
	})
	// More hosts while the first installs; the second waits its turn.
	require.NoError(t, d.Schedule(targets[2], targets[3]))
	r, ok := d.Host(targets[1].Name)
	require.True(t, ok)
	assert.Equal(t, deployer.Scheduled, r.State)
	require.NoError(t, d.Cancel(targets[1].Name), "cancel a host waiting to start")
	r, _ = d.Host(targets[1].Name)
	assert.Equal(t, deployer.Discovered, r.State)
	require.NotNil(t, r.Error)
	assert.Equal(t, derrors.Cancelled, r.Error.Kind)
	require.NoError(t, d.Cancel(targets[0].Name), "cancel the host in flight")
	assert.ErrorIs(t, d.Cancel("no-such-host"), deployer.ErrUnknownHost)
	require.NoError(t, d.Wait(context.Background()))

	for _, i := range []int{0, 1} {
		r, _ := d.Host(targets[i].Name)
		assert.Equal(t, deployer.Discovered, r.State, "%s rests as Discovered", r.Key)
		evs := ev.of(r.Key)
		last := evs[len(evs)-1]
		require.NotNil(t, last.Error, r.Key)
		assert.Equal(t, derrors.Cancelled, last.Error.Kind)
		assert.Contains(t, last.Error.Error, "cancelled by the operator")
	}
	for _, i := range []int{2, 3} {
		r, _ := d.Host(targets[i].Name)
		assert.Equal(t, deployer.WithCollector, r.State)
	}
	assertFleetClean(t, f)

	require.NoError(t, d.Reschedule(targets[0].Name, targets[1].Name))
	require.NoError(t, d.Wait(context.Background()))
	assert.Equal(t, 4, d.Counts()[deployer.WithCollector])
	assert.ErrorIs(t, d.Reschedule("no-such-host"), deployer.ErrUnknownHost)
	sum := d.Summary()
	assert.Equal(t, 4, sum.Hosts)
}

// TestDrainLetsInstallsFinish: a drain starts nothing new and lets the
// installations under way finish; hosts not started rest as Discovered.
func TestDrainLetsInstallsFinish(t *testing.T) {
	checkLeaks(t)
	f := startSlowFleet(t, 6, time.Second)
	cfg := fleetConfig(f)
	cfg.Concurrency = 2
	d, ev := newDeployer(t, cfg)
	require.NoError(t, d.Schedule(f.Targets()...))
	waitFor(t, "two hosts installing", func() bool { return d.Counts()[deployer.Installing] == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, d.Drain(ctx))
	counts := d.Counts()
	assert.Equal(t, 2, counts[deployer.WithCollector])
	assert.Equal(t, 4, counts[deployer.Discovered])
	assert.Zero(t, counts[deployer.Installing]+counts[deployer.Scheduled])
	assert.ErrorIs(t, d.Schedule(f.Targets()...), deployer.ErrDraining)
	for _, r := range d.Hosts() {
		if r.State == deployer.Discovered {
			evs := ev.of(r.Key)
			assert.Contains(t, evs[len(evs)-1].Error.Error, "draining", r.Key)
		}
	}
	assertFleetClean(t, f)
}

// TestDrainDeadlineAborts: installations still running at the drain's
// deadline are stopped and cleaned up, and every host gets a final state and
// event, in the store too: none stays "Installing Collector".
func TestDrainDeadlineAborts(t *testing.T) {
	checkLeaks(t)
	f := startSlowFleet(t, 3, 30*time.Second)
	store, err := deployer.OpenFileStore(filepath.Join(t.TempDir(), "hosts.journal"))
	require.NoError(t, err)
	defer store.Close()
	cfg := fleetConfig(f)
	cfg.Store = store
	var ev events
	cfg.OnEvent = ev.add
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	require.NoError(t, d.Schedule(f.Targets()...))
	waitFor(t, "every host installing", func() bool { return d.Counts()[deployer.Installing] == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	assert.ErrorIs(t, d.Drain(ctx), context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 20*time.Second, "aborted, not waited for")
	require.NoError(t, d.Close())
	recs, err := store.Load(context.Background())
	require.NoError(t, err)
	require.Len(t, recs, 3)
	for _, r := range recs {
		assert.Equal(t, deployer.Discovered, r.State, r.Key)
		assert.Empty(t, r.DeploymentID, "the deployment was removed: nothing to settle")
		evs := ev.of(r.Key)
		last := evs[len(evs)-1]
		assert.Equal(t, deployer.Installing, last.From)
		assert.Equal(t, derrors.Cancelled, last.Error.Kind)
		assert.Contains(t, last.Error.Error, "drain's deadline")
	}
	assertFleetClean(t, f)
}

// TestHostTimeoutDuringInstall: the host timeout expiring while msiexec runs
// is an installation that ran too long, with its own cause and solution.
func TestHostTimeoutDuringInstall(t *testing.T) {
	f := startSlowFleet(t, 1, 30*time.Second)
	cfg := fleetConfig(f)
	cfg.HostTimeout = 2 * time.Second
	d, _ := newDeployer(t, cfg)
	sum, err := d.Run(context.Background(), f.Targets())
	require.NoError(t, err)
	require.Len(t, sum.Failed, 1)
	e := sum.Failed[0].Error
	assert.Equal(t, derrors.InstallationError, e.Kind)
	assert.Equal(t, derrors.ReasonInstallTimeout, e.Reason)
	assert.Equal(t, derrors.StepMSIExec, e.Step)
	assert.NotContains(t, e.Cause, "TCP port 445")
	assert.Contains(t, e.Error, "host timeout (2s)")
	assertFleetClean(t, f)
}

// TestEventsServePrograms: events carry values (kind, reason, retry class,
// code) and machine names for states, with display names beside them; a
// host's first event starts from Discovered; a retry's events do not repeat
// the previous attempt's exit code; installation progress reaches them.
func TestEventsServePrograms(t *testing.T) {
	f := startFleet(t, []demo.Fault{demo.BusyThenOK, demo.MSIFailure, demo.Slow})
	cfg := fleetConfig(f)
	d, ev := newDeployer(t, cfg)
	_, err := d.Run(context.Background(), f.Targets())
	require.NoError(t, err)

	busy := ev.of(f.Hosts[0].Name)
	require.NotEmpty(t, busy)
	assert.Equal(t, deployer.Discovered, busy[0].From)
	assert.Equal(t, deployer.Scheduled, busy[0].State)
	retrying := false
	for _, e := range busy {
		switch {
		case e.State == deployer.Retrying:
			retrying = true
			require.NotNil(t, e.ExitCode)
			assert.EqualValues(t, 1618, *e.ExitCode)
			assert.Equal(t, derrors.RetryBackoff, e.Error.Retry)
			assert.Equal(t, derrors.ReasonInstallInProgress, e.Error.Reason)
		case retrying && (e.State == deployer.Scheduled || e.State == deployer.Installing):
			assert.Nil(t, e.ExitCode, "a new attempt does not carry the last one's exit code")
		}
	}
	last := busy[len(busy)-1]
	assert.Equal(t, deployer.WithCollector, last.State)
	require.NotNil(t, last.ExitCode)
	assert.Zero(t, *last.ExitCode)
	require.NotNil(t, last.Package)
	assert.Equal(t, "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", last.Package.ProductCode)

	failed := ev.of(f.Hosts[1].Name)
	b, err := json.Marshal(failed[len(failed)-1])
	require.NoError(t, err)
	var j map[string]any
	require.NoError(t, json.Unmarshal(b, &j))
	assert.Equal(t, "failed", j["state"])
	assert.Equal(t, "Failed", j["state_name"])
	assert.Equal(t, "installing", j["from"])
	assert.Equal(t, "Installing Collector", j["from_name"])
	je := j["error"].(map[string]any)
	assert.Equal(t, "msi_error", je["kind"])
	assert.Equal(t, "no_retry", je["retry"])
	assert.Equal(t, "msi", je["code_space"])
	assert.EqualValues(t, 1603, je["code"])
	assert.Equal(t, "MSI error (1603)", je["message"])
	assert.Equal(t, "msiexec", je["step"])

	// Progress: the upload's percent, then the installer's actions.
	var upload, action bool
	for _, e := range ev.of(f.Hosts[2].Name) {
		if e.Progress == nil {
			continue
		}
		assert.Equal(t, e.From, e.State, "progress is not a state change")
		if e.Progress.Phase == "upload" && e.Progress.Percent != nil {
			upload = true
		}
		if e.Progress.Phase == "install" && e.Progress.Action == "InstallFiles" {
			action = true
		}
	}
	assert.True(t, upload, "upload progress in the events")
	assert.True(t, action, "the installer's action in the events")
	r, _ := d.Host(f.Hosts[2].Name)
	var steps []derrors.Step
	for _, s := range r.Steps {
		steps = append(steps, s.Step)
		assert.Positive(t, s.Duration, "%s timed", s.Step)
	}
	assert.Equal(t, []derrors.Step{derrors.StepConnect, winreg.StepReadRegistry, derrors.StepUpload, derrors.StepStartService,
		derrors.StepMSIExec, derrors.StepCleanup}, steps)
}

// TestNewInspectsThePackage: a package that is not an MSI fails New, naming
// the file, before any host is touched.
func TestNewInspectsThePackage(t *testing.T) {
	dir := t.TempDir()
	notMSI := filepath.Join(dir, "hosts.csv")
	require.NoError(t, os.WriteFile(notMSI, []byte("BIOS_NAME,IP_ADDRESS\nPC-1,10.0.0.1\n"), 0o600))
	for name, pkg := range map[string]deployer.Package{
		"not an MSI": {Path: notMSI},
		"missing":    {Path: filepath.Join(dir, "nope.msi")},
		"directory":  {Path: dir},
		"bad UNC":    {UNC: "nxshare/x.msi"},
	} {
		_, err := deployer.New(deployer.Config{Package: pkg})
		require.Error(t, err, name)
		if pkg.Path != "" {
			assert.Contains(t, err.Error(), pkg.Path, name)
		}
	}
	_, err := deployer.New(deployer.Config{})
	assert.Error(t, err)
	d, err := deployer.New(deployer.Config{Package: deployer.Package{Path: testPackage}})
	require.NoError(t, err)
	defer d.Close()
	p := d.Package()
	assert.Equal(t, "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", p.ProductCode)
	assert.Equal(t, "1.2.3", p.ProductVersion)
	assert.Len(t, p.SHA256, 64)
}

// TestConcurrentRunsNeverInstallTwice: two Runs at once on one Deployer join
// each other's hosts; every host is installed once.
func TestConcurrentRunsNeverInstallTwice(t *testing.T) {
	f := startSlowFleet(t, 5, 300*time.Millisecond)
	cfg := fleetConfig(f)
	d, ev := newDeployer(t, cfg)
	var wg sync.WaitGroup
	sums := make([]*deployer.Summary, 2)
	for i := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := d.Run(context.Background(), f.Targets())
			assert.NoError(t, err)
			sums[i] = s
		}()
	}
	wg.Wait()
	for _, s := range sums {
		require.NotNil(t, s)
		assert.Equal(t, 5, s.Hosts)
		assert.Equal(t, 5, s.States[deployer.WithCollector])
	}
	for _, h := range f.Hosts {
		installs := 0
		for _, e := range ev.of(h.Name) {
			if e.State == deployer.Installing && e.From == deployer.Scheduled {
				installs++
			}
		}
		assert.Equal(t, 1, installs, "%s installed once", h.Name)
	}
}

// TestRestartDoesNotResendAWrongPassword: a host that failed its logon is not
// tried again by a restarted Engine (which is how accounts get locked), but
// it is in the run's events and summary with the reason; an explicit
// Reschedule tries it.
func TestRestartDoesNotResendAWrongPassword(t *testing.T) {
	f := startFleet(t, []demo.Fault{demo.WrongPassword, demo.Healthy, demo.MSIFailure})
	path := filepath.Join(t.TempDir(), "hosts.journal")
	run := func(reschedule bool) (*deployer.Summary, *events) {
		store, err := deployer.OpenFileStore(path)
		require.NoError(t, err)
		defer store.Close()
		cfg := fleetConfig(f)
		cfg.Store = store
		var ev events
		cfg.OnEvent = ev.add
		d, err := deployer.New(cfg)
		require.NoError(t, err)
		defer d.Close()
		if reschedule {
			keys, err := d.RescheduleFailed(derrors.LogonFailure)
			require.NoError(t, err)
			assert.Equal(t, []string{f.Hosts[0].Name}, keys)
		}
		sum, err := d.Run(context.Background(), f.Targets())
		require.NoError(t, err)
		return sum, &ev
	}
	sum, _ := run(false)
	require.Equal(t, 2, sum.States[deployer.Failed])
	before, _ := sum.Failed[0], 0

	sum, ev := run(false)
	assert.Equal(t, 3, sum.Hosts)
	assert.Equal(t, 2, sum.Skipped[deployer.SkipNotRetryable])
	assert.Equal(t, 1, sum.Skipped[deployer.SkipInstalled])
	for _, h := range f.Hosts {
		evs := ev.of(h.Name)
		require.Len(t, evs, 1, "%s: one event, no attempt", h.Name)
		assert.NotEmpty(t, evs[0].Skipped)
		assert.NotEmpty(t, evs[0].Message)
	}
	for _, r := range sum.Failed {
		if r.Key == before.Key {
			assert.Equal(t, before.Attempts, r.Attempts, "no new logon")
		}
	}

	sum, ev = run(true)
	assert.Equal(t, 2, sum.States[deployer.Failed])
	assert.Greater(t, len(ev.of(f.Hosts[0].Name)), 1, "the rescheduled host was tried")
}

// TestPackageChangeMakesHostsDue: the package is recorded per host; the same
// one is skipped, another one makes the host due again.
func TestPackageChangeMakesHostsDue(t *testing.T) {
	f := startFleet(t, faultsOf(2, demo.Healthy))
	store := deployer.NewMemoryStore()
	run := func(pkg string) (*deployer.Summary, *events) {
		cfg := fleetConfig(f)
		cfg.Store, cfg.Package = store, deployer.Package{Path: pkg}
		var ev events
		cfg.OnEvent = ev.add
		d, err := deployer.New(cfg)
		require.NoError(t, err)
		defer d.Close()
		sum, err := d.Run(context.Background(), f.Targets())
		require.NoError(t, err)
		return sum, &ev
	}
	sum, _ := run(testPackage)
	require.Equal(t, 2, sum.States[deployer.WithCollector])
	sum, _ = run(testPackage)
	assert.Equal(t, 2, sum.Skipped[deployer.SkipInstalled])

	sum, ev := run("msi/testdata/fails.msi")
	assert.Equal(t, 2, sum.States[deployer.WithCollector])
	assert.Zero(t, sum.Skipped[deployer.SkipInstalled])
	for _, h := range f.Hosts {
		evs := ev.of(h.Name)
		assert.Contains(t, evs[0].Message, "the package changed")
		recs, _ := store.Load(context.Background())
		for _, r := range recs {
			assert.Equal(t, "{9C4E2D71-5B3A-4F18-8E6D-2A7B9C0D1E2F}", r.Package.ProductCode)
			assert.Equal(t, "0.9.1", r.Package.ProductVersion)
		}
	}
	sum, _ = run("msi/testdata/fails.msi")
	assert.Equal(t, 2, sum.Skipped[deployer.SkipInstalled])
}

// TestPackageReplacedAfterNewIsNotInstalled: a Deployer hashes its package
// once, in New; a file replaced afterwards (another MSI under the same
// name) fails its hosts, since the remote service checks what it received
// against that hash, and nothing of the other package is installed.
func TestPackageReplacedAfterNewIsNotInstalled(t *testing.T) {
	f := startFleet(t, faultsOf(1, demo.Healthy))
	pkg := filepath.Join(t.TempDir(), "agent.msi")
	orig, err := os.ReadFile(testPackage)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pkg, orig, 0o600))
	cfg := fleetConfig(f)
	cfg.Package = deployer.Package{Path: pkg}
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	defer d.Close()
	other, err := os.ReadFile("msi/testdata/fails.msi")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pkg, other, 0o600))

	sum, err := d.Run(context.Background(), f.Targets())
	require.NoError(t, err)
	require.Equal(t, 1, sum.States[deployer.Failed], "%+v", sum)
	h := f.Hosts[0]
	st, ok := d.Host(h.Name)
	require.True(t, ok)
	require.NotNil(t, st.Error)
	t.Logf("%s: %+v", h.Name, *st.Error)
	assert.Equal(t, derrors.InstallationError, st.Error.Kind)
	assert.Contains(t, st.Error.Error, "not the one the Engine sent (SHA-256)")
}

// TestJournalRefusesForeignDeploymentIDs: a journal line naming a deployment
// id the deployer never creates ("..", which would make the cleanup delete
// the Windows directory) is refused with the file and line; the rest is kept.
func TestJournalRefusesForeignDeploymentIDs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts.journal")
	good := `{"key":"PC-1","state":"with_collector","updated":"2026-01-01T00:00:00Z"}`
	lines := []string{good,
		`{"key":"PC-2","state":"installing","deployment_id":"..","updated":"2026-01-01T00:00:00Z"}`,
		`{"key":"PC-3","state":"discovered","leftovers":["a/b"],"updated":"2026-01-01T00:00:00Z"}`}
	var journal []byte
	for _, rec := range lines {
		b, err := json.Marshal(map[string]any{"crc": crcOf(rec), "rec": json.RawMessage(rec)})
		require.NoError(t, err)
		journal = append(append(journal, b...), '\n')
	}
	require.NoError(t, os.WriteFile(path, journal, 0o600))
	s, err := deployer.OpenFileStore(path)
	require.NoError(t, err)
	defer s.Close()
	rejected := s.Rejected()
	require.Len(t, rejected, 2)
	var je *deployer.JournalError
	require.True(t, errors.As(rejected[0], &je))
	assert.Equal(t, 2, je.Line)
	assert.Contains(t, rejected[0].Error(), path+": line 2")
	assert.Contains(t, rejected[0].Error(), `".."`)
	assert.Contains(t, rejected[1].Error(), "line 3")
	recs, err := s.Load(context.Background())
	require.NoError(t, err)
	require.Len(t, recs, 1)
	assert.Equal(t, "PC-1", recs[0].Key)
	kept, err := os.ReadFile(path + ".corrupt")
	require.NoError(t, err)
	assert.Equal(t, journal, kept, "the journal as it was is kept for inspection")
}

func crcOf(s string) uint32 { return crc32.ChecksumIEEE([]byte(s)) }

// TestPropertiesPerHost gives hosts their own MSI properties (a console's
// per-collection settings) through Config.Properties: a host given a value
// too long for msiexec fails naming that property (and never showing its
// value), while a host the function declines installs with
// Install.Properties.
func TestPropertiesPerHost(t *testing.T) {
	checkLeaks(t)
	f, err := demo.Start(demo.Options{Faults: faultsOf(3, demo.Healthy), InstallTime: 50 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	targets := f.Targets()
	cfg := fleetConfig(f)
	cfg.Install.Properties = []msi.Property{{Name: "FALLBACK", Value: strings.Repeat("F", 40<<10)}}
	cfg.Properties = func(h discovery.Host) ([]msi.Property, bool) {
		switch h.Name {
		case targets[0].Name:
			return []msi.Property{{Name: "COLLECTION_SERVER", Value: strings.Repeat("C", 40<<10)}}, true
		case targets[1].Name:
			return []msi.Property{{Name: "SERVER", Value: "engine1"}}, true
		}
		return nil, false
	}
	d, _ := newDeployer(t, cfg)
	sum, err := d.Run(context.Background(), targets)
	require.NoError(t, err)
	state := func(i int) deployer.HostRecord {
		r, ok := d.Host(targets[i].Name)
		require.True(t, ok)
		return r
	}
	r0, r1, r2 := state(0), state(1), state(2)
	require.Equal(t, deployer.Failed, r0.State)
	assert.Contains(t, r0.Error.Error, "COLLECTION_SERVER", "the host's own property was used")
	assert.NotContains(t, r0.Error.Error, "CCCC", "the value is not in the error")
	assert.Equal(t, deployer.WithCollector, r1.State, "valid per-host properties install")
	require.Equal(t, deployer.Failed, r2.State, "a declined host gets Install.Properties")
	assert.Contains(t, r2.Error.Error, "FALLBACK")
	assert.Equal(t, 2, sum.States[deployer.Failed])
}
