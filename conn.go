package deployer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
	"github.com/nxdeploy/deployer/tsch"
)

// DefaultPrefix starts the name of every service and directory the deployer
// creates on a host, so a sweep after a crash finds ours and never touches
// anyone else's.
const DefaultPrefix = "nxdeploy"

// DefaultSystemRoot is the Windows directory behind ADMIN$ when
// ConnectConfig.SystemRoot is empty and the host does not say.
const DefaultSystemRoot = `C:\Windows`

// ConnectConfig says how to reach and administer a host.
type ConnectConfig struct {
	// SMB is the session configuration: credentials, port, dial hook,
	// resolver, timeouts, signing and encryption. The service manager client
	// uses the same settings.
	SMB smb.Config
	// RPCAuth is the RPC-level authentication of the svcctl bind; the zero
	// value binds with none and relies on the SMB session, as impacket does.
	RPCAuth svcctl.RPCAuth
	// Prefix names what the deployer creates on the host; "" means
	// DefaultPrefix. 1 to 24 ASCII letters, digits and '-', starting with a
	// letter, and not a name Windows reserves for a device (CON, NUL, ...).
	Prefix string
	// Via says how the remote service is started on the host: ViaAuto (the
	// zero value) uses the service manager and falls back on the Task
	// Scheduler when the host refuses to create services; ViaService never
	// uses the Task Scheduler; ViaTask always does.
	Via Via
	// SystemRoot is the Windows directory ADMIN$ stands for. "" means ask
	// the host (srvsvc NetrShareGetInfo of ADMIN$, which Windows answers
	// administrators) and fall back to DefaultSystemRoot when it does not
	// answer with a drive path.
	SystemRoot string
}

func (c ConnectConfig) prefix() string {
	if c.Prefix == "" {
		return DefaultPrefix
	}
	return c.Prefix
}

// drivePath matches an absolute Windows path on a drive, such as D:\WINNT.
var drivePath = regexp.MustCompile(`^[A-Za-z]:\\[^\x00-\x1f"*?<>|]*$`)

// maxSystemRootLen bounds the system root, so that every path the deployer
// builds under it (prefix, deployment ID, file name) stays within MAX_PATH.
const maxSystemRootLen = 160

// validSystemRoot reports whether root is a drive path such as D:\WINNT of
// at most maxSystemRootLen characters, with no "." or ".." element.
func validSystemRoot(root string) bool {
	if len(root) > maxSystemRootLen || !drivePath.MatchString(root) {
		return false
	}
	for _, el := range strings.Split(root[3:], `\`) {
		if el == "." || el == ".." {
			return false
		}
	}
	return true
}

// givenRoot is the configured system root without a trailing separator;
// "" when none is configured.
func (c ConnectConfig) givenRoot() string { return strings.TrimRight(c.SystemRoot, `\`) }

// askSystemRoot asks sess for ADMIN$'s path, and returns DefaultSystemRoot
// when the host does not answer with a drive path.
func askSystemRoot(ctx context.Context, sess *smb.Session) string {
	if p, err := sess.SharePath(ctx, "ADMIN$"); err == nil && validSystemRoot(p) {
		if root := strings.TrimRight(p, `\`); len(root) > 2 {
			return root
		}
	}
	return DefaultSystemRoot
}

// svcctlConfig is the service manager client's configuration for a host
// whose SMB session is sess. Without RPC-level authentication the client
// speaks over \pipe\svcctl on sess itself: one TCP connection and one
// logon per host. With it, go-msrpc dials its own session with the same
// account and settings (under Kerberos, for the name sess's ticket was for).
func (c ConnectConfig) svcctlConfig(sess *smb.Session) svcctl.Config {
	var pipe func(context.Context) (net.Conn, error)
	if c.RPCAuth == svcctl.RPCAuthNone {
		pipe = func(ctx context.Context) (net.Conn, error) { return sess.OpenPipe(ctx, "svcctl") }
	}
	return svcctl.Config{
		Pipe:            pipe,
		Credentials:     c.SMB.Credentials,
		ServerName:      strings.TrimPrefix(sess.Info().SPN, "cifs/"),
		Port:            c.SMB.Port,
		Dial:            c.SMB.Dial,
		ConnectTimeout:  c.SMB.ConnectTimeout,
		RequestTimeout:  c.SMB.RequestTimeout,
		Resolver:        c.SMB.Resolver,
		RPCAuth:         c.RPCAuth,
		SigningOptional: c.SMB.SigningOptional,
		Encryption:      c.SMB.Encryption,
	}
}

// Conn is an administrative connection to one host: an SMB session with
// ADMIN$ mounted for files, and a client of its service manager over
// \pipe\svcctl on the same session (or, with RPC-level authentication, on a
// session of its own). It is what
// RunInstaller, Uninstall and Sweep work through. Close it when done.
type Conn struct {
	host   discovery.Host
	label  string
	cfg    ConnectConfig
	sess   *smb.Session
	admin  *smb.Share
	scm    *svcctl.Client
	mgr    *svcctl.Manager // nil when the host refuses the service manager (ViaAuto, ViaTask)
	closed bool
	// root is the Windows directory behind ADMIN$, once known: configured,
	// or asked of the host on first use (systemRoot).
	rootMu sync.Mutex
	root   string
	// canCreate reports that mgr was opened with the right to create
	// services; scmErr is why not, when it was refused.
	canCreate bool
	scmErr    error
	// tasks is the host's Task Scheduler, once opened (taskClient).
	tasks *tsch.Client
	// afterLogoff are clients of the session's pipes that Close closes
	// after the logoff, which closed their pipes on the host: no CLOSE
	// request each (closeAfterLogoff).
	afterLogoff []io.Closer
	// lapsLookupErr is why the host did not say which account the LAPS
	// credential is (lapsaccount.go); nil when it did or was not asked.
	lapsLookupErr error
}

// Connect logs on to host, mounts ADMIN$ and opens its service manager with
// the rights to create services. Every failure is a *derrors.Error naming
// the step; the host is not changed.
//
// With ConnectConfig.Via ViaAuto, a host that refuses those rights (access
// denied) is still connected when its Task Scheduler answers: the remote
// service then runs as a task (see Via). With ViaTask the Task Scheduler
// must answer, and the service manager is opened only to read.
func Connect(ctx context.Context, host discovery.Host, cfg ConnectConfig) (*Conn, error) {
	label := host.Label()
	if err := validatePrefix(cfg.prefix()); err != nil {
		return nil, invalidInput(label, derrors.StepConnect, err)
	}
	if cfg.SystemRoot != "" && !validSystemRoot(cfg.givenRoot()) {
		return nil, invalidInput(label, derrors.StepConnect, fmt.Errorf(
			"deployer: invalid system root %q: a drive path such as D:\\WINNT of at most %d characters", cfg.SystemRoot, maxSystemRootLen))
	}
	scfg := cfg.SMB
	if scfg.Label == "" {
		scfg.Label = label
	}
	sess, err := smb.Dial(ctx, host.Target(), scfg, nil)
	if err != nil {
		return nil, err
	}
	// Which local account a LAPS credential is, asked of the host before
	// ADMIN$ or the service manager may refuse it (lapsaccount.go); the name
	// decides when the host does not answer.
	host, lerr := withLAPSAccountRID(ctx, host, scfg.Credentials, sess)
	c := &Conn{host: host, label: label, cfg: cfg, sess: sess, lapsLookupErr: lerr}
	if c.admin, err = sess.Mount(ctx, "ADMIN$"); err != nil {
		c.Close()
		return nil, lapsFiltered(host, err)
	}
	// The service manager's session goes to the address this one reached,
	// so a name is resolved once.
	target := sess.Info().Addr.Addr().String()
	if c.scm, err = svcctl.Dial(ctx, target, cfg.svcctlConfig(sess)); err != nil {
		c.Close()
		return nil, lapsFiltered(host, relabel(err, label))
	}
	if cfg.SystemRoot != "" {
		c.root = cfg.givenRoot()
	}
	if err := c.openManagers(ctx); err != nil {
		c.Close()
		return nil, lapsFiltered(host, err)
	}
	return c, nil
}

// closeAfterLogoff has Close close cl after the session's logoff, for a
// client of one of the session's pipes that has no more requests to make
// and nothing to put back: the logoff closes its pipe on the host.
func (c *Conn) closeAfterLogoff(cl io.Closer) { c.afterLogoff = append(c.afterLogoff, cl) }

// relabel names the host by its label in errors from clients that were given
// an address.
func relabel(err error, label string) error {
	if e, ok := derrors.As(err); ok && e.Host != label { // derrors.As(nil) is false
		c := *e
		c.Host = label
		return &c
	}
	return err
}

// Host returns the host this connection reaches.
func (c *Conn) Host() discovery.Host { return c.host }

// Session returns the SMB session used for files.
func (c *Conn) Session() *smb.Session { return c.sess }

// AdminShare returns the mounted ADMIN$ share.
func (c *Conn) AdminShare() *smb.Share { return c.admin }

// ServiceManager returns the open service manager.
func (c *Conn) ServiceManager() *svcctl.Manager { return c.mgr }

// Close closes the service manager and the sessions. It is safe to call
// more than once.
func (c *Conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	// The logoff closes what the session holds on the host (the service
	// manager's and the Task Scheduler's pipes, and with them their
	// handles; ADMIN$'s tree connect): none needs a request of its own, so
	// the session is closed first and the clients then only end locally.
	if c.mgr != nil && c.scm == nil {
		errs = append(errs, c.mgr.CloseContext(ctx))
	}
	if c.admin != nil && c.sess == nil {
		errs = append(errs, c.admin.CloseContext(ctx))
	}
	if c.sess != nil {
		errs = append(errs, c.sess.Close())
	}
	if c.tasks != nil {
		errs = append(errs, c.tasks.Close())
	}
	if c.scm != nil {
		errs = append(errs, c.scm.Close())
	}
	for _, cl := range c.afterLogoff {
		errs = append(errs, cl.Close())
	}
	return errors.Join(errs...)
}

// shareDir is the deployment's directory relative to ADMIN$: "<prefix>-<id>",
// directly in the Windows directory, named as its service is. Creating it
// is one request, and nothing shared by other deployments (such as a
// common parent directory) has to be checked, created or removed.
func (c *Conn) shareDir(id string) string { return c.cfg.prefix() + "-" + id }

// legacyDir is where versions before 2026-12 put deployment id's directory:
// ADMIN$\<prefix>\<id>. Sweep and cleanup still remove such directories.
func (c *Conn) legacyDir(id string) string { return path.Join(c.cfg.prefix(), id) }

// systemRootVar names the Windows directory in a service's command line:
// the service manager expands it there (a service's ImagePath is
// REG_EXPAND_SZ), so a deployment needs no request to learn the directory.
const systemRootVar = "%SystemRoot%"

// servicePath maps a path relative to ADMIN$ to the path a service's
// command line gives: under the configured system root, or under
// %SystemRoot%.
func (c *Conn) servicePath(rel string) string {
	root := c.cfg.givenRoot()
	if root == "" {
		root = systemRootVar
	}
	return root + `\` + strings.ReplaceAll(rel, "/", `\`)
}

// windowsPath maps a path relative to ADMIN$ to the host's absolute path,
// for a task's command (the Task Scheduler is not trusted to expand
// %SystemRoot% everywhere): it asks the host for the system root on first
// use.
func (c *Conn) windowsPath(ctx context.Context, rel string) string {
	return c.systemRoot(ctx) + `\` + strings.ReplaceAll(rel, "/", `\`)
}

// expandRoot replaces a leading %SystemRoot% of each of args (servicePath's)
// with the host's system root.
func (c *Conn) expandRoot(ctx context.Context, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) >= len(systemRootVar) && strings.EqualFold(a[:len(systemRootVar)], systemRootVar) {
			a = c.systemRoot(ctx) + a[len(systemRootVar):]
		}
		out[i] = a
	}
	return out
}

// systemRoot returns the Windows directory behind ADMIN$: the configured
// one, or what the host said when first asked (srvsvc NetrShareGetInfo of
// ADMIN$, within the session's request timeout), or DefaultSystemRoot.
func (c *Conn) systemRoot(ctx context.Context) string {
	c.rootMu.Lock()
	defer c.rootMu.Unlock()
	switch {
	case c.root != "":
	case c.sess == nil:
		return DefaultSystemRoot
	default:
		c.root = askSystemRoot(ctx, c.sess)
	}
	return c.root
}

// SystemRoot returns the Windows directory behind the host's ADMIN$ (where
// the deployer's files are, as the host sees them): ConnectConfig's, or
// what the host says (asked on first use, within the session's request
// timeout), or DefaultSystemRoot.
func (c *Conn) SystemRoot() string { return c.systemRoot(context.Background()) }

// serviceName is the service of deployment id.
func (c *Conn) serviceName(id string) string { return c.cfg.prefix() + "-" + id }

// exists reports whether an ADMIN$ path exists.
func (c *Conn) exists(ctx context.Context, rel string) (bool, error) {
	_, err := c.admin.Stat(ctx, rel)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}
