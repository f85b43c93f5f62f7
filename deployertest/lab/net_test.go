package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"golang.org/x/sys/unix"
)

// serveEcho accepts on ln and echoes each connection; on cleanup it closes ln and every connection and waits
// for its goroutines.
func serveEcho(t testing.TB, ln net.Listener) {
	t.Helper()
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// dialFrom dials address from n's client namespace with a timeout and reports the error and the time taken.
func dialFrom(n *Net, address string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	c, err := n.DialContext(ctx, "tcp", address)
	elapsed := time.Since(start)
	if err == nil {
		_ = c.Close()
	}
	return elapsed, err
}

func TestFaults(t *testing.T) {
	t.Parallel()
	n := NewNet(t)
	h := n.AddHost(t, "target")
	const port = 7000
	ln, err := h.Listen(context.Background(), "tcp", fmt.Sprintf(":%d", port))
	require.NoError(t, err)
	serveEcho(t, ln)
	extra := h.AddAddrs(t, 3)
	require.Equal(t, []netip.Addr{
		netip.MustParseAddr("10.1.0.2"), netip.MustParseAddr("10.1.0.3"), netip.MustParseAddr("10.1.0.4"),
	}, extra)
	target := netip.AddrPortFrom(h.Addr, port).String()

	for _, a := range append([]netip.Addr{h.Addr}, extra...) {
		_, err := dialFrom(n, netip.AddrPortFrom(a, port).String(), time.Second)
		require.NoError(t, err, "baseline dial to %s", a)
	}

	const dialTimeout = time.Second
	tests := []struct {
		name        string
		fault       func(t *testing.T) func()
		address     string
		wantErrno   syscall.Errno // 0: want a timeout
		maxElapsed  time.Duration
		wantIPTable string // a fragment of `iptables -S` while the fault is on
	}{
		{
			name: "no listener refuses", fault: func(*testing.T) func() { return func() {} },
			address: netip.AddrPortFrom(h.Addr, port+1).String(), wantErrno: unix.ECONNREFUSED,
			maxElapsed: 500 * time.Millisecond,
		},
		{
			name: "drop times out", fault: func(t *testing.T) func() { return h.Drop(t, port) },
			address: target, maxElapsed: dialTimeout + 500*time.Millisecond, wantIPTable: "--dport 7000 -j DROP",
		},
		{
			name: "reject unreachable", fault: func(t *testing.T) func() { return h.RejectUnreachable(t, port) },
			address: target, wantErrno: unix.EHOSTUNREACH, maxElapsed: 500 * time.Millisecond,
			wantIPTable: "--reject-with icmp-host-unreachable",
		},
		{
			name: "reject reset", fault: func(t *testing.T) func() { return h.RejectReset(t, port) },
			address: target, wantErrno: unix.ECONNREFUSED, maxElapsed: 500 * time.Millisecond,
			wantIPTable: "--reject-with tcp-reset",
		},
		{
			name: "unroute", fault: func(t *testing.T) func() { return n.Unroute(t, h.Addr) },
			address: target, wantErrno: unix.EHOSTUNREACH, maxElapsed: 100 * time.Millisecond,
		},
		{
			name: "total loss times out", fault: func(t *testing.T) func() { return h.Loss(t, 1) },
			address: target, maxElapsed: dialTimeout + 500*time.Millisecond, wantIPTable: "--mode random",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			remove := tc.fault(t)
			if tc.wantIPTable != "" {
				rules, err := h.IPTables(context.Background())
				require.NoError(t, err)
				require.Contains(t, rules, tc.wantIPTable)
			}
			elapsed, err := dialFrom(n, tc.address, dialTimeout)
			require.Error(t, err)
			if tc.wantErrno != 0 {
				assert.True(t, errors.Is(err, tc.wantErrno), "want %v, got %v", tc.wantErrno, err)
			} else {
				var ne net.Error
				require.ErrorAs(t, err, &ne)
				assert.True(t, ne.Timeout(), "want a timeout, got %v", err)
				// Depending on which timer fires first, net wraps context.DeadlineExceeded or
				// os.ErrDeadlineExceeded: both are "i/o timeout".
				assert.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded),
					"want a deadline error, got %#v", err)
				assert.GreaterOrEqual(t, elapsed, dialTimeout-50*time.Millisecond, "gave up before the timeout")
			}
			assert.LessOrEqual(t, elapsed, tc.maxElapsed, "%v", err)
			t.Logf("%s: %v after %v", tc.name, err, elapsed.Round(time.Millisecond))

			remove()
			remove() // idempotent
			if tc.wantIPTable != "" {
				rules, err := h.IPTables(context.Background())
				require.NoError(t, err)
				assert.NotContains(t, rules, tc.wantIPTable)
			}
			if tc.address == target {
				_, err = dialFrom(n, target, dialTimeout)
				assert.NoError(t, err, "dial after removing the fault")
			}
		})
	}

	t.Run("unroute spares other addresses", func(t *testing.T) {
		n.Unroute(t, extra[0])
		_, err := dialFrom(n, netip.AddrPortFrom(extra[0], port).String(), dialTimeout)
		require.ErrorIs(t, err, unix.EHOSTUNREACH)
		_, err = dialFrom(n, netip.AddrPortFrom(extra[1], port).String(), dialTimeout)
		require.NoError(t, err)
	})
}

func TestNetIsolation(t *testing.T) {
	t.Parallel()
	n := NewNet(t)
	a := n.AddHost(t, "a")
	b := n.AddHost(t, "b")
	assert.Equal(t, netip.MustParseAddr("10.2.0.1"), b.Addr)
	assert.Equal(t, netip.MustParseAddr("10.2.255.254"), b.ClientAddr)
	assert.Equal(t, []string{n.ClientNS, a.NS, b.NS}, n.Namespaces())
	assert.True(t, strings.HasPrefix(n.ClientNS, fmt.Sprintf("dl%dx", os.Getpid())), n.ClientNS)

	ln, err := b.Listen(context.Background(), "tcp", ":7000")
	require.NoError(t, err)
	serveEcho(t, ln)

	// The client reaches b; a cannot (hosts are not routed to each other). (The root namespace is not probed:
	// it has a default route, and a SYN to 10.x from there would leave the machine.)
	_, err = dialFrom(n, netip.AddrPortFrom(b.Addr, 7000).String(), time.Second)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = a.DialContext(ctx, "tcp", netip.AddrPortFrom(b.Addr, 7000).String())
	require.ErrorIs(t, err, unix.ENETUNREACH)

	// Commands run in the right namespace: the client sees its veths, the host sees eth0 with its address.
	out, err := n.Command(context.Background(), "ip", "-o", "addr").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "10.2.255.254/16")
	out, err = b.Command(context.Background(), "ip", "-o", "addr", "show", "eth0").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "10.2.0.1/16")
	// Nothing routes outside: the client namespace has no default route.
	out, err = n.Command(context.Background(), "ip", "route", "get", "1.1.1.1").CombinedOutput()
	require.Error(t, err, "%s", out)
	assert.Contains(t, string(out), "unreachable")
}

func TestNetCleanup(t *testing.T) {
	t.Parallel()
	var (
		namespaces []string
		pids       []int
		user       string
	)
	t.Run("net", func(t *testing.T) {
		var strayDone chan struct{}
		t.Cleanup(func() { // registered first, so it runs after the Net's teardown, which kills the stray
			if strayDone != nil {
				<-strayDone
			}
		})
		n := NewNet(t)
		h := n.AddHost(t, "h")
		sleeper := h.Start(t, "sleep", "1000")
		client := n.Start(t, "sleep", "1000")
		// A process started behind the lab's back is still killed when the namespace goes.
		stray := h.Command(context.Background(), "sleep", "1000")
		stray.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		require.NoError(t, stray.Start())
		strayDone = make(chan struct{})
		go func() { _ = stray.Wait(); close(strayDone) }()
		s := h.StartSamba(t, SambaOptions{})
		h.Drop(t, 445)
		n.Unroute(t, netip.MustParseAddr("10.1.0.9"))
		namespaces = n.Namespaces()
		pids = []int{sleeper.Process.Pid, client.Process.Pid, stray.Process.Pid, s.SmbdPID, s.DcerpcdPID}
		user = s.User
		for _, ns := range namespaces {
			require.FileExists(t, filepath.Join(netnsDir, ns))
		}
		for _, pid := range pids {
			require.NoError(t, unix.Kill(pid, 0), "pid %d", pid)
		}
		_, err := exec.Command("id", user).CombinedOutput()
		require.NoError(t, err, "user %s exists", user)
	})
	require.Len(t, namespaces, 2)

	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	require.NoError(t, err)
	for _, ns := range namespaces {
		assert.NotContains(t, string(out), ns)
		assert.NoFileExists(t, filepath.Join(netnsDir, ns))
	}
	for _, pid := range pids {
		assert.True(t, !processAlive(pid), "pid %d still alive", pid)
	}
	_, err = exec.Command("id", user).CombinedOutput()
	assert.Error(t, err, "user %s still exists", user)
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	return unix.Kill(pid, 0) == nil && !isZombie(pid)
}

func TestDeadRun(t *testing.T) {
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	tests := []struct {
		name string
		want bool
	}{
		{fmt.Sprintf("dl%dx1a2b-client", dead.Process.Pid), true},
		{fmt.Sprintf("dl%dx1a2bu3", dead.Process.Pid), true},
		{fmt.Sprintf("dl%dx1a2b-client", os.Getpid()), false},
		{"dl1x1a2b-client", false}, // init is alive
		{"dscexp", false},
		{fmt.Sprintf("dl%dxZZ-client", dead.Process.Pid), false},
		{fmt.Sprintf("xdl%dx1a2b", dead.Process.Pid), false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, deadRun(tc.name), tc.name)
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	Require(t, "root", "netns")
	live := NewNet(t)

	// A run of our own PID with a fresh suffix stands for the dead run: other test processes sweeping at the
	// same time see a live PID and leave it alone, and sweep is told to treat exactly this prefix as dead.
	prefix := fmt.Sprintf("dl%dx%s", os.Getpid(), randomHex(3))
	isDead := func(name string) bool { return strings.HasPrefix(name, prefix) }
	ns := prefix + "-client"
	user := prefix + "u1"
	ipPath, err := LookPath("ip")
	require.NoError(t, err)
	require.NoError(t, run(context.Background(), ipPath, "netns", "add", ns))
	t.Cleanup(func() { _ = removeNamespace(ipPath, ns) })
	useradd, err := LookPath("useradd")
	require.NoError(t, err)
	require.NoError(t, run(context.Background(), useradd, "-M", "-N", "-g", "nogroup", user))
	t.Cleanup(func() { _ = deleteUser(user) })
	orphan := nsCommand(context.Background(), ipPath, ns, "sleep", "1000")
	orphan.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	require.NoError(t, orphan.Start())
	orphanDone := make(chan error, 1)
	go func() { orphanDone <- orphan.Wait() }()
	t.Cleanup(func() {
		_ = orphan.Process.Kill()
		<-orphanDone
	})
	require.Eventually(t, func() bool {
		pids, err := namespacePIDs(ipPath, ns)
		return err == nil && len(pids) == 1
	}, 10*time.Second, 10*time.Millisecond, "the orphan enters the namespace")
	require.True(t, userExists(user))

	require.NoError(t, sweep(isDead))

	assert.NoFileExists(t, filepath.Join(netnsDir, ns), "dead run's namespace")
	select {
	case err := <-orphanDone:
		orphanDone <- err
		assert.Error(t, err, "the orphan was killed")
	case <-time.After(5 * time.Second):
		t.Error("the orphan in the dead run's namespace survived the sweep")
	}
	assert.False(t, userExists(user), "dead run's user %s", user)
	assert.FileExists(t, filepath.Join(netnsDir, live.ClientNS), "a live run's namespace is kept")
	if err := Sweep(); err != nil { // others' leftovers on this shared machine may resist; not this test's business
		t.Logf("Sweep: %v", err)
	}
	assert.FileExists(t, filepath.Join(netnsDir, live.ClientNS), "a live run's namespace is kept")
}
