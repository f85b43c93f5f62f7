package svcctl_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	//lint:ignore SA1019 the NT hash of NTLM is MD4 by definition ([MS-NLMP] 3.3.1)
	"golang.org/x/crypto/md4"

	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// Samba 4.17's svcctl (see LAB.md): OpenSCManagerW, OpenServiceW,
// QueryServiceStatus(Ex), QueryServiceConfigW, EnumServicesStatusW,
// ControlService (STOP, INTERROGATE) and StartServiceW for Spooler work;
// CreateServiceW, DeleteService and ChangeServiceConfigW answer with a fault
// (nca_op_rng_error) that makes go-msrpc close the transport.

// sambaServices are the services Samba 4.17's svcctl lists.
var sambaServices = []string{"Spooler", "NETLOGON", "RemoteRegistry", "WINS"}

// sambaPeer is one smbd + samba-dcerpcd in a network namespace.
type sambaPeer struct {
	n *lab.Net
	s *lab.Samba
}

func startSamba(t *testing.T, opts lab.SambaOptions) *sambaPeer {
	t.Helper()
	lab.Require(t, "root", "netns", "smbd")
	n := lab.NewNet(t)
	h := n.AddHost(t, "scm1")
	return &sambaPeer{n: n, s: h.StartSamba(t, opts)}
}

func (p *sambaPeer) config(admin bool) svcctl.Config {
	cfg := svcctl.Config{
		Credentials:    smb.Credentials{User: p.s.User, Password: p.s.Password},
		Dial:           p.n.DialContext,
		RequestTimeout: 15 * time.Second,
	}
	if admin {
		cfg.Credentials = smb.Credentials{User: p.s.AdminUser, Password: p.s.AdminPassword}
	}
	return cfg
}

func (p *sambaPeer) dial(t *testing.T, cfg svcctl.Config) *svcctl.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := svcctl.Dial(ctx, p.s.Addr.String(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		assert.NoError(t, c.Close())
		assert.Zero(t, c.StuckCloses(), "every go-msrpc Close returned")
	})
	return c
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// requireTyped asserts err is a *derrors.Error for step with kind and, when
// code is not 0, Win32 code.
func requireTyped(t *testing.T, err error, step derrors.Step, kind derrors.Kind, code uint32) *derrors.Error {
	t.Helper()
	require.Error(t, err)
	de, ok := derrors.As(err)
	require.True(t, ok, "not a *derrors.Error: %v", err)
	assert.Equal(t, step, de.Step, "%v", err)
	assert.Equal(t, kind, de.Kind, "%v", err)
	assert.True(t, errors.Is(err, kind))
	if code != 0 {
		assert.Equal(t, derrors.Win32Code(code), de.Code, "%v", err)
	}
	return de
}

// TestSamba runs the svcctl client against one Samba 4.17 (signing
// mandatory). The order matters where Samba keeps state: Spooler is stopped
// and started by the last two.
func TestSamba(t *testing.T) {
	p := startSamba(t, lab.SambaOptions{SigningMandatory: true})
	tests := []struct {
		name string
		run  func(t *testing.T, p *sambaPeer)
	}{
		{"AdministratorCheck", testSambaAdministratorCheck},
		{"ReadOnlyCalls", testSambaReadOnlyCalls},
		{"DialErrors", testSambaDialErrors},
		{"ConcurrentCalls", testSambaConcurrentCalls},
		{"FaultRecovery", testSambaFaultRecovery},
		{"RedialLimit", testSambaRedialLimit},
		{"SpoolerLifeCycle", testSambaSpoolerLifeCycle},
		{"TransportLoss", testSambaTransportLoss},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, p) })
	}
}

func testSambaAdministratorCheck(t *testing.T, p *sambaPeer) {
	ctx := testCtx(t)
	tests := []struct {
		name   string
		admin  bool
		access uint32
		denied bool
	}{
		{"admin all access", true, svcctl.ManagerAllAccess, false},
		{"admin create", true, svcctl.ManagerConnect | svcctl.ManagerCreateService, false},
		{"user all access", false, svcctl.ManagerAllAccess, true},
		{"user create", false, svcctl.ManagerConnect | svcctl.ManagerCreateService, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := p.dial(t, p.config(tt.admin))
			m, err := c.OpenSCManager(ctx, tt.access)
			if !tt.denied {
				require.NoError(t, err)
				assert.Equal(t, tt.access, m.Access())
				require.NoError(t, m.Close())
				return
			}
			assert.Nil(t, m)
			de := requireTyped(t, err, derrors.StepOpenSCManager, derrors.SharedAccessFailure, 5)
			assert.Equal(t, derrors.ReasonNotAdministrator, de.Reason)
			assert.True(t, errors.Is(err, derrors.ReasonNotAdministrator))
			assert.True(t, svcctl.IsAccessDenied(err))
			assert.Equal(t, p.s.Addr.String(), de.Host)
			// The refusal is a return code, not a fault: the transport lives.
			assert.Equal(t, uint64(1), c.Generation())
		})
	}
}

func testSambaReadOnlyCalls(t *testing.T, p *sambaPeer) {
	ctx := testCtx(t)
	c := p.dial(t, p.config(true))
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)

	t.Run("open missing service", func(t *testing.T) {
		svc, err := m.OpenService(ctx, "nxd-no-such-service", svcctl.ServiceQueryStatus)
		assert.Nil(t, svc)
		requireTyped(t, err, derrors.StepOpenService, derrors.WindowsError, 1060)
		assert.True(t, svcctl.IsServiceNotFound(err))
	})

	t.Run("enumerate", func(t *testing.T) {
		tests := []struct {
			prefix string
			want   []string
		}{
			{"", sambaServices},
			{"net", []string{"NETLOGON"}},
			{"SPOOL", []string{"Spooler"}},
			{"nxd-", nil},
		}
		for _, tt := range tests {
			list, err := m.EnumServices(ctx, svcctl.EnumOptions{Prefix: tt.prefix})
			require.NoError(t, err)
			var names []string
			for _, e := range list {
				names = append(names, e.Name)
				assert.NotEmpty(t, e.DisplayName)
			}
			assert.ElementsMatch(t, tt.want, names, "prefix %q", tt.prefix)
		}
		// Samba ignores the state filter; the running Spooler is listed.
		active, err := m.EnumServices(ctx, svcctl.EnumOptions{State: svcctl.EnumActive})
		require.NoError(t, err)
		var running []string
		for _, e := range active {
			if e.Status.State == svcctl.Running {
				running = append(running, e.Name)
			}
		}
		assert.Contains(t, running, "Spooler")
	})

	t.Run("status and config", func(t *testing.T) {
		svc, err := m.OpenService(ctx, "Spooler", svcctl.ServiceQueryStatus|svcctl.ServiceQueryConfig|svcctl.ServiceInterrogate)
		require.NoError(t, err)
		defer func() { assert.NoError(t, svc.Close()) }()
		st, err := svc.QueryStatus(ctx)
		require.NoError(t, err)
		assert.Equal(t, svcctl.Running, st.State)
		assert.True(t, st.HasPID)
		assert.NotZero(t, st.PID)
		assert.True(t, st.Accepts(svcctl.AcceptStop))

		cfg, err := svc.QueryConfig(ctx)
		require.NoError(t, err)
		assert.Equal(t, "Print Spooler", cfg.DisplayName)
		assert.Equal(t, "LocalSystem", cfg.StartName)
		assert.Equal(t, svcctl.DemandStart, cfg.StartType)
		assert.Equal(t, svcctl.ServiceWin32OwnProcess, cfg.Type)
		assert.NotEmpty(t, cfg.BinaryPath)

		st, err = svc.Control(ctx, svcctl.ControlInterrogate)
		require.NoError(t, err)
		assert.Equal(t, svcctl.Running, st.State)
		assert.False(t, st.HasPID)
	})

	t.Run("disabled service", func(t *testing.T) {
		svc, err := m.OpenService(ctx, "NETLOGON", svcctl.ServiceAllAccess)
		require.NoError(t, err)
		err = svc.Start(ctx)
		requireTyped(t, err, derrors.StepStartService, derrors.WindowsError, 1058)
		require.NoError(t, svc.Close())
	})
	assert.Equal(t, uint64(1), c.Generation(), "no call may have lost the transport")
	require.NoError(t, m.Close())
}

// testSambaSpoolerLifeCycle drives the one service Samba can stop and start.
func testSambaSpoolerLifeCycle(t *testing.T, p *sambaPeer) {
	ctx := testCtx(t)
	c := p.dial(t, p.config(true))
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	svc, err := m.OpenService(ctx, "Spooler", svcctl.ServiceAllAccess)
	require.NoError(t, err)
	wait := svcctl.WaitOptions{Timeout: 20 * time.Second}

	st, err := svcctl.StopAndWait(ctx, svc, wait)
	require.NoError(t, err)
	assert.Equal(t, svcctl.Stopped, st.State)
	// Stopping a stopped service is done, whatever the server answers
	// (Samba succeeds where Windows returns 1062).
	st, err = svcctl.StopAndWait(ctx, svc, wait)
	require.NoError(t, err)
	assert.Equal(t, svcctl.Stopped, st.State)

	_, err = svcctl.WaitState(ctx, svc, svcctl.Running, svcctl.WaitOptions{Timeout: time.Second})
	requireTyped(t, err, derrors.StepStartService, derrors.WindowsError, 0)
	assert.ErrorIs(t, err, svcctl.ErrUnexpectedState)

	require.NoError(t, svc.Start(ctx, "--from-test"))
	st, err = svcctl.WaitState(ctx, svc, svcctl.Running, wait)
	require.NoError(t, err)
	assert.Equal(t, svcctl.Running, st.State)

	err = svc.Start(ctx)
	requireTyped(t, err, derrors.StepStartService, derrors.WindowsError, 1056)
	assert.True(t, svcctl.IsAlreadyRunning(err))

	_, err = svcctl.WaitState(ctx, svc, svcctl.Stopped, svcctl.WaitOptions{Timeout: 300 * time.Millisecond})
	de := requireTyped(t, err, derrors.StepStopService, derrors.WindowsError, 1053)
	assert.ErrorIs(t, err, svcctl.ErrWaitTimeout)
	assert.Equal(t, derrors.NoReason, de.Reason)

	require.NoError(t, svc.Close())
	require.NoError(t, m.Close())
	assert.Equal(t, uint64(1), c.Generation())
}

// testSambaFaultRecovery: Samba answers CreateServiceW, DeleteService and
// ChangeServiceConfigW with a fault PDU; go-msrpc then closes the
// transport. The error must be typed and the next calls must work on a new
// transport, with the old handles reopened.
func testSambaFaultRecovery(t *testing.T, p *sambaPeer) {
	ctx := testCtx(t)
	c := p.dial(t, p.config(true))
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	spooler, err := m.OpenService(ctx, "Spooler", svcctl.ServiceAllAccess)
	require.NoError(t, err)

	faults := []struct {
		name string
		step derrors.Step
		call func() error
	}{
		{"create", derrors.StepCreateService, func() error {
			svc, err := m.CreateService(ctx, "nxd-fault-test", "nxd fault test", `C:\Windows\nxd\svc.exe`, svcctl.CreateOptions{})
			assert.Nil(t, svc)
			return err
		}},
		{"delete", derrors.StepDeleteService, func() error { return spooler.Delete(ctx) }},
		{"change config", derrors.StepConfigureService, func() error {
			st := svcctl.DemandStart
			return spooler.ChangeConfig(ctx, svcctl.ChangeOptions{BinaryPath: `C:\x.exe`, StartType: &st})
		}},
	}
	for i, tt := range faults {
		t.Run(tt.name, func(t *testing.T) {
			before := c.Generation()
			require.Equal(t, uint64(i+1), before)
			err := tt.call()
			de := requireTyped(t, err, tt.step, derrors.WindowsError, 1745)
			assert.ErrorIs(t, err, svcctl.ErrFault)
			assert.NotErrorIs(t, err, svcctl.ErrTransportLost)
			assert.Contains(t, de.Error(), "nca_op_rng_error")

			// The next calls run on a new transport: the Manager and
			// Service handles are reopened there.
			st, err := spooler.QueryStatus(ctx)
			require.NoError(t, err)
			assert.Equal(t, svcctl.Running, st.State)
			assert.Equal(t, before+1, c.Generation())
			_, err = m.OpenService(ctx, "nxd-fault-test", svcctl.ServiceQueryStatus)
			assert.True(t, svcctl.IsServiceNotFound(err), "%v", err)
			list, err := m.EnumServices(ctx, svcctl.EnumOptions{})
			require.NoError(t, err)
			assert.Len(t, list, len(sambaServices))
			m2, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
			require.NoError(t, err)
			require.NoError(t, m2.Close())
			assert.Equal(t, before+1, c.Generation())
		})
	}
	require.NoError(t, spooler.Close())
	require.NoError(t, m.Close())
}

// dropper wraps the test's dial hook: armed, it cuts the connection of the
// next SMB message the client sends, either before its bytes leave (the
// request is never delivered) or once the whole message is out and the
// server had time to act on it (the request was executed, the answer is
// lost). That is the "outcome unknown" case.
type dropper struct {
	dial func(ctx context.Context, network, address string) (net.Conn, error)

	armed   atomic.Int32 // dropNone, dropBefore, dropAfter
	dropped atomic.Int32
	dials   atomic.Int32
}

const (
	dropNone int32 = iota
	dropBefore
	dropAfter
)

func (d *dropper) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := d.dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	d.dials.Add(1)
	return &dropConn{Conn: c, d: d}, nil
}

type dropConn struct {
	net.Conn
	d *dropper

	mu      sync.Mutex
	sending bool // a dropAfter message is on its way
	left    int  // bytes of it still to send
}

// Write passes b on, except when the dropper is armed. go-smb2 writes the
// 4-byte direct-TCP header of a message and its body separately, so
// dropAfter counts the message's bytes from the header's length field.
func (c *dropConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.sending {
		switch c.d.armed.Swap(dropNone) {
		case dropBefore:
			c.d.dropped.Add(1)
			_ = c.Conn.Close()
			return 0, net.ErrClosed
		case dropAfter:
			if len(b) < 4 || b[0] != 0 {
				panic("dropConn: a write that does not start an SMB message")
			}
			c.sending, c.left = true, int(b[1])<<16|int(b[2])<<8|int(b[3])+4
		}
	}
	n, err := c.Conn.Write(b)
	if c.sending {
		if c.left -= n; c.left <= 0 || err != nil {
			c.sending = false
			time.Sleep(300 * time.Millisecond)
			c.d.dropped.Add(1)
			_ = c.Conn.Close()
		}
	}
	return n, err
}

func testSambaTransportLoss(t *testing.T, p *sambaPeer) {
	ctx := testCtx(t)
	d := &dropper{dial: p.n.DialContext}
	cfg := p.config(true)
	cfg.Dial = d.DialContext
	c := p.dial(t, cfg)
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	spooler, err := m.OpenService(ctx, "Spooler", svcctl.ServiceAllAccess)
	require.NoError(t, err)

	// Samba keeps Spooler's state in each rpcd_classic worker process, and
	// a new connection may land on another worker: the steps below only
	// rely on Spooler being RUNNING wherever nobody stopped it.
	steps := []struct {
		name string
		mode int32
		run  func(t *testing.T)
	}{
		{"idempotent query is retried", dropBefore, func(t *testing.T) {
			st, err := spooler.QueryStatus(ctx)
			require.NoError(t, err)
			assert.Equal(t, svcctl.Running, st.State)
		}},
		{"enumeration is retried", dropAfter, func(t *testing.T) {
			list, err := m.EnumServices(ctx, svcctl.EnumOptions{})
			require.NoError(t, err)
			assert.Len(t, list, len(sambaServices))
		}},
		{"start whose outcome is unknown finds the service running", dropAfter, func(t *testing.T) {
			// The answer (1056 here) is lost; RUNNING on the new transport
			// means the service was started.
			require.NoError(t, spooler.Start(ctx))
		}},
		{"delivered stop is retried", dropAfter, func(t *testing.T) {
			st, err := svcctl.StopAndWait(ctx, spooler, svcctl.WaitOptions{Timeout: 10 * time.Second})
			require.NoError(t, err)
			assert.Equal(t, svcctl.Stopped, st.State)
		}},
		{"create of an existing name is taken as created", dropAfter, func(t *testing.T) {
			// Samba faults CreateServiceW, but the fault is lost with the
			// connection; the name exists, so the outcome check finds it.
			svc, err := m.CreateService(ctx, "Spooler", "Print Spooler", `C:\x.exe`, svcctl.CreateOptions{})
			require.NoError(t, err)
			assert.Equal(t, "Spooler", svc.Name())
			cfg, err := svc.QueryConfig(ctx)
			require.NoError(t, err)
			assert.Equal(t, "Print Spooler", cfg.DisplayName)
			require.NoError(t, svc.Close())
		}},
		{"undelivered create is resent", dropBefore, func(t *testing.T) {
			// The service does not exist, so the create is sent again
			// and Samba's fault comes back typed.
			_, err := m.CreateService(ctx, "nxd-lost-create", "nxd", `C:\x.exe`, svcctl.CreateOptions{})
			requireTyped(t, err, derrors.StepCreateService, derrors.WindowsError, 1745)
			assert.ErrorIs(t, err, svcctl.ErrFault)
		}},
		{"delete whose outcome is unknown is resent", dropAfter, func(t *testing.T) {
			err := spooler.Delete(ctx)
			requireTyped(t, err, derrors.StepDeleteService, derrors.WindowsError, 1745)
		}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			// A call first, so that the transport and both handles are
			// live and the armed write is the step's own request.
			_, err := spooler.QueryConfig(ctx)
			require.NoError(t, err)
			dropped, gen := d.dropped.Load(), c.Generation()
			d.armed.Store(s.mode)
			s.run(t)
			assert.Equal(t, dropped+1, d.dropped.Load(), "the armed write must have been cut")
			assert.Greater(t, c.Generation(), gen, "a new transport must have been dialled")
		})
	}
	require.NoError(t, spooler.Close())
	require.NoError(t, m.Close())
}

func testSambaRedialLimit(t *testing.T, p *sambaPeer) {
	ctx := testCtx(t)
	d := &dropper{dial: p.n.DialContext}
	cfg := p.config(true)
	cfg.Dial = d.DialContext
	cfg.MaxRedials = -1
	c := p.dial(t, cfg)
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	require.NoError(t, err)
	d.armed.Store(dropBefore)
	_, err = m.OpenService(ctx, "Spooler", svcctl.ServiceQueryStatus)
	requireTyped(t, err, derrors.StepOpenService, derrors.UnknownError, 0)
	assert.ErrorIs(t, err, svcctl.ErrRedialLimit)
	assert.Equal(t, int32(1), d.dials.Load(), "recovery is disabled: no second transport")
}

func TestSambaDialOptions(t *testing.T) {
	p := startSamba(t, lab.SambaOptions{SigningMandatory: true, EncryptionRequired: true})
	ctx := testCtx(t)
	tests := []struct {
		name string
		cfg  func(cfg *svcctl.Config)
	}{
		{"no rpc auth, encrypted", func(cfg *svcctl.Config) { cfg.Encryption = smb.EncryptIfOffered }},
		{"packet integrity", func(cfg *svcctl.Config) { cfg.Encryption, cfg.RPCAuth = smb.EncryptIfOffered, svcctl.RPCAuthIntegrity }},
		{"packet privacy", func(cfg *svcctl.Config) { cfg.Encryption, cfg.RPCAuth = smb.EncryptIfOffered, svcctl.RPCAuthPrivacy }},
		{"domain and NT hash", func(cfg *svcctl.Config) {
			cfg.Encryption = smb.EncryptIfOffered
			cfg.Credentials.Domain = p.s.Workgroup
			cfg.Credentials.NTHash = ntHash(cfg.Credentials.Password)
			cfg.Credentials.Password = ""
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := p.config(true)
			tt.cfg(&cfg)
			c := p.dial(t, cfg)
			m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
			require.NoError(t, err)
			svc, err := m.OpenService(ctx, "Spooler", svcctl.ServiceQueryStatus)
			require.NoError(t, err)
			st, err := svc.QueryStatus(ctx)
			require.NoError(t, err)
			assert.Equal(t, svcctl.Running, st.State)
			require.NoError(t, svc.Close())
			require.NoError(t, m.Close())
		})
	}
}

func ntHash(password string) []byte {
	u := utf16.Encode([]rune(password))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	h := md4.New()
	h.Write(b)
	return h.Sum(nil)
}

func testSambaDialErrors(t *testing.T, p *sambaPeer) {
	ctx := testCtx(t)
	tests := []struct {
		name string
		cfg  func(cfg *svcctl.Config)
		step derrors.Step
		kind derrors.Kind
	}{
		{"wrong password", func(cfg *svcctl.Config) { cfg.Credentials.Password += "x" }, derrors.StepLogon, derrors.LogonFailure},
		{"unknown user", func(cfg *svcctl.Config) { cfg.Credentials.User = "nosuchuser" }, derrors.StepLogon, derrors.LogonFailure},
		{"refused", func(cfg *svcctl.Config) { cfg.Port = 446 }, derrors.StepConnect, derrors.ConnectionRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := p.config(true)
			tt.cfg(&cfg)
			c, err := svcctl.Dial(ctx, p.s.Addr.String(), cfg)
			assert.Nil(t, c)
			requireTyped(t, err, tt.step, tt.kind, 0)
		})
	}
}

// testSambaConcurrentCalls runs calls from many goroutines on one Client
// (go-msrpc multiplexes them on the pipe), then checks nothing leaks.
func testSambaConcurrentCalls(t *testing.T, p *sambaPeer) {
	ctx := testCtx(t)
	leaks := goleak.IgnoreCurrent()
	func() {
		c, err := svcctl.Dial(ctx, p.s.Addr.String(), p.config(true))
		require.NoError(t, err)
		defer func() { assert.NoError(t, c.Close()) }()
		m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := sambaServices[i%len(sambaServices)]
				svc, err := m.OpenService(ctx, name, svcctl.ServiceQueryStatus)
				if err != nil {
					errs <- err
					return
				}
				for range 4 {
					if _, err := svc.QueryStatus(ctx); err != nil {
						errs <- err
					}
				}
				if err := svc.Close(); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			assert.NoError(t, err)
		}
		// A fault in the middle: the transport is replaced, and torn down.
		_, err = m.CreateService(ctx, "nxd-leak", "nxd", `C:\x.exe`, svcctl.CreateOptions{})
		assert.ErrorIs(t, err, svcctl.ErrFault)
		_, err = m.EnumServices(ctx, svcctl.EnumOptions{})
		require.NoError(t, err)
	}()
	goleak.VerifyNone(t, leaks)
}
