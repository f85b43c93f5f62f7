package rpc

import (
	"context"
	"encoding/binary"
	"strings"
	"unicode/utf16"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
)

// Bounds of [MS-SCMR] buffer sizes (BOUNDED_DWORD_8K, BOUNDED_DWORD_256K).
const (
	bound8K   = 8 * 1024
	bound256K = 256 * 1024
	// faultInvalidBound is RPC_X_INVALID_BOUND, the fault for a [range]
	// violation.
	faultInvalidBound uint32 = 0x000006c6
)

// Sizes of the self-relative structures returned in byte buffers.
const (
	serviceStatusSize        = 28
	serviceStatusProcessSize = 36
	enumServiceStatusSize    = 8 + serviceStatusSize
	queryServiceConfigSize   = 36
)

// svcctlServer implements the svcctl interface over one scm.Session.
// Methods it does not implement answer with nca_op_rng_error.
type svcctlServer struct {
	svcctl.UnimplementedSvcctlServer
	sess *scm.Session
}

var _ svcctl.SvcctlServer = (*svcctlServer)(nil)

func toHandle(h scm.Handle) *svcctl.Handle {
	if h.IsZero() {
		return &svcctl.Handle{UUID: &dtyp.GUID{}}
	}
	u := h
	return &svcctl.Handle{UUID: &dtyp.GUID{
		Data1: binary.LittleEndian.Uint32(u[0:]),
		Data2: binary.LittleEndian.Uint16(u[4:]),
		Data3: binary.LittleEndian.Uint16(u[6:]),
		Data4: append([]byte(nil), u[8:16]...),
	}}
}

func fromHandle(h *svcctl.Handle) scm.Handle {
	var out scm.Handle
	if h == nil || h.UUID == nil {
		return out
	}
	binary.LittleEndian.PutUint32(out[0:], h.UUID.Data1)
	binary.LittleEndian.PutUint16(out[4:], h.UUID.Data2)
	binary.LittleEndian.PutUint16(out[6:], h.UUID.Data3)
	copy(out[8:], h.UUID.Data4)
	return out
}

// trimNul drops the terminating NULs some clients include in strings.
func trimNul(s string) string { return strings.TrimRight(s, "\x00") }

func code(err error) uint32 { return scm.Code(err) }

func toStatus(s scm.Status) *svcctl.ServiceStatus {
	return &svcctl.ServiceStatus{ServiceType: s.ServiceType, CurrentState: s.CurrentState,
		ControlsAccepted: s.ControlsAccepted, Win32ExitCode: s.Win32ExitCode,
		ServiceSpecificExitCode: s.ServiceSpecificExitCode, CheckPoint: s.CheckPoint, WaitHint: s.WaitHint}
}

// multiSZ decodes a REG_MULTI_SZ in UTF-16LE.
func multiSZ(b []byte) []string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	var out []string
	for _, part := range strings.Split(string(utf16.Decode(u)), "\x00") {
		if part != "" {
			out = append(out, part)
		}
	}
	return out
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// CloseService implements RCloseServiceHandle.
func (s *svcctlServer) CloseService(_ context.Context, req *svcctl.CloseServiceRequest) (*svcctl.CloseServiceResponse, error) {
	err := s.sess.CloseHandle(fromHandle(req.ServiceObject))
	if err != nil {
		return &svcctl.CloseServiceResponse{ServiceObject: req.ServiceObject, Return: code(err)}, nil
	}
	return &svcctl.CloseServiceResponse{ServiceObject: toHandle(scm.Handle{}), Return: 0}, nil
}

// OpenSCMW implements ROpenSCManagerW.
func (s *svcctlServer) OpenSCMW(_ context.Context, req *svcctl.OpenSCMWRequest) (*svcctl.OpenSCMWResponse, error) {
	h, err := s.sess.OpenSCManager(trimNul(req.DatabaseName), req.DesiredAccess)
	return &svcctl.OpenSCMWResponse{SCM: toHandle(h), Return: code(err)}, nil
}

// CreateServiceW implements RCreateServiceW.
func (s *svcctlServer) CreateServiceW(_ context.Context, req *svcctl.CreateServiceWRequest) (*svcctl.CreateServiceWResponse, error) {
	h, err := s.sess.CreateService(fromHandle(req.ServiceManager), scm.CreateParams{
		Name: trimNul(req.ServiceName), DisplayName: trimNul(req.DisplayName), DesiredAccess: req.DesiredAccess,
		ServiceType: req.ServiceType, StartType: req.StartType, ErrorControl: req.ErrorControl,
		BinaryPath: trimNul(req.BinaryPathName), LoadOrderGroup: trimNul(req.LoadOrderGroup),
		Dependencies: multiSZ(req.Dependencies), StartName: trimNul(req.ServiceStartName),
	})
	return &svcctl.CreateServiceWResponse{TagID: req.TagID, Service: toHandle(h), Return: code(err)}, nil
}

// OpenServiceW implements ROpenServiceW.
func (s *svcctlServer) OpenServiceW(_ context.Context, req *svcctl.OpenServiceWRequest) (*svcctl.OpenServiceWResponse, error) {
	h, err := s.sess.OpenService(fromHandle(req.ServiceManager), trimNul(req.ServiceName), req.DesiredAccess)
	return &svcctl.OpenServiceWResponse{Service: toHandle(h), Return: code(err)}, nil
}

// StartServiceW implements RStartServiceW.
func (s *svcctlServer) StartServiceW(ctx context.Context, req *svcctl.StartServiceWRequest) (*svcctl.StartServiceWResponse, error) {
	var args []string
	for _, a := range req.Argv {
		if a != nil {
			args = append(args, trimNul(a.StringPointer))
		}
	}
	err := s.sess.StartService(ctx, fromHandle(req.Service), args)
	if ctx.Err() != nil && err == ctx.Err() {
		return nil, ctx.Err()
	}
	return &svcctl.StartServiceWResponse{Return: code(err)}, nil
}

// QueryServiceStatus implements RQueryServiceStatus.
func (s *svcctlServer) QueryServiceStatus(_ context.Context, req *svcctl.QueryServiceStatusRequest) (*svcctl.QueryServiceStatusResponse, error) {
	st, err := s.sess.QueryStatus(fromHandle(req.Service))
	return &svcctl.QueryServiceStatusResponse{ServiceStatus: toStatus(st), Return: code(err)}, nil
}

// QueryServiceStatusEx implements RQueryServiceStatusEx at level
// SC_STATUS_PROCESS_INFO.
func (s *svcctlServer) QueryServiceStatusEx(_ context.Context, req *svcctl.QueryServiceStatusExRequest) (*svcctl.QueryServiceStatusExResponse, error) {
	if req.BufferLength > bound8K {
		return nil, &faultError{faultInvalidBound}
	}
	resp := &svcctl.QueryServiceStatusExResponse{BufferLength: req.BufferLength, Buffer: make([]byte, req.BufferLength)}
	if req.InfoLevel != 0 {
		resp.Return = uint32(scm.ErrorInvalidLevel)
		return resp, nil
	}
	st, err := s.sess.QueryStatus(fromHandle(req.Service))
	switch {
	case err != nil:
		resp.Return = code(err)
	case req.BufferLength < serviceStatusProcessSize:
		resp.BytesNeededLength = serviceStatusProcessSize
		resp.Return = uint32(scm.ErrorInsufficientBuffer)
	default:
		b := resp.Buffer
		for i, v := range []uint32{st.ServiceType, st.CurrentState, st.ControlsAccepted, st.Win32ExitCode,
			st.ServiceSpecificExitCode, st.CheckPoint, st.WaitHint, st.ProcessID, st.ServiceFlags} {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
	}
	return resp, nil
}

// ControlService implements RControlService.
func (s *svcctlServer) ControlService(_ context.Context, req *svcctl.ControlServiceRequest) (*svcctl.ControlServiceResponse, error) {
	st, err := s.sess.Control(fromHandle(req.Service), req.Control)
	return &svcctl.ControlServiceResponse{ServiceStatus: toStatus(st), Return: code(err)}, nil
}

// DeleteService implements RDeleteService.
func (s *svcctlServer) DeleteService(_ context.Context, req *svcctl.DeleteServiceRequest) (*svcctl.DeleteServiceResponse, error) {
	return &svcctl.DeleteServiceResponse{Return: code(s.sess.Delete(fromHandle(req.Service)))}, nil
}

// QueryServiceConfigW implements RQueryServiceConfigW.
func (s *svcctlServer) QueryServiceConfigW(_ context.Context, req *svcctl.QueryServiceConfigWRequest) (*svcctl.QueryServiceConfigWResponse, error) {
	if req.BufferLength > bound8K {
		return nil, &faultError{faultInvalidBound}
	}
	resp := &svcctl.QueryServiceConfigWResponse{ServiceConfig: &svcctl.QueryServiceConfigW{}}
	cfg, err := s.sess.QueryConfig(fromHandle(req.Service))
	if err != nil {
		resp.Return = code(err)
		return resp, nil
	}
	deps := strings.Join(cfg.Dependencies, "/")
	need := queryServiceConfigSize
	for _, str := range []string{cfg.BinaryPath, cfg.LoadOrderGroup, deps, cfg.StartName, cfg.DisplayName} {
		need += 2 * (utf16Len(str) + 1)
	}
	need = min(need, bound8K)
	if int(req.BufferLength) < need {
		resp.BytesNeededLength = uint32(need)
		resp.Return = uint32(scm.ErrorInsufficientBuffer)
		return resp, nil
	}
	resp.ServiceConfig = &svcctl.QueryServiceConfigW{ServiceType: cfg.ServiceType, StartType: cfg.StartType,
		ErrorControl: cfg.ErrorControl, BinaryPathName: cfg.BinaryPath, LoadOrderGroup: cfg.LoadOrderGroup,
		TagID: cfg.TagID, Dependencies: deps, ServiceStartName: cfg.StartName, DisplayName: cfg.DisplayName}
	return resp, nil
}

// ChangeServiceConfigW implements RChangeServiceConfigW. A NULL string
// pointer (decoded as "") leaves the value unchanged.
func (s *svcctlServer) ChangeServiceConfigW(_ context.Context, req *svcctl.ChangeServiceConfigWRequest) (*svcctl.ChangeServiceConfigWResponse, error) {
	opt := func(v string) *string {
		v = trimNul(v)
		if v == "" {
			return nil
		}
		return &v
	}
	p := scm.ChangeParams{ServiceType: req.ServiceType, StartType: req.StartType, ErrorControl: req.ErrorControl,
		BinaryPath: opt(req.BinaryPathName), LoadOrderGroup: opt(req.LoadOrderGroup),
		StartName: opt(req.ServiceStartName), DisplayName: opt(req.DisplayName)}
	if req.DependSize > 0 {
		p.Dependencies = multiSZ(req.Dependencies)
	}
	return &svcctl.ChangeServiceConfigWResponse{TagID: req.TagID, Return: code(s.sess.ChangeConfig(fromHandle(req.Service), p))}, nil
}

// EnumServicesStatusW implements REnumServicesStatusW. The buffer holds
// ENUM_SERVICE_STATUSW records whose string pointers are offsets from the
// buffer start, with the strings packed at the end, as Windows lays it out.
func (s *svcctlServer) EnumServicesStatusW(_ context.Context, req *svcctl.EnumServicesStatusWRequest) (*svcctl.EnumServicesStatusWResponse, error) {
	if req.BufferLength > bound256K {
		return nil, &faultError{faultInvalidBound}
	}
	resp := &svcctl.EnumServicesStatusWResponse{BufferLength: req.BufferLength, Buffer: make([]byte, req.BufferLength)}
	entries, err := s.sess.EnumServices(fromHandle(req.ServiceManager), req.ServiceType, req.ServiceState)
	if err != nil {
		resp.Return = code(err)
		return resp, nil
	}
	start := int(req.ResumeIndex)
	if start > len(entries) {
		start = len(entries)
	}
	entries = entries[start:]
	size := func(e scm.EnumEntry) int {
		return enumServiceStatusSize + 2*(utf16Len(e.Name)+1) + 2*(utf16Len(e.DisplayName)+1)
	}
	// How many entries fit.
	fit, used := 0, 0
	for _, e := range entries {
		if used+size(e) > int(req.BufferLength) {
			break
		}
		used += size(e)
		fit++
	}
	putEnumEntries(resp.Buffer, entries[:fit])
	resp.ServicesReturned = uint32(fit)
	if fit < len(entries) {
		need := 0
		for _, e := range entries[fit:] {
			need += size(e)
		}
		resp.BytesNeededLength = uint32(min(need, bound256K))
		resp.ResumeIndex = uint32(start + fit)
		resp.Return = uint32(scm.ErrorMoreData)
	}
	return resp, nil
}

// Info levels of RQueryServiceConfig2W answered.
const (
	configDescription    = 1
	configFailureActions = 2
)

// QueryServiceConfig2W implements RQueryServiceConfig2W for
// SERVICE_CONFIG_DESCRIPTION (no description) and
// SERVICE_CONFIG_FAILURE_ACTIONS (no actions), as `net rpc service status`
// asks for both.
func (s *svcctlServer) QueryServiceConfig2W(_ context.Context, req *svcctl.QueryServiceConfig2WRequest) (*svcctl.QueryServiceConfig2WResponse, error) {
	if req.BufferLength > bound8K {
		return nil, &faultError{faultInvalidBound}
	}
	resp := &svcctl.QueryServiceConfig2WResponse{BufferLength: req.BufferLength, Buffer: make([]byte, req.BufferLength)}
	if _, err := s.sess.QueryConfig(fromHandle(req.Service)); err != nil {
		resp.Return = code(err)
		return resp, nil
	}
	var need uint32
	switch req.InfoLevel {
	case configDescription:
		need = 4 // SERVICE_DESCRIPTION_WOW64 with a NULL description
	case configFailureActions:
		need = 20 // SERVICE_FAILURE_ACTIONS_WOW64 with no actions
	default:
		resp.Return = uint32(scm.ErrorInvalidLevel)
		return resp, nil
	}
	if req.BufferLength < need {
		resp.BytesNeededLength = need
		resp.Return = uint32(scm.ErrorInsufficientBuffer)
	}
	return resp, nil
}

// putEnumEntries writes entries into b as ENUM_SERVICE_STATUSW records,
// records first and their strings from the end backwards, as Windows lays
// them out; b must be large enough. It returns the number written.
func putEnumEntries(b []byte, entries []scm.EnumEntry) int {
	tail := len(b)
	putString := func(str string) uint32 {
		u := utf16.Encode([]rune(str))
		tail -= 2 * (len(u) + 1)
		for i, c := range u {
			binary.LittleEndian.PutUint16(b[tail+2*i:], c)
		}
		binary.LittleEndian.PutUint16(b[tail+2*len(u):], 0)
		return uint32(tail)
	}
	for i, e := range entries {
		rec := b[i*enumServiceStatusSize:]
		binary.LittleEndian.PutUint32(rec[0:], putString(e.Name))
		binary.LittleEndian.PutUint32(rec[4:], putString(e.DisplayName))
		st := e.Status
		for j, v := range []uint32{st.ServiceType, st.CurrentState, st.ControlsAccepted, st.Win32ExitCode,
			st.ServiceSpecificExitCode, st.CheckPoint, st.WaitHint} {
			binary.LittleEndian.PutUint32(rec[8+4*j:], v)
		}
	}
	return len(entries)
}
