package deployer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/smb"
)

// fleetChildConfig is what a deploying child process is told (through its
// environment): deploy to these hosts of a fleet with a journal.
type fleetChildConfig struct {
	Hosts          []discovery.Host
	Port           int
	User, Password string
	Store          string
	Concurrency    int
}

const fleetChildEnv = "DEPLOYER_FLEET_CHILD"

// exitStoreRefused is a fleet child's exit code when its journal could
// not be opened.
const exitStoreRefused = 4

// fleetChild runs an Engine: it opens the journal, deploys to every host
// (resuming those in flight) and prints its events as JSON lines.
func fleetChild() {
	var c fleetChildConfig
	if err := json.Unmarshal([]byte(os.Getenv(fleetChildEnv)), &c); err != nil {
		os.Exit(3)
	}
	store, err := deployer.OpenFileStore(c.Store)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(exitStoreRefused)
	}
	enc := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	d, err := deployer.New(deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{Credentials: smb.Credentials{User: c.User, Password: c.Password},
			Port: c.Port, ConnectTimeout: 2 * time.Second, RequestTimeout: 10 * time.Second}},
		Package:     deployer.Package{Path: testPackage},
		Install:     deployer.InstallOptions{PollInterval: 50 * time.Millisecond},
		Concurrency: c.Concurrency,
		Store:       store,
		OnEvent: func(ev deployer.Event) {
			mu.Lock()
			defer mu.Unlock()
			_ = enc.Encode(ev)
		},
	})
	if err != nil {
		os.Exit(5)
	}
	if _, err := d.Run(context.Background(), c.Hosts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(6)
	}
	_ = d.Close()
	if err := store.Close(); err != nil {
		os.Exit(7)
	}
	os.Exit(0)
}

// startFleetChild starts an Engine process on the journal; its events come
// on the channel, closed when it exits, and its standard error in stderr.
func startFleetChild(t *testing.T, c fleetChildConfig) (*exec.Cmd, <-chan deployer.Event, *bytes.Buffer) {
	t.Helper()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), fleetChildEnv+"="+string(b))
	stderr := &bytes.Buffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	events := make(chan deployer.Event, 256)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev deployer.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
	}()
	return cmd, events, stderr
}

// TestFileStoreAcrossProcessesAndKill: an Engine process deploys to a fleet
// served by this process. A second Engine process started on the same
// journal meanwhile is refused with a clear error naming the first one, and
// touches no host. The first is killed (-9) while installing; the kernel
// releases its lock, so a third Engine process opens the journal and
// resumes: every host the journal had in flight is settled once (no
// installation started again), the hosts finished are skipped, the others
// installed once, and nothing of ours is left on any host.
func TestFileStoreAcrossProcessesAndKill(t *testing.T) {
	if os.Getenv(fleetChildEnv) != "" {
		fleetChild()
		return
	}
	faults := make([]demo.Fault, 9)
	for i := range faults {
		faults[i] = demo.Healthy
	}
	f, err := demo.Start(demo.Options{Faults: faults, InstallTime: 1500 * time.Millisecond, StartTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	cfg := fleetChildConfig{Port: f.Port, User: f.User, Password: f.Password,
		Store: filepath.Join(t.TempDir(), "hosts.journal"), Concurrency: 3}
	for _, h := range f.Hosts {
		cfg.Hosts = append(cfg.Hosts, discovery.Host{Name: h.Name, Addr: h.IP})
	}

	// The first Engine is killed once a host is finished and others are
	// installing, so the journal holds hosts of every kind.
	first, firstEvents, _ := startFleetChild(t, cfg)
	done, installingAfter := 0, 0
	var last deployer.Event
	for ev := range firstEvents {
		switch {
		case ev.State == deployer.WithCollector:
			done++
		case ev.State == deployer.Installing && ev.From == deployer.Scheduled && done > 0:
			installingAfter++
			last = ev
		}
		if installingAfter > 0 {
			break
		}
	}
	require.Positive(t, installingAfter, "the first Engine finished a host and went on installing")
	lastHost := f.Hosts[slices.IndexFunc(f.Hosts, func(h *demo.Host) bool { return h.Name == last.Host })]
	waitFor(t, "msiexec running on "+last.Host, func() bool {
		si, ok := lastHost.Service("nxdeploy-" + last.DeploymentID)
		return ok && si.State == "RUNNING"
	})

	// A second Engine on the same journal is refused while the first runs.
	second, secondEvents, secondErr := startFleetChild(t, cfg)
	for range secondEvents {
		t.Error("the refused Engine sent an event")
	}
	err = second.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the second Engine fails: %v", err)
	assert.Equal(t, exitStoreRefused, exit.ExitCode(), "%s", secondErr)
	assert.Contains(t, secondErr.String(), deployer.ErrStoreInUse.Error())
	assert.Contains(t, secondErr.String(), fmt.Sprintf("process %d", first.Process.Pid), "the error names the holder")
	assert.Contains(t, secondErr.String(), cfg.Store)

	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	_ = first.Wait()
	for range firstEvents {
	}

	// What the journal says after the kill: the hosts in flight (a
	// deployment recorded; started when its service ran on the host) and
	// those finished.
	store, err := deployer.OpenFileStore(cfg.Store)
	require.NoError(t, err, "the kernel released the killed Engine's lock")
	recs, err := store.Load(context.Background())
	require.NoError(t, err)
	require.NoError(t, store.Close())
	inFlight, started, finished := map[string]string{}, map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		switch {
		case r.DeploymentID != "":
			inFlight[r.Key] = r.DeploymentID
			h := f.Hosts[slices.IndexFunc(f.Hosts, func(h *demo.Host) bool { return h.Name == r.Key })]
			si, ok := h.Service("nxdeploy-" + r.DeploymentID)
			started[r.Key] = ok && si.Runs > 0
		case r.State == deployer.WithCollector:
			finished[r.Key] = true
		}
	}
	require.True(t, started[last.Host], "the Engine was killed with msiexec running on %s", last.Host)
	ran := 0
	for _, s := range started {
		if s {
			ran++
		}
	}
	t.Logf("killed with %d hosts in flight (%d with msiexec started), %d finished, of %d", len(inFlight),
		ran, len(finished), len(cfg.Hosts))

	third, thirdEvents, thirdErr := startFleetChild(t, cfg)
	var ev events
	for e := range thirdEvents {
		ev.add(e)
	}
	require.NoError(t, third.Wait(), "%s", thirdErr)

	for _, h := range f.Hosts {
		evs := ev.of(h.Name)
		require.NotEmpty(t, evs, "host %s has events", h.Name)
		last := evs[len(evs)-1]
		assert.Equal(t, deployer.WithCollector, last.State, "host %s: %+v", h.Name, last.Error)
		terminal := 0
		for _, e := range evs {
			if e.State.Terminal() && e.From != e.State {
				terminal++
			}
		}
		switch {
		case started[h.Name]:
			assert.Equal(t, deployer.Installing, evs[0].From, "host %s is resumed from the journal", h.Name)
			assert.Zero(t, installsOf(&ev, h.Name), "host %s: its installation is not started again", h.Name)
			assert.Equal(t, 1, terminal, "host %s is settled once", h.Name)
		case inFlight[h.Name] != "":
			// Killed before its service ran: the deployment is cleaned
			// up, and the host installed once.
			assert.Equal(t, deployer.Installing, evs[0].From, "host %s is resumed from the journal", h.Name)
			assert.LessOrEqual(t, installsOf(&ev, h.Name), 1, "host %s", h.Name)
			assert.Equal(t, 1, terminal, "host %s is settled once", h.Name)
			_, running := h.Service("nxdeploy-" + inFlight[h.Name])
			assert.False(t, running, "host %s: the killed Engine's service is removed", h.Name)
		case finished[h.Name]:
			assert.Zero(t, installsOf(&ev, h.Name), "host %s was finished", h.Name)
		default:
			assert.Equal(t, 1, installsOf(&ev, h.Name), "host %s is installed once", h.Name)
		}
		(&emulated{Host: h.Host}).assertClean(t)
	}
}
