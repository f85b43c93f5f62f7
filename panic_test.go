package deployer_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// lockedBuffer is a bytes.Buffer safe for the Deployer's logger.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPanicsStayWithTheirHost: a panic inside one host's attempt (here in
// the caller's Credentials function) fails that host with an internal
// error, logged with its stack, while the others install and the store
// keeps every record; a panicking OnEvent is logged and the events after
// it are still delivered.
func TestPanicsStayWithTheirHost(t *testing.T) {
	f := startFleet(t, faultsOf(3, demo.Healthy))
	bad := f.Hosts[1].Name
	cfg := fleetConfig(f)
	store := deployer.NewMemoryStore()
	cfg.Store = store
	var log lockedBuffer
	cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
	cfg.Credentials = func(h discovery.Host) (smb.Credentials, bool) {
		if h.Name == bad {
			panic("no credentials for " + h.Name)
		}
		return smb.Credentials{}, false
	}
	var (
		mu        sync.Mutex
		delivered int
		panicked  bool
	)
	cfg.OnEvent = func(ev deployer.Event) {
		mu.Lock()
		defer mu.Unlock()
		delivered++
		if !panicked {
			panicked = true
			panic("the caller's event handler fails")
		}
	}
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	defer d.Close()
	sum, err := d.Run(context.Background(), f.Targets())
	require.NoError(t, err)

	assert.Equal(t, 2, sum.States[deployer.WithCollector])
	require.Equal(t, 1, sum.States[deployer.Failed])
	rec, ok := d.Host(bad)
	require.True(t, ok)
	require.NotNil(t, rec.Error)
	assert.Equal(t, derrors.UnknownError, rec.Error.Kind)
	assert.Contains(t, rec.Error.Error, "internal error")
	assert.Contains(t, rec.Error.Error, "no credentials for "+bad)
	recs, err := store.Load(context.Background())
	require.NoError(t, err)
	assert.Len(t, recs, 3, "every host's record reached the store")

	out := log.String()
	assert.Contains(t, out, "panic in a deployment")
	assert.Contains(t, out, "panic_test.go", "the stack is logged")
	assert.Contains(t, out, "panic in Config.OnEvent")
	mu.Lock()
	defer mu.Unlock()
	assert.Greater(t, delivered, 6, "events after the panicking one were delivered")
}

// panickingStore is a caller's Store whose Put panics.
type panickingStore struct{}

func (panickingStore) Load(context.Context) ([]deployer.HostRecord, error) { return nil, nil }
func (panickingStore) Put(context.Context, deployer.HostRecord) error {
	panic("the caller's store fails")
}

// TestPanickingStoreIsAnError: a Store that panics fails the run with an
// error naming it, instead of ending the process.
func TestPanickingStoreIsAnError(t *testing.T) {
	f := startFleet(t, faultsOf(1, demo.Healthy))
	cfg := fleetConfig(f)
	cfg.Store = panickingStore{}
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	defer d.Close()
	_, err = d.Run(context.Background(), f.Targets())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the store panicked: the caller's store fails")
}
