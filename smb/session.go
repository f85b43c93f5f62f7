package smb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	msrpcsmb2 "github.com/oiweiwei/go-msrpc/smb2"
	smb2 "github.com/oiweiwei/go-smb2.fork"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/krbauth"
	"github.com/nxdeploy/deployer/internal/smbguard"
)

// Dialect is an SMB2 dialect revision ([MS-SMB2] 2.2.3).
type Dialect uint16

// The dialects go-smb2 speaks.
const (
	SMB202 Dialect = 0x0202
	SMB210 Dialect = 0x0210
	SMB300 Dialect = 0x0300
	SMB302 Dialect = 0x0302
	SMB311 Dialect = 0x0311
)

// String formats the dialect as "3.1.1".
func (d Dialect) String() string {
	switch d {
	case SMB202:
		return "2.0.2"
	case SMB210:
		return "2.1"
	case SMB300:
		return "3.0"
	case SMB302:
		return "3.0.2"
	case SMB311:
		return "3.1.1"
	case 0:
		return ""
	}
	return fmt.Sprintf("0x%04X", uint16(d))
}

// Info is what a session learned about the host.
type Info struct {
	// Host is the name or address Dial was given.
	Host string
	// Addr is the address and port connected to.
	Addr netip.AddrPort
	// Dialect is the negotiated SMB dialect.
	Dialect Dialect
	// SigningRequired reports that the server requires signing (its
	// negotiate security mode).
	SigningRequired bool
	// Signed reports that the server signs its messages (its session setup
	// reply carried a signature) or, when Encrypted, seals them (which also
	// authenticates them). It is false for a guest session and for a server
	// that does not sign, which only SigningOptional accepts.
	Signed bool
	// Encrypted reports that messages are encrypted (SMB 3.x).
	Encrypted bool
	// EncryptionNotOffered reports that encryption was asked for
	// (Config.Encryption is not EncryptNever) but the session is not
	// encrypted: the server speaks SMB 2.x, or does not offer encryption.
	// With EncryptRequired Dial fails instead.
	EncryptionNotOffered bool
	// Cipher names the encryption cipher, such as "AES-128-GCM".
	Cipher string
	// Guest reports that the server mapped the logon to the Guest account.
	Guest bool
	// Auth names the logon's mechanism: "NTLM" or "Kerberos".
	Auth string
	// SPN is the service principal the Kerberos ticket was for, such as
	// "cifs/pc1.corp.example.com"; empty under NTLM.
	SPN string
	// Server is what the server says about itself in its NTLM challenge;
	// it is empty under Kerberos, which has no such message.
	Server ServerIdentity
	// MaxWriteSize is the largest write the server accepts in one request.
	MaxWriteSize uint32
}

// Trace is called by Dial after each of its steps (resolve, connect,
// negotiate, logon), with its
// duration and its error (nil on success). Probe uses it to time steps.
type Trace func(step derrors.Step, took time.Duration, err *derrors.Error)

// Session is one logged-on SMB session to a host. Its methods are safe for
// concurrent use.
type Session struct {
	cfg   Config
	label string
	info  Info
	conn  net.Conn
	guard *smbguard.Conn
	s     *smb2.Session
	trace Trace

	ipcMu sync.Mutex
	ipc   *smb2.Share        // IPC$, shared by the session's pipes
	pipes map[*Pipe]struct{} // open pipes, ended without a CLOSE by the logoff

	srvMu sync.Mutex // serialises srvsvc calls (go-msrpc corrupts concurrent ones)
	srv   *srvsvcBinding

	closeOnce sync.Once
	closeErr  error
}

// errNoUser rejects a config without an account.
var errNoUser = errors.New("smb: Credentials.User is empty")

// Dial resolves host (a name or an IP address), connects to its SMB port,
// negotiates (signing required unless cfg.SigningOptional, encryption as
// cfg.Encryption says) and logs on with cfg.Credentials. Every error is a
// *derrors.Error naming the step that failed: resolve, connect, negotiate or
// logon. A logon the server maps to Guest fails with
// derrors.ReasonGuestOnly. trace, when not nil, is called after each step.
func Dial(ctx context.Context, host string, cfg Config, trace Trace) (_ *Session, err error) {
	defer func() { err = derrors.AtPort(err, cfg.port()) }()
	if trace == nil {
		trace = func(derrors.Step, time.Duration, *derrors.Error) {}
	}
	label := host
	if cfg.Label != "" {
		label = cfg.Label
	}
	if cfg.Credentials.User == "" {
		return nil, derrors.New(label, derrors.StepLogon, derrors.LogonFailure, errNoUser)
	}
	var spn string
	if cfg.Credentials.Kerberos != nil {
		name, err := krbauth.ServerName(host, cfg.Label, cfg.Credentials.realm())
		if err != nil {
			return nil, krbauth.LogonError(label, err)
		}
		spn = "cifs/" + name
	}

	start := time.Now()
	ip, err := resolve(ctx, host, cfg)
	if err != nil {
		e := derrors.Wrap(label, derrors.StepResolve, err)
		if e.Kind != derrors.DNSResolutionFailure && !errors.Is(err, context.Canceled) {
			e.Kind, e.Reason = derrors.DNSResolutionFailure, derrors.NoReason
		}
		trace(derrors.StepResolve, time.Since(start), e)
		return nil, e
	}
	trace(derrors.StepResolve, time.Since(start), nil)

	addr := netip.AddrPortFrom(ip, uint16(cfg.port()))
	start = time.Now()
	cctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout())
	conn, err := cfg.dial()(cctx, "tcp", addr.String())
	cancel()
	if err != nil {
		e := derrors.Wrap(label, derrors.StepConnect, err)
		trace(derrors.StepConnect, time.Since(start), e)
		return nil, e
	}
	trace(derrors.StepConnect, time.Since(start), nil)

	s := &Session{cfg: cfg, label: label, conn: conn, trace: trace}
	s.info.Host = host
	s.info.Addr = addr
	s.info.Auth, s.info.SPN = "NTLM", spn
	if spn != "" {
		s.info.Auth = "Kerberos"
	}
	if err := s.handshake(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return s, nil
}

func resolve(ctx context.Context, host string, cfg Config) (netip.Addr, error) {
	h := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if ip, err := netip.ParseAddr(h); err == nil {
		return ip.Unmap(), nil
	}
	if h == "" {
		return netip.Addr{}, &net.DNSError{Err: "empty host name", Name: host, IsNotFound: true}
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.resolveTimeout())
	defer cancel()
	ips, err := cfg.resolver().LookupNetIP(rctx, "ip", h)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			return ip.Unmap(), nil
		}
	}
	if len(ips) == 0 {
		return netip.Addr{}, &net.DNSError{Err: "no addresses", Name: h, IsNotFound: true}
	}
	return ips[0], nil
}

// errGuestSigning is go-smb2's message when a guest session meets required
// signing.
const errGuestSigning = "guest account doesn't support signing"

func (s *Session) handshake(ctx context.Context) (err error) {
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, s.cfg.requestTimeout())
	defer cancel()
	var init smb2.Initiator
	ntlm := newIdentityInitiator(s.cfg.Credentials)
	init = ntlm
	if s.info.SPN != "" {
		mech, err := krbauth.New(hctx, s.cfg.Credentials.kerberosSetup(s.cfg.dial(), s.cfg.resolver(), s.cfg.connectTimeout()), s.info.SPN)
		if err != nil {
			e := krbauth.LogonError(s.label, err)
			s.trace(derrors.StepLogon, time.Since(start), e)
			return e
		}
		defer mech.Close()
		init = msrpcsmb2.SecurtiyContextInitiator(mech.SMBOptions()...)
	}
	guard := smbguard.New(s.conn, smbguard.Options{
		Host:            s.label,
		SPNEGOWrapsNTLM: s.info.SPN == "",
		SessionKey:      init.SessionKey,
	})
	s.conn, s.guard = guard, guard
	d := &smb2.Dialer{
		MaxCreditBalance: s.cfg.maxCredits(),
		Negotiator: smb2.Negotiator{
			RequireMessageSigning: !s.cfg.SigningOptional,
			UseMessageEncryption:  s.cfg.Encryption != EncryptNever,
		},
		Initiator: init,
	}
	sess, err := dialSMB(hctx, d, guard)
	facts := guard.Facts()
	s.info.Server = ntlm.identity()
	negotiated := start
	if facts.Negotiated {
		negotiated = facts.NegotiatedAt
	}
	if err != nil {
		if !facts.Negotiated {
			e := s.wrap(derrors.StepNegotiate, err)
			if e.Reason == derrors.ReasonProtocolMismatch && s.speaksOnlySMB1(ctx) {
				e.Reason = derrors.ReasonSMB1Only
			}
			s.trace(derrors.StepNegotiate, time.Since(start), e)
			return e
		}
		s.trace(derrors.StepNegotiate, negotiated.Sub(start), nil)
		var e *derrors.Error
		if facts.SessionFlags&sessionFlagGuest != 0 || strings.Contains(err.Error(), errGuestSigning) {
			e = guestError(s.label, err)
		} else {
			e = s.wrap(derrors.StepLogon, err)
		}
		s.trace(derrors.StepLogon, time.Since(negotiated), e)
		return e
	}
	s.trace(derrors.StepNegotiate, negotiated.Sub(start), nil)
	s.s = sess
	s.fillInfo(Dialect(sess.NegotiatedDialect()), facts)
	var e *derrors.Error
	switch {
	case s.info.Guest:
		e = guestError(s.label, errors.New("smb: the server logged the session on as Guest"))
	case !s.cfg.SigningOptional && !s.info.Signed:
		e = &derrors.Error{Host: s.label, Step: derrors.StepLogon, Kind: derrors.SharedAccessFailure,
			Reason: derrors.ReasonSigningUnavailable,
			Err:    fmt.Errorf("smb: signing is required but the server did not sign the session (dialect %s)", s.info.Dialect)}
	case s.cfg.Encryption == EncryptRequired && !s.info.Encrypted:
		e = &derrors.Error{Host: s.label, Step: derrors.StepLogon, Kind: derrors.SharedAccessFailure,
			Reason: derrors.ReasonProtocolMismatch,
			Err:    fmt.Errorf("smb: encryption is required but the server does not offer it (dialect %s)", s.info.Dialect)}
	}
	if e != nil {
		s.trace(derrors.StepLogon, time.Since(negotiated), e)
		lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.requestTimeout())
		defer lcancel()
		_ = sess.WithContext(lctx).Logoff()
		return e
	}
	s.trace(derrors.StepLogon, time.Since(negotiated), nil)
	return nil
}

// dialSMB runs go-smb2's negotiate and session setup. A panic in them (in
// the caller's goroutine: a decoder the guard did not foresee) becomes an
// error instead of ending the process.
func dialSMB(ctx context.Context, d *smb2.Dialer, conn net.Conn) (sess *smb2.Session, err error) {
	defer func() {
		if r := recover(); r != nil {
			_ = conn.Close()
			sess, err = nil, &smbguard.MalformedError{Command: "logon", Problem: fmt.Sprintf("go-smb2 failed on it: %v", r)}
		}
	}()
	return d.DialContext(ctx, conn)
}

func guestError(host string, err error) *derrors.Error {
	return &derrors.Error{Host: host, Step: derrors.StepLogon, Kind: derrors.LogonFailure,
		Reason: derrors.ReasonGuestOnly, Err: err}
}

func (s *Session) fillInfo(d Dialect, f wireFacts) {
	s.info.Dialect = d
	s.info.SigningRequired = f.SecurityMode&negSigningRequired != 0
	s.info.Guest = f.SessionFlags&(sessionFlagGuest|sessionFlagNull) != 0
	s.info.MaxWriteSize = f.MaxWriteSize
	if s.info.Dialect >= SMB300 && !s.info.Guest {
		offered := f.Capabilities&capEncryption != 0
		if s.info.Dialect == SMB311 {
			offered = f.Cipher != 0
		}
		s.info.Encrypted = (offered && s.cfg.Encryption != EncryptNever) || f.SessionFlags&sessionFlagEncryptData != 0
	}
	if s.info.Encrypted {
		s.info.Cipher = cipherName(cipherAES128CCM)
		if s.info.Dialect == SMB311 {
			s.info.Cipher = cipherName(f.Cipher)
		}
	}
	s.info.Signed = !s.info.Guest && (s.info.Encrypted || f.SessionSigned)
	s.info.EncryptionNotOffered = s.cfg.Encryption != EncryptNever && !s.info.Encrypted
}

// Info returns what the session learned about the host. Signed follows
// the replies read so far: a server that does not sign its session setup
// reply (which it need not when the client does not require signing) may
// still sign every later reply, and one that signs it may stop.
func (s *Session) Info() Info {
	info := s.info
	if s.guard != nil && !info.Guest && !info.Encrypted {
		f := s.guard.Facts()
		switch {
		case f.RepliesUnsigned > 0:
			info.Signed = false
		case f.RepliesSigned > 0:
			info.Signed = true
		}
	}
	return info
}

// Host returns the name or address Dial was given; errors carry it.
func (s *Session) Host() string { return s.label }

// Config returns the configuration the session was dialed with.
func (s *Session) Config() Config { return s.cfg }

// requestContext bounds one SMB exchange.
func (s *Session) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.requestTimeout())
}

// cleanupContext outlives ctx's cancellation for at most one request
// timeout, so a cancelled operation can still close and delete what it
// created.
func (s *Session) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), s.cfg.requestTimeout())
}

// openContext bounds a CREATE that opens a file handle by the request
// timeout, but not by ctx: a CREATE abandoned when ctx ends is still carried
// out by the host, which then holds a handle the client never learns of, so
// the file cannot be deleted until the session ends (the cleanup of a
// cancelled upload failed with STATUS_SHARING_VIOLATION). The open completes
// and the caller closes the handle, with ctx's error.
func (s *Session) openContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return s.cleanupContext(ctx)
}

// serverName is the server part of UNC paths: the address, which every
// server accepts (a name would need the right one for each host).
func (s *Session) serverName() string {
	return s.info.Addr.Addr().String()
}

// Mount connects to a share ("ADMIN$", "IPC$", "C$"). A failure is a
// *derrors.Error at the tree connect step: a missing share is
// derrors.ReasonAdminShareMissing, a denied one derrors.ReasonAdminShareDenied.
func (s *Session) Mount(ctx context.Context, share string) (_ *Share, err error) {
	defer s.recoverReply(derrors.StepTreeConnect, &err)
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	fs, err := s.s.WithContext(rctx).Mount(`\\` + s.serverName() + `\` + share)
	if err != nil {
		return nil, s.wrap(derrors.StepTreeConnect, err)
	}
	return &Share{s: s, name: share, fs: fs}, nil
}

// Close logs off (bounded by the request timeout) and closes the
// connection. It is safe to call more than once.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		defer s.recoverReply(derrors.StepCleanup, &s.closeErr)
		ctx, cancel := context.WithTimeout(context.Background(), min(s.cfg.requestTimeout(), 5*time.Second))
		defer cancel()
		// The logoff closes every pipe on the server: no CLOSE first. The
		// srvsvc binding then only ends locally.
		s.ipcMu.Lock()
		pipes := s.pipes
		s.pipes = nil
		s.ipcMu.Unlock()
		for p := range pipes {
			p.abandon()
		}
		s.dropSrvsvc()
		if err := s.s.WithContext(ctx).Logoff(); err != nil {
			s.closeErr = s.wrap(derrors.StepCleanup, err)
		}
		if err := s.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) && s.closeErr == nil {
			s.closeErr = s.wrap(derrors.StepCleanup, err)
		}
	})
	return s.closeErr
}

// wrap classifies err for this session's host. go-smb2 turns a few
// NTSTATUS codes into os errors; they are turned back so the code survives.
func (s *Session) wrap(step derrors.Step, err error) *derrors.Error {
	var e *derrors.Error
	if s.guard != nil {
		if f := s.guard.Err(); f != nil {
			e = derrors.Wrap(s.label, step, f)
		}
	}
	if e == nil {
		e = derrors.Wrap(s.label, step, withStatus(err))
	}
	if e != nil && e.Port == 0 && s.cfg.port() != 445 {
		e.Port = s.cfg.port()
	}
	return e
}

// NTSTATUS values go-smb2 maps to os errors.
const (
	statusAccessDenied        = 0xC0000022
	statusObjectNameNotFound  = 0xC0000034
	statusObjectNameCollision = 0xC0000035
)

// withStatus restores the NTSTATUS go-smb2 replaced with an os error, and
// exposes the context error inside go-smb2's *ContextError (which has no
// Unwrap), so errors.Is(err, context.Canceled) works.
func withStatus(err error) error {
	var code uint32
	var ce *smb2.ContextError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ce) && ce.Err != nil && !errors.Is(err, ce.Err):
		return &ctxError{err: err, ctx: ce.Err}
	case errors.Is(err, os.ErrPermission):
		code = statusAccessDenied
	case errors.Is(err, os.ErrNotExist):
		code = statusObjectNameNotFound
	case errors.Is(err, os.ErrExist):
		code = statusObjectNameCollision
	default:
		return err
	}
	return &statusError{err: err, resp: &smb2.ResponseError{Code: code}}
}

// statusError keeps go-smb2's os error (for errors.Is(err, fs.ErrNotExist))
// and the NTSTATUS it stands for (for derrors.Wrap).
type statusError struct {
	err  error
	resp *smb2.ResponseError
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%v (NTSTATUS 0x%08X)", e.err, e.resp.Code)
}

func (e *statusError) Unwrap() []error { return []error{e.err, e.resp} }

// ctxError keeps go-smb2's error and the context error it stands for.
type ctxError struct {
	err error
	ctx error
}

func (e *ctxError) Error() string { return e.err.Error() }

func (e *ctxError) Unwrap() []error { return []error{e.err, e.ctx} }
