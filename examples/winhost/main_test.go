package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/smb"
)

// syncBuffer is a bytes.Buffer safe to read while run writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServesHostsTheLibraryCanProbe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"-count", "3"}, &out, &errOut) }()
	require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "serving") }, 20*time.Second, 20*time.Millisecond)

	hosts, err := discovery.ReadCSV(strings.NewReader(out.String()), "winhost")
	require.NoError(t, err)
	require.Len(t, hosts, 3)
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, []string{"BIOS_NAME", "IP_ADDRESS"}, rows[0])

	m := regexp.MustCompile(`on port (\d+)`).FindStringSubmatch(errOut.String())
	require.Len(t, m, 2, errOut.String())
	port, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	r := deployer.Probe(context.Background(), hosts[1], deployer.ProbeOptions{ConnectConfig: deployer.ConnectConfig{
		SMB: smb.Config{Credentials: smb.Credentials{User: "Administrator", Password: "Passw0rd!"}, Port: port}}})
	require.True(t, r.OK, "%v", r.Err)
	assert.True(t, r.Admin)

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code)
	case <-time.After(20 * time.Second):
		t.Fatal("winhost did not stop when interrupted")
	}
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{{"-count", "0"}, {"-faults", "some"}, {"-password-env", "DEPLOYER_TEST_UNSET_VARIABLE"},
		{"-listen", "10.0.0.1:445"}, {"-listen", "445"}, {"-listen", ":99999"}} {
		var out, errOut syncBuffer
		assert.Equal(t, 2, run(context.Background(), args, &out, &errOut), "%v", args)
		assert.Empty(t, out.String())
	}
}

// TestHelp: -h prints the usage on standard error and exits 0, as every
// example command does.
func TestHelp(t *testing.T) {
	var out, errOut syncBuffer
	assert.Equal(t, 0, run(context.Background(), []string{"-h"}, &out, &errOut))
	assert.Empty(t, out.String())
	assert.Contains(t, errOut.String(), "-password-env")
}
