package deployer_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

func startFleet(t *testing.T, faults []demo.Fault) *demo.Fleet {
	t.Helper()
	f, err := demo.Start(demo.Options{Faults: faults, InstallTime: 200 * time.Millisecond, StartTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func fleetConfig(f *demo.Fleet) deployer.Config {
	return deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{
			Credentials:    smb.Credentials{User: f.User, Password: f.Password},
			Port:           f.Port,
			ConnectTimeout: 2 * time.Second,
			RequestTimeout: 10 * time.Second,
		}},
		Package:     deployer.Package{Path: testPackage},
		Concurrency: 8,
		BusyBackoff: 50 * time.Millisecond,
	}
}

// events collects a Deployer's events.
type events struct {
	mu  sync.Mutex
	all []deployer.Event
}

func (e *events) add(ev deployer.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) of(host string) []deployer.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []deployer.Event
	for _, ev := range e.all {
		if ev.Host == host {
			out = append(out, ev)
		}
	}
	return out
}

func (e *events) states() map[deployer.State]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := map[deployer.State]bool{}
	for _, ev := range e.all {
		seen[ev.From], seen[ev.State] = true, true
	}
	return seen
}

// newDeployer returns a Deployer for cfg, closed on cleanup, with its
// events collected.
func newDeployer(t *testing.T, cfg deployer.Config) (*deployer.Deployer, *events) {
	t.Helper()
	ev := &events{}
	user := cfg.OnEvent
	cfg.OnEvent = func(e deployer.Event) {
		ev.add(e)
		if user != nil {
			user(e)
		}
	}
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, d.Close()) })
	return d, ev
}

// assertFleetClean checks no host holds a service or file of ours.
func assertFleetClean(t *testing.T, f *demo.Fleet) {
	t.Helper()
	for _, h := range f.Hosts {
		if h.Fault == demo.Offline {
			continue
		}
		(&emulated{Host: h.Host}).assertClean(t)
	}
}

func TestDeployFleetReachesEveryState(t *testing.T) {
	leakCheck := goleak.IgnoreCurrent()
	faults := []demo.Fault{demo.Healthy, demo.Slow, demo.RebootNeeded, demo.MSIFailure, demo.BusyThenOK,
		demo.WrongPassword, demo.AdminShareOff, demo.UAC, demo.Quarantine, demo.ServiceHangs, demo.Offline,
		demo.GuestOnly, demo.ServiceCreationRefused, demo.Healthy, demo.Healthy}
	f := startFleet(t, faults)
	var ev events
	cfg := fleetConfig(f)
	cfg.OnEvent = ev.add
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := d.Run(ctx, f.Targets())
	require.NoError(t, err)

	want := map[demo.Fault]struct {
		state  deployer.State
		kind   derrors.Kind
		reason derrors.Reason
	}{
		demo.Healthy:                {state: deployer.WithCollector},
		demo.Slow:                   {state: deployer.WithCollector},
		demo.RebootNeeded:           {state: deployer.WithCollector},
		demo.BusyThenOK:             {state: deployer.WithCollector},
		demo.ServiceCreationRefused: {state: deployer.WithCollector},
		demo.MSIFailure:             {deployer.Failed, derrors.MSIError, derrors.NoReason},
		demo.WrongPassword:          {deployer.Failed, derrors.LogonFailure, derrors.ReasonBadCredentials},
		demo.AdminShareOff:          {deployer.Failed, derrors.SharedAccessFailure, derrors.ReasonAdminShareMissing},
		demo.UAC:                    {deployer.Failed, derrors.SharedAccessFailure, derrors.ReasonAdminShareDenied},
		demo.Quarantine:             {deployer.Failed, derrors.WindowsError, derrors.ReasonQuarantined},
		demo.ServiceHangs:           {deployer.Failed, derrors.WindowsError, derrors.ReasonServiceStartTimeout},
		demo.Offline:                {deployer.Failed, derrors.ConnectionRefused, derrors.NoReason},
		demo.GuestOnly:              {deployer.Failed, derrors.LogonFailure, derrors.ReasonGuestOnly},
	}
	failed := map[string]deployer.HostRecord{}
	for _, r := range sum.Failed {
		failed[r.Key] = r
	}
	for _, h := range f.Hosts {
		w := want[h.Fault]
		evs := ev.of(h.Name)
		require.NotEmpty(t, evs, "%s (%s) has events", h.Name, h.Fault)
		last := evs[len(evs)-1]
		assert.Equal(t, w.state, last.State, "%s (%s): %+v", h.Name, h.Fault, last.Error)
		if w.state == deployer.Failed {
			require.NotNil(t, last.Error, "%s", h.Name)
			assert.Equal(t, w.kind, last.Error.Kind, "%s (%s): %s", h.Name, h.Fault, last.Error.Error)
			assert.Equal(t, w.reason, last.Error.Reason, "%s (%s)", h.Name, h.Fault)
			assert.NotEmpty(t, last.Error.Cause)
			assert.NotEmpty(t, last.Error.Solution)
			assert.Contains(t, failed, h.Name)
		}
		// The Deployer documentation's path: Scheduled for installation before Installing.
		if w.state == deployer.WithCollector {
			var path []deployer.State
			for _, e := range evs {
				path = append(path, e.State)
			}
			assert.Subset(t, path, []deployer.State{deployer.Scheduled, deployer.Installing, deployer.WithCollector})
		}
	}
	busy := ev.of(hostWith(f, demo.BusyThenOK))
	retries := 0
	for _, e := range busy {
		if e.State == deployer.Retrying {
			retries++
			assert.False(t, e.NextAttempt.IsZero())
			assert.Equal(t, "MSI error (1618)", e.Error.Message)
		}
	}
	assert.Equal(t, 2, retries, "1618 twice, then success")
	// The host refusing to create services installed through the Task
	// Scheduler, and its event says so.
	refused := ev.of(hostWith(f, demo.ServiceCreationRefused))
	assert.Contains(t, refused[len(refused)-1].Message, "Task Scheduler")
	last := ev.of(hostWith(f, demo.RebootNeeded))
	assert.True(t, last[len(last)-1].RebootNeeded)

	seen := ev.states()
	for _, st := range deployer.States() {
		assert.True(t, seen[st], "state %s reached", st)
	}
	// The summary matches the hosts.
	assert.Equal(t, len(f.Hosts), sum.Hosts)
	assert.Equal(t, 7, sum.States[deployer.WithCollector])
	assert.Equal(t, len(f.Hosts)-7, sum.States[deployer.Failed])
	assert.Equal(t, 1, sum.RebootNeeded)
	assert.Equal(t, 2, sum.Errors[derrors.LogonFailure])
	assert.Equal(t, 2, sum.Errors[derrors.SharedAccessFailure])
	assert.Contains(t, sum.String(), "With Collector 7;")
	assertFleetClean(t, f)

	// Once the fleet is gone, nothing of the run is left running.
	require.NoError(t, f.Close())
	goleak.VerifyNone(t, leakCheck)
}

func hostWith(f *demo.Fleet, fault demo.Fault) string {
	for _, h := range f.Hosts {
		if h.Fault == fault {
			return h.Name
		}
	}
	return ""
}

// TestDeployBudgetCountsOnlyAccountAttempts: Kerberos failures that never
// tested the password (here, hosts known only by address, for which no
// ticket can be asked) do not spend the account's logon-failure budget.
// TestDeployBusyRetries: BusyRetries counts the retries of a busy host
// (1618), and a negative value means none at all.
func TestDeployBusyRetries(t *testing.T) {
	tests := []struct {
		name    string
		retries int
		state   deployer.State
		want    int
	}{
		{"negative means none", -1, deployer.Failed, 0},
		{"one", 1, deployer.Failed, 1},
		{"default", 0, deployer.WithCollector, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFleet(t, []demo.Fault{demo.BusyThenOK})
			cfg := fleetConfig(f)
			cfg.BusyRetries = tt.retries
			d, ev := newDeployer(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, err := d.Run(ctx, f.Targets())
			require.NoError(t, err)
			evs := ev.of(f.Hosts[0].Name)
			retries := 0
			for _, e := range evs {
				if e.State == deployer.Retrying {
					retries++
				}
			}
			assert.Equal(t, tt.want, retries)
			require.NotEmpty(t, evs)
			last := evs[len(evs)-1]
			assert.Equal(t, tt.state, last.State)
			if tt.state == deployer.Failed {
				require.NotNil(t, last.Error)
				assert.Equal(t, "MSI error (1618)", last.Error.Message)
			}
		})
	}
}

func TestDeployBudgetCountsOnlyAccountAttempts(t *testing.T) {
	var hosts []discovery.Host
	for i := range 6 {
		hosts = append(hosts, discovery.Host{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), Source: "test"})
	}
	cfg := deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{
			Credentials: smb.Credentials{User: "deploy", Domain: "corp.example", Password: "pw", Kerberos: &smb.Kerberos{}},
		}},
		Package:            deployer.Package{Path: testPackage},
		LogonFailureBudget: 1,
	}
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	sum, err := d.Run(context.Background(), hosts)
	require.NoError(t, err)
	require.Len(t, sum.Failed, len(hosts))
	for _, r := range sum.Failed {
		require.NotNil(t, r.Error)
		assert.Equal(t, "logon failure", r.Error.Message)
		assert.Equal(t, derrors.ReasonUnknownServicePrincipal, r.Error.Reason, "%s", r.Key)
		assert.NotContains(t, r.Error.Error, deployer.ErrLogonBudgetExhausted.Error(), "%s", r.Key)
	}
}

func TestDeployCancelLeavesNothingBehind(t *testing.T) {
	faults := make([]demo.Fault, 6)
	for i := range faults {
		faults[i] = demo.Healthy
	}
	f, err := demo.Start(demo.Options{Faults: faults, InstallTime: 20 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	installing := 0
	var mu sync.Mutex
	cfg := fleetConfig(f)
	cfg.Concurrency = 3
	cfg.OnEvent = func(ev deployer.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.State == deployer.Installing {
			installing++
			if installing == 3 {
				once.Do(func() { time.AfterFunc(300*time.Millisecond, cancel) })
			}
		}
	}
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	done := make(chan struct{})
	var sum *deployer.Summary
	go func() {
		defer close(done)
		sum, err = d.Run(ctx, f.Targets())
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
	assert.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, sum)
	assert.Zero(t, sum.States[deployer.WithCollector], "no install finished")
	assertFleetClean(t, f)
}

func TestDeployResumes(t *testing.T) {
	f := startFleet(t, []demo.Fault{demo.Healthy, demo.Healthy, demo.Healthy})
	path := filepath.Join(t.TempDir(), "hosts.journal")
	ctx := context.Background()

	store, err := deployer.OpenFileStore(path)
	require.NoError(t, err)
	cfg := fleetConfig(f)
	cfg.Store = store
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	targets := f.Targets()
	// The first run installs on the first two hosts only.
	sum, err := d.Run(ctx, targets[:2])
	require.NoError(t, err)
	assert.Equal(t, 2, sum.States[deployer.WithCollector])
	require.NoError(t, store.Close())

	// A crash left the third host in flight after the package was pushed,
	// before the service was created: our files are on it.
	third := f.Hosts[2]
	conn := connect(t, &emulated{Host: third.Host})
	require.NoError(t, conn.AdminShare().MkdirAll(ctx, "nxdeploy-stale-run"))
	_, err = conn.AdminShare().Upload(ctx, "nxdeploy-stale-run/package.msi", strings.NewReader("partial"), 7, smb.UploadOptions{})
	require.NoError(t, err)
	// Where an Engine before 2026-12 put the same deployment's files.
	require.NoError(t, conn.AdminShare().MkdirAll(ctx, "nxdeploy/stale-run"))
	_, err = conn.AdminShare().Upload(ctx, "nxdeploy/stale-run/job", strings.NewReader("partial"), 7, smb.UploadOptions{})
	require.NoError(t, err)
	require.NoError(t, conn.Close())
	store, err = deployer.OpenFileStore(path)
	require.NoError(t, err)
	defer store.Close()
	require.NoError(t, store.Put(ctx, deployer.HostRecord{Key: third.Name, State: deployer.Installing,
		DeploymentID: "stale-run", Updated: time.Now()}))

	// The restarted Engine: hosts With Collector are not reinstalled, the
	// one in flight is cleaned up and installed.
	var ev events
	cfg.Store, cfg.OnEvent = store, ev.add
	d, err = deployer.New(cfg)
	require.NoError(t, err)
	sum, err = d.Run(ctx, targets)
	require.NoError(t, err)
	assert.Equal(t, 3, sum.States[deployer.WithCollector])
	assert.Equal(t, 2, sum.Skipped[deployer.SkipInstalled])
	for _, h := range f.Hosts[:2] {
		evs := ev.of(h.Name)
		require.Len(t, evs, 1, "an installed host is not touched, only reported")
		assert.Equal(t, deployer.SkipInstalled, evs[0].Skipped)
		assert.Equal(t, deployer.WithCollector, evs[0].From)
		assert.Equal(t, deployer.WithCollector, evs[0].State)
	}
	evs := ev.of(third.Name)
	require.NotEmpty(t, evs)
	assert.Equal(t, deployer.Installing, evs[0].From, "the first event starts from the state the store knew")
	assert.Contains(t, evs[0].Message, "stale-run")
	_, err = os.Stat(filepath.Join(third.AdminDir, "nxdeploy-stale-run"))
	assert.ErrorIs(t, err, os.ErrNotExist, "the leftover of the crashed run is removed")
	_, err = os.Stat(filepath.Join(third.AdminDir, "nxdeploy"))
	assert.ErrorIs(t, err, os.ErrNotExist, "so is the older version's, and its emptied prefix directory")
	assertFleetClean(t, f)
	recs, err := store.Load(ctx)
	require.NoError(t, err)
	for _, r := range recs {
		assert.Equal(t, deployer.WithCollector, r.State, r.Key)
	}
}

func TestDeployPerHostCredentialsAndDiscoveryErrors(t *testing.T) {
	f := startFleet(t, []demo.Fault{demo.WrongPassword, demo.Healthy})
	cfg := fleetConfig(f)
	wrong := f.Hosts[0].Name
	cfg.Credentials = func(h discovery.Host) (smb.Credentials, bool) {
		if h.Name == wrong {
			return smb.Credentials{User: f.User, Password: f.Password + "-other"}, true
		}
		return smb.Credentials{}, false
	}
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	targets := append(f.Targets(), discovery.Host{Source: "csv:x:3", Err: errors.New("no name and no address")})
	sum, err := d.Run(context.Background(), targets)
	require.NoError(t, err)
	assert.Equal(t, 2, sum.States[deployer.WithCollector], "the per-host password is used")
	assert.Equal(t, 1, sum.States[deployer.Failed])
}
