package rpc

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"

	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	lsarpc "github.com/oiweiwei/go-msrpc/msrpc/lsad/lsarpc/v0"
	lsat "github.com/oiweiwei/go-msrpc/msrpc/lsat/lsarpc/v0"
	"github.com/oiweiwei/go-msrpc/ndr"
)

// NTSTATUS codes returned by lsarpc.
const (
	statusInvalidHandle    = int32(-0x3ffffff8) // 0xC0000008
	statusInvalidParameter = int32(-0x3ffffff3) // 0xC000000D
)

// lsarpcServer answers the LSA calls Samba's `net rpc` makes before any
// other pipe (net_get_remote_domain_sid): LsarOpenPolicy(2),
// LsarQueryInformationPolicy(2) for the account and primary domains, and
// LsarClose; and the [MS-LSAT] name and SID translations impacket's
// lookupsid.py and rpcclient's lookupsids/lookupnames use (LsarLookupSids(2),
// LsarLookupNames(2)). Other methods answer with nca_op_rng_error.
type lsarpcServer struct {
	lsarpc.UnimplementedLsarpcServer
	cfg *Config

	mu      sync.Mutex
	handles map[[16]byte]bool
}

var _ lsarpc.LsarpcServer = (*lsarpcServer)(nil)

func newLsarpcServer(cfg *Config) *lsarpcServer {
	return &lsarpcServer{cfg: cfg, handles: make(map[[16]byte]bool)}
}

// machineSID derives a stable S-1-5-21-x-y-z account domain SID from the
// server name.
func machineSID(name string) *dtyp.SID {
	sum := sha256.Sum256([]byte("winhost:" + name))
	return &dtyp.SID{Revision: 1, SubAuthorityCount: 4,
		IDAuthority: &dtyp.SIDIDAuthority{Value: []byte{0, 0, 0, 0, 0, 5}},
		SubAuthority: []uint32{21, binary.LittleEndian.Uint32(sum[0:]) | 1, binary.LittleEndian.Uint32(sum[4:]) | 1,
			binary.LittleEndian.Uint32(sum[8:]) | 1}}
}

func (s *lsarpcServer) open() *lsarpc.Handle {
	var id [16]byte
	_, _ = rand.Read(id[:])
	s.mu.Lock()
	s.handles[id] = true
	s.mu.Unlock()
	return lsaHandle(id)
}

func lsaHandle(id [16]byte) *lsarpc.Handle {
	return &lsarpc.Handle{UUID: &dtyp.GUID{Data1: binary.LittleEndian.Uint32(id[0:]),
		Data2: binary.LittleEndian.Uint16(id[4:]), Data3: binary.LittleEndian.Uint16(id[6:]),
		Data4: append([]byte(nil), id[8:]...)}}
}

func lsaID(h *lsarpc.Handle) [16]byte {
	var id [16]byte
	if h == nil || h.UUID == nil {
		return id
	}
	binary.LittleEndian.PutUint32(id[0:], h.UUID.Data1)
	binary.LittleEndian.PutUint16(id[4:], h.UUID.Data2)
	binary.LittleEndian.PutUint16(id[6:], h.UUID.Data3)
	copy(id[8:], h.UUID.Data4)
	return id
}

func (s *lsarpcServer) valid(h *lsarpc.Handle) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handles[lsaID(h)]
}

// OpenPolicy implements LsarOpenPolicy.
func (s *lsarpcServer) OpenPolicy(context.Context, *lsarpc.OpenPolicyRequest) (*lsarpc.OpenPolicyResponse, error) {
	return &lsarpc.OpenPolicyResponse{Policy: s.open()}, nil
}

// OpenPolicy2 implements LsarOpenPolicy2.
func (s *lsarpcServer) OpenPolicy2(context.Context, *lsarpc.OpenPolicy2Request) (*lsarpc.OpenPolicy2Response, error) {
	return &lsarpc.OpenPolicy2Response{Policy: s.open()}, nil
}

// Close implements LsarClose.
func (s *lsarpcServer) Close(_ context.Context, req *lsarpc.CloseRequest) (*lsarpc.CloseResponse, error) {
	id := lsaID(req.Object)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.handles[id] {
		return &lsarpc.CloseResponse{Object: req.Object, Return: statusInvalidHandle}, nil
	}
	delete(s.handles, id)
	return &lsarpc.CloseResponse{Object: lsaHandle([16]byte{})}, nil
}

func (s *lsarpcServer) query(h *lsarpc.Handle, class lsarpc.PolicyInformationClass) (*lsarpc.PolicyInformation, int32) {
	if !s.valid(h) {
		return nil, statusInvalidHandle
	}
	switch class {
	case lsarpc.PolicyInformationClassAccountDomainInformation:
		return &lsarpc.PolicyInformation{Value: &lsarpc.PolicyInformation_PolicyAccountDomainInfo{
			PolicyAccountDomainInfo: &lsarpc.PolicyAccountDomInfo{
				DomainName: &dtyp.UnicodeString{Buffer: s.cfg.ServerName},
				DomainSID:  machineSID(s.cfg.ServerName)}}}, 0
	case lsarpc.PolicyInformationClassPrimaryDomainInformation:
		return &lsarpc.PolicyInformation{Value: &lsarpc.PolicyInformation_PolicyPrimaryDomainInfo{
			PolicyPrimaryDomainInfo: &lsarpc.PolicyPrimaryDomInfo{
				Name: &dtyp.UnicodeString{Buffer: s.cfg.Workgroup}}}}, 0
	}
	return nil, statusInvalidParameter
}

// QueryInformationPolicy implements LsarQueryInformationPolicy for
// PolicyAccountDomainInformation and PolicyPrimaryDomainInformation.
func (s *lsarpcServer) QueryInformationPolicy(_ context.Context, req *lsarpc.QueryInformationPolicyRequest) (*lsarpc.QueryInformationPolicyResponse, error) {
	info, st := s.query(req.Policy, req.InformationClass)
	return &lsarpc.QueryInformationPolicyResponse{InformationClass: req.InformationClass, PolicyInformation: info, Return: st}, nil
}

// QueryInformationPolicy2 implements LsarQueryInformationPolicy2 like
// LsarQueryInformationPolicy.
func (s *lsarpcServer) QueryInformationPolicy2(_ context.Context, req *lsarpc.QueryInformationPolicy2Request) (*lsarpc.QueryInformationPolicy2Response, error) {
	info, st := s.query(req.Policy, req.InformationClass)
	return &lsarpc.QueryInformationPolicy2Response{InformationClass: req.InformationClass, PolicyInformation: info, Return: st}, nil
}

// opnumOpenPolicy is LsarOpenPolicy's opnum.
const opnumOpenPolicy = 6

// lsarpcHandle wraps the generated lsarpc server handle: LsarOpenPolicy's
// SystemName is a single wchar_t ([MS-LSAD] 3.1.4.4.1), which go-msrpc's
// stub decodes as a string and fails on, so that call is answered here
// without decoding its (unused) arguments.
func lsarpcHandle(srv *lsarpcServer) func(context.Context, int, ndr.Reader) (ndr.Operation, error) {
	gen := lsarpc.NewLsarpcServerHandle(srv)
	lookups := lsat.NewLsarpcServerHandle(lsatServer{s: srv})
	return func(ctx context.Context, opnum int, r ndr.Reader) (ndr.Operation, error) {
		if opnum == opnumOpenPolicy {
			resp, err := srv.OpenPolicy(ctx, nil)
			return &openPolicyOp{resp: resp}, err
		}
		if lsatOpnums[opnum] {
			return lookups(ctx, opnum, r)
		}
		return gen(ctx, opnum, r)
	}
}

// openPolicyOp marshals an LsarOpenPolicy response.
type openPolicyOp struct{ resp *lsarpc.OpenPolicyResponse }

var errServerOnly = errors.New("rpc: server-side operation")

func (o *openPolicyOp) OpNum() int     { return opnumOpenPolicy }
func (o *openPolicyOp) OpName() string { return "/lsarpc/v0/LsarOpenPolicy" }
func (o *openPolicyOp) MarshalNDRRequest(context.Context, ndr.Writer) error {
	return errServerOnly
}
func (o *openPolicyOp) UnmarshalNDRRequest(context.Context, ndr.Reader) error {
	return errServerOnly
}
func (o *openPolicyOp) UnmarshalNDRResponse(context.Context, ndr.Reader) error {
	return errServerOnly
}

func (o *openPolicyOp) MarshalNDRResponse(ctx context.Context, w ndr.Writer) error {
	if err := o.resp.Policy.MarshalNDR(ctx, w); err != nil {
		return err
	}
	return w.WriteData(o.resp.Return)
}

// MachineSID returns the account domain SID a host named name reports, as
// S-1-5-21-x-y-z.
func MachineSID(name string) string { return machineSID(name).String() }
