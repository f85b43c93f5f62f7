package deployer_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
)

// benchFleetSize is the number of emulated hosts of BenchmarkFleet.
const benchFleetSize = 1000

// raiseNoFile raises the soft limit of open files to at least want (up to
// the hard limit): every emulated host is a listener, and every host in
// flight holds two client and two server connections.
func raiseNoFile(tb testing.TB, want uint64) {
	tb.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= want {
		return
	}
	lim.Cur = min(want, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatalf("setrlimit NOFILE %d: %v", lim.Cur, err)
	}
	if lim.Cur < want {
		tb.Logf("open files limited to %d (hard limit); %d wanted", lim.Cur, want)
	}
}

// heapSampler samples the Go heap in use (runtime/metrics) until stopped and
// keeps the peak.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
}

const heapMetric = "/memory/classes/heap/objects:bytes"

func heapInUse() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	h.peak.Store(heapInUse())
	go func() {
		defer close(h.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				if v := heapInUse(); v > h.peak.Load() {
					h.peak.Store(v)
				}
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak in bytes.
func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	if v := heapInUse(); v > h.peak.Load() {
		h.peak.Store(v)
	}
	return h.peak.Load()
}

// vmHWM returns the process's peak resident set size in bytes, from
// /proc/self/status (0 when unknown).
func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

const mib = 1 << 20

func benchConfig(f *demo.Fleet, concurrency int) deployer.Config {
	return deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{
			Credentials:    smb.Credentials{User: f.User, Password: f.Password},
			Port:           f.Port,
			ConnectTimeout: 10 * time.Second,
			RequestTimeout: 30 * time.Second,
		}},
		Package:            deployer.Package{Path: testPackage},
		Install:            deployer.InstallOptions{PollInterval: 5 * time.Millisecond},
		Concurrency:        concurrency,
		HostTimeout:        2 * time.Minute,
		LogonFailureBudget: -1,
	}
}

// BenchmarkFleet deploys to 1,000 healthy emulated hosts (installs of 1 ms)
// per iteration, at several concurrencies. The emulated hosts run in the
// same process, so the heap figures include their side. Run it once per
// concurrency: go test -run '^$' -bench BenchmarkFleet -benchtime 1x .
func BenchmarkFleet(b *testing.B) {
	raiseNoFile(b, 8192)
	faults := make([]demo.Fault, benchFleetSize)
	for i := range faults {
		faults[i] = demo.Healthy
	}
	f, err := demo.Start(demo.Options{Faults: faults, InstallTime: time.Millisecond, StartTimeout: 10 * time.Second})
	require.NoError(b, err)
	b.Cleanup(func() { f.Close() })
	targets := f.Targets()
	for _, conc := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			runtime.GC()
			base := heapInUse()
			sampler := startHeapSampler(10 * time.Millisecond)
			b.ResetTimer()
			for b.Loop() {
				d, err := deployer.New(benchConfig(f, conc))
				require.NoError(b, err)
				sum, err := d.Run(context.Background(), targets)
				require.NoError(b, err)
				if sum.States[deployer.WithCollector] != len(targets) {
					b.Fatalf("%d of %d hosts With Collector; first failure: %+v", sum.States[deployer.WithCollector],
						len(targets), sum.Failed[0].Error)
				}
			}
			b.StopTimer()
			peak := sampler.Stop()
			elapsed := b.Elapsed()
			b.ReportMetric(float64(len(targets)*b.N)/elapsed.Seconds(), "hosts/s")
			b.ReportMetric(float64(peak)/mib, "peak-heap-MB")
			b.ReportMetric(float64(peak-min(peak, base))/mib, "run-heap-MB")
			b.ReportMetric(float64(vmHWM())/mib, "VmHWM-MB")
		})
	}
}

// countingConn counts what a client sends: each Write is one request (or
// one compound of requests) on the SMB session or the svcctl pipe's session.
type countingConn struct {
	net.Conn
	c *connCounter
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.c.bytesOut.Add(int64(len(p)))
	c.c.command(p)
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.c.bytesIn.Add(int64(n))
	return n, err
}

type connCounter struct {
	conns, writes, bytesOut, bytesIn atomic.Int64

	mu       sync.Mutex
	commands map[string]int // first SMB2 command of each write
}

// smb2Commands names SMB2 commands by number ([MS-SMB2] 2.2.1).
var smb2Commands = []string{"NEGOTIATE", "SESSION_SETUP", "LOGOFF", "TREE_CONNECT", "TREE_DISCONNECT", "CREATE",
	"CLOSE", "FLUSH", "READ", "WRITE", "LOCK", "IOCTL", "CANCEL", "ECHO", "QUERY_DIRECTORY", "CHANGE_NOTIFY",
	"QUERY_INFO", "SET_INFO", "OPLOCK_BREAK"}

// command counts a message written and records its SMB2 command. The
// client writes the 4-byte transport header and the message separately (or
// together): a bare header is not a request. An encrypted message
// (TRANSFORM_HEADER) hides its command.
func (c *connCounter) command(p []byte) {
	if len(p) == 4 {
		return // the transport header of the next write
	}
	msg := p
	if len(p) >= 8 && (bytes.Equal(p[5:8], []byte("SMB")) && (p[4] == 0xfe || p[4] == 0xfd)) {
		msg = p[4:]
	}
	name := "other"
	switch {
	case len(msg) >= 64 && bytes.Equal(msg[:4], []byte("\xfeSMB")):
		cmd := int(binary.LittleEndian.Uint16(msg[12:]))
		name = fmt.Sprintf("0x%02x", cmd)
		if cmd < len(smb2Commands) {
			name = smb2Commands[cmd]
		}
		if binary.LittleEndian.Uint32(msg[20:]) != 0 {
			name += "+compound"
		}
		if os.Getenv("BENCH_TRACE") != "" {
			extra := ""
			if cmd == 5 && len(msg) >= 64+56 {
				off, l := int(binary.LittleEndian.Uint16(msg[64+44:])), int(binary.LittleEndian.Uint16(msg[64+46:]))
				if off+l <= len(msg) {
					u := make([]uint16, l/2)
					for i := range u {
						u[i] = binary.LittleEndian.Uint16(msg[off+2*i:])
					}
					extra = string(utf16.Decode(u))
				}
			}
			if cmd == 11 && len(msg) > 64+56+24 {
				extra = fmt.Sprintf("opnum? %d", binary.LittleEndian.Uint16(msg[64+56+22:]))
			}
			fmt.Fprintf(os.Stderr, "TRACE %s %s len=%d\n", name, extra, len(msg))
		}
	case len(msg) >= 4 && bytes.Equal(msg[:4], []byte("\xfdSMB")):
		name = "encrypted"
	}
	c.writes.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.commands == nil {
		c.commands = map[string]int{}
	}
	c.commands[name]++
}

// breakdown lists the commands written per deployment, most frequent first.
func (c *connCounter) breakdown(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	type kv struct {
		k string
		v int
	}
	var all []kv
	for k, v := range c.commands {
		all = append(all, kv{k, v})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v > all[j].v || all[i].v == all[j].v && all[i].k < all[j].k })
	parts := make([]string, len(all))
	for i, x := range all {
		parts[i] = fmt.Sprintf("%s %.1f", x.k, float64(x.v)/float64(n))
	}
	return strings.Join(parts, ", ")
}

// benchDeployLoop deploys to targets (one healthy host) b.N times with cfg,
// whose SMB dialer counts into cnt, and reports the time, the SMB requests,
// the connections and the bytes of one deployment.
//
// Every iteration installs: the product is removed from the host (over a
// connection of its own, neither timed nor counted) after each one, or the
// next would find it installed and skip the host.
func benchDeployLoop(b *testing.B, cfg deployer.Config, targets []discovery.Host, cnt *connCounter) {
	b.Helper()
	info, err := msi.Inspect(cfg.Package.Path)
	require.NoError(b, err)
	plain := cfg.Connect
	plain.SMB.Dial = nil
	b.ResetTimer()
	for b.Loop() {
		d, err := deployer.New(cfg)
		require.NoError(b, err)
		sum, err := d.Run(context.Background(), targets)
		require.NoError(b, err)
		if sum.States[deployer.WithCollector] != 1 || sum.Skipped[deployer.SkipAlreadyOnHost] != 0 {
			b.Fatalf("not installed: %+v", sum)
		}
		b.StopTimer()
		uninstallBench(b, targets[0], plain, info.ProductCode)
		b.StartTimer()
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/n, "ms/deploy")
	b.ReportMetric(float64(cnt.writes.Load())/n, "requests/deploy")
	b.ReportMetric(float64(cnt.conns.Load())/n, "conns/deploy")
	b.ReportMetric(float64(cnt.bytesOut.Load())/1024/n, "KiB-sent/deploy")
	b.ReportMetric(float64(cnt.bytesIn.Load())/1024/n, "KiB-recv/deploy")
}

// uninstallBench removes product from host, so the next deployment installs.
func uninstallBench(b *testing.B, host discovery.Host, cfg deployer.ConnectConfig, product string) {
	b.Helper()
	ctx := context.Background()
	conn, err := deployer.Connect(ctx, host, cfg)
	require.NoError(b, err)
	defer conn.Close()
	_, err = deployer.Uninstall(ctx, conn, product, deployer.InstallOptions{PollInterval: 5 * time.Millisecond})
	require.NoError(b, err)
}

func (c *connCounter) dial(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	c.conns.Add(1)
	return &countingConn{Conn: conn, c: c}, nil
}

// BenchmarkDeployOneHost is the per-host cost of a deployment on an emulated
// host whose msiexec takes no time: connect (SMB session, ADMIN$, svcctl),
// push the service and the package, create and start the service, follow
// it until msiexec exits, read the result and clean up. It reports the SMB
// round trips (requests written on either connection) per deployment.
func BenchmarkDeployOneHost(b *testing.B) {
	f, err := demo.Start(demo.Options{Faults: []demo.Fault{demo.Healthy}, InstallTime: time.Microsecond})
	require.NoError(b, err)
	b.Cleanup(func() { f.Close() })
	targets := f.Targets()
	for _, enc := range []smb.Encryption{smb.EncryptIfOffered, smb.EncryptNever} {
		// Without encryption every request's command shows in the
		// breakdown; with it (the default) only the NEGOTIATE and
		// SESSION_SETUP exchanges that precede it.
		b.Run("encryption="+enc.String(), func(b *testing.B) {
			var cnt connCounter
			cfg := benchConfig(f, 1)
			cfg.Connect.SMB.Dial = cnt.dial
			cfg.Connect.SMB.Encryption = enc
			benchDeployLoop(b, cfg, targets, &cnt)
			b.Logf("requests per deployment by SMB2 command (b.N=%d): %s", b.N, cnt.breakdown(b.N))
		})
	}
}

// envProbeBench turns TestProbeRateComparison on.
const envProbeBench = "DEPLOYER_BENCH_PROBE"

// probeParallel and probeTimeout are the comparison's concurrency and
// timeout (TCP connect for deployer.Probe, every operation for impacket and
// smbclient).
const (
	probeParallel = 64
	probeTimeout  = 2 * time.Second
)

// TestProbeRateComparison probes a fleet three ways in the same run: the
// examples/probe command (deployer.Probe, 64 at once), a 64-thread impacket
// probe (scripts/bench/impacket_probe.py: login, list shares, svcctl
// OpenSCManager) and `smbclient -L` per host, 64 at once
// (scripts/bench/smbclient_probe.sh). It prints hosts per second and peak RSS
// (/usr/bin/time -v) of each, against two fleets:
//
//   - samba: many addresses of one Samba server in a network namespace, 10%
//     of them silently dropped (needs root, samba, smbclient, impacket);
//     smbd forks per connection, so the server bounds the rate;
//   - emulated: the demo fleet of emulated hosts on 127.10.x.y, 10% of them
//     refusing connections (needs smbclient and impacket); the server is
//     cheap, so the clients' own costs show.
//
// It is a measurement, not a test: it runs only with DEPLOYER_BENCH_PROBE=1
// (scripts/bench/probe_rate.sh); DEPLOYER_BENCH_PROBE_HOSTS sets the number of
// hosts (200).
func TestProbeRateComparison(t *testing.T) {
	if os.Getenv(envProbeBench) != "1" {
		t.Skipf("a measurement: set %s=1 to run it (see scripts/bench/probe_rate.sh)", envProbeBench)
	}
	if _, err := os.Stat("/usr/bin/time"); err != nil {
		t.Skipf("needs GNU time at /usr/bin/time (Debian package time): %v", err)
	}
	hosts := 200
	if v := os.Getenv("DEPLOYER_BENCH_PROBE_HOSTS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		require.GreaterOrEqual(t, n, 10)
		hosts = n
	}
	probeBin := filepath.Join(t.TempDir(), "probe")
	out, err := exec.Command("go", "build", "-o", probeBin, "./examples/probe").CombinedOutput()
	require.NoError(t, err, "%s", out)

	t.Run("samba", func(t *testing.T) {
		lab.Require(t, "root", "netns", "iptables", "smbd", "smbclient", "impacket")
		n := lab.NewNet(t)
		h := n.AddHost(t, "fleet")
		extra := h.AddAddrs(t, hosts-1)
		s := h.StartSamba(t, lab.SambaOptions{Addrs: extra})
		unreachable := 0
		for i, a := range s.Addrs {
			if i%10 == 9 {
				dropAddr(t, h, a)
				unreachable++
			}
		}
		compareProbes(t, probeFleet{
			name: "one Samba server with many addresses (10% dropped)", addrs: s.Addrs, port: 445,
			user: s.AdminUser, password: s.AdminPassword, unreachable: unreachable, probeBin: probeBin,
			command: func(ctx context.Context, name string, args ...string) *exec.Cmd {
				return n.Command(ctx, name, args...)
			},
		})
	})
	t.Run("emulated", func(t *testing.T) {
		lab.Require(t, "smbclient", "impacket")
		raiseNoFile(t, 4096)
		faults := make([]demo.Fault, hosts)
		unreachable := 0
		for i := range faults {
			faults[i] = demo.Healthy
			if i%10 == 9 {
				faults[i] = demo.Offline
				unreachable++
			}
		}
		f, err := demo.Start(demo.Options{Faults: faults})
		require.NoError(t, err)
		t.Cleanup(func() { f.Close() })
		addrs := make([]netip.Addr, len(f.Hosts))
		for i, h := range f.Hosts {
			addrs[i] = h.IP
		}
		compareProbes(t, probeFleet{
			name: "emulated hosts on 127.10.x.y (10% refuse)", addrs: addrs, port: f.Port,
			user: f.User, password: f.Password, unreachable: unreachable, probeBin: probeBin,
			command: exec.CommandContext,
		})
	})
}

// probeFleet is what compareProbes probes, and how to run a client.
type probeFleet struct {
	name        string
	addrs       []netip.Addr
	port        int
	user        string
	password    string
	unreachable int
	probeBin    string
	command     func(ctx context.Context, name string, args ...string) *exec.Cmd
}

// compareProbes runs the three probes against the fleet, one after the
// other, and prints a table.
func compareProbes(t *testing.T, pf probeFleet) {
	t.Helper()
	list := filepath.Join(t.TempDir(), "addrs.txt")
	var sb strings.Builder
	for _, a := range pf.addrs {
		sb.WriteString(a.String() + "\n")
	}
	require.NoError(t, os.WriteFile(list, []byte(sb.String()), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	env := append(os.Environ(), "BENCH_PW="+pf.password)
	port := strconv.Itoa(pf.port)
	secs := strconv.Itoa(int(probeTimeout.Seconds()))
	par := strconv.Itoa(probeParallel)
	var results []probeResult

	// deployer.Probe through examples/probe.
	args := []string{"-v", pf.probeBin, "-user", pf.user, "-password-env", "BENCH_PW", "-parallel", par,
		"-timeout", probeTimeout.String(), "-request-timeout", "10s", "-port", port, "-json"}
	for _, a := range pf.addrs {
		args = append(args, a.String())
	}
	results = append(results, measure(t, ctx, pf, env, "deployer.Probe (examples/probe -parallel 64)", countJSONOK,
		"/usr/bin/time", args...))

	// impacket, 64 threads.
	script, err := filepath.Abs(filepath.Join("scripts", "bench", "impacket_probe.py"))
	require.NoError(t, err)
	results = append(results, measure(t, ctx, pf, env, "impacket 64 threads (login, listShares, OpenSCManager)",
		countPrefixOK, "/usr/bin/time", "-v", "/usr/bin/python3", script, "-user", pf.user, "-password-env", "BENCH_PW",
		"-threads", par, "-timeout", secs, "-port", port, list))

	// smbclient -L, one process per host, 64 at once.
	smbScript, err := filepath.Abs(filepath.Join("scripts", "bench", "smbclient_probe.sh"))
	require.NoError(t, err)
	results = append(results, measure(t, ctx, pf, append(env, "PASSWD="+pf.password),
		"smbclient -L per host (64 processes at once)", countPrefixOK,
		"/usr/bin/time", "-v", "xargs", "-a", list, "-P", par, "-I{}", smbScript, "{}", pf.user, secs, port))

	// deployer.Probe again, last: the first client meets a cold server
	// (Samba forks and initialises a process per connection), so the order
	// of the runs weighs on their figures; this run shows by how much.
	results = append(results, measure(t, ctx, pf, env, "deployer.Probe again, after the others", countJSONOK,
		"/usr/bin/time", args...))

	var table bytes.Buffer
	fmt.Fprintf(&table, "%s: %d hosts (%d unreachable), timeout %s, %d at once\n", pf.name, len(pf.addrs),
		pf.unreachable, probeTimeout, probeParallel)
	tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "probe\thosts\tok\twall s\thosts/s\tok/s\tmax RSS MB\t\n")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t%.1f\t%.1f\t%.1f\t\n", r.name, len(pf.addrs), r.ok, r.wall.Seconds(),
			float64(len(pf.addrs))/r.wall.Seconds(), float64(r.ok)/r.wall.Seconds(), float64(r.maxRSS)/1024)
	}
	tw.Flush()
	for _, r := range results {
		fmt.Fprintf(&table, "%s failures:\n", r.name)
		for _, f := range r.failures {
			fmt.Fprintf(&table, "  %s\n", f)
		}
	}
	fmt.Print(table.String())
	live := len(pf.addrs) - pf.unreachable
	require.Greater(t, results[0].ok, 0, "deployer.Probe passed some hosts")
	require.LessOrEqual(t, results[0].ok, live)
}

// dropAddr drops TCP 445 to one address of h (removed on cleanup).
func dropAddr(t *testing.T, h *lab.Host, a netip.Addr) {
	t.Helper()
	rule := []string{"INPUT", "-d", a.String(), "-p", "tcp", "--dport", "445", "-j", "DROP"}
	ctx := context.Background()
	out, err := h.Command(ctx, "iptables", append([]string{"-w", "-A"}, rule...)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Cleanup(func() {
		if out, err := h.Command(ctx, "iptables", append([]string{"-w", "-D"}, rule...)...).CombinedOutput(); err != nil {
			t.Errorf("iptables -D: %v: %s", err, out)
		}
	})
}

type probeResult struct {
	name     string
	ok       int
	wall     time.Duration
	maxRSS   int64    // KiB
	failures []string // "count reason", most frequent first
}

var addrPattern = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+(:\d+)?`)

var maxRSSLine = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

// measure runs a client under /usr/bin/time -v and returns its wall time,
// its peak RSS and how many hosts passed (counted from its standard output by
// count).
func measure(t *testing.T, ctx context.Context, pf probeFleet, env []string, name string, count func([]byte) int,
	prog string, args ...string) probeResult {
	t.Helper()
	cmd := pf.command(ctx, prog, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		// The probe commands exit non-zero when a host failed; what matters
		// is that time(1) reported.
		t.Logf("%s: %v", name, err)
	}
	m := maxRSSLine.FindSubmatch(stderr.Bytes())
	require.NotNil(t, m, "%s: no time -v report in stderr:\n%s", name, tail(stderr.Bytes(), 2000))
	rss, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return probeResult{name: name, ok: count(stdout.Bytes()), wall: wall, maxRSS: rss,
		failures: failureReasons(stdout.Bytes())}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// failureReasons counts the failures of a probe's output by reason: the
// error message and step of examples/probe -json lines, the text after the
// address of "FAIL <addr> <reason>" lines.
func failureReasons(out []byte) []string {
	counts := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var reason string
		if strings.HasPrefix(line, "{") {
			var j struct {
				OK    bool `json:"ok"`
				Error *struct {
					Message, Step, Detail string
				} `json:"error"`
			}
			if json.Unmarshal([]byte(line), &j) != nil || j.OK || j.Error == nil {
				continue
			}
			reason = j.Error.Message + " at " + j.Error.Step + ": " + j.Error.Detail
		} else if rest, ok := strings.CutPrefix(line, "FAIL "); ok {
			_, reason, _ = strings.Cut(rest, " ")
		} else {
			continue
		}
		reason = addrPattern.ReplaceAllString(reason, "ADDR")
		if len(reason) > 110 {
			reason = reason[:110]
		}
		counts[reason]++
	}
	out2 := make([]string, 0, len(counts))
	for r, c := range counts {
		out2 = append(out2, fmt.Sprintf("%4d %s", c, r))
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out2)))
	return out2
}

// countJSONOK counts the lines of examples/probe -json with "ok":true.
func countJSONOK(out []byte) int {
	return bytes.Count(out, []byte(`"ok":true`))
}

// countPrefixOK counts lines starting with "OK ".
func countPrefixOK(out []byte) int {
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "OK ") {
			n++
		}
	}
	return n
}
