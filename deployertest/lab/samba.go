package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sambaStartTimeout bounds how long smbd and samba-dcerpcd may take to accept connections.
const sambaStartTimeout = 30 * time.Second

// SambaOptions selects how a Samba target behaves.
type SambaOptions struct {
	// SigningMandatory sets `server signing = mandatory`.
	SigningMandatory bool
	// EncryptionRequired sets `server smb encrypt = required`.
	EncryptionRequired bool
	// MinSMB311 sets `server min protocol = SMB3_11`.
	MinSMB311 bool
	// NoAdminShare leaves ADMIN$ undeclared: tree connect fails with NT_STATUS_BAD_NETWORK_NAME.
	NoAdminShare bool
	// DenyAdminShare declares ADMIN$ with `valid users` excluding every test user: logon succeeds, then tree
	// connect fails with NT_STATUS_ACCESS_DENIED (the UAC remote restriction seen from the wire).
	DenyAdminShare bool
	// GuestOnly maps every logon to guest: no user is in the password database and `map to guest = bad user`,
	// so any user name and password get a guest session (SMB2 session flag IS_GUEST). ADMIN$ denies guests.
	GuestOnly bool
	// Addrs are extra addresses to listen on (from AddAddrs), listed in `interfaces`.
	Addrs []netip.Addr
	// NTACLs stores Windows security descriptors as given (`vfs objects = acl_xattr` on ADMIN$, in the
	// security.NTACL extended attribute) instead of mapping them to POSIX ACLs.
	NTACLs bool
}

// Samba is a running smbd (plus samba-dcerpcd for named pipes such as svcctl) in a host's namespace, on port 445
// of Addr and every extra address. Everything it writes lives under Dir.
type Samba struct {
	// Host is the host it runs on.
	Host *Host
	// Addr is the host's primary address; smbd listens on Addr:445.
	Addr netip.Addr
	// Addrs are every address smbd listens on: Addr first, then SambaOptions.Addrs.
	Addrs []netip.Addr
	// AdminUser and AdminPassword log on as root (username-mapped from "Administrator"): full admin token, so
	// svcctl OpenSCManager with all rights works.
	AdminUser, AdminPassword string
	// User and Password log on as a non-admin Unix user: IPC$ works, ADMIN$ is denied (as on Windows).
	User, Password string
	// Workgroup is the server's workgroup (the domain to give NTLM), "LAB".
	Workgroup string
	// AdminShareDir is the directory behind ADMIN$, readable by the test.
	AdminShareDir string
	// Dir holds everything else: Conf, LogDir, private, lock, state, cache, pid and ncalrpc directories.
	Dir string
	// Conf is the smb.conf path, for Samba tools (`smbpasswd -c`, `net -s`, ...).
	Conf string
	// LogDir holds Samba's per-client and helper logs (log.<client address>, log.rpcd_*, ...); the daemons'
	// own output goes to their process logs in t.TempDir().
	LogDir string
	// SmbdPID and DcerpcdPID are the daemons' process IDs (process group leaders).
	SmbdPID, DcerpcdPID int
}

// StartSamba renders a self-contained smb.conf under t.TempDir(), creates a non-admin Unix user (deleted on
// cleanup), sets the passwords in a private tdbsam, starts samba-dcerpcd (`rpc start on demand helpers = no`)
// and smbd in the host's namespace, and waits until every address accepts TCP connections on 445. Both
// daemons are killed by PID on cleanup; if t failed, their logs' tails are printed.
func (h *Host) StartSamba(t testing.TB, opts SambaOptions) *Samba {
	t.Helper()
	Require(t, "root", "netns", "smbd", "smbpasswd", "useradd", "userdel")
	root := t.TempDir()
	if err := openPathForUsers(root); err != nil {
		t.Fatalf("lab: %v", err)
	}
	s := &Samba{
		Host:          h,
		Addr:          h.Addr,
		Addrs:         append([]netip.Addr{h.Addr}, opts.Addrs...),
		AdminUser:     "Administrator",
		AdminPassword: "Adm-" + randomHex(8),
		Password:      "Usr-" + randomHex(8),
		Workgroup:     "LAB",
		AdminShareDir: filepath.Join(root, "admin"),
		Dir:           root,
		Conf:          filepath.Join(root, "smb.conf"),
		LogDir:        filepath.Join(root, "log"),
	}
	for _, d := range []string{"admin", "log", "private", "lock", "state", "cache", "pid", "ncalrpc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatalf("lab: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usermap"), []byte("root = Administrator\n"), 0o644); err != nil {
		t.Fatalf("lab: %v", err)
	}
	if err := os.WriteFile(s.Conf, []byte(s.render(opts)), 0o644); err != nil {
		t.Fatalf("lab: %v", err)
	}

	s.User = h.n.nextName("u")
	useradd, _ := LookPath("useradd")
	if err := run(context.Background(), useradd, "-M", "-N", "-g", "nogroup", "-s", "/usr/sbin/nologin", s.User); err != nil {
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(func() {
		if err := deleteUser(s.User); err != nil {
			t.Errorf("lab: %v", err)
		}
	})
	if !opts.GuestOnly {
		s.setPassword(t, "root", s.AdminPassword)
		s.setPassword(t, s.User, s.Password)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.logTails(t)
		}
	})

	// Both daemons start at once; smbd only needs samba-dcerpcd when a client opens a named pipe, and StartSamba
	// returns after both are ready.
	ctx, cancel := context.WithTimeout(context.Background(), sambaStartTimeout)
	defer cancel()
	rpcd := startProc(t, h.Command(context.Background(), dcerpcdPath, "--foreground", "--libexec-rpcds",
		"--debug-stdout", "--configfile="+s.Conf), "samba-dcerpcd")
	s.DcerpcdPID = rpcd.cmd.Process.Pid
	smbd := startProc(t, h.Command(context.Background(), "smbd", "--foreground", "--no-process-group",
		"--debug-stdout", "--configfile="+s.Conf), "smbd")
	s.SmbdPID = smbd.cmd.Process.Pid
	for _, a := range s.Addrs {
		if err := waitTCP(ctx, h.n, netip.AddrPortFrom(a, 445).String(), smbd); err != nil {
			t.Fatalf("lab: smbd on %s: %v", h.Name, err)
		}
	}
	// samba-dcerpcd creates np/<pipe> once the rpcd_* helper serving it has told it its interfaces, one helper
	// after another: svcctl and srvsvc come from rpcd_classic, winreg from rpcd_winreg, lsarpc from rpcd_lsad.
	// A pipe opened before its socket exists fails with STATUS_OBJECT_NAME_NOT_FOUND (smbd may not start the
	// helpers itself here), so every pipe a test uses is waited for.
	for _, pipe := range []string{"svcctl", "srvsvc", "winreg", "lsarpc"} {
		if err := waitFile(ctx, filepath.Join(root, "ncalrpc", "np", pipe), rpcd); err != nil {
			t.Fatalf("lab: samba-dcerpcd on %s: %v", h.Name, err)
		}
	}
	return s
}

// render returns the smb.conf text for opts.
func (s *Samba) render(opts SambaOptions) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	ifaces := make([]string, 0, len(s.Addrs))
	for i, a := range s.Addrs {
		bits := 32
		if i == 0 {
			bits = 16
		}
		ifaces = append(ifaces, netip.PrefixFrom(a, bits).String())
	}
	d := s.Dir
	p("[global]")
	p("  server role = standalone server")
	p("  workgroup = %s", s.Workgroup)
	p("  netbios name = %s", strings.ToUpper(s.Host.Name))
	p("  interfaces = %s", strings.Join(ifaces, " "))
	p("  bind interfaces only = yes")
	p("  smb ports = 445")
	p("  disable netbios = yes")
	p("  private dir = %s/private", d)
	p("  lock directory = %s/lock", d)
	p("  state directory = %s/state", d)
	p("  cache directory = %s/cache", d)
	p("  pid directory = %s/pid", d)
	p("  ncalrpc dir = %s/ncalrpc", d)
	p("  log file = %s/log/log.%%m", d)
	p("  max log size = 0")
	p("  log level = 1")
	p("  passdb backend = tdbsam:%s/private/passdb.tdb", d)
	p("  username map = %s/usermap", d)
	p("  rpc start on demand helpers = no")
	p("  load printers = no")
	p("  printing = bsd")
	p("  printcap name = /dev/null")
	p("  disable spoolss = no")
	p("  usershare max shares = 0")
	if opts.GuestOnly {
		p("  map to guest = bad user")
		p("  guest account = nobody")
		p("  restrict anonymous = 0")
	} else {
		p("  map to guest = never")
		p("  restrict anonymous = 2")
	}
	if opts.SigningMandatory {
		p("  server signing = mandatory")
	}
	if opts.EncryptionRequired {
		p("  server smb encrypt = required")
	}
	if opts.MinSMB311 {
		p("  server min protocol = SMB3_11")
	}
	if !opts.NoAdminShare {
		p("[ADMIN$]")
		p("  comment = Remote Admin")
		p("  path = %s", s.AdminShareDir)
		p("  read only = no")
		if opts.NTACLs {
			p("  vfs objects = acl_xattr")
		}
		if opts.DenyAdminShare {
			p("  valid users = nobody")
		} else {
			p("  valid users = root")
		}
	}
	return b.String()
}

// setPassword adds user to the private passdb with password (never logged).
func (s *Samba) setPassword(t testing.TB, user, password string) {
	t.Helper()
	smbpasswd, _ := LookPath("smbpasswd")
	cmd := exec.Command(smbpasswd, "-c", s.Conf, "-s", "-a", user)
	cmd.Stdin = strings.NewReader(password + "\n" + password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lab: smbpasswd -a %s: %v: %s", user, err, out)
	}
}

// logTails prints the tail of each Samba log.
func (s *Samba) logTails(t testing.TB) {
	entries, _ := os.ReadDir(s.LogDir)
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		p := filepath.Join(s.LogDir, e.Name())
		t.Logf("lab: tail of %s:\n%s", p, tailFile(p, logTailLines))
	}
}

// Smbclient returns an smbclient command run in the client namespace with user's credentials (password passed
// through the PASSWD environment variable, never argv) and an empty smb.conf, so the host's /etc/samba
// settings never leak in. args follow, e.g. "-L", "//10.1.0.1" or "//10.1.0.1/ADMIN$", "-c", "put a b".
func (n *Net) Smbclient(ctx context.Context, user, password string, args ...string) *exec.Cmd {
	cmd := n.Command(ctx, "smbclient", append([]string{"--configfile=/dev/null", "-U", user}, args...)...)
	cmd.Env = append(os.Environ(), "PASSWD="+password)
	return cmd
}

// nextName returns a fresh name with the Net's prefix (for Unix users and the like).
func (n *Net) nextName(kind string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.seq++
	return fmt.Sprintf("%s%s%d", n.Prefix, kind, n.seq)
}

// openPathForUsers makes dir and its parents up to the temp root traversable by other users (t.TempDir makes
// them 0700), so Samba can act as a non-root user inside it.
func openPathForUsers(dir string) error {
	tmp := filepath.Clean(os.TempDir())
	for d := filepath.Clean(dir); d != tmp && d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if err := os.Chmod(d, fi.Mode().Perm()|0o711); err != nil {
			return err
		}
	}
	return nil
}

// waitFile waits until path exists, failing early if p exits.
func waitFile(ctx context.Context, path string, p *proc) error {
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("exited before creating %s (log %s)", path, p.log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not created: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitTCP waits until address accepts a TCP connection from the client namespace, failing early if p exits.
func waitTCP(ctx context.Context, n *Net, address string, p *proc) error {
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		c, err := n.DialContext(dctx, "tcp", address)
		cancel()
		if err == nil {
			return c.Close()
		}
		if p.exited() {
			return fmt.Errorf("exited before listening on %s (log %s)", address, p.log)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not accepting on %s: %w (last: %v)", address, ctx.Err(), err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
