package rpcpipe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	rpcerrors "github.com/oiweiwei/go-msrpc/dcerpc/errors"
	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/oiweiwei/go-msrpc/ssp/gssapi"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/krbauth"
	"github.com/nxdeploy/deployer/smb"
)

// Defaults applied to a zero Config field.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultMaxRedials     = 3
)

// Sentinel causes inside the errors a Conn returns.
var (
	// ErrClosed: the Conn was closed.
	ErrClosed = errors.New("rpc: connection closed")
	// ErrTransportLost: the pipe failed while a call was in flight, so its
	// outcome is unknown.
	ErrTransportLost = errors.New("rpc: transport lost, outcome unknown")
	// ErrFault: the server answered with a DCE/RPC fault PDU.
	ErrFault = errors.New("rpc: fault")
	// ErrInterfaceRejected: the server refused the interface's presentation
	// context (it does not serve the interface on this endpoint).
	ErrInterfaceRejected = errors.New("rpc: the server does not serve the interface")
	// ErrRedialLimit: MaxRedials+1 transports were lost in a row.
	ErrRedialLimit = errors.New("rpc: too many transports lost in a row")
)

// Config says how to open the pipe and bind the interface.
type Config struct {
	// Host names the target in errors.
	Host string
	// Open opens the named pipe (smb.Session.OpenPipe with the pipe's name).
	// The connection is closed when the transport is torn down.
	Open func(ctx context.Context) (net.Conn, error)
	// BindStep names the step of a failed pipe open or bind.
	BindStep derrors.Step
	// Seal seals every PDU with an NTLM (or Kerberos, when
	// Credentials.Kerberos is set) exchange of Credentials inside the bind.
	Seal bool
	// Credentials is the account of a sealed bind.
	Credentials smb.Credentials
	// ServerName is the host's DNS name, for the Kerberos ticket of a sealed
	// bind (host/ServerName); Host when empty.
	ServerName string
	// Dial and Resolver reach the KDCs of a Kerberos bind; ConnectTimeout
	// bounds each KDC connect.
	Dial           smb.DialFunc
	Resolver       *net.Resolver
	ConnectTimeout time.Duration
	// RequestTimeout bounds the pipe open and bind of a transport, and each
	// call; DefaultRequestTimeout when zero.
	RequestTimeout time.Duration
	// MaxRedials is how many transports in a row may be opened after losing
	// one; DefaultMaxRedials when zero, none when negative.
	MaxRedials int
	// Mappers turn a call's non-zero return value into an error (win32,
	// hresult, ...).
	Mappers []rpcerrors.Mapper
}

func (c Config) withDefaults() Config {
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	switch {
	case c.MaxRedials == 0:
		c.MaxRedials = DefaultMaxRedials
	case c.MaxRedials < 0:
		c.MaxRedials = 0
	}
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Dial == nil {
		var d net.Dialer
		c.Dial = d.DialContext
	}
	if c.ServerName == "" {
		c.ServerName = c.Host
	}
	return c
}

// BindFunc binds an interface on a connection: a generated New*Client.
type BindFunc[C any] func(ctx context.Context, cc dcerpc.Conn, opts ...dcerpc.Option) (C, error)

// Conn is one interface bound over a pipe, re-bound on a new pipe after a
// loss. It is safe for concurrent use; calls run one at a time.
type Conn[C any] struct {
	cfg  Config
	bind BindFunc[C]

	mu      sync.Mutex
	cur     *transport[C]
	gen     uint64
	losses  int
	closed  bool
	closing sync.WaitGroup
}

// transport is one opened pipe with the interface bound on it.
type transport[C any] struct {
	callMu sync.Mutex
	rpc    dcerpc.Conn
	cli    C
	pipe   *pipeSet
	once   sync.Once
}

// pipeSet holds the pipe a transport opened, so teardown can always close it
// (go-msrpc waits on replies without deadlines).
type pipeSet struct {
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func (s *pipeSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns = append(s.conns, c)
	return true
}

func (s *pipeSet) closeAll() {
	s.mu.Lock()
	conns := s.conns
	s.conns, s.closed = nil, true
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// Bind opens the pipe and binds the interface.
func Bind[C any](ctx context.Context, cfg Config, bind BindFunc[C]) (*Conn[C], error) {
	if cfg.Open == nil {
		return nil, derrors.New(cfg.Host, cfg.BindStep, derrors.UnknownError, errors.New("rpc: Config.Open is nil"))
	}
	c := &Conn[C]{cfg: cfg.withDefaults(), bind: bind}
	t, err := c.dial(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = t
	return c, nil
}

// Generation counts the transports opened so far.
func (c *Conn[C]) Generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Close tears the transport down and waits for it.
func (c *Conn[C]) Close() error {
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

// dialerFunc adapts a function to go-msrpc's Dialer.
type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}

// security returns the bind's security options.
func (c *Conn[C]) security(ctx context.Context) ([]dcerpc.Option, func(), error) {
	if !c.cfg.Seal {
		return []dcerpc.Option{dcerpc.WithInsecure()}, func() {}, nil
	}
	cr := c.cfg.Credentials
	if kc := cr.Kerberos; kc != nil {
		realm := krbauth.Realm(kc.Realm, cr.User, cr.Domain)
		name, err := krbauth.ServerName(c.cfg.Host, c.cfg.ServerName, realm)
		if err != nil {
			return nil, nil, krbauth.LogonError(c.cfg.Host, err)
		}
		mech, err := krbauth.New(ctx, krbauth.Setup{
			Account:        krbauth.Account{User: cr.User, Realm: realm, Password: cr.Password, NTHash: cr.NTHash, CCache: kc.CCache},
			KDCs:           kc.KDCs,
			Dial:           c.cfg.Dial,
			Resolver:       c.cfg.Resolver,
			ConnectTimeout: c.cfg.ConnectTimeout,
		}, "host/"+name)
		if err != nil {
			return nil, nil, krbauth.LogonError(c.cfg.Host, err)
		}
		cred := gssapi.NewCredential("", nil, gssapi.InitiateAndAccept, mech.Credential)
		return []dcerpc.Option{dcerpc.WithCredentials(cred), dcerpc.WithMechanism(ssp.SPNEGO),
			dcerpc.WithMechanism(ssp.KRB5, mech.Config), dcerpc.WithTargetName("host/" + name), dcerpc.WithSeal()}, mech.Close, nil
	}
	var opts []credential.Option
	if cr.Domain != "" && cr.Domain != "." {
		opts = append(opts, credential.Domain(cr.Domain))
	}
	var cred any
	if len(cr.NTHash) > 0 {
		cred = credential.NewFromNTHashBytes(cr.User, cr.NTHash, opts...)
	} else {
		if cr.Password == "" {
			opts = append(opts, credential.AllowEmptyPassword())
		}
		cred = credential.NewFromPassword(cr.User, cr.Password, opts...)
	}
	g := gssapi.NewCredential("", nil, gssapi.InitiateAndAccept, cred)
	return []dcerpc.Option{dcerpc.WithCredentials(g), dcerpc.WithMechanism(ssp.SPNEGO),
		dcerpc.WithMechanism(ssp.NTLM), dcerpc.WithSeal()}, func() {}, nil
}

// dial opens a pipe and binds, all within RequestTimeout and ctx.
func (c *Conn[C]) dial(ctx context.Context) (*transport[C], error) {
	wctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout+c.cfg.ConnectTimeout)
	defer cancel()
	set := &pipeSet{}
	var openErr error
	hook := func(context.Context, string, string) (net.Conn, error) {
		p, err := c.cfg.Open(wctx)
		if err != nil {
			openErr = err
			return nil, err
		}
		if !set.add(p) {
			_ = p.Close()
			return nil, ErrClosed
		}
		return p, nil
	}
	sec, done, err := c.security(wctx)
	if err != nil {
		return nil, err
	}
	defer done()
	// go-msrpc runs the transport's sender and receiver under the bind's
	// context for its whole life: the bind must not inherit the caller's
	// cancellation; the watchdog below bounds it instead.
	bctx := context.WithoutCancel(ctx)
	stop := context.AfterFunc(wctx, set.closeAll)
	var (
		rpc dcerpc.Conn
		cli C
	)
	// The address only names the connection inside go-msrpc (which would
	// resolve a name): the hook opens the pipe.
	rpc, err = dcerpc.Dial(bctx, "127.0.0.1", dcerpc.WithDialer(dialerFunc(hook)), dcerpc.WithTimeout(c.cfg.RequestTimeout))
	if err == nil {
		opts := append([]dcerpc.Option{dcerpc.WithEndpoint("ncacn_ip_tcp:[445]")}, sec...)
		if len(c.cfg.Mappers) > 0 {
			opts = append(opts, dcerpc.WithErrorMapper(c.cfg.Mappers...))
		}
		cli, err = c.bind(bctx, rpc, opts...)
	}
	if !stop() {
		werr := wctx.Err()
		if err != nil {
			err = fmt.Errorf("%w (%v)", werr, err)
		} else {
			err = werr
		}
	}
	if err != nil {
		set.closeAll()
		if rpc != nil {
			c.closing.Add(1)
			go func() {
				defer c.closing.Done()
				_ = rpc.Close(context.Background())
			}()
		}
		if openErr != nil {
			// The pipe open failed: its own error names the step (tree
			// connect, access to the pipe).
			if e, ok := derrors.As(openErr); ok {
				return nil, e
			}
		}
		return nil, c.Wrap(c.cfg.BindStep, err)
	}
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
	return &transport[C]{rpc: rpc, cli: cli, pipe: set}, nil
}

// teardown closes t: gracefully within a short bound, then by closing the
// pipe under go-msrpc.
func (c *Conn[C]) teardown(t *transport[C], graceful bool) {
	t.once.Do(func() {
		if !graceful {
			t.pipe.closeAll()
		}
		c.closing.Add(1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = t.rpc.Close(context.Background())
		}()
		go func() {
			defer c.closing.Done()
			timer := time.NewTimer(min(2*time.Second, c.cfg.RequestTimeout))
			defer timer.Stop()
			select {
			case <-done:
			case <-timer.C:
			}
			t.pipe.closeAll()
			<-done
		}()
	})
}

// live returns the current transport, opening a new one after a loss.
func (c *Conn[C]) live(ctx context.Context, step derrors.Step) (*transport[C], error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, derrors.New(c.cfg.Host, step, derrors.UnknownError, ErrClosed)
	}
	if c.cur != nil {
		return c.cur, nil
	}
	if c.losses > c.cfg.MaxRedials {
		return nil, derrors.New(c.cfg.Host, step, derrors.UnknownError, fmt.Errorf("%w (%d)", ErrRedialLimit, c.losses))
	}
	c.mu.Unlock()
	t, err := c.dial(ctx)
	c.mu.Lock()
	if err != nil {
		return nil, err
	}
	if c.closed {
		c.teardown(t, true)
		return nil, derrors.New(c.cfg.Host, step, derrors.UnknownError, ErrClosed)
	}
	if c.cur != nil {
		c.teardown(t, true)
		return c.cur, nil
	}
	c.cur = t
	return t, nil
}

func (c *Conn[C]) retire(t *transport[C]) {
	c.mu.Lock()
	if c.cur == t {
		c.cur = nil
		c.losses++
	}
	c.mu.Unlock()
	c.teardown(t, false)
}

func (c *Conn[C]) completed() {
	c.mu.Lock()
	c.losses = 0
	c.mu.Unlock()
}

// Call runs f with the bound client under the per-call timeout. f returns
// the error of its RPCs, each passed through Check. A fault or an I/O
// failure retires the transport; an I/O failure of an idempotent call is
// retried once on a new transport, else reported as ErrTransportLost.
// Errors are typed for step.
func (c *Conn[C]) Call(ctx context.Context, step derrors.Step, idempotent bool, f func(ctx context.Context, cli C) error) error {
	for attempt := 0; ; attempt++ {
		t, err := c.live(ctx, step)
		if err != nil {
			return err
		}
		t.callMu.Lock()
		cctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err = f(cctx, t.cli)
		cancel()
		t.callMu.Unlock()
		if err == nil || !isRPCFailure(err) {
			c.completed()
			return c.Wrap(step, err)
		}
		c.retire(t)
		if rejected(err) {
			c.completed()
			return c.Wrap(step, fmt.Errorf("%w: %w", ErrInterfaceRejected, err))
		}
		if _, fault := FaultCode(err); fault {
			c.completed()
			return c.Wrap(step, err)
		}
		if !idempotent || attempt > 0 || ctx.Err() != nil {
			return c.Wrap(step, lost(err))
		}
	}
}

// rpcFailure marks an error of the RPC runtime (no response: a transport
// failure or a fault PDU), as opposed to a call that returned a code.
type rpcFailure struct{ err error }

func (e *rpcFailure) Error() string { return e.err.Error() }
func (e *rpcFailure) Unwrap() error { return e.err }

// Check separates go-msrpc's two kinds of failure: its generated methods
// return a nil response when the call itself failed, and the response with
// an error when the server returned a non-zero code.
func Check[T any](out *T, err error) (*T, error) {
	if err != nil && out == nil {
		return nil, &rpcFailure{err: err}
	}
	return out, err
}

func isRPCFailure(err error) bool {
	var rf *rpcFailure
	return errors.As(err, &rf)
}

// FaultCode returns the status of a fault PDU in err, and whether err is a
// fault at all.
func FaultCode(err error) (uint32, bool) {
	if !isRPCFailure(err) {
		return 0, false
	}
	var re *rpcerrors.RPCError
	if errors.As(err, &re) {
		return re.Code, true
	}
	var ge *rpcerrors.Error
	if errors.As(err, &ge) {
		switch v := ge.Value.(type) {
		case uint32:
			return v, true
		case int32:
			return uint32(v), true
		}
		return 0, true
	}
	return 0, false
}

// rejected reports a presentation context the server refused (go-msrpc
// reports the bind's result at the first call).
func rejected(err error) bool {
	var res *dcerpc.Result
	return errors.As(err, &res) && res.HasError()
}

// faultWin32 maps a fault status to the Win32 code Windows reports for it.
func faultWin32(status uint32) uint32 {
	switch status {
	case 0x1c010002: // nca_op_rng_error
		return 1745 // RPC_S_PROCNUM_OUT_OF_RANGE
	case 0x1c010003: // nca_unk_if
		return 1717 // RPC_S_UNKNOWN_IF
	case 0x1c00001a, 0x16c9a075: // context mismatch
		return 6 // ERROR_INVALID_HANDLE
	}
	if status < 0x10000 {
		return status
	}
	return 0
}

// Wrap types err for the host and step: a fault becomes a windows error with
// its Win32 equivalent, anything else goes through derrors.Wrap.
func (c *Conn[C]) Wrap(step derrors.Step, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := derrors.As(err); ok && e.Host != "" && e.Step != "" {
		return err
	}
	if status, ok := FaultCode(err); ok {
		cause := fmt.Errorf("%w: %w", ErrFault, err)
		if code := faultWin32(status); code != 0 {
			k, r := derrors.FromWin32(step, code)
			return &derrors.Error{Host: c.cfg.Host, Step: step, Kind: k, Reason: r, Code: derrors.Win32Code(code), Err: cause}
		}
		return &derrors.Error{Host: c.cfg.Host, Step: step, Kind: derrors.WindowsError, Err: cause}
	}
	return derrors.Wrap(c.cfg.Host, step, err)
}

func lost(err error) error {
	if errors.Is(err, ErrTransportLost) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrTransportLost, err)
}
