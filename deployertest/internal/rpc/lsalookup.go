package rpc

import (
	"context"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	lsarpc "github.com/oiweiwei/go-msrpc/msrpc/lsad/lsarpc/v0"
	lsat "github.com/oiweiwei/go-msrpc/msrpc/lsat/lsarpc/v0"
)

// NTSTATUS codes of the LSA lookups ([MS-LSAT] 3.1.4.8, 3.1.4.9).
const (
	statusSomeNotMapped = int32(0x00000107)  // STATUS_SOME_NOT_MAPPED
	statusNoneMapped    = int32(-0x3fffff8d) // 0xC0000073 STATUS_NONE_MAPPED
)

// lsaAccount is one name the host's LSA translates.
type lsaAccount struct {
	domain    string // the referenced domain's name ("" for well-known SIDs of no domain)
	domainSID string // the referenced domain's SID ("" for none)
	name      string
	sid       string
	use       lsat.SIDNameUse
}

// lsaAccounts lists what a stand-alone Windows 10/Server 2016+ translates:
// the account domain (the computer), its local users and its None group,
// the BUILTIN aliases an administrator meets, and the well-known SIDs of NT
// AUTHORITY and the world.
func (s *lsarpcServer) lsaAccounts() []lsaAccount {
	host := s.cfg.ServerName
	dom := machineSID(host).String()
	out := []lsaAccount{{domain: host, domainSID: dom, sid: dom, use: lsat.SIDNameUseTypeDomain}}
	user := func(name string, rid int) {
		out = append(out, lsaAccount{domain: host, domainSID: dom, name: name, sid: dom + "-" + strconv.Itoa(rid),
			use: lsat.SIDNameUseTypeUser})
	}
	admin := "Administrator"
	if len(s.cfg.Accounts) > 0 {
		admin = s.cfg.Accounts[0]
	}
	user(admin, 500)
	user("Guest", 501)
	user("DefaultAccount", 503)
	user("WDAGUtilityAccount", 504)
	out = append(out, lsaAccount{domain: host, domainSID: dom, name: "None", sid: dom + "-513", use: lsat.SIDNameUseTypeGroup})
	for i, name := range s.cfg.Accounts {
		if i > 0 {
			user(name, 1000+i)
		}
	}
	const builtin = "S-1-5-32"
	out = append(out, lsaAccount{domain: "BUILTIN", domainSID: builtin, sid: builtin, use: lsat.SIDNameUseTypeDomain})
	for _, a := range []struct {
		rid  int
		name string
	}{{544, "Administrators"}, {545, "Users"}, {546, "Guests"}, {555, "Remote Desktop Users"}} {
		out = append(out, lsaAccount{domain: "BUILTIN", domainSID: builtin, name: a.name, sid: builtin + "-" + strconv.Itoa(a.rid),
			use: lsat.SIDNameUseTypeAlias})
	}
	const nt = "S-1-5"
	for _, a := range []struct{ sid, name string }{{"S-1-5-18", "SYSTEM"}, {"S-1-5-19", "LOCAL SERVICE"},
		{"S-1-5-20", "NETWORK SERVICE"}, {"S-1-5-11", "Authenticated Users"}, {"S-1-5-2", "NETWORK"}} {
		out = append(out, lsaAccount{domain: "NT AUTHORITY", domainSID: nt, name: a.name, sid: a.sid,
			use: lsat.SIDNameUseTypeWellKnownGroup})
	}
	out = append(out, lsaAccount{name: "Everyone", sid: "S-1-1-0", use: lsat.SIDNameUseTypeWellKnownGroup})
	return out
}

// referenced collects the domains a lookup's answers refer to, in order.
type referenced struct{ list *lsat.ReferencedDomainList }

func newReferenced() *referenced {
	return &referenced{list: &lsat.ReferencedDomainList{Domains: []*lsat.TrustInformation{}, MaxEntries: 32}}
}

// index returns the index of a's domain in the list, adding it if needed,
// or -1 when a belongs to no domain.
func (r *referenced) index(a lsaAccount) int32 {
	if a.domainSID == "" {
		return -1
	}
	for i, d := range r.list.Domains {
		if d.SID.String() == a.domainSID {
			return int32(i)
		}
	}
	sid, err := dtyp.ParseSID(a.domainSID)
	if err != nil {
		return -1
	}
	r.list.Domains = append(r.list.Domains, &lsat.TrustInformation{Name: &dtyp.UnicodeString{Buffer: a.domain}, SID: sid})
	r.list.Entries = uint32(len(r.list.Domains))
	return int32(len(r.list.Domains) - 1)
}

// lookupStatus is the NTSTATUS of a lookup that mapped mapped of n.
func lookupStatus(mapped, n int) int32 {
	switch {
	case mapped == 0 && n > 0:
		return statusNoneMapped
	case mapped < n:
		return statusSomeNotMapped
	}
	return 0
}

// translateSIDs answers LsarLookupSids and LsarLookupSids2: each SID the
// host knows gets its name, use and domain; any other gets
// SidTypeUnknown, as Windows answers for an unused RID.
func (s *lsarpcServer) translateSIDs(h *lsat.Handle, buf *lsat.SIDEnumBuffer) (*lsat.ReferencedDomainList, []*lsat.TranslatedNameEx, int, int32) {
	if !s.valid((*lsarpc.Handle)(h)) {
		return nil, nil, 0, statusInvalidHandle
	}
	if buf == nil || len(buf.SIDInfo) == 0 {
		return nil, nil, 0, statusInvalidParameter
	}
	bySID := map[string]lsaAccount{}
	for _, a := range s.lsaAccounts() {
		bySID[strings.ToUpper(a.sid)] = a
	}
	ref := newReferenced()
	names := make([]*lsat.TranslatedNameEx, 0, len(buf.SIDInfo))
	mapped := 0
	for _, si := range buf.SIDInfo {
		tn := &lsat.TranslatedNameEx{Use: lsat.SIDNameUseTypeUnknown, Name: &dtyp.UnicodeString{}, DomainIndex: -1}
		if si != nil && si.SID != nil {
			if a, ok := bySID[strings.ToUpper(si.SID.String())]; ok {
				tn.Use, tn.Name.Buffer, tn.DomainIndex = a.use, a.name, ref.index(a)
				mapped++
			} else if a, ok := bySID[strings.ToUpper(parentSID(si.SID))]; ok && a.use == lsat.SIDNameUseTypeDomain {
				// An unused RID of a known domain still names its domain.
				tn.DomainIndex = ref.index(a)
			}
		}
		names = append(names, tn)
	}
	return ref.list, names, mapped, lookupStatus(mapped, len(names))
}

// parentSID is sid without its last sub-authority.
func parentSID(sid *dtyp.SID) string {
	s := sid.String()
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		return s[:i]
	}
	return s
}

// LookupSIDs implements LsarLookupSids ([MS-LSAT] 3.1.4.11).
func (s *lsarpcServer) LookupSIDs(_ context.Context, req *lsat.LookupSIDsRequest) (*lsat.LookupSIDsResponse, error) {
	ref, ex, mapped, st := s.translateSIDs(req.Policy, req.SIDEnumBuffer)
	resp := &lsat.LookupSIDsResponse{ReferencedDomains: ref, MappedCount: uint32(mapped), Return: st,
		TranslatedNames: &lsat.TranslatedNames{}}
	for _, n := range ex {
		resp.TranslatedNames.Names = append(resp.TranslatedNames.Names, &lsat.TranslatedName{Use: n.Use, Name: n.Name,
			DomainIndex: n.DomainIndex})
	}
	return resp, nil
}

// LookupSids2 implements LsarLookupSids2 ([MS-LSAT] 3.1.4.10).
func (s *lsarpcServer) LookupSids2(_ context.Context, req *lsat.LookupSids2Request) (*lsat.LookupSids2Response, error) {
	ref, ex, mapped, st := s.translateSIDs(req.Policy, req.SIDEnumBuffer)
	return &lsat.LookupSids2Response{ReferencedDomains: ref, MappedCount: uint32(mapped), Return: st,
		TranslatedNames: &lsat.TranslatedNamesEx{Names: ex}}, nil
}

// translateNames answers LsarLookupNames and LsarLookupNames2: a name is
// matched case-insensitively alone or as DOMAIN\name.
func (s *lsarpcServer) translateNames(h *lsat.Handle, names []*dtyp.UnicodeString) (*lsat.ReferencedDomainList, []*lsat.TranslatedSIDEx, int, int32) {
	if !s.valid((*lsarpc.Handle)(h)) {
		return nil, nil, 0, statusInvalidHandle
	}
	if len(names) == 0 {
		return nil, nil, 0, statusInvalidParameter
	}
	accounts := s.lsaAccounts()
	ref := newReferenced()
	out := make([]*lsat.TranslatedSIDEx, 0, len(names))
	mapped := 0
	for _, n := range names {
		ts := &lsat.TranslatedSIDEx{Use: lsat.SIDNameUseTypeUnknown, DomainIndex: -1}
		want := ""
		if n != nil {
			want = n.Buffer
		}
		domain, name, qualified := strings.Cut(want, `\`)
		if !qualified {
			domain, name = "", want
		}
		for _, a := range accounts {
			if a.name == "" || !strings.EqualFold(a.name, name) || (qualified && !strings.EqualFold(a.domain, domain)) {
				continue
			}
			ts.Use, ts.DomainIndex = a.use, ref.index(a)
			if sid, err := dtyp.ParseSID(a.sid); err == nil && len(sid.SubAuthority) > 0 && a.domainSID != "" {
				ts.RelativeID = sid.SubAuthority[len(sid.SubAuthority)-1]
			}
			mapped++
			break
		}
		out = append(out, ts)
	}
	return ref.list, out, mapped, lookupStatus(mapped, len(out))
}

// LookupNames implements LsarLookupNames ([MS-LSAT] 3.1.4.8).
func (s *lsarpcServer) LookupNames(_ context.Context, req *lsat.LookupNamesRequest) (*lsat.LookupNamesResponse, error) {
	ref, ex, mapped, st := s.translateNames(req.Policy, req.Names)
	resp := &lsat.LookupNamesResponse{ReferencedDomains: ref, MappedCount: uint32(mapped), Return: st,
		TranslatedSIDs: &lsat.TranslatedSIDs{}}
	for _, t := range ex {
		resp.TranslatedSIDs.SIDs = append(resp.TranslatedSIDs.SIDs, &lsat.TranslatedSID{Use: t.Use, RelativeID: t.RelativeID,
			DomainIndex: t.DomainIndex})
	}
	return resp, nil
}

// LookupNames2 implements LsarLookupNames2 ([MS-LSAT] 3.1.4.7).
func (s *lsarpcServer) LookupNames2(_ context.Context, req *lsat.LookupNames2Request) (*lsat.LookupNames2Response, error) {
	ref, ex, mapped, st := s.translateNames(req.Policy, req.Names)
	return &lsat.LookupNames2Response{ReferencedDomains: ref, MappedCount: uint32(mapped), Return: st,
		TranslatedSIDs: &lsat.TranslatedSIDsEx{SIDs: ex}}, nil
}

// lsatServer serves the [MS-LSAT] methods of the lsarpc interface (the
// same interface as [MS-LSAD], whose stub leaves these opnums out).
type lsatServer struct {
	lsat.UnimplementedLsarpcServer
	s *lsarpcServer
}

func (l lsatServer) LookupSIDs(ctx context.Context, req *lsat.LookupSIDsRequest) (*lsat.LookupSIDsResponse, error) {
	return l.s.LookupSIDs(ctx, req)
}

func (l lsatServer) LookupSids2(ctx context.Context, req *lsat.LookupSids2Request) (*lsat.LookupSids2Response, error) {
	return l.s.LookupSids2(ctx, req)
}

func (l lsatServer) LookupNames(ctx context.Context, req *lsat.LookupNamesRequest) (*lsat.LookupNamesResponse, error) {
	return l.s.LookupNames(ctx, req)
}

func (l lsatServer) LookupNames2(ctx context.Context, req *lsat.LookupNames2Request) (*lsat.LookupNames2Response, error) {
	return l.s.LookupNames2(ctx, req)
}

// lsatOpnums are the [MS-LSAT] lookups served by lsatServer.
var lsatOpnums = map[int]bool{14: true, 15: true, 57: true, 58: true}

// distinctReferents renumbers the referent IDs of the embedded unique
// pointers in the array of an LSA lookup request (the SIDs of LsarLookupSids
// and LsarLookupSids2, the name buffers of LsarLookupNames and
// LsarLookupNames2), in place. NDR lets unique pointers share a referent ID
// (impacket draws them at random from 16 bits, so a request of 1,000 SIDs
// nearly always repeats one), but go-msrpc's decoder treats every pointer as
// a full pointer and skips the data of a repeated ID, which misaligns the
// rest of the stub. A stub too short for its declared count is left as is;
// the decoder then rejects it.
func distinctReferents(opnum int, stub []byte) {
	const handle = 20 // the policy handle
	le := binary.LittleEndian
	renumber := func(off, stride, count int) {
		for i := range count {
			p := off + i*stride
			if p+4 > len(stub) {
				return
			}
			if le.Uint32(stub[p:]) != 0 {
				le.PutUint32(stub[p:], uint32(0x00020000+4*i))
			}
		}
	}
	switch opnum {
	case 15, 57: // SIDEnumBuffer: Entries, pointer to SidInfo, max_count, Entries pointers
		if len(stub) < handle+12 {
			return
		}
		if le.Uint32(stub[handle+4:]) != 0 {
			le.PutUint32(stub[handle+4:], 0x00010000)
		}
		renumber(handle+12, 4, int(min(le.Uint32(stub[handle:]), 20480)))
	case 14, 58: // Count, max_count, Count × {Length, MaximumLength, pointer to Buffer}
		if len(stub) < handle+8 {
			return
		}
		renumber(handle+8+4, 8, int(min(le.Uint32(stub[handle:]), 1000)))
	}
}
