package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where `ip netns` mounts named network namespaces.
const netnsDir = "/run/netns"

// maxHosts is the number of hosts one Net can hold: host i owns 10.i.0.0/16.
const maxHosts = 254

// hostNameRE restricts host names to what fits in a namespace name and a NetBIOS name.
var hostNameRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,14}$`)

// Net is one test's private network: a client namespace plus target hosts, each in its own namespace joined to
// the client namespace by a veth pair. Host i (from 1) owns 10.i.0.0/16: the host end of its veth is 10.i.0.1,
// the client end 10.i.255.254. Nothing routes outside the Net, and hosts cannot reach each other.
//
// Namespace names start with Prefix, "dl<pid>x<random>", so parallel runs never collide and Sweep can recognise
// leftovers of dead runs. Veths are created directly inside the namespaces, so the root namespace never sees
// them. t.Cleanup kills the processes started in the Net (by PID), removes iptables rules and routes, and deletes
// the namespaces.
type Net struct {
	// Prefix is this Net's per-run prefix, "dl<pid>x<hex>".
	Prefix string
	// ClientNS is the name of the client namespace (a file in /run/netns).
	ClientNS string

	ipPath string

	mu    sync.Mutex
	hosts []*Host
	seq   int
}

// Host is a target host: its own network namespace with one veth to the client namespace.
type Host struct {
	// Name is the name given to AddHost.
	Name string
	// NS is the host's namespace name.
	NS string
	// Addr is the host's primary address, 10.i.0.1.
	Addr netip.Addr
	// ClientAddr is the client namespace's address on the same veth, 10.i.255.254: what the host sees as peer.
	ClientAddr netip.Addr
	// Prefix is the host's /16, routed from the client namespace.
	Prefix netip.Prefix

	n     *Net
	index int

	mu       sync.Mutex
	nextAddr int
}

// NewNet creates the client namespace of a new Net, after sweeping leftovers of dead runs. It requires root and
// network namespaces (Require(t, "root", "netns")).
func NewNet(t testing.TB) *Net {
	t.Helper()
	Require(t, "root", "netns")
	if err := Sweep(); err != nil {
		t.Logf("lab: sweeping leftovers of dead runs: %v", err)
	}
	ipPath, err := LookPath("ip")
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	n := &Net{ipPath: ipPath}
	for attempt := 0; ; attempt++ {
		n.Prefix = fmt.Sprintf("dl%dx%s", os.Getpid(), randomHex(2))
		n.ClientNS = n.Prefix + "-client"
		err := run(context.Background(), ipPath, "netns", "add", n.ClientNS)
		if err == nil {
			break
		}
		if attempt == 3 {
			t.Fatalf("lab: %v", err)
		}
	}
	t.Cleanup(func() { n.teardown(t) })
	if err := run(context.Background(), ipPath, "-n", n.ClientNS, "link", "set", "lo", "up"); err != nil {
		t.Fatalf("lab: %v", err)
	}
	return n
}

// teardown kills what is left in the Net's namespaces and deletes them, client last.
func (n *Net) teardown(t testing.TB) {
	n.mu.Lock()
	names := make([]string, 0, len(n.hosts)+1)
	for _, h := range n.hosts {
		names = append(names, h.NS)
	}
	n.mu.Unlock()
	names = append(names, n.ClientNS)
	for _, ns := range names {
		if err := removeNamespace(n.ipPath, ns); err != nil {
			t.Errorf("lab: %v", err)
		}
	}
}

// Namespaces lists the names of the Net's namespaces: the client's first, then every host's.
func (n *Net) Namespaces() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	names := []string{n.ClientNS}
	for _, h := range n.hosts {
		names = append(names, h.NS)
	}
	return names
}

// Hosts returns the hosts added so far, in order.
func (n *Net) Hosts() []*Host {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Host(nil), n.hosts...)
}

// AddHost creates a host namespace named Prefix+"-"+name, joined to the client namespace by a veth pair
// ("hI" in the client namespace, "eth0" in the host's). name must match ^[a-z][a-z0-9-]{0,14}$ and be unique in
// the Net. The namespace is deleted when n is torn down (after t's own cleanups).
func (n *Net) AddHost(t testing.TB, name string) *Host {
	t.Helper()
	if !hostNameRE.MatchString(name) {
		t.Fatalf("lab: host name %q must match %s", name, hostNameRE)
	}
	n.mu.Lock()
	for _, h := range n.hosts {
		if h.Name == name {
			n.mu.Unlock()
			t.Fatalf("lab: host %q already exists in %s", name, n.Prefix)
		}
	}
	if len(n.hosts) == maxHosts {
		n.mu.Unlock()
		t.Fatalf("lab: a Net holds at most %d hosts", maxHosts)
	}
	i := len(n.hosts) + 1
	h := &Host{
		Name:       name,
		NS:         n.Prefix + "-" + name,
		Addr:       netip.AddrFrom4([4]byte{10, byte(i), 0, 1}),
		ClientAddr: netip.AddrFrom4([4]byte{10, byte(i), 255, 254}),
		Prefix:     netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 0, 0}), 16),
		n:          n,
		index:      i,
		nextAddr:   2,
	}
	// Registered before the namespace exists so that a half-made host is still torn down with the Net.
	n.hosts = append(n.hosts, h)
	n.mu.Unlock()

	ctx := context.Background()
	veth := "h" + strconv.Itoa(i)
	steps := [][]string{
		{"netns", "add", h.NS},
		{"-n", h.NS, "link", "set", "lo", "up"},
		{"-n", n.ClientNS, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", h.NS},
		{"-n", n.ClientNS, "addr", "add", h.ClientAddr.String() + "/16", "dev", veth},
		{"-n", n.ClientNS, "link", "set", veth, "up"},
		{"-n", h.NS, "addr", "add", h.Addr.String() + "/16", "dev", "eth0"},
		{"-n", h.NS, "link", "set", "eth0", "up"},
	}
	for _, args := range steps {
		if err := run(ctx, n.ipPath, args...); err != nil {
			t.Fatalf("lab: adding host %s: %v", name, err)
		}
	}
	// The kernel's linkwatch activates a veth that came up (qdisc noop → noqueue) up to a second later; packets
	// sent before are dropped, so a first SYN would be lost and a 1 s connect would time out.
	for _, end := range [][2]string{{n.ClientNS, veth}, {h.NS, "eth0"}} {
		if err := waitLinkUp(ctx, n.ipPath, end[0], end[1]); err != nil {
			t.Fatalf("lab: adding host %s: %v", name, err)
		}
	}
	return h
}

// waitLinkUp waits until dev in ns is operationally up with its real qdisc attached.
func waitLinkUp(ctx context.Context, ipPath, ns, dev string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, err := exec.CommandContext(ctx, ipPath, "-n", ns, "-o", "link", "show", "dev", dev).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip -n %s link show dev %s: %w: %s", ns, dev, err, bytes.TrimSpace(out))
		}
		if bytes.Contains(out, []byte(" state UP ")) && !bytes.Contains(out, []byte(" qdisc noop ")) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s in %s not up after 5 s: %s", dev, ns, bytes.TrimSpace(out))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// AddAddrs adds count more addresses (/32) to the host's veth, taken in order from the host's /16, and returns
// them. The client namespace reaches them through the host's connected /16 route. At most 65532 per host.
func (h *Host) AddAddrs(t testing.TB, count int) []netip.Addr {
	t.Helper()
	h.mu.Lock()
	first := h.nextAddr
	if count < 0 || first+count > 65534 {
		h.mu.Unlock()
		t.Fatalf("lab: host %s cannot take %d more addresses", h.Name, count)
	}
	h.nextAddr += count
	h.mu.Unlock()
	addrs := make([]netip.Addr, count)
	var batch bytes.Buffer
	for k := range addrs {
		v := first + k
		addrs[k] = netip.AddrFrom4([4]byte{10, byte(h.index), byte(v >> 8), byte(v)})
		fmt.Fprintf(&batch, "addr add %s/32 dev eth0\n", addrs[k])
	}
	cmd := exec.Command(h.n.ipPath, "-n", h.NS, "-batch", "-")
	cmd.Stdin = &batch
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lab: adding %d addresses to %s: %v: %s", count, h.Name, err, out)
	}
	return addrs
}

// DialContext connects to address from inside the client namespace: the socket is created on an OS thread
// switched into the namespace (the thread is discarded afterwards), so the caller needs no `ip netns exec`.
// Host names in address are resolved by the Go resolver outside the namespace: pass IP literals.
func (n *Net) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return dialIn(ctx, n.ClientNS, network, address)
}

// Dialer returns a net.Dialer-shaped function that dials from the client namespace with a connect timeout, as the
// library's Dial hooks expect.
func (n *Net) Dialer(timeout time.Duration) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return n.DialContext(ctx, network, address)
	}
}

// Listen listens on address inside the client namespace (for servers the hosts call back).
func (n *Net) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return listenIn(ctx, n.ClientNS, network, address)
}

// Resolver returns a Go resolver whose queries go to dnsAddr ("ip:port") from inside the client namespace,
// e.g. to a Host.StartDNS server or an AD DC.
func (n *Net) Resolver(dnsAddr string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return n.DialContext(ctx, network, dnsAddr)
		},
	}
}

// Command returns a command that runs in the client namespace (through `ip netns exec`). name is resolved with
// LookPath first, so sbin binaries are found.
func (n *Net) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return nsCommand(ctx, n.ipPath, n.ClientNS, name, args...)
}

// DialContext connects to address from inside the host's namespace.
func (h *Host) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return dialIn(ctx, h.NS, network, address)
}

// Listen listens on address inside the host's namespace, e.g. ":445" or h.Addr:port for an in-process server
// that kernel faults (Drop, RejectReset, ...) apply to.
func (h *Host) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return listenIn(ctx, h.NS, network, address)
}

// ListenPacket listens on a packet address inside the host's namespace.
func (h *Host) ListenPacket(ctx context.Context, network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := inNamespace(h.NS, func() error {
		var err error
		pc, err = (&net.ListenConfig{}).ListenPacket(ctx, network, address)
		return err
	})
	return pc, err
}

// Command returns a command that runs in the host's namespace (through `ip netns exec`).
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return nsCommand(ctx, h.n.ipPath, h.NS, name, args...)
}

// Net returns the Net the host belongs to.
func (h *Host) Net() *Net { return h.n }

// nsCommand builds `ip netns exec NS path args...`; ip execs the program, so the command's PID is the program's.
func nsCommand(ctx context.Context, ipPath, ns, name string, args ...string) *exec.Cmd {
	if p, err := LookPath(name); err == nil {
		name = p
	}
	return exec.CommandContext(ctx, ipPath, append([]string{"netns", "exec", ns, name}, args...)...)
}

// dialIn dials from inside the namespace ns.
func dialIn(ctx context.Context, ns, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := inNamespace(ns, func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, network, address)
		return err
	})
	return conn, err
}

// listenIn listens inside the namespace ns.
func listenIn(ctx context.Context, ns, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := inNamespace(ns, func() error {
		var err error
		ln, err = (&net.ListenConfig{}).Listen(ctx, network, address)
		return err
	})
	return ln, err
}

// inNamespace runs fn on a goroutine locked to an OS thread that has joined the network namespace ns, then
// switches the thread back to the namespace it came from. If switching back fails the thread stays locked and
// the runtime discards it when the goroutine exits, so nothing else ever runs in the wrong namespace. Sockets
// made by fn stay in ns for their whole life.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored := false
		defer func() {
			if restored {
				runtime.UnlockOSThread()
			}
		}()
		orig, err := os.Open(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()))
		if err != nil {
			errc <- fmt.Errorf("lab: opening this thread's namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join(netnsDir, ns))
		if err != nil {
			restored = true
			errc <- fmt.Errorf("lab: opening namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			restored = true
			errc <- fmt.Errorf("lab: entering namespace %s: %w", ns, err)
			return
		}
		ferr := fn()
		restored = unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil
		errc <- ferr
	}()
	return <-errc
}

// run runs a command and returns its output in the error when it fails.
func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand.Read never fails on Linux
	}
	return hex.EncodeToString(b)
}

// removeNamespace kills every process left in ns (by PID, SIGKILL), waits for them to die, and deletes ns.
// A namespace that no longer exists is not an error.
func removeNamespace(ipPath, ns string) error {
	if _, err := os.Stat(filepath.Join(netnsDir, ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, err := namespacePIDs(ipPath, ns)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("processes %v in namespace %s survive SIGKILL", pids, ns))
			break
		}
		for _, pid := range pids {
			if pid != os.Getpid() { // a thread of ours may be inside ns for a moment (inNamespace): never suicide
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := run(context.Background(), ipPath, "netns", "del", ns); err != nil {
		if _, serr := os.Stat(filepath.Join(netnsDir, ns)); !errors.Is(serr, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// namespacePIDs lists the processes inside ns (`ip netns pids`), zombies excluded.
func namespacePIDs(ipPath, ns string) ([]int, error) {
	out, err := exec.Command(ipPath, "netns", "pids", ns).Output()
	if err != nil {
		if _, serr := os.Stat(filepath.Join(netnsDir, ns)); errors.Is(serr, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("ip netns pids %s: %w", ns, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			continue
		}
		if pid == os.Getpid() || isZombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// isZombie reports whether pid is a zombie (state Z in /proc/pid/stat): dead, waiting for its parent.
func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	state := statState(b)
	return state == 'Z' || state == 'X'
}

// statState returns the state letter of a /proc/PID/stat line ("pid (comm) S ..."; comm may hold spaces and
// parentheses, so the state follows the last ')'), or 0 if the line is malformed.
func statState(b []byte) byte {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) || b[i+1] != ' ' {
		return 0
	}
	return b[i+2]
}
