package deployer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"
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

// relayIn listens on addr inside the lab host's network namespace and
// relays every connection to target (an emulated host on loopback in the
// test's own namespace), so that the host namespace's iptables rules cut
// the client off from the emulated host as a real network would.
func relayIn(t *testing.T, h *lab.Host, addr, target string) {
	t.Helper()
	ln, err := h.Listen(context.Background(), "tcp", addr)
	require.NoError(t, err)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = down.Close()
				continue
			}
			track(down)
			track(up)
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, down); _ = up.Close() }()
			go func() { defer wg.Done(); _, _ = io.Copy(down, up); _ = down.Close() }()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// TestRunInstallerBlackHoledInEveryPhase: the host stops answering (an
// iptables DROP inside its namespace) during the upload, the service start,
// the follow-up of msiexec and the cleanup. RunInstaller returns within a
// bound made of the request and connect timeouts (not HostTimeout), with a
// connection timeout naming the step; what the host kept is removed by a
// Sweep once it answers again.
func TestRunInstallerBlackHoledInEveryPhase(t *testing.T) {
	lab.Require(t, "root", "netns", "iptables")
	const (
		requestTimeout = 2 * time.Second
		connectTimeout = time.Second
	)
	// Every request on the wire has a deadline: a phase costs at most a few
	// requests (an RPC is retried once on a new pipe), the cleanup a few
	// more, and the cleanup's fresh connection one connect timeout.
	bound := 14*requestTimeout + 2*connectTimeout + 3*time.Second

	cases := []struct {
		phase    string
		duration time.Duration
		steps    []derrors.Step
		success  bool
	}{
		{phase: "upload", duration: 200 * time.Millisecond, steps: []derrors.Step{derrors.StepUpload}},
		{phase: "start", duration: 200 * time.Millisecond, steps: []derrors.Step{derrors.StepUpload,
			derrors.StepOpenService, derrors.StepCreateService, derrors.StepConfigureService, derrors.StepStartService}},
		{phase: "install", duration: 20 * time.Second, steps: []derrors.Step{derrors.StepQueryService, derrors.StepMSIExec}},
		{phase: "cleanup", duration: 200 * time.Millisecond, success: true},
	}
	n := lab.NewNet(t)
	for i, c := range cases {
		t.Run(c.phase, func(t *testing.T) {
			e := startEmulated(t, hostOpts{installer: deployertest.Installer{Duration: c.duration}})
			h := n.AddHost(t, "bh"+strconv.Itoa(i))
			relayIn(t, h, netip.AddrPortFrom(h.Addr, 445).String(), e.Addr)
			target := discovery.Host{Name: e.Name, Addr: h.Addr}
			cfg := deployer.ConnectConfig{SMB: smb.Config{
				Credentials:    smb.Credentials{User: e.User, Password: e.Password},
				Dial:           n.Dialer(0),
				ConnectTimeout: connectTimeout,
				RequestTimeout: requestTimeout,
			}}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			conn, err := deployer.Connect(ctx, target, cfg)
			require.NoError(t, err)
			defer conn.Close()

			var (
				once    sync.Once
				dropped time.Time
				heal    func()
			)
			opts := deployer.InstallOptions{Progress: func(p deployer.InstallProgress) {
				if p.Phase == c.phase {
					once.Do(func() {
						heal = h.Drop(t, 445)
						dropped = time.Now()
					})
				}
			}}
			res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: testPackage}, opts)
			took := time.Since(dropped)
			require.False(t, dropped.IsZero(), "the phase was reached")
			t.Logf("%s: returned %v after the drop: %v (cleanup: %v)", c.phase, took.Round(time.Millisecond), err, res.CleanupErr)
			assert.Less(t, took, bound, "RunInstaller returned within its timeouts")
			require.NotNil(t, res)
			if c.success {
				require.NoError(t, err, "the installation succeeded; only its cleanup failed")
				assert.True(t, res.Exited)
				assert.Equal(t, uint32(0), res.ExitCode)
				require.Error(t, res.CleanupErr)
				assert.True(t, derrors.Timeout(res.CleanupErr), "%v", res.CleanupErr)
				de, ok := derrors.As(res.CleanupErr)
				require.True(t, ok)
				assert.Equal(t, derrors.StepCleanup, de.Step)
			} else {
				require.Error(t, err)
				de, ok := derrors.As(err)
				require.True(t, ok, "%v", err)
				assert.Equal(t, derrors.ConnectionTimeout, de.Kind, "%v", err)
				assert.Contains(t, c.steps, de.Step, "%v", err)
				assert.Equal(t, e.Name, de.Host)
				assert.False(t, res.Exited, "msiexec's result was never read")
				// The cleanup could not reach the host either: its error is
				// kept with the installation's, and shown with it.
				require.Error(t, de.Cleanup)
				assert.Equal(t, res.CleanupErr, de.Cleanup)
				info := deployer.NewErrorInfo(e.Name, err)
				assert.Contains(t, info.Error, "the cleanup failed too: cleanup: connection timeout")
				assert.NotContains(t, info.Error, "\n", "one line")
				assert.False(t, errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil, "not the test's own deadline")
			}

			// Once the host answers again, and the old session has ended
			// (its handles with it), a sweep removes what the host kept.
			heal()
			_ = conn.Close() // its logoff may still wait for TCP's retransmission backoff
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer scancel()
			fresh, err := deployer.Connect(sctx, target, cfg)
			require.NoError(t, err)
			defer fresh.Close()
			// Until the host sees the old connection end, a file it had open
			// stays in use: the sweep is retried, as a later run would.
			var serr error
			require.Eventually(t, func() bool {
				_, serr = deployer.Sweep(sctx, fresh, nil)
				return serr == nil
			}, time.Minute, time.Second, "the sweep after the host answers again: %v", serr)
			e.assertClean(t)
		})
	}
}
