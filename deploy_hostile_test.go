package deployer_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
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
)

// listenHostile listens on addr and answers every connection's first SMB2
// frame with the 8-byte frame `00 00 00 04 FE 53 4D 42` that crashed
// go-smb2's receiver goroutine (slice bounds [:24] with capacity 4).
func listenHostile(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				var hdr [4]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return
				}
				if _, err := io.CopyN(io.Discard, c, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
					return
				}
				_, _ = c.Write([]byte{0, 0, 0, 4, 0xFE, 'S', 'M', 'B'})
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
}

// TestDeployFleetSurvivesAHostileHost is the fleet effect of a host that
// used to crash the whole Engine before any logon: four healthy hosts are
// deployed and cleaned up, the hostile one fails with a typed error, and
// the process goes on (it did not, with go-smb2's panic).
func TestDeployFleetSurvivesAHostileHost(t *testing.T) {
	f := startFleet(t, []demo.Fault{demo.Healthy, demo.Healthy, demo.Healthy, demo.Healthy})
	hostileIP := netip.MustParseAddr("127.10.254.254")
	listenHostile(t, net.JoinHostPort(hostileIP.String(), strconv.Itoa(f.Port)))
	leakCheck := goleak.IgnoreCurrent() // the fleet's and the listener's own goroutines stop at cleanup

	var ev events
	cfg := fleetConfig(f)
	cfg.OnEvent = ev.add
	d, err := deployer.New(cfg)
	require.NoError(t, err)
	targets := append([]discovery.Host{{Name: "HOSTILE", Addr: hostileIP, Source: "test"}}, f.Targets()...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sum, err := d.Run(ctx, targets)
	require.NoError(t, err)

	for _, h := range f.Hosts {
		evs := ev.of(h.Name)
		require.NotEmpty(t, evs, h.Name)
		assert.Equal(t, deployer.WithCollector, evs[len(evs)-1].State, "%s: %+v", h.Name, evs[len(evs)-1].Error)
	}
	assertFleetClean(t, f)
	evs := ev.of("HOSTILE")
	require.NotEmpty(t, evs)
	last := evs[len(evs)-1]
	assert.Equal(t, deployer.Failed, last.State)
	require.NotNil(t, last.Error)
	assert.Equal(t, derrors.SharedAccessFailure, last.Error.Kind, last.Error.Error)
	assert.Equal(t, derrors.ReasonMalformedReply, last.Error.Reason, last.Error.Error)
	assert.Equal(t, derrors.StepNegotiate, last.Error.Step, last.Error.Error)
	assert.Contains(t, last.Error.Error, "shorter than an SMB2 header")
	assert.Equal(t, 4, sum.States[deployer.WithCollector])
	assert.Equal(t, 1, sum.States[deployer.Failed])

	require.NoError(t, f.Close())
	goleak.VerifyNone(t, leakCheck)
}
