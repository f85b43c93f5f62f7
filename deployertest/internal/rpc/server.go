package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/registry"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/nxdeploy/deployer/deployertest/internal/tasksched"
	"github.com/oiweiwei/go-msrpc/dcerpc"
	epm "github.com/oiweiwei/go-msrpc/msrpc/epm/epm/v3"
	lsarpc "github.com/oiweiwei/go-msrpc/msrpc/lsad/lsarpc/v0"
	rrp "github.com/oiweiwei/go-msrpc/msrpc/rrp/winreg/v1"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	srvsvc "github.com/oiweiwei/go-msrpc/msrpc/srvs/srvsvc/v3"
	tschrpc "github.com/oiweiwei/go-msrpc/msrpc/tsch/itaskschedulerservice/v1"
	wkssvc "github.com/oiweiwei/go-msrpc/msrpc/wkst/wkssvc/v1"
)

// Share types ([MS-SRVS] 2.2.2.4).
const (
	ShareTypeDisk    uint32 = 0x00000000
	ShareTypeIPC     uint32 = 0x00000003
	ShareTypeSpecial uint32 = 0x80000000
)

// Share is one share the srvsvc interface reports.
type Share struct {
	// Name is the share name, e.g. "ADMIN$".
	Name string
	// Type is a ShareType* value, e.g. ShareTypeDisk|ShareTypeSpecial.
	Type uint32
	// Remark is the share's comment, e.g. "Remote Admin".
	Remark string
	// Path is the Windows path of the shared directory, e.g. `C:\Windows`.
	Path string
}

// DefaultShares are the administrative shares of a Windows host: ADMIN$,
// C$ and IPC$.
func DefaultShares() []Share {
	return []Share{
		{Name: "ADMIN$", Type: ShareTypeDisk | ShareTypeSpecial, Remark: "Remote Admin", Path: `C:\Windows`},
		{Name: "C$", Type: ShareTypeDisk | ShareTypeSpecial, Remark: "Default share", Path: `C:\`},
		{Name: "IPC$", Type: ShareTypeIPC | ShareTypeSpecial, Remark: "Remote IPC"},
	}
}

// Config configures the RPC services of an emulated host.
type Config struct {
	// SCM backs the svcctl interface; nil leaves svcctl out.
	SCM *scm.Manager
	// Shares are reported by srvsvc; nil means DefaultShares().
	Shares []Share
	// ServerName is the NetBIOS name srvsvc reports; "WINHOST" when empty.
	ServerName string
	// Comment is the server comment srvsvc reports.
	Comment string
	// Workgroup is the primary domain lsarpc reports; "WORKGROUP" when
	// empty.
	Workgroup string
	// TCPCaller is the identity given to ncacn_ip_tcp associations, which
	// carry no SMB session; nil means an administrator "Administrator".
	TCPCaller *pipe.Caller
	// OSMajor and OSMinor are the Windows version srvsvc reports (10.0 when
	// zero); WindowsServer marks a server edition (SV_TYPE_SERVER_NT).
	OSMajor, OSMinor uint32
	WindowsServer    bool
	// Accounts are the host's local user names for the LSA lookups: the
	// first is the built-in administrator (RID 500, "Administrator" when
	// empty), the others get RIDs from 1001.
	Accounts []string
	// Sessions lists the host's SMB sessions for NetrSessionEnum; nil
	// means none.
	Sessions func() []Session
	// Registry backs the winreg interface (\pipe\winreg); nil leaves it out.
	Registry *registry.Registry
	// RegistryRunning reports whether the Remote Registry service runs:
	// \pipe\winreg exists only then, as on Windows. Nil means always.
	RegistryRunning func() bool
	// Tasks backs ITaskSchedulerService (\pipe\atsvc), which takes calls
	// only at packet privacy (sealed), as Windows' Task Scheduler; nil
	// leaves it out.
	Tasks *tasksched.Scheduler
	// RPCAccounts are the accounts an authenticated bind (NTLM, bare or in
	// SPNEGO, at any level up to packet privacy) logs on with; with none,
	// a bind with an auth verifier gets bind_nak
	// authentication_type_not_recognized.
	RPCAccounts []Account
	// MaxFrag is the largest fragment the server sends or receives;
	// DefaultMaxFrag when zero. A client's smaller max_recv_frag and
	// max_xmit_frag are honoured.
	MaxFrag uint16
}

// server holds what the pipes and listeners of one Config share.
type server struct {
	cfg     Config
	groupID atomic.Uint32
}

func newServer(cfg Config) *server {
	if cfg.Shares == nil {
		cfg.Shares = DefaultShares()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "WINHOST"
	}
	if cfg.Workgroup == "" {
		cfg.Workgroup = "WORKGROUP"
	}
	if cfg.OSMajor == 0 {
		cfg.OSMajor, cfg.OSMinor = 10, 0
	}
	s := &server{cfg: cfg}
	s.groupID.Store(0x1234)
	return s
}

func (s *server) nextGroupID() uint32 { return s.groupID.Add(1) }

// Interface syntaxes served.
var (
	svcctlSyntax = fromDCERPC(svcctl.SvcctlSyntaxV2_0)
	lsarpcSyntax = fromDCERPC(lsarpc.LsarpcSyntaxV0_0)
	srvsvcSyntax = fromDCERPC(srvsvc.SrvsvcSyntaxV3_0)
	wkssvcSyntax = fromDCERPC(wkssvc.WkssvcSyntaxV1_0)
	epmSyntax    = fromDCERPC(epm.EpmSyntaxV3_0)
	winregSyntax = fromDCERPC(rrp.WinregSyntaxV1_0)
)

func fromDCERPC(s *dcerpc.SyntaxID) syntaxID {
	var out syntaxID
	copy(out.UUID[:], s.IfUUID.EncodeBinary())
	out.Major, out.Minor = s.IfVersionMajor, s.IfVersionMinor
	return out
}

// interfaces returns the interfaces offered to caller under the given pipe
// name ("" for ncacn_ip_tcp, which offers every interface).
func (s *server) interfaces(name string, caller pipe.Caller) []*iface {
	var out []*iface
	if s.cfg.SCM != nil && (name == "" || name == "svcctl" || name == "ntsvcs") {
		mgr := s.cfg.SCM
		out = append(out, &iface{name: "svcctl", syntax: svcctlSyntax,
			open: func(context.Context) (dcerpc.ServerHandle, func()) {
				sess := mgr.Open(scm.Caller{User: caller.User, Domain: caller.Domain, Admin: caller.Admin})
				return svcctl.NewSvcctlServerHandle(&svcctlServer{sess: sess}), func() { _ = sess.Close() }
			}})
	}
	if name == "" || name == "lsarpc" || name == "lsass" {
		out = append(out, &iface{name: "lsarpc", syntax: lsarpcSyntax,
			open: func(context.Context) (dcerpc.ServerHandle, func()) {
				return lsarpcHandle(newLsarpcServer(&s.cfg)), nil
			}, rewrite: distinctReferents})
	}
	if name == "" || name == "epmapper" {
		out = append(out, &iface{name: "epmapper", syntax: epmSyntax,
			open: func(context.Context) (dcerpc.ServerHandle, func()) {
				return epm.NewEpmServerHandle(&epmServer{cfg: &s.cfg}), nil
			}})
	}
	if reg := s.cfg.Registry; reg != nil && (name == "" || name == "winreg") &&
		(s.cfg.RegistryRunning == nil || s.cfg.RegistryRunning()) {
		out = append(out, &iface{name: "winreg", syntax: winregSyntax,
			open: func(context.Context) (dcerpc.ServerHandle, func()) {
				return rrp.NewWinregServerHandle(newWinregServer(reg, caller)), nil
			}})
	}
	if tasks := s.cfg.Tasks; tasks != nil && (name == "" || name == "atsvc") {
		out = append(out, &iface{name: "atsvc", syntax: atsvcSyntax, privacy: true,
			open: func(context.Context) (dcerpc.ServerHandle, func()) {
				return tschrpc.NewTaskSchedulerServiceServerHandle(&atsvcServer{tasks: tasks, caller: caller}), nil
			}})
	}
	if name == "" || name == "wkssvc" {
		out = append(out, &iface{name: "wkssvc", syntax: wkssvcSyntax,
			open: func(context.Context) (dcerpc.ServerHandle, func()) {
				return wkssvc.NewWkssvcServerHandle(&wkssvcServer{cfg: &s.cfg, caller: caller}), nil
			}})
	}
	if name == "" || name == "srvsvc" {
		out = append(out, &iface{name: "srvsvc", syntax: srvsvcSyntax,
			open: func(context.Context) (dcerpc.ServerHandle, func()) {
				return srvsvc.NewSrvsvcServerHandle(&srvsvcServer{cfg: &s.cfg, caller: caller}), nil
			}})
	}
	return out
}

// NewOpener returns the pipe.Opener for the named pipes "svcctl" (also
// reachable as "ntsvcs", when cfg.SCM is set), "srvsvc", "wkssvc",
// "epmapper" and "lsarpc" (alias
// "lsass"; the few LSA calls Samba's `net rpc` makes first). Each opened pipe
// is one DCE/RPC association; closing it closes the SCM handles opened
// through it.
func NewOpener(cfg Config) pipe.Opener {
	s := newServer(cfg)
	return pipe.OpenerFunc(func(name string, caller pipe.Caller) (pipe.Conn, error) {
		name = strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(name), `\pipe\`), `\`))
		ifaces := s.interfaces(name, caller)
		if name == "" || len(ifaces) == 0 {
			return nil, fmt.Errorf("rpc: pipe %q: %w", name, os.ErrNotExist)
		}
		secAddr := `\PIPE\` + name
		if name == "svcctl" {
			// svcctl is an alias of ntsvcs, which Windows names in bind_ack.
			secAddr = `\PIPE\ntsvcs`
		}
		return newPipeConn(newAssociation(s, ifaces, secAddr)), nil
	})
}

// ServeTCP serves ncacn_ip_tcp on ln (svcctl, srvsvc and lsarpc on the same
// endpoint) until ctx is done or ln fails, then closes ln, drops every
// connection, and waits for their goroutines. Connections get the identity
// cfg.TCPCaller. It returns nil after ctx ends, else the Accept error.
func ServeTCP(ctx context.Context, ln net.Listener, cfg Config) error {
	s := newServer(cfg)
	caller := pipe.Caller{User: "Administrator", Admin: true}
	if cfg.TCPCaller != nil {
		caller = *cfg.TCPCaller
	}
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel: every goroutine below ends on ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-ctx.Done()
		_ = ln.Close()
	}()
	port := ""
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		port = strconv.Itoa(a.Port)
	}
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		caller := caller
		caller.RemoteAddr = c.RemoteAddr().String()
		a := newAssociation(s, s.interfaces("", caller), port)
		wg.Add(2)
		connCtx, connCancel := context.WithCancel(ctx)
		go func() {
			defer wg.Done()
			<-connCtx.Done()
			_ = c.Close()
		}()
		go func() {
			defer wg.Done()
			defer connCancel()
			serveStream(connCtx, c, a)
		}()
	}
}

// serveStream runs one association over a byte stream.
func serveStream(ctx context.Context, rw io.ReadWriter, a *association) {
	defer a.close()
	hdr := make([]byte, headerSize)
	for {
		if _, err := io.ReadFull(rw, hdr); err != nil {
			return
		}
		h, _ := parseHeader(hdr)
		if h.FragLen < headerSize {
			return
		}
		pdu := make([]byte, h.FragLen)
		copy(pdu, hdr)
		if _, err := io.ReadFull(rw, pdu[headerSize:]); err != nil {
			return
		}
		out, err := a.process(ctx, pdu)
		for _, o := range out {
			if _, werr := rw.Write(o); werr != nil {
				return
			}
		}
		if errors.Is(err, errFatal) {
			return
		}
	}
}
