package rpc

import (
	"context"
	"encoding/binary"
	"strings"

	"github.com/oiweiwei/go-msrpc/msrpc/dcetypes"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	epm "github.com/oiweiwei/go-msrpc/msrpc/epm/epm/v3"
)

// Endpoint mapper constants ([C706] 2.12, [MS-RPCE] 2.2.1.2).
const (
	inquiryAll         = 0          // RPC_C_EP_ALL_ELTS
	inquiryMatchByIf   = 1          // RPC_C_EP_MATCH_BY_IF
	inquiryMatchByBoth = 3          // RPC_C_EP_MATCH_BY_BOTH
	eptNotRegistered   = 0x16c9a0d6 // EPT_S_NOT_REGISTERED
	floorUUID          = 0x0D
	floorRPCCO         = 0x0B // connection-oriented RPC
	floorNamedPipe     = 0x0F
	floorNetBIOS       = 0x11
)

// ndr20Syntax is the transfer syntax every tower names.
var ndr20Syntax = syntaxID{UUID: [16]byte{0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60}, Major: 2}

// endpoint is one interface the host registers, on its named pipe.
type endpoint struct {
	syntax     syntaxID
	pipe       string
	annotation string
}

// epmServer answers ept_lookup ([C706] 2.12, [MS-RPCE] 3.1.1.5.1) over
// \pipe\epmapper with the ncacn_np towers of the interfaces the host
// serves, in one reply (a null entry handle ends the client's loop), as
// impacket's rpcdump.py asks them.
type epmServer struct {
	epm.UnimplementedEpmServer
	cfg *Config
}

var _ epm.EpmServer = (*epmServer)(nil)

func (s *epmServer) endpoints() []endpoint {
	var out []endpoint
	if s.cfg.SCM != nil {
		out = append(out, endpoint{svcctlSyntax, `\PIPE\ntsvcs`, ""})
	}
	return append(out,
		endpoint{lsarpcSyntax, `\PIPE\lsass`, ""},
		endpoint{srvsvcSyntax, `\PIPE\srvsvc`, ""},
		endpoint{wkssvcSyntax, `\PIPE\wkssvc`, ""},
	)
}

// guidBytes is g in its wire (little-endian) form.
func guidBytes(g *dtyp.GUID) [16]byte {
	var b [16]byte
	if g == nil {
		return b
	}
	binary.LittleEndian.PutUint32(b[0:], g.Data1)
	binary.LittleEndian.PutUint16(b[4:], g.Data2)
	binary.LittleEndian.PutUint16(b[6:], g.Data3)
	copy(b[8:], g.Data4)
	return b
}

// tower encodes the ncacn_np protocol tower of e on host.
func tower(e endpoint, host string) []byte {
	floor := func(b []byte, lhs, rhs []byte) []byte {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(lhs)))
		b = append(b, lhs...)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(rhs)))
		return append(b, rhs...)
	}
	ifFloor := func(b []byte, s syntaxID) []byte {
		lhs := append([]byte{floorUUID}, s.UUID[:]...)
		lhs = binary.LittleEndian.AppendUint16(lhs, s.Major)
		return floor(b, lhs, binary.LittleEndian.AppendUint16(nil, s.Minor))
	}
	b := binary.LittleEndian.AppendUint16(nil, 5)
	b = ifFloor(b, e.syntax)
	b = ifFloor(b, ndr20Syntax)
	b = floor(b, []byte{floorRPCCO}, []byte{0, 0})
	b = floor(b, []byte{floorNamedPipe}, append([]byte(e.pipe), 0))
	return floor(b, []byte{floorNetBIOS}, append([]byte(`\\`+strings.ToUpper(host)), 0))
}

// Lookup implements ept_lookup for every element or those of one
// interface.
func (s *epmServer) Lookup(_ context.Context, req *epm.LookupRequest) (*epm.LookupResponse, error) {
	resp := &epm.LookupResponse{EntryHandle: &epm.LookupHandle{UUID: &dtyp.GUID{}}}
	for _, e := range s.endpoints() {
		switch req.InquiryType {
		case inquiryAll:
		case inquiryMatchByIf, inquiryMatchByBoth:
			if req.InterfaceID == nil || guidBytes(req.InterfaceID.UUID) != e.syntax.UUID {
				continue
			}
		default:
			continue
		}
		t := tower(e, s.cfg.ServerName)
		resp.Entries = append(resp.Entries, &epm.Entry{Object: &dtyp.GUID{}, Annotation: e.annotation,
			Tower: &dcetypes.Tower{TowerLength: uint32(len(t)), TowerOctetString: t}})
		if req.MaxEntries > 0 && uint32(len(resp.Entries)) == req.MaxEntries {
			break
		}
	}
	resp.EntriesLength = uint32(len(resp.Entries))
	if len(resp.Entries) == 0 {
		resp.Status = eptNotRegistered
	}
	return resp, nil
}
