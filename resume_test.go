package deployer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// childConfig is what a deploying child process is told (through its
// environment) to do: deploy to one emulated host with a journal.
type childConfig struct {
	Name, IP, User, Password string
	Port                     int
	Store                    string
	Poll                     time.Duration
}

const childEnv = "DEPLOYER_RESUME_CHILD"

// deployChild runs a Deployer as the Engine would, printing its events as
// JSON lines, until it is killed.
func deployChild() {
	var c childConfig
	if err := json.Unmarshal([]byte(os.Getenv(childEnv)), &c); err != nil {
		os.Exit(3)
	}
	store, err := deployer.OpenFileStore(c.Store)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	enc := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	d, err := deployer.New(deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{Credentials: smb.Credentials{User: c.User, Password: c.Password},
			Port: c.Port, ConnectTimeout: 2 * time.Second, RequestTimeout: 10 * time.Second}},
		Package: deployer.Package{Path: testPackage},
		Install: deployer.InstallOptions{PollInterval: c.Poll},
		Store:   store,
		OnEvent: func(ev deployer.Event) {
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(ev)
		},
	})
	if err != nil {
		os.Exit(5)
	}
	_, _ = d.Run(context.Background(), []discovery.Host{{Name: c.Name, Addr: netip.MustParseAddr(c.IP)}})
	os.Exit(0)
}

// startChild starts a deploying child and returns its events as they come.
func startChild(t *testing.T, e *emulated, store string, poll time.Duration) (*exec.Cmd, <-chan deployer.Event) {
	t.Helper()
	b, err := json.Marshal(childConfig{Name: e.Name, IP: e.IP, User: e.User, Password: e.Password, Port: e.Port,
		Store: store, Poll: poll})
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	events := make(chan deployer.Event, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev struct {
				deployer.Event
			}
			if json.Unmarshal(sc.Bytes(), &ev.Event) == nil {
				events <- ev.Event
			}
		}
	}()
	return cmd, events
}

// killWhenInstalling kills the child with SIGKILL once its host is
// installing and until(the service) holds, and returns the deployment id.
func killWhenInstalling(t *testing.T, cmd *exec.Cmd, events <-chan deployer.Event, e *emulated, until func(deployertest.Service) bool) string {
	t.Helper()
	var id string
	for ev := range events {
		if ev.State == deployer.Installing && ev.DeploymentID != "" {
			id = ev.DeploymentID
			break
		}
	}
	require.NotEmpty(t, id, "the child reached Installing")
	waitFor(t, "the host's service", func() bool {
		si, ok := e.Service("nxdeploy-" + id)
		return ok && until(si)
	})
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	return id
}

func resumeConfig(e *emulated, store deployer.Store) deployer.Config {
	return deployer.Config{Connect: e.connectConfig(), Package: deployer.Package{Path: testPackage}, Store: store,
		Install: deployer.InstallOptions{PollInterval: 20 * time.Millisecond}}
}

// resume runs a restarted Engine on the journal and returns the host's
// record and events.
func resume(t *testing.T, e *emulated, journal string) (deployer.HostRecord, *events) {
	t.Helper()
	store, err := deployer.OpenFileStore(journal)
	require.NoError(t, err)
	defer store.Close()
	cfg := resumeConfig(e, store)
	var ev events
	cfg.OnEvent = ev.add
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	defer d.Close()
	keys, err := d.Resume()
	require.NoError(t, err)
	assert.Equal(t, []string{e.Name}, keys)
	require.NoError(t, d.Wait(context.Background()))
	r, ok := d.Host(e.Name)
	require.True(t, ok)
	return r, &ev
}

func installsOf(ev *events, host string) int {
	n := 0
	for _, e := range ev.of(host) {
		if e.State == deployer.Installing && e.From == deployer.Scheduled {
			n++
		}
	}
	return n
}

// TestResumeAfterKillReadsTheFinishedResult: the Engine is killed (-9) after
// msiexec exited 0 on the host, before it noticed. The restarted Engine reads
// the result the host has and never runs msiexec again (a second run would
// fail here with 1603).
func TestResumeAfterKillReadsTheFinishedResult(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		deployChild()
		return
	}
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{0, 1603}, Duration: 300 * time.Millisecond}})
	journal := filepath.Join(t.TempDir(), "hosts.journal")
	cmd, events := startChild(t, e, journal, time.Hour)
	killWhenInstalling(t, cmd, events, e, func(si deployertest.Service) bool {
		return si.Runs > 0 && si.State == "STOPPED"
	})

	r, ev := resume(t, e, journal)
	assert.Equal(t, deployer.WithCollector, r.State)
	require.NotNil(t, r.ExitCode)
	assert.Zero(t, *r.ExitCode)
	assert.Empty(t, r.DeploymentID)
	assert.Zero(t, installsOf(ev, e.Name), "no installation was started again")
	evs := ev.of(e.Name)
	assert.Contains(t, evs[len(evs)-1].Message, "had finished its installation")
	e.assertClean(t)
}

// TestResumeAfterKillWaitsForTheRunningInstall: killed while msiexec runs,
// the restarted Engine waits for that installation instead of starting one.
func TestResumeAfterKillWaitsForTheRunningInstall(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		deployChild()
		return
	}
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{0, 1603}, Duration: 3 * time.Second}})
	journal := filepath.Join(t.TempDir(), "hosts.journal")
	cmd, events := startChild(t, e, journal, time.Hour)
	killWhenInstalling(t, cmd, events, e, func(si deployertest.Service) bool {
		return si.State == "RUNNING"
	})

	r, ev := resume(t, e, journal)
	assert.Equal(t, deployer.WithCollector, r.State, "%+v", r.Error)
	assert.Zero(t, installsOf(ev, e.Name))
	e.assertClean(t)
}

// TestResumeInterruptedTwice: killed while installing, then killed again
// while the restarted Engine waits for that installation: the journal still
// names the deployment, and the third Engine settles and removes it.
func TestResumeInterruptedTwice(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		deployChild()
		return
	}
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{0, 1603}, Duration: 4 * time.Second}})
	journal := filepath.Join(t.TempDir(), "hosts.journal")
	cmd, events := startChild(t, e, journal, time.Hour)
	id := killWhenInstalling(t, cmd, events, e, func(si deployertest.Service) bool {
		return si.State == "RUNNING"
	})

	// The second Engine resumes (its poll is slow, so it is still waiting
	// when it is killed).
	cmd, events = startChild(t, e, journal, time.Hour)
	var first deployer.Event
	for ev := range events {
		first = ev
		break
	}
	assert.Equal(t, deployer.Installing, first.From, "the second Engine resumes the host in flight")
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	store, err := deployer.OpenFileStore(journal)
	require.NoError(t, err)
	recs, err := store.Load(context.Background())
	require.NoError(t, err)
	require.NoError(t, store.Close())
	require.Len(t, recs, 1)
	assert.Equal(t, id, recs[0].DeploymentID, "the journal still names the deployment to settle")

	r, ev := resume(t, e, journal)
	assert.Equal(t, deployer.WithCollector, r.State)
	assert.Zero(t, installsOf(ev, e.Name))
	e.assertClean(t)
}

// TestResumeOfARecordInAnyState: a deployment named by the journal is
// settled whatever state the record has (here Discovered, as an interrupted
// resume of an earlier version left it): its service and files are removed.
func TestResumeOfARecordInAnyState(t *testing.T) {
	e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: []uint32{1603}}})
	ctx := context.Background()
	conn := connect(t, e)
	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "earlier"})
	require.NoError(t, err)
	require.NoError(t, rs.Close())
	require.NoError(t, conn.Close())
	journal := filepath.Join(t.TempDir(), "hosts.journal")
	store, err := deployer.OpenFileStore(journal)
	require.NoError(t, err)
	require.NoError(t, store.Put(ctx, deployer.HostRecord{Key: e.Name, Addr: e.IP, State: deployer.Discovered,
		DeploymentID: "earlier", Updated: time.Now()}))
	require.NoError(t, store.Close())

	r, ev := resume(t, e, journal)
	// The earlier deployment ran (a service without a job fails at once):
	// its outcome is the host's, and nothing of it is left.
	assert.Equal(t, deployer.Failed, r.State)
	assert.Equal(t, derrors.InstallationError, r.Error.Kind)
	assert.Empty(t, r.DeploymentID)
	assert.Zero(t, installsOf(ev, e.Name))
	e.assertClean(t)
}

// TestCleanupFailureIsCleanedByALaterRun: the host goes away right after its
// installation, so its cleanup fails: the host is With Collector (or Failed)
// all the same, its event names the cleanup failure, its record keeps the
// deployment, and a later run removes it.
func TestCleanupFailureIsCleanedByALaterRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		codes  []uint32
		state  deployer.State
		reason derrors.Kind
	}{
		{"installed", []uint32{0}, deployer.WithCollector, 0},
		{"failed", []uint32{1603}, deployer.Failed, derrors.MSIError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := startEmulated(t, hostOpts{installer: deployertest.Installer{Outcomes: tc.codes, Duration: 200 * time.Millisecond}})
			var (
				mu    sync.Mutex
				proxy *lab.DelayProxy
				cut   bool
			)
			proxy = lab.StartDelayProxy(t, e.Addr, 0, nil)
			store := deployer.NewMemoryStore()
			cfg := resumeConfig(e, store)
			cfg.Connect.SMB.RequestTimeout = time.Second
			cfg.Connect.SMB.Dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
				mu.Lock()
				addr := proxy.Addr()
				mu.Unlock()
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
			cfg.Install.Progress = func(p deployer.InstallProgress) {
				mu.Lock()
				defer mu.Unlock()
				if p.Phase == "cleanup" && !cut {
					cut = true
					proxy.Close() // the host drops off the network
				}
			}
			var ev events
			cfg.OnEvent = ev.add
			d, err := deployer.New(cfg)
			require.NoError(t, err)
			defer d.Close()
			sum, err := d.Run(context.Background(), []discovery.Host{e.target()})
			require.NoError(t, err)
			r, _ := d.Host(e.Name)
			assert.Equal(t, tc.state, r.State)
			require.Len(t, r.Leftovers, 1, "the deployment is kept for a later run")
			require.NotNil(t, r.CleanupError)
			assert.Equal(t, 1, sum.Cleanup)
			evs := ev.of(e.Name)
			last := evs[len(evs)-1]
			require.NotNil(t, last.CleanupError, "the event names the cleanup failure")
			assert.Equal(t, derrors.StepCleanup, last.CleanupError.Step)
			if tc.reason != 0 {
				assert.Equal(t, tc.reason, last.Error.Kind)
			}
			_, present := e.Service("nxdeploy-" + r.Leftovers[0])
			assert.True(t, present, "the service is still on the host")

			// The host is back: a later run (which skips the host itself)
			// removes what was left.
			mu.Lock()
			proxy = lab.StartDelayProxy(t, e.Addr, 0, nil)
			mu.Unlock()
			sum, err = d.Run(context.Background(), []discovery.Host{e.target()})
			require.NoError(t, err)
			r, _ = d.Host(e.Name)
			assert.Equal(t, tc.state, r.State)
			assert.Empty(t, r.Leftovers)
			assert.Zero(t, sum.Cleanup)
			evs = ev.of(e.Name)
			assert.True(t, strings.Contains(evs[len(evs)-1].Message, "removed"), evs[len(evs)-1].Message)
			e.assertClean(t)
		})
	}
}
