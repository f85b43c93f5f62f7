package deployertest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"github.com/nxdeploy/deployer/deployertest/internal/nxsvcmodel"
	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/registry"
	"github.com/nxdeploy/deployer/deployertest/internal/rpc"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/nxdeploy/deployer/deployertest/internal/smbserver"
	"github.com/nxdeploy/deployer/deployertest/internal/tasksched"
)

// Default credentials of an emulated host.
const (
	DefaultUser     = "Administrator"
	DefaultPassword = "Passw0rd!"
)

// User is an extra local account of the host.
type User struct {
	// Name and Password are the credentials.
	Name     string
	Password string
	// Admin gives the account an unfiltered administrator token.
	Admin bool
}

// config collects the options.
type config struct {
	addr         string
	ip           string
	port         int
	user         string
	password     string
	ntHash       *[16]byte
	extraUsers   []User
	guestOnly    bool
	logonStatus  uint32
	noAdminDir   bool
	uac          bool
	signing      bool
	encryption   bool
	maxDialect   uint16
	antivirus    *smbserver.Antivirus
	dropAfter    int64
	latency      time.Duration
	pipes        pipe.Opener
	scmOpts      *scm.Options
	refuseCreate bool
	noTasks      bool
	program      Program
	listener     net.Listener
	services     []Service
	systemRoot   string
	root         string
	name         string
	domain       string
	logger       *slog.Logger
	windows      Windows
	arch         Arch
	// installer, startTimeout, fault and wrongPassword are set by
	// WithInstaller, WithStartTimeout and WithFault.
	installer     *Installer
	startTimeout  time.Duration
	fault         Fault
	wrongPassword bool
	// remoteRegistry and products are set by WithRemoteRegistry and
	// WithInstalledProduct.
	remoteRegistry RemoteRegistryState
	products       []InstalledProduct
}

// Option configures a Host.
type Option func(*config)

// WithListenAddress sets the TCP address to listen on, such as
// "127.10.0.7:445" or "127.0.0.1:0" (the default).
func WithListenAddress(addr string) Option { return func(c *config) { c.addr = addr } }

// WithListener serves the host on ln instead of a listener of its own (Close
// closes it): one opened inside a network namespace on port 445, for
// instance, lets tools that dial only port 445 reach the host. It is for one
// host (New, Start): NewFleet refuses it.
func WithListener(ln net.Listener) Option { return func(c *config) { c.listener = ln } }

// WithPort sets the port; with NewFleet every host listens on its own
// loopback address and this port (0 picks a free port per host).
func WithPort(port int) Option { return func(c *config) { c.port = port } }

// WithCredentials sets the administrator account's name and password.
func WithCredentials(user, password string) Option {
	return func(c *config) { c.user, c.password, c.ntHash = user, password, nil }
}

// WithNTHash sets the administrator account's name and NT hash instead of
// a password; Host.Password is then empty.
func WithNTHash(user string, hash [16]byte) Option {
	return func(c *config) { c.user, c.password, c.ntHash = user, "", &hash }
}

// WithUsers adds local accounts (non-admin ones get ACCESS_DENIED on
// ADMIN$ and C$, as under UAC).
func WithUsers(users ...User) Option {
	return func(c *config) { c.extraUsers = append(c.extraUsers, users...) }
}

// WithServiceCreationRefused makes the service manager refuse
// RCreateServiceW with ERROR_ACCESS_DENIED, though OpenSCManagerW grants the
// right to create services: an RPC filter on that one operation (Windows 11,
// Server 2025) or an EDR.
func WithServiceCreationRefused() Option {
	return func(c *config) { c.refuseCreate = true }
}

// WithoutTaskScheduler leaves the Task Scheduler out: the host has no
// \pipe\atsvc, as when its Schedule service is disabled.
func WithoutTaskScheduler() Option { return func(c *config) { c.noTasks = true } }

// WithGuestOnly maps every logon to the Guest account
// (SMB2_SESSION_FLAG_IS_GUEST); Guest may not use ADMIN$ or C$.
func WithGuestOnly() Option { return func(c *config) { c.guestOnly = true } }

// WithAccountLockedOut makes every logon of the administrator account fail
// with STATUS_ACCOUNT_LOCKED_OUT, whatever the password.
func WithAccountLockedOut() Option {
	return func(c *config) { c.logonStatus = smbserver.StatusAccountLockedOut }
}

// WithAccountDisabled makes a correct logon fail with STATUS_ACCOUNT_DISABLED.
func WithAccountDisabled() Option {
	return func(c *config) { c.logonStatus = smbserver.StatusAccountDisabled }
}

// WithPasswordExpired makes a correct logon fail with STATUS_PASSWORD_EXPIRED.
func WithPasswordExpired() Option {
	return func(c *config) { c.logonStatus = smbserver.StatusPasswordExpired }
}

// WithoutAdminShare removes the ADMIN$ share (TREE_CONNECT gets
// STATUS_BAD_NETWORK_NAME), as when AutoShareServer is 0.
func WithoutAdminShare() Option { return func(c *config) { c.noAdminDir = true } }

// WithUACRemoteRestrictions gives the administrator account a filtered
// token over the network, as for a local non-RID-500 administrator with
// LocalAccountTokenFilterPolicy=0: logon succeeds, ADMIN$ and C$ are denied,
// and pipes see Caller.Admin false.
func WithUACRemoteRestrictions() Option { return func(c *config) { c.uac = true } }

// WithSigningRequired makes the server require SMB signing.
func WithSigningRequired() Option { return func(c *config) { c.signing = true } }

// WithEncryptionRequired makes the server require SMB3 encryption
// (RejectUnencryptedAccess): SMB 2.x sessions are refused.
func WithEncryptionRequired() Option { return func(c *config) { c.encryption = true } }

// WithMaxDialect caps the dialect, as [MS-SMB2] numbers them: 0x0202 for
// SMB 2.0.2, 0x0210 for SMB 2.1, 0x0300, 0x0302 or 0x0311 for SMB 3.x.
func WithMaxDialect(d uint16) Option { return func(c *config) { c.maxDialect = d } }

// AVMode is what an antivirus does to a file it flags.
type AVMode int

// Antivirus actions.
const (
	// AVDelete removes the file (Antivirus.Delay after it is closed).
	AVDelete AVMode = iota
	// AVBlock makes every later open of the file's content fail with
	// STATUS_VIRUS_INFECTED; opening it to delete it still works.
	AVBlock
)

// Antivirus is an antivirus watching the host's shares.
type Antivirus struct {
	// Match reports whether a file (its share-relative path, backslash
	// separated) is flagged; nil flags names ending in ".exe".
	Match func(name string) bool
	// Mode is AVDelete or AVBlock.
	Mode AVMode
	// Delay is the time between the close of the written file and the
	// quarantine taking effect.
	Delay time.Duration
}

// WithQuarantine makes an antivirus act on every .exe written to a share:
// AVDelete removes it delay after it is closed, AVBlock makes opening it
// fail with STATUS_VIRUS_INFECTED from then on.
func WithQuarantine(mode AVMode, delay time.Duration) Option {
	return WithAntivirus(Antivirus{Mode: mode, Delay: delay})
}

// NTHash returns the NT hash (MD4 of the UTF-16LE password) that WithNTHash
// takes, as Windows stores it.
func NTHash(password string) [16]byte { return smbserver.NTHash(password) }

// WithAntivirus installs a custom antivirus model.
func WithAntivirus(av Antivirus) Option {
	mode := smbserver.AVDelete
	if av.Mode == AVBlock {
		mode = smbserver.AVBlock
	}
	return func(c *config) {
		c.antivirus = &smbserver.Antivirus{Match: av.Match, Mode: mode, Delay: av.Delay}
	}
}

// WithDropAfterBytes closes each connection once the host has received n
// bytes on it (a link failing mid-upload).
func WithDropAfterBytes(n int64) Option { return func(c *config) { c.dropAfter = n } }

// WithLatency delays every response by d.
func WithLatency(d time.Duration) Option { return func(c *config) { c.latency = d } }

// withSCM configures the service control manager behind svcctl directly
// (DenyAll, a custom loader); AdminDir is always the host's ADMIN$ directory.
func withSCM(opts scm.Options) Option { return func(c *config) { c.scmOpts = &opts } }

// WithRoot keeps the host's C: drive under dir (created if needed, not
// removed by Close) instead of a fresh temporary directory.
func WithRoot(dir string) Option { return func(c *config) { c.root = dir } }

// WithSystemRoot sets the Windows path of the host's system root, the
// directory behind ADMIN$, such as `D:\WINNT` (default `C:\Windows`): the
// SCM maps binary paths under it into ADMIN$, and srvsvc reports it as
// ADMIN$'s path.
func WithSystemRoot(root string) Option { return func(c *config) { c.systemRoot = root } }

// WithHostname sets the NetBIOS computer name (default WIN-<port>).
func WithHostname(name string) Option { return func(c *config) { c.name = name } }

// WithDomain sets the NetBIOS domain or workgroup name shown in NTLM.
func WithDomain(domain string) Option { return func(c *config) { c.domain = domain } }

// WithLogger sets the server's logger.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// Host is a running emulated Windows host.
type Host struct {
	// Addr is the listening address, host:port.
	Addr string
	// IP and Port split Addr.
	IP   string
	Port int
	// Name is the NetBIOS computer name.
	Name string
	// User and Password are the administrator credentials.
	User     string
	Password string
	// CDir is the directory standing for C:\ (share C$).
	CDir string
	// AdminDir is the directory standing for C:\Windows (share ADMIN$).
	AdminDir string
	// Windows and Arch are the version and architecture the host runs.
	Windows Windows
	Arch    Arch
	// Fault is the fault WithFault gave the host ("" when none).
	Fault Fault

	// registry is HKEY_LOCAL_MACHINE behind \pipe\winreg (nil when
	// withPipes replaced the RPC services).
	registry *registry.Registry
	// scm is the service control manager behind the svcctl pipe (nil on
	// an Offline host or when withPipes replaced the RPC services).
	scm *scm.Manager
	// tasks is the Task Scheduler behind \pipe\atsvc (nil when the SCM is,
	// or with WithoutTaskScheduler).
	tasks *tasksched.Scheduler
	// server is the SMB2 server.
	server *smbserver.Server
	// initial are the directories the host was created with (see Files).
	initial map[string]bool
	ln      net.Listener
	cancel  context.CancelFunc
	done    chan struct{}
	tmp     bool
	root    string
	closeMu sync.Mutex
	closed  bool
}

func defaults() *config {
	return &config{addr: "127.0.0.1:0", user: DefaultUser, password: DefaultPassword, domain: "WORKGROUP",
		windows: Server2022, arch: AMD64}
}

// New starts an emulated host.
func New(opts ...Option) (*Host, error) {
	cfg := defaults()
	for _, o := range opts {
		o(cfg)
	}
	return newHost(cfg)
}

func newHost(cfg *config) (*Host, error) {
	addr := cfg.addr
	if cfg.ip != "" {
		addr = net.JoinHostPort(cfg.ip, strconv.Itoa(cfg.port))
	} else if cfg.port != 0 {
		h, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("winhost: listen address %q: %w", addr, err)
		}
		addr = net.JoinHostPort(h, strconv.Itoa(cfg.port))
	}
	ln := cfg.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("winhost: %w", err)
		}
	}
	if cfg.fault == Offline {
		return offline(cfg, ln)
	}
	h, err := serve(cfg, ln)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	return h, nil
}

func serve(cfg *config, ln net.Listener) (*Host, error) {
	ta := ln.Addr().(*net.TCPAddr)
	h := &Host{Addr: ln.Addr().String(), IP: ta.IP.String(), Port: ta.Port, User: cfg.user, Password: cfg.password, ln: ln,
		Windows: cfg.windows, Arch: cfg.arch, Fault: cfg.fault}
	h.Name = cfg.name
	if h.Name == "" {
		h.Name = fmt.Sprintf("WIN-%d", ta.Port)
	}
	root := cfg.root
	if root == "" {
		dir, err := os.MkdirTemp("", "winhost-")
		if err != nil {
			return nil, fmt.Errorf("winhost: %w", err)
		}
		root, h.tmp = dir, true
	}
	h.root = root
	h.CDir = filepath.Join(root, "C")
	h.AdminDir = filepath.Join(h.CDir, "Windows")
	if cfg.systemRoot != "" {
		// The Windows directory lives on its drive: D:\WINNT is root/D/WINNT,
		// so C:\Windows does not exist on such a host.
		sr := strings.TrimRight(cfg.systemRoot, `\`)
		if len(sr) < 4 || sr[1] != ':' || sr[2] != '\\' || !unicode.IsLetter(rune(sr[0])) || strings.Contains(sr, "..") {
			h.removeRoot()
			return nil, fmt.Errorf("winhost: system root %q is not a drive path like D:\\WINNT", cfg.systemRoot)
		}
		h.AdminDir = filepath.Join(append([]string{root, strings.ToUpper(sr[:1])}, strings.Split(sr[3:], `\`)...)...)
	}
	dirs := []string{h.AdminDir, filepath.Join(h.AdminDir, "Temp"), filepath.Join(h.CDir, "Temp")}
	for _, d := range archDirs(cfg.arch) {
		dirs = append(dirs, filepath.Join(h.AdminDir, d))
	}
	h.initial = map[string]bool{h.CDir: true}
	for d := h.AdminDir; d != h.CDir && len(d) > len(h.CDir); d = filepath.Dir(d) {
		h.initial[d] = true
	}
	for _, d := range dirs {
		h.initial[d] = true
		if err := os.MkdirAll(d, 0o755); err != nil {
			h.removeRoot()
			return nil, fmt.Errorf("winhost: %w", err)
		}
	}
	shares := []smbserver.Share{
		{Name: "IPC$", Type: smbserver.SharePipe},
		{Name: "C$", Path: h.CDir, AdminOnly: true},
	}
	if !cfg.noAdminDir {
		shares = append(shares, smbserver.Share{Name: "ADMIN$", Path: h.AdminDir, AdminOnly: true})
	}
	password := cfg.password
	if cfg.wrongPassword {
		password += "-other"
	}
	accounts := []smbserver.Account{{User: cfg.user, Password: password, NTHash: cfg.ntHash,
		Admin: !cfg.uac, LogonStatus: cfg.logonStatus}}
	for _, u := range cfg.extraUsers {
		accounts = append(accounts, smbserver.Account{User: u.Name, Password: u.Password, Admin: u.Admin})
	}
	pipes := cfg.pipes
	if pipes == nil {
		opts := scm.Options{}
		if cfg.scmOpts != nil {
			opts = *cfg.scmOpts
		}
		h.registry = newRegistry(cfg.products)
		if cfg.installer != nil {
			opts.Program = nxsvcmodel.ProgramWith(scm.Installer(scm.InstallerOptions{Outcomes: cfg.installer.Outcomes,
				Duration: cfg.installer.Duration, NeverRunning: cfg.installer.NeverRunning}), h.registry)
		}
		if cfg.program != nil {
			opts.Program = scmProgram(cfg.program)
		}
		if cfg.services != nil {
			opts.Services = preloads(cfg.services)
		}
		if opts.Services == nil {
			opts.Services = scm.DefaultServices()
		}
		opts.Services = append(opts.Services, remoteRegistryPreload(cfg.remoteRegistry))
		if cfg.startTimeout > 0 {
			opts.StartTimeout = cfg.startTimeout
		}
		opts.AdminDir = h.AdminDir
		opts.RefuseCreate = opts.RefuseCreate || cfg.refuseCreate
		if cfg.systemRoot != "" {
			opts.SystemRoot = cfg.systemRoot
		}
		if opts.Blocked == nil {
			// The server is made below; the SCM asks it once running.
			opts.Blocked = func(p string) bool { return h.server != nil && h.server.Blocked(p) }
		}
		if opts.Load == nil {
			opts.Load = loadImage(cfg.windows, cfg.arch)
		}
		if opts.MapImage == nil {
			opts.MapImage = func(p string) func() {
				if h.server == nil {
					return func() {}
				}
				return h.server.MapImage(p)
			}
		}
		h.scm = scm.New(opts)
		var rshares []rpc.Share
		for _, sh := range rpc.DefaultShares() {
			if sh.Name == "ADMIN$" && cfg.noAdminDir {
				continue
			}
			if sh.Name == "ADMIN$" && cfg.systemRoot != "" {
				sh.Path = cfg.systemRoot
			}
			rshares = append(rshares, sh)
		}
		names := []string{cfg.user}
		for _, u := range cfg.extraUsers {
			names = append(names, u.Name)
		}
		if !cfg.noTasks {
			h.tasks = tasksched.New(h.scm)
		}
		// An authenticated bind (the Task Scheduler's is sealed) logs on
		// with the accounts the SMB server knows.
		var rpcAccounts []rpc.Account
		for _, a := range accounts {
			hash := smbserver.NTHash(a.Password)
			if a.NTHash != nil {
				hash = *a.NTHash
			}
			if cfg.guestOnly || a.LogonStatus != 0 {
				continue
			}
			rpcAccounts = append(rpcAccounts, rpc.Account{User: a.User, NTHash: hash, Admin: a.Admin})
		}
		pipes = rpc.NewOpener(rpc.Config{SCM: h.scm, Tasks: h.tasks, RPCAccounts: rpcAccounts, Shares: rshares, ServerName: h.Name, Workgroup: cfg.domain,
			Accounts: names, Sessions: h.sessions, Registry: h.registry, RegistryRunning: h.remoteRegistryRunning,
			OSMajor: cfg.windows.Major, OSMinor: cfg.windows.Minor, WindowsServer: cfg.windows.Server})
	}
	srv, err := smbserver.New(smbserver.Config{
		NetBIOSName:       h.Name,
		OSMajor:           byte(cfg.windows.Major),
		OSMinor:           byte(cfg.windows.Minor),
		OSBuild:           uint16(cfg.windows.Build),
		Domain:            cfg.domain,
		DNSName:           strings.ToLower(h.Name),
		DNSDomain:         strings.ToLower(h.Name),
		Accounts:          accounts,
		GuestOnly:         cfg.guestOnly,
		Shares:            shares,
		Pipes:             pipes,
		MaxDialect:        cfg.maxDialect,
		RequireSigning:    cfg.signing,
		RequireEncryption: cfg.encryption,
		Antivirus:         cfg.antivirus,
		ResponseDelay:     cfg.latency,
		Logger:            cfg.logger,
	})
	if err != nil {
		if h.scm != nil {
			_ = h.scm.Close()
		}
		h.removeRoot()
		return nil, fmt.Errorf("winhost: %w", err)
	}
	h.server = srv
	var l net.Listener = ln
	if cfg.dropAfter > 0 {
		l = &dropListener{Listener: ln, limit: cfg.dropAfter}
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		_ = srv.Serve(ctx, l)
	}()
	return h, nil
}

// offline makes the Host of an Offline fault: the address is taken from ln,
// which is closed at once, so connections are refused.
func offline(cfg *config, ln net.Listener) (*Host, error) {
	ta := ln.Addr().(*net.TCPAddr)
	if err := ln.Close(); err != nil {
		return nil, fmt.Errorf("winhost: %w", err)
	}
	h := &Host{Addr: ln.Addr().String(), IP: ta.IP.String(), Port: ta.Port, User: cfg.user, Password: cfg.password,
		Name: cfg.name, Windows: cfg.windows, Arch: cfg.arch, Fault: Offline}
	if h.Name == "" {
		h.Name = fmt.Sprintf("WIN-%d", ta.Port)
	}
	return h, nil
}

func (h *Host) removeRoot() {
	if h.tmp && h.root != "" {
		_ = os.RemoveAll(h.root)
	}
}

// Start starts a host for a test and closes it on cleanup.
func Start(t testing.TB, opts ...Option) *Host {
	t.Helper()
	h, err := New(opts...)
	if err != nil {
		t.Fatalf("winhost: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("winhost: close: %v", err)
		}
	})
	return h
}

// Close stops the host, drops its connections and removes its temporary
// directory. Later calls do nothing.
func (h *Host) Close() error {
	h.closeMu.Lock()
	defer h.closeMu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	if h.server == nil {
		return nil // Offline: nothing was started.
	}
	h.cancel()
	err := h.server.Close()
	<-h.done
	if h.scm != nil {
		if cerr := h.scm.Close(); err == nil {
			err = cerr
		}
	}
	h.removeRoot()
	if errors.Is(err, smbserver.ErrServerClosed) {
		err = nil
	}
	return err
}

// dropListener closes each accepted connection after limit bytes were
// received on it.
type dropListener struct {
	net.Listener
	limit int64
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &dropConn{Conn: c, left: l.limit}, nil
}

type dropConn struct {
	net.Conn
	left int64
	n    atomic.Int64
}

func (c *dropConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.n.Add(int64(n)) >= c.left {
		_ = c.Conn.Close()
		return 0, net.ErrClosed
	}
	return n, err
}
