package deployer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
	"github.com/nxdeploy/deployer/tsch"
)

// Names of the probe's steps, in the order they run. Each failure also
// carries the derrors.Step it happened in (a tree connect, say, for both
// share steps).
const (
	ProbeStepResolve    = "resolve"
	ProbeStepConnect    = "connect"
	ProbeStepNegotiate  = "negotiate"
	ProbeStepLogon      = "logon"
	ProbeStepIPC        = "IPC$"
	ProbeStepListShares = "list shares"
	ProbeStepAdmin      = "ADMIN$"
	ProbeStepFreeSpace  = "free space"
	ProbeStepSCManager  = "open service manager"
	ProbeStepWriteTest  = "write test"
	// ProbeStepTaskScheduler binds the Task Scheduler (sealed, over
	// \pipe\atsvc) and lists the deployer's tasks: run when the service
	// manager refuses to create services, or with ConnectConfig.Via
	// ViaTask. Nothing is created.
	ProbeStepTaskScheduler = "task scheduler"
	probeWriteTestPrefix   = "nxdeploy-probe-"
)

// ProbeOptions says how Probe reaches and logs on to a host: the same
// connection settings as Connect (SMB credentials, port, dial hook, resolver,
// timeouts, signing, encryption; the svcctl check uses them too), and
// whether to prove that ADMIN$ is writable.
type ProbeOptions struct {
	ConnectConfig
	// WriteTest creates and deletes a small file in ADMIN$ to prove the
	// account may write there.
	WriteTest bool
	// Inventory also lists the host's shares and reads the free space
	// behind ADMIN$. The verdict does not need them, and listing shares is
	// the slowest step on some servers (most of a probe on Samba), so by
	// default the shares are listed only to explain an ADMIN$ that fails.
	Inventory bool
}

// ProbeStepResult is one step of a probe: its name, how long it took, and
// its error (nil when it passed).
type ProbeStepResult struct {
	// Name is one of the ProbeStep* names.
	Name string
	// Duration is the step's wall time.
	Duration time.Duration
	// Err is the step's failure, nil when it passed: a *derrors.Error
	// (derrors.As reads it) naming the step and the host.
	Err error
}

// MarshalJSON renders Err as an ErrorInfo, the shape of an Event's error.
func (s ProbeStepResult) MarshalJSON() ([]byte, error) {
	type plain ProbeStepResult
	return json.Marshal(struct {
		plain
		Err *ErrorInfo `json:"Err,omitempty"`
	}{plain(s), NewErrorInfo("", s.Err)})
}

// ProbeReport is what Probe learned about one host. Steps after the first
// fatal failure do not run. Listing shares and reading free space are
// informative (run with ProbeOptions.Inventory, or to explain a failing
// ADMIN$): their failure is recorded in Steps but does not fail the probe.
type ProbeReport struct {
	// Host is the host probed.
	Host discovery.Host
	// Addr is the address and port connected to, when the probe got that far.
	Addr netip.AddrPort
	// OK reports that every fatal step passed: the host can be deployed to
	// with these credentials.
	OK bool
	// Err is the first fatal failure, nil when OK: a *derrors.Error
	// (derrors.As reads it) with the error table's message, cause and
	// solution, the step, and the host's code.
	Err error
	// Steps lists the steps run, in order.
	Steps []ProbeStepResult
	// Duration is the probe's total wall time.
	Duration time.Duration

	// Dialect is the negotiated SMB dialect.
	Dialect smb.Dialect
	// SigningRequired reports that the server requires SMB signing.
	SigningRequired bool
	// Signing reports that the server signs its messages (or seals them):
	// false for a server that does not sign, which only an unsigned-allowed
	// probe reaches.
	Signing bool
	// Encryption reports that messages are encrypted, with Cipher.
	Encryption bool
	// EncryptionNotOffered reports that encryption was asked for but the
	// server does not offer it (SMB 2.x, or SMB 3 without encryption): the
	// session is only signed.
	EncryptionNotOffered bool
	// Cipher names the encryption cipher.
	Cipher string
	// Guest reports that the server mapped the logon to Guest.
	Guest bool
	// Auth is the logon's mechanism: "NTLM" or "Kerberos".
	Auth string
	// SPN is the service principal of the Kerberos ticket, such as
	// "cifs/pc1.corp.example.com"; empty under NTLM.
	SPN string
	// Server is what the server says about itself in NTLM: NetBIOS and DNS
	// names, domain, and Windows version. Kerberos has no such message, so
	// it is empty then.
	Server smb.ServerIdentity
	// Shares lists the host's shares (srvsvc NetShareEnumAll).
	Shares []string
	// AdminFree is the free space of the volume behind ADMIN$, in bytes
	// (zero when unknown).
	AdminFree uint64
	// Admin reports that the account may create services (OpenSCManager
	// with SC_MANAGER_CREATE_SERVICE succeeded).
	Admin bool
	// ServiceManager reports that the service manager lets the account
	// create services: the remote service can run as a service.
	ServiceManager bool
	// TaskScheduler reports that the Task Scheduler answered the account
	// (ProbeStepTaskScheduler): the remote service can run as a task. It is
	// checked only when the service manager refused or Via is ViaTask.
	TaskScheduler bool
}

// MarshalJSON renders Err as an ErrorInfo, the shape of an Event's error.
func (r ProbeReport) MarshalJSON() ([]byte, error) {
	type plain ProbeReport
	return json.Marshal(struct {
		plain
		Err *ErrorInfo `json:"Err,omitempty"`
	}{plain(r), NewErrorInfo(r.Host.Label(), r.Err)})
}

// OS returns the server's Windows version as a readable name, such as
// "Windows 10.0 Build 19041", or "" when unknown.
func (r *ProbeReport) OS() string { return r.Server.OS.Name() }

// Step returns the named step's result and whether it ran.
func (r *ProbeReport) Step(name string) (ProbeStepResult, bool) {
	for _, s := range r.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return ProbeStepResult{}, false
}

// Probe checks, without changing anything on the host (except the optional
// write test, which removes its file), whether the host can be deployed to:
// resolve → TCP connect → SMB negotiate → logon → IPC$ → ADMIN$ → open the
// service manager with create-service rights (the administrator check) →
// optional write test. It does only what the verdict needs: the host's
// shares are listed when ADMIN$ fails, to explain it (and, with
// ProbeOptions.Inventory, always, with ADMIN$'s free space). Each step is
// timed; the first fatal failure is a typed *derrors.Error and ends the
// probe. Probe never returns nil.
func Probe(ctx context.Context, host discovery.Host, opts ProbeOptions) *ProbeReport {
	start := time.Now()
	r := &ProbeReport{Host: host}
	defer func() {
		r.Duration = time.Since(start)
		r.OK = r.Err == nil
	}()
	label := host.Label()
	cfg := opts.SMB
	cfg.Label = label
	// The address connected to is kept even when a later step (negotiate,
	// logon) fails, so the report says which address answered.
	dial := cfg.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	cfg.Dial = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(ctx, network, address)
		if ap, perr := netip.ParseAddrPort(address); err == nil && perr == nil && !r.Addr.IsValid() {
			r.Addr = ap
		}
		return c, err
	}
	sess, err := smb.Dial(ctx, host.Target(), cfg, func(step derrors.Step, took time.Duration, e *derrors.Error) {
		res := ProbeStepResult{Name: string(step), Duration: took}
		if e != nil {
			res.Err = e
		}
		r.Steps = append(r.Steps, res)
	})
	if err != nil {
		r.Guest = errors.Is(err, derrors.ReasonGuestOnly)
		e := probeError(label, derrors.StepConnect, err)
		r.Err = e
		if n := len(r.Steps); n > 0 && r.Steps[n-1].Err != nil {
			r.Err = r.Steps[n-1].Err
		} else {
			r.Steps = append(r.Steps, ProbeStepResult{Name: string(e.Step), Err: e})
		}
		return r
	}
	defer func() {
		// Whether the server signs shows in its replies after logon too.
		r.Signing = sess.Info().Signed
		_ = sess.Close()
	}()
	info := sess.Info()
	r.Addr = info.Addr
	r.Dialect = info.Dialect
	r.SigningRequired = info.SigningRequired
	r.Signing = info.Signed
	r.Encryption = info.Encrypted
	r.EncryptionNotOffered = info.EncryptionNotOffered
	r.Cipher = info.Cipher
	r.Guest = info.Guest
	r.Server = info.Server
	r.Auth = info.Auth
	r.SPN = info.SPN

	step := func(name string, fatal bool, f func() error) bool {
		t0 := time.Now()
		err := f()
		res := ProbeStepResult{Name: name, Duration: time.Since(t0)}
		if err != nil {
			res.Err = probeError(label, derrors.Step(name), err)
		}
		r.Steps = append(r.Steps, res)
		if res.Err != nil && fatal {
			r.Err = res.Err
			return false
		}
		return true
	}

	if !step(ProbeStepIPC, true, func() error {
		ipc, err := sess.Mount(ctx, "IPC$")
		if err != nil {
			return err
		}
		return ipc.CloseContext(ctx)
	}) {
		return r
	}
	listShares := func() {
		step(ProbeStepListShares, false, func() error {
			r.Shares, err = sess.ListShares(ctx)
			return err
		})
	}
	if opts.Inventory {
		listShares()
	}
	var admin *smb.Share
	if !step(ProbeStepAdmin, true, func() error {
		admin, err = sess.Mount(ctx, "ADMIN$")
		return err
	}) {
		if !opts.Inventory {
			// A report about a missing or denied ADMIN$ shows which shares
			// the host does offer.
			listShares()
		}
		return r
	}
	// No tree disconnect: logging off (bounded) ends it, and a host that went
	// silent does not cost another request timeout.
	if opts.Inventory {
		step(ProbeStepFreeSpace, false, func() error {
			sp, err := admin.Statfs(ctx)
			r.AdminFree = sp.Available
			return err
		})
	}
	var scmErr error
	if opts.Via != ViaTask {
		step(ProbeStepSCManager, false, func() error {
			scmErr = probeAdmin(ctx, sess, opts)
			r.ServiceManager = scmErr == nil
			return scmErr
		})
	}
	if opts.Via == ViaTask || scmErr != nil && opts.Via == ViaAuto && isAccessDenied(scmErr) {
		step(ProbeStepTaskScheduler, false, func() error {
			err := probeTasks(ctx, sess, opts)
			r.TaskScheduler = err == nil
			return err
		})
	}
	if !r.ServiceManager && !r.TaskScheduler {
		// Neither way in: the service manager's refusal is the probe's
		// error and its last step (or the Task Scheduler's, when only it
		// was asked); TaskScheduler false says the other way failed too.
		n := len(r.Steps) - 1
		if scmErr != nil && r.Steps[n].Name == ProbeStepTaskScheduler {
			r.Steps = r.Steps[:n]
			n--
		}
		r.Err = r.Steps[n].Err
		return r
	}
	r.Admin = true
	if opts.WriteTest {
		step(ProbeStepWriteTest, true, func() error { return probeRestep(probeWriteTest(ctx, admin), derrors.StepWriteTest) })
	}
	return r
}

// probeAdmin opens the service manager over \pipe\svcctl with
// SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE: only an administrator (with
// an unfiltered token) may.
func probeAdmin(ctx context.Context, sess *smb.Session, opts ProbeOptions) error {
	label := sess.Host()
	c, err := svcctl.Dial(ctx, sess.Info().Addr.Addr().String(), opts.svcctlConfig(sess))
	if err != nil {
		return relabel(err, label)
	}
	defer func() { _ = c.Close() }()
	m, err := c.OpenSCManager(ctx, svcctl.ManagerConnect|svcctl.ManagerCreateService)
	if err != nil {
		return relabel(err, label)
	}
	return relabel(m.CloseContext(ctx), label)
}

// probeWriteTest uploads a small file to ADMIN$ and deletes it.
// probeTasks binds the host's Task Scheduler as Connect would and lists the
// tasks with the deployer's prefix.
func probeTasks(ctx context.Context, sess *smb.Session, opts ProbeOptions) error {
	tc, err := tsch.Open(ctx, sess.Host(), sess.Pipes(), tsch.Config{
		Credentials:    opts.SMB.Credentials,
		ServerName:     strings.TrimPrefix(sess.Info().SPN, "cifs/"),
		RequestTimeout: opts.SMB.RequestTimeout,
	})
	if err != nil {
		return err
	}
	defer func() { _ = tc.Close() }()
	_, err = tc.Tasks(ctx, opts.prefix()+"-")
	return err
}

func probeWriteTest(ctx context.Context, admin *smb.Share) error {
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return err
	}
	name := probeWriteTestPrefix + hex.EncodeToString(rnd[:]) + ".tmp"
	payload := []byte("nxdeploy probe write test\r\n")
	if _, err := admin.Upload(ctx, name, bytes.NewReader(payload), int64(len(payload)), smb.UploadOptions{}); err != nil {
		return err
	}
	return admin.Remove(ctx, name)
}

// probeRestep moves a typed error to step.
func probeRestep(err error, step derrors.Step) error {
	if e, ok := derrors.As(err); ok {
		c := *e
		c.Step = step
		return &c
	}
	return err
}

// probeError returns err as a *derrors.Error for the probe step; a typed error
// keeps its classification and its own step (tree connect, open service
// manager, ...).
func probeError(label string, step derrors.Step, err error) *derrors.Error {
	return derrors.Wrap(label, step, err)
}
