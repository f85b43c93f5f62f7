package laps

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	rpcerrors "github.com/oiweiwei/go-msrpc/dcerpc/errors"
	"github.com/oiweiwei/go-msrpc/msrpc/dcetypes"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	epm "github.com/oiweiwei/go-msrpc/msrpc/epm/epm/v3"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/hresult"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	isdkey "github.com/oiweiwei/go-msrpc/msrpc/gkdi/isdkey/v1"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/rpcpipe"
	"github.com/nxdeploy/deployer/laps/internal/dpaping"
	"github.com/nxdeploy/deployer/smb"
)

// Steps of the key service, in *derrors.Error values.
const (
	// StepKeyService is finding and binding the domain controller's group
	// key service (endpoint mapper on port 135, then ISDKey, sealed).
	StepKeyService derrors.Step = "bind key service"
	// StepGetKey is the GetKey call.
	StepGetKey derrors.Step = "get group key"
)

// Defaults of GKDIConfig.
const (
	DefaultGKDIConnectTimeout = 5 * time.Second
	DefaultGKDIRequestTimeout = 30 * time.Second
	endpointMapperPort        = 135
)

// GKDIConfig says how to reach a domain controller's group key service.
type GKDIConfig struct {
	// Credentials is the account that may decrypt the passwords: a member
	// of the group they are encrypted for (Domain Admins by default). The
	// bind is sealed with NTLM, or Kerberos when Credentials.Kerberos is
	// set (then for host/ServerName).
	Credentials smb.Credentials
	// ServerName is the domain controller's DNS name for Kerberos, when
	// DialGKDI is given an address.
	ServerName string
	// Dial makes the TCP connections (endpoint mapper, key service, KDC);
	// a net.Dialer's by default.
	Dial smb.DialFunc
	// Resolver resolves the domain controller's name; net.DefaultResolver
	// by default.
	Resolver *net.Resolver
	// ConnectTimeout bounds each TCP connect; DefaultGKDIConnectTimeout
	// when zero.
	ConnectTimeout time.Duration
	// RequestTimeout bounds each bind and call; DefaultGKDIRequestTimeout when
	// zero.
	RequestTimeout time.Duration
}

// GKDI is a client of a domain controller's Group Key Distribution service
// ([MS-GKDI] ISDKey over ncacn_ip_tcp, sealed), a KeySource. It keeps the
// envelopes it got, so the passwords of a whole domain, mostly protected
// under one group key, cost one GetKey per key. It is safe for concurrent
// use.
type GKDI struct {
	host string
	cfg  GKDIConfig
	conn *rpcpipe.Conn[isdkey.ISDKeyClient]

	mu    sync.Mutex
	cache map[cacheKey]*dpaping.GroupKey
}

type cacheKey struct {
	sd   string
	root string
	l0   int32
}

// DialGKDI asks dc's endpoint mapper (port 135) where its key service
// listens, connects there and binds ISDKey with a sealed NTLM or Kerberos
// exchange. Errors are *derrors.Error values naming the domain controller
// and StepKeyService: a domain controller that does not serve MS-GKDI
// (before Windows Server 2012; Samba before 4.19) fails here.
func DialGKDI(ctx context.Context, dc string, cfg GKDIConfig) (*GKDI, error) {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultGKDIConnectTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultGKDIRequestTimeout
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	addr, err := resolveHost(ctx, cfg, dc)
	if err != nil {
		return nil, derrors.Wrap(dc, derrors.StepResolve, err)
	}
	port, err := mapKeyService(ctx, dc, addr, cfg)
	if err != nil {
		return nil, err
	}
	rcfg := rpcpipe.Config{
		Host:           dc,
		BindStep:       StepKeyService,
		Open:           tcpOpener(dc, addr, port, cfg),
		Seal:           true,
		Credentials:    cfg.Credentials,
		ServerName:     cfg.ServerName,
		Dial:           cfg.Dial,
		Resolver:       cfg.Resolver,
		ConnectTimeout: cfg.ConnectTimeout,
		RequestTimeout: cfg.RequestTimeout,
		Mappers:        []rpcerrors.Mapper{hresult.Mapper{}},
	}
	conn, err := rpcpipe.Bind(ctx, rcfg, isdkey.NewISDKeyClient)
	if err != nil {
		return nil, err
	}
	return &GKDI{host: dc, cfg: cfg, conn: conn, cache: map[cacheKey]*dpaping.GroupKey{}}, nil
}

// tcpOpener connects to addr:port of the domain controller dc.
func tcpOpener(dc, addr string, port int, cfg GKDIConfig) func(ctx context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
		defer cancel()
		c, err := cfg.Dial(cctx, "tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			return nil, derrors.Wrap(dc, derrors.StepConnect, err)
		}
		return c, nil
	}
}

// resolveHost returns host itself when it is an address, else its first
// IPv4 address.
func resolveHost(ctx context.Context, cfg GKDIConfig, host string) (string, error) {
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

// ErrNoKeyService (inside the *derrors.Error DialGKDI returns): the domain
// controller's endpoint mapper knows no MS-GKDI endpoint.
var ErrNoKeyService = errors.New("laps: the domain controller does not serve the group key distribution protocol (MS-GKDI)")

// mapKeyService asks the endpoint mapper for ISDKey's TCP port.
func mapKeyService(ctx context.Context, dc, addr string, cfg GKDIConfig) (int, error) {
	ecfg := rpcpipe.Config{
		Host:           dc,
		BindStep:       StepKeyService,
		Open:           tcpOpener(dc, addr, endpointMapperPort, cfg),
		RequestTimeout: cfg.RequestTimeout,
		MaxRedials:     -1,
	}
	conn, err := rpcpipe.Bind(ctx, ecfg, epm.NewEpmClient)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	port := 0
	err = conn.Call(ctx, StepKeyService, true, func(ctx context.Context, cli epm.EpmClient) error {
		resp, err := rpcpipe.Check(cli.Lookup(ctx, &epm.LookupRequest{
			InquiryType: 1, // RPC_C_EP_MATCH_BY_IF
			VersOption:  3, // RPC_C_VERS_EXACT
			InterfaceID: &dcetypes.InterfaceID{
				UUID:      dtyp.GUIDFromUUID(isdkey.ISDKeySyntaxV1_0.IfUUID),
				VersMajor: isdkey.ISDKeySyntaxV1_0.IfVersionMajor,
				VersMinor: isdkey.ISDKeySyntaxV1_0.IfVersionMinor,
			},
			MaxEntries: 64,
		}))
		if resp == nil {
			return err
		}
		for _, e := range resp.Entries {
			if e.Tower == nil {
				continue
			}
			b := e.Tower.Binding()
			if b == nil || b.StringBinding.ProtocolSequence != dcerpc.ProtocolSequenceIPTCP ||
				b.SyntaxID.IfUUID == nil || b.SyntaxID.IfUUID.String() != isdkey.ISDKeySyntaxV1_0.IfUUID.String() {
				continue
			}
			if p, perr := strconv.Atoi(b.StringBinding.Endpoint); perr == nil && p > 0 && p < 65536 {
				port = p
				return nil
			}
		}
		// EPT_S_NOT_REGISTERED (0x16c9a0d6) or no TCP tower.
		return ErrNoKeyService
	})
	if err != nil {
		if errors.Is(err, ErrNoKeyService) {
			return 0, derrors.New(dc, StepKeyService, derrors.UnknownError, ErrNoKeyService)
		}
		return 0, err
	}
	return port, nil
}

// Close ends the connection.
func (g *GKDI) Close() error { return g.conn.Close() }

// GroupKey returns the envelope for req: from the cache when an envelope of
// the same security descriptor, root key and L0 index covers it, else from
// GetKey, asked for exactly req's index.
func (g *GKDI) GroupKey(ctx context.Context, req KeyRequest) ([]byte, error) {
	root, err := dpaping.ParseGUID(req.RootKeyID)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	key := cacheKey{sd: string(req.TargetSD), root: root.String(), l0: req.L0}
	g.mu.Lock()
	if c := g.cache[key]; c != nil && (c.L1 > req.L1 || (c.L1 == req.L1 && c.L2 >= req.L2)) {
		g.mu.Unlock()
		return c.Marshal(), nil
	}
	g.mu.Unlock()

	var out []byte
	guid := rpcGUID(root)
	err = g.conn.Call(ctx, StepGetKey, true, func(ctx context.Context, cli isdkey.ISDKeyClient) error {
		resp, err := rpcpipe.Check(cli.GetKey(ctx, &isdkey.GetKeyRequest{
			TargetSDLength: uint32(len(req.TargetSD)),
			TargetSD:       req.TargetSD,
			RootKeyID:      guid,
			L0KeyID:        req.L0,
			L1KeyID:        req.L1,
			L2KeyID:        req.L2,
		}))
		if err != nil {
			return err
		}
		out = resp.Out
		return nil
	})
	if errors.Is(err, rpcpipe.ErrInterfaceRejected) {
		return nil, fmt.Errorf("%w: %w", ErrNoKeyService, err)
	}
	if err != nil {
		return nil, keyError(err)
	}
	env, err := dpaping.ParseGroupKey(out)
	if err != nil {
		return nil, fmt.Errorf("%w: the domain controller's group key: %v", ErrMalformed, err)
	}
	if env.PublicKey() {
		return nil, ErrNotAuthorized
	}
	g.mu.Lock()
	if len(g.cache) > 1024 {
		clear(g.cache)
	}
	if c := g.cache[key]; c == nil || env.L1 > c.L1 || (env.L1 == c.L1 && env.L2 > c.L2) {
		g.cache[key] = env
	}
	g.mu.Unlock()
	return out, nil
}

// rpcGUID converts a GUID in wire form to go-msrpc's.
func rpcGUID(g dpaping.GUID) *dtyp.GUID {
	return &dtyp.GUID{
		Data1: binary.LittleEndian.Uint32(g[0:4]),
		Data2: binary.LittleEndian.Uint16(g[4:6]),
		Data3: binary.LittleEndian.Uint16(g[6:8]),
		Data4: append([]byte{}, g[8:]...),
	}
}

// keyError names an access refusal of GetKey: the account is not allowed
// the key.
func keyError(err error) error {
	var h *hresult.Error
	var w *win32.Error
	if (errors.As(err, &h) && h.Code == 0x80070005) || (errors.As(err, &w) && w.Code == 5) {
		return fmt.Errorf("%w: %w", ErrNotAuthorized, err)
	}
	return err
}
