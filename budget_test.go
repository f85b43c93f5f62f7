package deployer_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
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

// checkLeaks verifies, after every cleanup registered later (the fleet's
// included), that the test left no goroutine behind.
func checkLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

func faultsOf(n int, f demo.Fault) []demo.Fault {
	out := make([]demo.Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// logonOutcomes counts, from a run's failed records, the logons that failed
// at a host (bad credentials) and the hosts the budget spared.
func logonOutcomes(t *testing.T, sum *deployer.Summary) (failed, spared int) {
	t.Helper()
	for _, r := range sum.Failed {
		require.NotNil(t, r.Error, r.Key)
		switch r.Error.Reason {
		case derrors.ReasonBadCredentials:
			failed++
		case derrors.ReasonLogonBudget:
			spared++
		}
	}
	return failed, spared
}

// TestLogonBudgetDomainAccount: a domain account's failures add up over every
// host; once they reach the budget no host is logged on, and each spared host
// says why, which account, and when it may be tried again.
func TestLogonBudgetDomainAccount(t *testing.T) {
	checkLeaks(t)
	f := startFleet(t, faultsOf(8, demo.WrongPassword))
	cfg := fleetConfig(f)
	cfg.Connect.SMB.Credentials.Domain = "LAB"
	cfg.LogonFailureBudget = 2
	d, ev := newDeployer(t, cfg)
	sum, err := d.Run(context.Background(), f.Targets())
	require.NoError(t, err)
	require.Len(t, sum.Failed, 8)
	failed, spared := logonOutcomes(t, sum)
	assert.Equal(t, 2, failed, "the account failed exactly the budget")
	assert.Equal(t, 6, spared)
	for _, r := range sum.Failed {
		if r.Error.Reason != derrors.ReasonLogonBudget {
			continue
		}
		assert.Equal(t, derrors.LogonFailure, r.Error.Kind)
		assert.Equal(t, derrors.NoRetry, r.Error.Retry)
		assert.Contains(t, r.Error.Error, `LAB\`+f.User)
		assert.Contains(t, r.Error.Error, "2 times in the last 30m0s")
		assert.Contains(t, r.Error.Cause, "logon was not tried")
		evs := ev.of(r.Key)
		require.NotEmpty(t, evs)
		assert.Equal(t, derrors.ReasonLogonBudget, evs[len(evs)-1].Error.Reason, "the event of %s explains it", r.Key)
	}
}

// TestLogonBudgetLocalAccount: a local account (domain ".") is a different
// account on every host: each host's failure counts for that host alone.
func TestLogonBudgetLocalAccount(t *testing.T) {
	f := startFleet(t, faultsOf(6, demo.WrongPassword))
	cfg := fleetConfig(f)
	cfg.Connect.SMB.Credentials.Domain = "."
	cfg.LogonFailureBudget = 1
	d, _ := newDeployer(t, cfg)
	sum, err := d.Run(context.Background(), f.Targets())
	require.NoError(t, err)
	failed, spared := logonOutcomes(t, sum)
	assert.Equal(t, 6, failed, "every host's own account was tried once")
	assert.Zero(t, spared)
	for _, r := range sum.Failed {
		assert.Equal(t, r.Key+`\`+f.User, r.Account, "the account is the host's own")
	}
}

// TestLogonBudgetSuccessDoesNotStopCounting: nine hosts refuse the password
// and one accepts it; whatever the order, the failed logons never exceed the
// budget (a success must not turn the count off).
func TestLogonBudgetSuccessDoesNotStopCounting(t *testing.T) {
	faults := faultsOf(10, demo.WrongPassword)
	for round := 0; round < 5; round++ {
		faults[round], faults[(round+9)%10] = demo.Healthy, demo.WrongPassword
		if round > 0 {
			faults[round-1] = demo.WrongPassword
		}
		t.Run(fmt.Sprintf("healthy host %d", round), func(t *testing.T) {
			f := startFleet(t, faults)
			cfg := fleetConfig(f)
			cfg.Connect.SMB.Credentials.Domain = "LAB"
			cfg.Concurrency = 16
			cfg.LogonFailureBudget = 3
			d, err := deployer.New(cfg)
			require.NoError(t, err)
			defer d.Close()
			sum, err := d.Run(context.Background(), f.Targets())
			require.NoError(t, err)
			failed, _ := logonOutcomes(t, sum)
			assert.LessOrEqual(t, failed, 3, "failed logons within the budget")
			assert.LessOrEqual(t, sum.States[deployer.WithCollector], 1)
		})
	}
}

// TestLogonBudgetReleasesAtLogon: with the budget's places taken by logons,
// the next hosts wait for a logon to end, not for an installation: every host
// of the first wave is installing before the first installation ends.
func TestLogonBudgetReleasesAtLogon(t *testing.T) {
	f, err := demo.Start(demo.Options{Faults: faultsOf(16, demo.Healthy), InstallTime: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	cfg := fleetConfig(f)
	cfg.Concurrency = 16
	cfg.LogonFailureBudget = 3
	var (
		mu         sync.Mutex
		installing int
		firstDone  = -1
	)
	cfg.OnEvent = func(ev deployer.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ev.State == deployer.Installing && ev.From == deployer.Scheduled:
			installing++
		case ev.State == deployer.WithCollector && firstDone < 0:
			firstDone = installing
		}
	}
	d, _ := newDeployer(t, cfg)
	sum, err := d.Run(context.Background(), f.Targets())
	require.NoError(t, err)
	assert.Equal(t, 16, sum.States[deployer.WithCollector])
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 16, firstDone, "hosts installing when the first installation ended")
}

// TestLogonBudgetWindowAndCorrectedPassword: the budget lives in a window.
// A corrected password is tried once the failures aged out: the same
// Deployer installs every host, never "forever" refused. Within the window,
// a restarted Engine still counts the failures it recorded.
func TestLogonBudgetWindowAndCorrectedPassword(t *testing.T) {
	f := startFleet(t, faultsOf(6, demo.Healthy))
	var password atomic.Value
	password.Store(f.Password + "-typo")
	cfg := fleetConfig(f)
	cfg.Credentials = func(discovery.Host) (smb.Credentials, bool) {
		return smb.Credentials{User: f.User, Domain: "LAB", Password: password.Load().(string)}, true
	}
	cfg.LogonFailureBudget = 2
	cfg.LogonFailureWindow = 1500 * time.Millisecond
	path := filepath.Join(t.TempDir(), "hosts.journal")
	store, err := deployer.OpenFileStore(path)
	require.NoError(t, err)
	cfg.Store = store
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	sum, err := d.Run(context.Background(), f.Targets())
	require.NoError(t, err)
	failed, spared := logonOutcomes(t, sum)
	require.Equal(t, 2, failed)
	require.Equal(t, 4, spared)
	require.NoError(t, d.Close())
	require.NoError(t, store.Close())

	// A restart within the window: the failures recorded still count, so
	// even with the corrected password nothing is tried yet.
	password.Store(f.Password)
	store, err = deployer.OpenFileStore(path)
	require.NoError(t, err)
	defer store.Close()
	cfg.Store = store
	d, err = deployer.New(cfg)
	require.NoError(t, err)
	defer d.Close()
	keys, err := d.RescheduleFailed(derrors.LogonFailure)
	require.NoError(t, err)
	require.Len(t, keys, 6)
	require.NoError(t, d.Wait(context.Background()))
	sum = d.Summary()
	_, spared = logonOutcomes(t, sum)
	assert.Equal(t, 6, spared, "within the window the account is still spared")

	// Once the failures aged out, the corrected password works everywhere.
	time.Sleep(cfg.LogonFailureWindow)
	_, err = d.RescheduleFailed(derrors.LogonFailure)
	require.NoError(t, err)
	require.NoError(t, d.Wait(context.Background()))
	assert.Equal(t, 6, d.Counts()[deployer.WithCollector])
}
