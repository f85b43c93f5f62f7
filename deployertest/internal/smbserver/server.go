package smbserver

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
)

// ShareType tells a disk share from the IPC$ named-pipe share.
type ShareType int

const (
	// ShareDisk is a share backed by a local directory.
	ShareDisk ShareType = iota
	// SharePipe is the IPC$ share, whose files are named pipes.
	SharePipe
)

// Share is one share the server exports.
type Share struct {
	// Name is the share name clients connect to, matched case-insensitively.
	Name string
	// Type is ShareDisk or SharePipe.
	Type ShareType
	// Path is the local directory behind a disk share.
	Path string
	// AdminOnly makes TREE_CONNECT fail with STATUS_ACCESS_DENIED for
	// sessions without an administrator token (ADMIN$, C$ under UAC).
	AdminOnly bool
	// EncryptData requires SMB3 encryption on this share (SMB2_SHAREFLAG_ENCRYPT_DATA).
	EncryptData bool
}

// Account is a local account the server authenticates with NTLMv2.
type Account struct {
	// User is the account name, matched case-insensitively.
	User string
	// Password is the clear-text password; ignored when NTHash is set.
	Password string
	// NTHash is the NT one-way function of the password (see NTHash).
	NTHash *[16]byte
	// Admin gives the session an administrator token that is not filtered by
	// UAC remote restrictions.
	Admin bool
	// LogonStatus, when non-zero, makes SESSION_SETUP fail with it as
	// Windows does: StatusAccountLockedOut whatever the password,
	// StatusAccountDisabled and StatusPasswordExpired only after the
	// password was verified (a wrong one still gets StatusLogonFailure).
	LogonStatus uint32
}

// AVMode selects what the emulated antivirus does to a quarantined file.
type AVMode int

const (
	// AVDelete removes the file after Antivirus.Delay.
	AVDelete AVMode = iota
	// AVBlock makes every later CREATE of the file fail with
	// STATUS_VIRUS_INFECTED, starting Antivirus.Delay after it was written.
	AVBlock
)

// Antivirus models real-time protection quarantining files as they are
// written, as Windows Defender does on close of a new executable.
type Antivirus struct {
	// Match reports whether a file (its share-relative path, backslash
	// separated) is flagged; nil flags names ending in ".exe".
	Match func(name string) bool
	// Mode is AVDelete or AVBlock.
	Mode AVMode
	// Delay is the time between the CLOSE of the written file and the
	// quarantine taking effect.
	Delay time.Duration
}

// Config configures a Server. The zero value of every knob is the behaviour
// of a default Windows Server 2022 host.
type Config struct {
	// NetBIOSName, Domain, DNSName and DNSDomain are the names the NTLM
	// challenge's target information carries.
	NetBIOSName string
	Domain      string
	DNSName     string
	DNSDomain   string
	// OSMajor, OSMinor and OSBuild are the NTLM version (default 10.0.20348).
	OSMajor byte
	OSMinor byte
	OSBuild uint16
	// Accounts are the local accounts.
	Accounts []Account
	// GuestOnly maps every non-anonymous logon to Guest (SMB2_SESSION_FLAG_IS_GUEST).
	GuestOnly bool
	// Shares are the exported shares.
	Shares []Share
	// Pipes serves the named pipes of IPC$; nil means no pipe exists.
	Pipes pipe.Opener
	// MaxDialect caps the negotiated dialect (default Dialect311).
	MaxDialect uint16
	// RequireSigning sets SMB2_NEGOTIATE_SIGNING_REQUIRED and signs every
	// response of an authenticated session.
	RequireSigning bool
	// RequireEncryption rejects unencrypted requests after logon and
	// refuses sessions of dialects before SMB 3.0 (RejectUnencryptedAccess).
	RequireEncryption bool
	// Antivirus, when set, quarantines written files.
	Antivirus *Antivirus
	// ResponseDelay is added before every response is sent.
	ResponseDelay time.Duration
	// Logger receives connection-level events; nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Server is an SMB2/SMB3 file server emulating a Windows host.
type Server struct {
	cfg    Config
	guid   [16]byte
	start  time.Time
	log    *slog.Logger
	shares map[string]*Share

	sessionSeq atomic.Uint64

	stConns     atomic.Uint64
	stLogons    atomic.Uint64
	stFailed    atomic.Uint64
	stSigned    atomic.Uint64
	stEncrypted atomic.Uint64
	stDialect   atomic.Uint32

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	infected  map[string]bool
	files     *fileTable
	timers    map[*time.Timer]struct{}
	closed    bool
	wg        sync.WaitGroup
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.MaxDialect == 0 {
		cfg.MaxDialect = Dialect311
	}
	switch cfg.MaxDialect {
	case Dialect202, Dialect210, Dialect300, Dialect302, Dialect311:
	default:
		return nil, fmt.Errorf("smbserver: unsupported max dialect %#x", cfg.MaxDialect)
	}
	if cfg.NetBIOSName == "" {
		cfg.NetBIOSName = "WINHOST"
	}
	if cfg.Domain == "" {
		cfg.Domain = cfg.NetBIOSName
	}
	if cfg.DNSName == "" {
		cfg.DNSName = strings.ToLower(cfg.NetBIOSName)
	}
	if cfg.DNSDomain == "" {
		cfg.DNSDomain = cfg.DNSName
	}
	if cfg.OSMajor == 0 {
		cfg.OSMajor, cfg.OSMinor, cfg.OSBuild = 10, 0, 20348
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:       cfg,
		start:     cfg.Now(),
		log:       cfg.Logger,
		shares:    map[string]*Share{},
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		infected:  map[string]bool{},
		files:     newFileTable(),
		timers:    map[*time.Timer]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if _, err := rand.Read(s.guid[:]); err != nil {
		return nil, err
	}
	var seed [2]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, err
	}
	s.sessionSeq.Store(uint64(seed[0])<<40 | uint64(seed[1])<<32)
	for i := range cfg.Shares {
		sh := cfg.Shares[i]
		key := strings.ToUpper(sh.Name)
		if key == "" {
			return nil, errors.New("smbserver: share without a name")
		}
		if sh.Type == ShareDisk && sh.Path == "" {
			return nil, fmt.Errorf("smbserver: disk share %s without a path", sh.Name)
		}
		s.shares[key] = &sh
	}
	return s, nil
}

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("smbserver: server closed")

// Serve accepts connections on l until ctx is done or Close is called, and
// serves each on its own goroutines. It closes l before returning.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		_ = l.Close()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrServerClosed
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		s.ServeConn(ctx, nc)
	}
}

// ServeConn serves one established connection in the background; it
// returns at once. The connection is closed when the client leaves, on a
// protocol error, when ctx is done, or by Close.
func (s *Server) ServeConn(ctx context.Context, nc net.Conn) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	c := newConn(s, nc)
	s.stConns.Add(1)
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
		defer stop()
		c.serve()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Close stops every listener and connection and waits for their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		_ = l.Close()
	}
	for c := range s.conns {
		_ = c.nc.Close()
	}
	for t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Sessions returns the number of authenticated sessions across connections.
func (s *Server) Sessions() int {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		for _, ss := range c.sessions {
			if ss.valid {
				n++
			}
		}
		c.mu.Unlock()
	}
	return n
}

// SessionInfo is one authenticated session, as NetSessionEnum reports it.
type SessionInfo struct {
	// Client is the client's IP address.
	Client string
	// User is the account the session logged on with.
	User string
	// Active is how long ago the logon completed; Idle how long ago the
	// connection's latest request arrived.
	Active, Idle time.Duration
	// Trees are the session's tree connects; Opens its open files and pipes.
	Trees []TreeInfo
	Opens []OpenInfo
}

// TreeInfo is one tree connect of a session.
type TreeInfo struct {
	ID    uint32
	Share string
	// Opens counts the files and pipes open on it.
	Opens int
}

// OpenInfo is one open file, directory or pipe of a session.
type OpenInfo struct {
	ID     uint64
	Share  string
	Name   string // share-relative, backslash separated ("" for the share's root)
	Access uint32
}

// SessionList returns the authenticated sessions across connections.
func (s *Server) SessionList() []SessionInfo {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	now := time.Now()
	var out []SessionInfo
	for _, c := range conns {
		client := c.remote
		if h, _, err := net.SplitHostPort(client); err == nil {
			client = h
		}
		idle := now.Sub(time.Unix(0, c.last.Load()))
		c.mu.Lock()
		for _, ss := range c.sessions {
			if !ss.valid {
				continue
			}
			si := SessionInfo{Client: client, User: ss.user, Active: now.Sub(ss.since), Idle: max(idle, 0)}
			count := map[*tree]int{}
			for _, o := range c.opens {
				if o.sess != ss || o.tree == nil {
					continue
				}
				count[o.tree]++
				o.mu.Lock()
				name := o.name
				o.mu.Unlock()
				if o.pipe != nil {
					name = o.pipe.name
				}
				si.Opens = append(si.Opens, OpenInfo{ID: o.id, Share: o.tree.share.Name, Name: name, Access: o.access})
			}
			for _, t := range ss.trees {
				si.Trees = append(si.Trees, TreeInfo{ID: t.id, Share: t.share.Name, Opens: count[t]})
			}
			out = append(out, si)
		}
		c.mu.Unlock()
	}
	return out
}

// Stats are counters of what the server saw, for tests that must prove a
// client really signed or encrypted.
type Stats struct {
	// Connections accepted.
	Connections uint64
	// Logons that succeeded and failed.
	Logons       uint64
	FailedLogons uint64
	// SignedRequests had a verified signature; EncryptedRequests arrived in
	// a TRANSFORM_HEADER.
	SignedRequests    uint64
	EncryptedRequests uint64
	// LastDialect is the dialect of the latest successful logon.
	LastDialect uint16
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Connections:       s.stConns.Load(),
		Logons:            s.stLogons.Load(),
		FailedLogons:      s.stFailed.Load(),
		SignedRequests:    s.stSigned.Load(),
		EncryptedRequests: s.stEncrypted.Load(),
		LastDialect:       uint16(s.stDialect.Load()),
	}
}

// afterFunc runs f after d unless the server is closed first.
func (s *Server) afterFunc(d time.Duration, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		_, live := s.timers[t]
		delete(s.timers, t)
		s.mu.Unlock()
		if live {
			f()
		}
	})
	s.timers[t] = struct{}{}
}

func (s *Server) account(user string) *Account {
	for i := range s.cfg.Accounts {
		if strings.EqualFold(s.cfg.Accounts[i].User, user) {
			return &s.cfg.Accounts[i]
		}
	}
	return nil
}

// readFrame reads one direct-TCP transport frame ([MS-SMB2] 2.1).
func readFrame(r io.Reader, max int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	if h[0] != 0 {
		return nil, errors.New("smbserver: bad transport header")
	}
	n := int(h[1])<<16 | int(h[2])<<8 | int(h[3])
	if n > max || n < 4 {
		return nil, fmt.Errorf("smbserver: frame of %d bytes", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
