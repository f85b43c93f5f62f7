package svcctl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	svcctlrpc "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	msrpcsmb2 "github.com/oiweiwei/go-msrpc/smb2"
	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/oiweiwei/go-msrpc/ssp/gssapi"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/krbauth"
	"github.com/nxdeploy/deployer/internal/rpcguard"
	"github.com/nxdeploy/deployer/internal/smbguard"
	"github.com/nxdeploy/deployer/smb"
)

// Client speaks [MS-SCMR] to one host over ncacn_np:HOST[\pipe\svcctl].
//
// It owns at most one RPC transport (one TCP connection, one SMB session,
// one open pipe) at a time. When the transport is lost (go-msrpc closes it
// on any fault PDU and on any I/O error) the Client dials a new one for the
// next call and reopens the Manager and Service handles on it by their
// access rights and names. A Client is safe for concurrent use; its calls
// run one at a time.
type Client struct {
	host string // as given to Dial, for errors
	addr string // resolved IP address
	cfg  Config

	mu      sync.Mutex
	cur     *transport // the live transport, nil until (re)dialled
	gen     uint64     // generation of the last transport dialled
	losses  int        // transports lost since the last completed call
	closed  bool
	closing sync.WaitGroup // transports being torn down
	stuck   atomic.Int64   // go-msrpc Closes that did not return in time

	noStatusEx atomic.Bool // the server lacks RQueryServiceStatusEx
}

// transport is one dialled and bound svcctl RPC connection.
type transport struct {
	// callMu serialises calls: go-msrpc's client connection encodes every
	// request into one shared buffer, so concurrent calls on it corrupt
	// each other (seen against Samba as ERROR_INVALID_BLOCK).
	callMu sync.Mutex
	gen    uint64
	rpc    dcerpc.Conn
	cli    svcctlrpc.SvcctlClient
	conns  *connSet
	once   sync.Once
}

// connSet records the TCP connections a transport's dial hook made, so the
// Client can always tear them down (go-msrpc leaves an unbound pipe's
// connection open, and go-smb2 waits on replies without deadlines).
type connSet struct {
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	failed bool // a TCP dial failed
}

func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns = append(s.conns, c)
	return true
}

func (s *connSet) dialFailed() {
	s.mu.Lock()
	s.failed = true
	s.mu.Unlock()
}

func (s *connSet) tcpFailed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Dial resolves host, connects to its SMB port, logs on, opens
// \pipe\svcctl on IPC$ and binds the svcctl interface. Every failure is a
// *derrors.Error naming the step: resolve, connect, logon, tree connect, or
// open service manager (pipe open and bind).
func Dial(ctx context.Context, host string, cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	c := &Client{host: host, cfg: cfg}
	if cfg.Pipe != nil {
		// The caller's session reaches the host: nothing to resolve.
		c.addr = host
	} else {
		addr, err := resolve(ctx, cfg, host)
		if err != nil {
			return nil, derrors.Wrap(host, derrors.StepResolve, err)
		}
		c.addr = addr
	}
	t, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = t
	return c, nil
}

// resolve returns host's address: host itself when it is an IP address, else
// the first IPv4 address (go-msrpc's SMB transport dials IPv4), else the
// first address.
func resolve(ctx context.Context, cfg Config, host string) (string, error) {
	if ip := net.ParseIP(host); ip != nil {
		return ip.String(), nil
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	addrs, err := cfg.Resolver.LookupIPAddr(rctx, host)
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP.String(), nil
		}
	}
	if len(addrs) > 0 {
		return addrs[0].IP.String(), nil
	}
	return "", &net.DNSError{Err: "no address", Name: host, IsNotFound: true}
}

// Host returns the host name or address given to Dial.
func (c *Client) Host() string { return c.host }

// Addr returns the IP address the Client connects to.
func (c *Client) Addr() string { return c.addr }

// Generation counts the transports dialled so far: 1 after Dial, one more
// for each transport dialled after a loss.
func (c *Client) Generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Close closes the RPC transport (closing the pipe, the tree connect and the
// SMB session) and waits for it to be torn down. Handles of the Client
// become unusable; closing the transport releases them on the server.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	t := c.cur
	c.cur = nil
	c.mu.Unlock()
	if t != nil {
		c.teardown(t, true)
	}
	c.closing.Wait()
	return nil
}

func (c *Client) credential() any {
	cr := c.cfg.Credentials
	var opts []credential.Option
	if cr.Domain != "" && cr.Domain != "." {
		opts = append(opts, credential.Domain(cr.Domain))
	}
	if len(cr.NTHash) > 0 {
		return credential.NewFromNTHashBytes(cr.User, cr.NTHash, opts...)
	}
	if cr.Password == "" {
		opts = append(opts, credential.AllowEmptyPassword())
	}
	return credential.NewFromPassword(cr.User, cr.Password, opts...)
}

// errPipeAuth rejects an authenticated bind over a caller's session pipe.
var errPipeAuth = errors.New("svcctl: Config.Pipe needs RPCAuthNone: an authenticated bind needs go-msrpc's own SMB session")

// kerberos sets up a Kerberos logon to the host: its DNS name (the host
// given to Dial, or Config.ServerName) and the mechanism with a ticket for
// cifs/NAME, whose KDC connections go through Config.Dial.
func (c *Client) kerberos(ctx context.Context) (*krbauth.Mechanism, string, error) {
	cr := c.cfg.Credentials
	kc := cr.Kerberos
	realm := krbauth.Realm(kc.Realm, cr.User, cr.Domain)
	name, err := krbauth.ServerName(c.host, c.cfg.ServerName, realm)
	if err != nil {
		return nil, "", krbauth.LogonError(c.host, err)
	}
	mech, err := krbauth.New(ctx, krbauth.Setup{
		Account:        krbauth.Account{User: cr.User, Realm: realm, Password: cr.Password, NTHash: cr.NTHash, CCache: kc.CCache},
		KDCs:           kc.KDCs,
		Dial:           c.cfg.Dial,
		Resolver:       c.cfg.Resolver,
		ConnectTimeout: c.cfg.ConnectTimeout,
	}, "cifs/"+name)
	if err != nil {
		return nil, "", krbauth.LogonError(c.host, err)
	}
	return mech, name, nil
}

// dial opens a new transport: TCP connect through cfg.Dial, SMB negotiate
// and session set-up (NTLM through SPNEGO, signing required unless
// SigningOptional), tree connect to IPC$, open \pipe\svcctl, and the svcctl
// bind. The whole set-up is bounded by ConnectTimeout+RequestTimeout and by
// ctx: when either ends first, the sockets are closed under go-msrpc.
func (c *Client) dial(ctx context.Context) (*transport, error) {
	set := &connSet{}
	// track records a connection the transport opened, so teardown can
	// always close it.
	track := func(conn net.Conn, err error) (net.Conn, error) {
		if err != nil {
			set.dialFailed()
			return nil, err
		}
		if !set.add(conn) {
			_ = conn.Close()
			return nil, ErrClosed
		}
		return conn, nil
	}
	// guard, set below for go-msrpc's own SMB session, checks every frame
	// the server sends before go-smb2 reads it (see package smbguard).
	var guard func(net.Conn) net.Conn
	hook := func(ctx context.Context, network, address string) (net.Conn, error) {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout)
		defer cancel()
		conn, err := c.cfg.Dial(cctx, network, address)
		if err == nil && guard != nil {
			conn = guard(conn)
		}
		return track(conn, err)
	}

	// The watchdog bounds the whole set-up, KDC exchanges included.
	wctx, cancel := context.WithTimeout(ctx, c.cfg.ConnectTimeout+c.cfg.RequestTimeout)
	defer cancel()

	var (
		dialOpts []dcerpc.Option
		rpcMechs []dcerpc.Option
		endpoint = `ncacn_np:[\pipe\svcctl]`
	)
	if c.cfg.Pipe != nil {
		if c.cfg.RPCAuth != RPCAuthNone {
			return nil, derrors.New(c.host, derrors.StepOpenSCManager, derrors.UnknownError, errPipeAuth)
		}
		// go-msrpc dials with the bind's unbounded context; the pipe open
		// is bounded by the watchdog's instead.
		pipeHook := func(context.Context, string, string) (net.Conn, error) {
			conn, err := c.cfg.Pipe(wctx)
			if err == nil {
				// Bound what svcctl's replies can make go-msrpc allocate.
				conn = rpcguard.New(conn, rpcguard.Options{Host: c.host, Interface: "svcctl", Check: rpcguard.SvcctlChecker})
			}
			return track(conn, err)
		}
		dialOpts = []dcerpc.Option{dcerpc.WithDialer(dialerFunc(pipeHook)), dcerpc.WithTimeout(c.cfg.RequestTimeout)}
		endpoint = "ncacn_ip_tcp:[445]"
	} else {
		var (
			cred   any
			smbSec []gssapi.ContextOption
		)
		if kc := c.cfg.Credentials.Kerberos; kc != nil {
			mech, name, err := c.kerberos(wctx)
			if err != nil {
				return nil, err
			}
			defer mech.Close()
			cred = gssapi.NewCredential("", nil, gssapi.InitiateAndAccept, mech.Credential)
			smbSec = mech.SMBOptions()
			rpcMechs = []dcerpc.Option{dcerpc.WithCredentials(cred), dcerpc.WithMechanism(ssp.SPNEGO),
				dcerpc.WithMechanism(ssp.KRB5, mech.Config), dcerpc.WithTargetName("host/" + name)}
		} else {
			cred = gssapi.NewCredential("", nil, gssapi.InitiateAndAccept, c.credential())
			smbSec = []gssapi.ContextOption{cred, ssp.SPNEGO, ssp.NTLM}
			rpcMechs = []dcerpc.Option{dcerpc.WithCredentials(cred), dcerpc.WithMechanism(ssp.SPNEGO), dcerpc.WithMechanism(ssp.NTLM)}
		}
		smbOpts := []msrpcsmb2.DialerOption{msrpcsmb2.WithSecurity(smbSec...)}
		if !c.cfg.SigningOptional {
			smbOpts = append(smbOpts, msrpcsmb2.WithSign())
		}
		if c.cfg.Encryption != smb.EncryptNever {
			smbOpts = append(smbOpts, msrpcsmb2.WithSeal())
		}
		smbDialer := msrpcsmb2.NewDialer(smbOpts...)
		guard = func(conn net.Conn) net.Conn {
			return smbguard.New(conn, smbguard.Options{Host: c.host, SessionKey: smbDialer.Initiator.SessionKey})
		}
		dialOpts = []dcerpc.Option{
			dcerpc.WithDialer(dialerFunc(hook)),
			dcerpc.WithSMBDialer(smbDialer),
			dcerpc.WithSMBPort(c.cfg.Port),
			dcerpc.WithTimeout(c.cfg.RequestTimeout),
		}
	}
	bindOpts := []dcerpc.Option{
		dcerpc.WithEndpoint(endpoint),
		dcerpc.WithErrorMapper(win32.Mapper{}),
	}
	switch c.cfg.RPCAuth {
	case RPCAuthNone:
		bindOpts = append(bindOpts, dcerpc.WithInsecure())
	case RPCAuthIntegrity, RPCAuthPrivacy:
		bindOpts = append(bindOpts, rpcMechs...)
		// Under Kerberos, integrity is asked for as privacy (which also
		// signs): go-msrpc v1.5.2 cannot decode Kerberos sign-only
		// responses ("decode packet" errors against Samba 4.17's DC).
		if c.cfg.RPCAuth == RPCAuthPrivacy || c.cfg.Credentials.Kerberos != nil {
			bindOpts = append(bindOpts, dcerpc.WithSeal())
		} else {
			bindOpts = append(bindOpts, dcerpc.WithSign())
		}
	default:
		return nil, derrors.New(c.host, derrors.StepOpenSCManager, derrors.UnknownError,
			fmt.Errorf("svcctl: unknown RPCAuth %d", c.cfg.RPCAuth))
	}

	// go-msrpc runs the transport's sender and receiver under the bind's
	// context for the transport's whole life, so the bind must not inherit
	// the caller's cancellation; the watchdog below bounds it instead.
	bctx := context.WithoutCancel(ctx)
	stop := context.AfterFunc(wctx, set.closeAll)

	var (
		rpc dcerpc.Conn
		cli svcctlrpc.SvcctlClient
		err error
	)
	target := c.addr
	if c.cfg.Pipe != nil {
		target = "127.0.0.1" // only names the connection: go-msrpc would resolve a host name
	}
	rpc, err = dcerpc.Dial(bctx, target, dialOpts...)
	if err == nil {
		cli, err = svcctlrpc.NewSvcctlClient(bctx, rpc, bindOpts...)
	}
	if !stop() {
		// The watchdog fired: report why, whatever go-msrpc made of the
		// closed sockets.
		werr := wctx.Err()
		if err != nil {
			err = fmt.Errorf("%w (%v)", werr, err)
		} else {
			err = werr
		}
	}
	if err != nil {
		tcpFailed := set.tcpFailed()
		set.closeAll()
		if rpc != nil {
			// The sockets are closed already.
			c.closeRPC(func() { _ = rpc.Close(context.Background()) }, func() {})
		}
		return nil, c.wrap(dialStep(err, tcpFailed), err)
	}

	c.mu.Lock()
	c.gen++
	gen := c.gen
	c.mu.Unlock()
	return &transport{gen: gen, rpc: rpc, cli: cli, conns: set}, nil
}

// teardown closes t: gracefully (pipe close, tree disconnect, logoff)
// within a short bound when graceful is set, then by closing its sockets.
func (c *Client) teardown(t *transport, graceful bool) {
	t.once.Do(func() {
		if !graceful {
			t.conns.closeAll()
		}
		c.closeRPC(func() { _ = t.rpc.Close(context.Background()) }, t.conns.closeAll)
	})
}

// closeRPC runs go-msrpc's Close of a transport (rpcClose), gives it a grace
// period, closes the sockets (closeSockets), and waits for rpcClose at most
// one more grace period. go-msrpc's Close can block for ever (its
// transport's clearTimer drains a timer channel that a fired timer's reader
// emptied already), so Client.Close never waits on it unboundedly: a Close
// still blocked then is left behind and counted (StuckCloses).
func (c *Client) closeRPC(rpcClose, closeSockets func()) {
	grace := gracePeriod(c.cfg.RequestTimeout)
	c.closing.Add(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }() // a close that fails on a hostile reply: the sockets are closed anyway
		rpcClose()
	}()
	go func() {
		defer c.closing.Done()
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
		}
		closeSockets()
		timer.Reset(grace)
		select {
		case <-done:
		case <-timer.C:
			c.stuck.Add(1)
		}
	}()
}

// StuckCloses returns how many of the Client's transports had a go-msrpc
// Close that had not returned a grace period after their sockets were
// closed. Each left one goroutine behind; Close did not wait for it.
func (c *Client) StuckCloses() int64 { return c.stuck.Load() }

// gracePeriod bounds a graceful close.
func gracePeriod(callTimeout time.Duration) time.Duration {
	if g := 2 * time.Second; callTimeout > g {
		return g
	}
	return callTimeout
}

// live returns the current transport, dialling a new one if the last was
// lost.
func (c *Client) live(ctx context.Context, step derrors.Step) (*transport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, derrors.New(c.host, step, derrors.UnknownError, ErrClosed)
	}
	if c.cur != nil {
		return c.cur, nil
	}
	if c.losses > c.cfg.MaxRedials {
		return nil, derrors.New(c.host, step, derrors.UnknownError,
			fmt.Errorf("%w (%d)", ErrRedialLimit, c.losses))
	}
	// Dial without the lock, so Close is never blocked behind a dial; if
	// another caller dialled meanwhile, keep theirs.
	c.mu.Unlock()
	t, err := c.dial(ctx)
	c.mu.Lock()
	if err != nil {
		return nil, err
	}
	if c.closed {
		c.teardown(t, true)
		return nil, derrors.New(c.host, step, derrors.UnknownError, ErrClosed)
	}
	if c.cur != nil {
		// Another caller dialled meanwhile: use theirs.
		c.teardown(t, true)
		return c.cur, nil
	}
	c.cur = t
	return t, nil
}

// retire drops t after a failed call and tears it down.
func (c *Client) retire(t *transport) {
	c.mu.Lock()
	if c.cur == t {
		c.cur = nil
		c.losses++
	}
	c.mu.Unlock()
	c.teardown(t, false)
}

// completed records a call that reached the server and got an answer.
func (c *Client) completed() {
	c.mu.Lock()
	c.losses = 0
	c.mu.Unlock()
}

// retryPolicy says what a call does when its transport is lost in flight.
type retryPolicy int

const (
	// noRetry: report ErrTransportLost.
	noRetry retryPolicy = iota
	// retryOnce: the call is idempotent; run it again on a new transport.
	retryOnce
)

// call runs f on the live transport with the per-call timeout. f returns
// the error of its last RPC, passed through check. Return codes are typed
// for step; a fault retires the transport and is returned typed (not
// retried: the server refused the call); a transport failure retires the
// transport and, under retryOnce, runs f once more on a new one.
func (c *Client) call(ctx context.Context, step derrors.Step, policy retryPolicy, f func(ctx context.Context, t *transport) error) error {
	for attempt := 0; ; attempt++ {
		t, err := c.live(ctx, step)
		if err != nil {
			return err
		}
		t.callMu.Lock()
		cctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err = runCall(cctx, t, f)
		cancel()
		t.callMu.Unlock()
		var malformed *malformedReply
		if errors.As(err, &malformed) {
			c.retire(t)
			return &derrors.Error{Host: c.host, Step: step, Kind: derrors.SharedAccessFailure,
				Reason: derrors.ReasonMalformedReply, Err: err}
		}
		if err == nil || !isRPCFailure(err) {
			c.completed()
			return c.wrap(step, err)
		}
		c.retire(t)
		if _, fault := faultCode(err); fault {
			c.completed()
			return c.wrap(step, err)
		}
		if policy == noRetry || attempt > 0 || ctxErr(ctx) != nil {
			return c.wrap(step, lost(err))
		}
	}
}

// malformedReply is a panic in go-msrpc's decoding of a reply, turned into
// an error: a reply the RPC guard did not foresee. The transport is retired.
type malformedReply struct{ v any }

func (e *malformedReply) Error() string {
	return fmt.Sprintf("svcctl: go-msrpc failed on a reply: %v", e.v)
}

// runCall runs one call, turning a panic in go-msrpc into a *malformedReply.
func runCall(ctx context.Context, t *transport, f func(ctx context.Context, t *transport) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &malformedReply{r}
		}
	}()
	return f(ctx, t)
}

// recoverable reports whether err is a lost transport (not a fault, not a
// return code), after which a non-idempotent call checks its outcome.
func recoverable(err error) bool {
	return errors.Is(err, ErrTransportLost)
}
