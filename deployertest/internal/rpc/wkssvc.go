package rpc

import (
	"context"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	wkssvc "github.com/oiweiwei/go-msrpc/msrpc/wkst/wkssvc/v1"
)

// wkssvcServer implements NetrWkstaGetInfo ([MS-WKST] 3.2.4.1) at levels
// 100 and 101 for any authenticated caller and 102 for administrators, with
// the host's name, workgroup and Windows version; other methods answer with
// nca_op_rng_error.
type wkssvcServer struct {
	wkssvc.UnimplementedWkssvcServer
	cfg    *Config
	caller pipe.Caller
}

var _ wkssvc.WkssvcServer = (*wkssvcServer)(nil)

// GetInfo implements NetrWkstaGetInfo.
func (s *wkssvcServer) GetInfo(_ context.Context, req *wkssvc.GetInfoRequest) (*wkssvc.GetInfoResponse, error) {
	resp := &wkssvc.GetInfoResponse{Level: req.Level}
	lanRoot := `C:\Windows`
	if sh, ok := (&srvsvcServer{cfg: s.cfg}).find("ADMIN$"); ok && sh.Path != "" {
		lanRoot = sh.Path
	}
	switch req.Level {
	case 100:
		resp.WorkstationInfo = &wkssvc.WorkstationInfo{Value: &wkssvc.WorkstationInfo_100{WorkstationInfo100: &wkssvc.WorkstationInfo100{
			PlatformID: platformIDNT, ComputerName: s.cfg.ServerName, LANGroup: s.cfg.Workgroup,
			VerMajor: s.cfg.OSMajor, VerMinor: s.cfg.OSMinor}}}
	case 101:
		resp.WorkstationInfo = &wkssvc.WorkstationInfo{Value: &wkssvc.WorkstationInfo_101{WorkstationInfo101: &wkssvc.WorkstationInfo101{
			PlatformID: platformIDNT, ComputerName: s.cfg.ServerName, LANGroup: s.cfg.Workgroup,
			VerMajor: s.cfg.OSMajor, VerMinor: s.cfg.OSMinor, LANRoot: lanRoot}}}
	case 102:
		if !s.caller.Admin {
			resp.Return = errorAccessDenied
			return resp, nil
		}
		resp.WorkstationInfo = &wkssvc.WorkstationInfo{Value: &wkssvc.WorkstationInfo_102{WorkstationInfo102: &wkssvc.WorkstationInfo102{
			PlatformID: platformIDNT, ComputerName: s.cfg.ServerName, LANGroup: s.cfg.Workgroup,
			VerMajor: s.cfg.OSMajor, VerMinor: s.cfg.OSMinor, LANRoot: lanRoot}}}
	default:
		resp.Return = errorInvalidLevel
	}
	return resp, nil
}
