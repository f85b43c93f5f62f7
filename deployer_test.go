package deployer_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/discovery"
)

func TestDiscoverMergesSourcesAndKeepsGoodRows(t *testing.T) {
	first := discovery.ReaderSource{Name: "a.csv", R: strings.NewReader(
		"BIOS_NAME,IP_ADDRESS\nPC-01,10.0.0.1\nPC-02,\nPC-03,not-an-ip\n")}
	second := discovery.ReaderSource{Name: "b.csv", R: strings.NewReader(
		"pc-02,10.0.0.2\nPC-04,10.0.0.4\n")}
	hosts, err := deployer.Discover(context.Background(), first, second)

	require.Error(t, err, "the bad line is reported")
	var csvErr *discovery.CSVError
	require.True(t, errors.As(err, &csvErr))
	assert.Contains(t, err.Error(), "source 1")

	names := make([]string, len(hosts))
	for i, h := range hosts {
		names[i] = h.Name
	}
	assert.Equal(t, []string{"PC-01", "PC-02", "PC-04"}, names, "good rows kept, duplicates merged")
	assert.Equal(t, "10.0.0.2", hosts[1].Addr.String(), "the second source fills the missing address")
}

func TestDiscoverStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	hosts, err := deployer.Discover(ctx, discovery.ReaderSource{Name: "x", R: strings.NewReader("PC-01,10.0.0.1\n")})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, hosts)
}
