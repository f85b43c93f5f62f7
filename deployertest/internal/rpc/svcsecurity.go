package rpc

import (
	"context"
	"encoding/binary"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
)

// sidBytes encodes S-1-authority-sub... as a binary SID ([MS-DTYP] 2.4.2.2).
func sidBytes(authority byte, subs ...uint32) []byte {
	b := []byte{1, byte(len(subs)), 0, 0, 0, 0, 0, authority}
	for _, s := range subs {
		b = binary.LittleEndian.AppendUint32(b, s)
	}
	return b
}

// defaultServiceSD is the security descriptor Windows gives a service
// CreateService made, self-relative, with the parts info asks for:
// owner and group SYSTEM, and the DACL
// D:(A;;CCLCSWRPWPDTLOCRRC;;;SY)(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;BA)
// (A;;CCLCSWLOCRRC;;;IU)(A;;CCLCSWLOCRRC;;;SU).
func defaultServiceSD(info uint32) []byte {
	system := sidBytes(5, 18)
	aces := []struct {
		mask uint32
		sid  []byte
	}{
		{0x000201FD, system},
		{0x000F01FF, sidBytes(5, 32, 544)}, // BUILTIN\Administrators: SERVICE_ALL_ACCESS
		{0x0002018D, sidBytes(5, 4)},       // INTERACTIVE
		{0x0002018D, sidBytes(5, 6)},       // SERVICE
	}
	var acl []byte
	if info&scm.DACLSecurityInformation != 0 {
		var body []byte
		for _, a := range aces {
			body = append(body, 0, 0) // ACCESS_ALLOWED_ACE_TYPE, no flags
			body = binary.LittleEndian.AppendUint16(body, uint16(8+len(a.sid)))
			body = binary.LittleEndian.AppendUint32(body, a.mask)
			body = append(body, a.sid...)
		}
		acl = []byte{2, 0}
		acl = binary.LittleEndian.AppendUint16(acl, uint16(8+len(body)))
		acl = binary.LittleEndian.AppendUint16(acl, uint16(len(aces)))
		acl = append(acl, 0, 0)
		acl = append(acl, body...)
	}
	const selfRelative, daclPresent = 0x8000, 0x0004
	control := uint16(selfRelative)
	if acl != nil {
		control |= daclPresent
	}
	sd := make([]byte, 20)
	sd[0] = 1
	binary.LittleEndian.PutUint16(sd[2:], control)
	put := func(field int, part []byte) {
		if part == nil {
			return
		}
		binary.LittleEndian.PutUint32(sd[field:], uint32(len(sd)))
		sd = append(sd, part...)
	}
	if info&scm.OwnerSecurityInformation != 0 {
		put(4, system)
	}
	if info&scm.GroupSecurityInformation != 0 {
		put(8, system)
	}
	put(16, acl)
	return sd
}

// QueryServiceObjectSecurity implements RQueryServiceObjectSecurity: the
// descriptor SetServiceObjectSecurity left, or the default one of a
// service; ERROR_INSUFFICIENT_BUFFER with the size when it does not fit.
func (s *svcctlServer) QueryServiceObjectSecurity(_ context.Context, req *svcctl.QueryServiceObjectSecurityRequest) (*svcctl.QueryServiceObjectSecurityResponse, error) {
	if req.BufferLength > bound256K {
		return nil, &faultError{faultInvalidBound}
	}
	resp := &svcctl.QueryServiceObjectSecurityResponse{BufferLength: req.BufferLength,
		SecurityDescriptor: make([]byte, req.BufferLength)}
	sd, err := s.sess.ObjectSecurity(fromHandle(req.Service), req.SecurityInformation)
	if err != nil {
		resp.Return = code(err)
		return resp, nil
	}
	if sd == nil {
		sd = defaultServiceSD(req.SecurityInformation)
	}
	resp.BytesNeededLength = uint32(len(sd))
	if len(sd) > int(req.BufferLength) {
		resp.Return = uint32(scm.ErrorInsufficientBuffer)
		return resp, nil
	}
	copy(resp.SecurityDescriptor, sd)
	return resp, nil
}

// SetServiceObjectSecurity implements RSetServiceObjectSecurity.
func (s *svcctlServer) SetServiceObjectSecurity(_ context.Context, req *svcctl.SetServiceObjectSecurityRequest) (*svcctl.SetServiceObjectSecurityResponse, error) {
	if req.BufferLength > bound256K {
		return nil, &faultError{faultInvalidBound}
	}
	err := s.sess.SetObjectSecurity(fromHandle(req.Service), req.SecurityInformation, req.SecurityDescriptor)
	return &svcctl.SetServiceObjectSecurityResponse{Return: code(err)}, nil
}

// EnumDependentServicesW implements REnumDependentServicesW: the services
// that depend on the service, in ENUM_SERVICE_STATUSW records with their
// strings at the end of the buffer; ERROR_MORE_DATA with the size when they
// do not all fit.
func (s *svcctlServer) EnumDependentServicesW(_ context.Context, req *svcctl.EnumDependentServicesWRequest) (*svcctl.EnumDependentServicesWResponse, error) {
	if req.BufferLength > bound256K {
		return nil, &faultError{faultInvalidBound}
	}
	resp := &svcctl.EnumDependentServicesWResponse{BufferLength: req.BufferLength, Services: make([]byte, req.BufferLength)}
	entries, err := s.sess.Dependents(fromHandle(req.Service), req.ServiceState)
	if err != nil {
		resp.Return = code(err)
		return resp, nil
	}
	need := 0
	for _, e := range entries {
		need += enumServiceStatusSize + 2*(utf16Len(e.Name)+1) + 2*(utf16Len(e.DisplayName)+1)
	}
	if need > int(req.BufferLength) {
		resp.BytesNeededLength = uint32(need)
		resp.Return = uint32(scm.ErrorMoreData)
		return resp, nil
	}
	resp.ServicesReturned = uint32(putEnumEntries(resp.Services, entries))
	return resp, nil
}
