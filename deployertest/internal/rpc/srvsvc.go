package rpc

import (
	"context"
	"strings"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	srvsvc "github.com/oiweiwei/go-msrpc/msrpc/srvs/srvsvc/v3"
)

// srvsvc result codes ([MS-SRVS] 2.2.2.x, [MS-ERREF]).
const (
	errorAccessDenied     uint32 = 5
	errorInvalidLevel     uint32 = 124
	nerrNetNameNotFound   uint32 = 2310
	platformIDNT          uint32 = 500
	serverTypeWorkstation uint32 = 0x00000001
	serverTypeServer      uint32 = 0x00000002
	serverTypeNT          uint32 = 0x00001000
	serverTypeServerNT    uint32 = 0x00008000
)

// srvsvcServer implements NetrShareEnum, NetrShareGetInfo,
// NetrServerGetInfo and NetrSessionEnum from a Config; other methods answer with
// nca_op_rng_error.
type srvsvcServer struct {
	srvsvc.UnimplementedSrvsvcServer
	cfg    *Config
	caller pipe.Caller
}

var _ srvsvc.SrvsvcServer = (*srvsvcServer)(nil)

func (s *srvsvcServer) find(name string) (Share, bool) {
	for _, sh := range s.cfg.Shares {
		if strings.EqualFold(sh.Name, name) {
			return sh, true
		}
	}
	return Share{}, false
}

// ShareEnum implements NetrShareEnum (NetShareEnumAll) at levels 0, 1 and
// 2; level 2 reveals paths and needs an administrator, as on Windows.
func (s *srvsvcServer) ShareEnum(_ context.Context, req *srvsvc.ShareEnumRequest) (*srvsvc.ShareEnumResponse, error) {
	level := uint32(0)
	if req.Info != nil {
		level = req.Info.Level
	}
	resp := &srvsvc.ShareEnumResponse{Info: &srvsvc.ShareEnum{Level: level}}
	shares := s.cfg.Shares
	switch level {
	case 0:
		c := &srvsvc.ShareInfo0Container{EntriesRead: uint32(len(shares))}
		for _, sh := range shares {
			c.Buffer = append(c.Buffer, &srvsvc.ShareInfo0{NetworkName: sh.Name})
		}
		resp.Info.ShareInfo = &srvsvc.ShareEnumUnion{Value: &srvsvc.ShareEnumUnion_Level0{Level0: c}}
	case 1:
		c := &srvsvc.ShareInfo1Container{EntriesRead: uint32(len(shares))}
		for _, sh := range shares {
			c.Buffer = append(c.Buffer, &srvsvc.ShareInfo1{NetworkName: sh.Name, Type: sh.Type, Remark: sh.Remark})
		}
		resp.Info.ShareInfo = &srvsvc.ShareEnumUnion{Value: &srvsvc.ShareEnumUnion_Level1{Level1: c}}
	case 2:
		if !s.caller.Admin {
			resp.Info.ShareInfo = &srvsvc.ShareEnumUnion{Value: &srvsvc.ShareEnumUnion_Level2{Level2: &srvsvc.ShareInfo2Container{}}}
			resp.Return = errorAccessDenied
			return resp, nil
		}
		c := &srvsvc.ShareInfo2Container{EntriesRead: uint32(len(shares))}
		for _, sh := range shares {
			c.Buffer = append(c.Buffer, share2(sh))
		}
		resp.Info.ShareInfo = &srvsvc.ShareEnumUnion{Value: &srvsvc.ShareEnumUnion_Level2{Level2: c}}
	default:
		resp.Info.ShareInfo = &srvsvc.ShareEnumUnion{Value: &srvsvc.ShareEnumUnion_Level0{Level0: &srvsvc.ShareInfo0Container{}}}
		resp.Info.Level = 0
		resp.Return = errorInvalidLevel
		return resp, nil
	}
	resp.TotalEntries = uint32(len(shares))
	return resp, nil
}

func share2(sh Share) *srvsvc.ShareInfo2 {
	return &srvsvc.ShareInfo2{NetworkName: sh.Name, Type: sh.Type, Remark: sh.Remark,
		MaxUses: 0xFFFFFFFF, Path: sh.Path}
}

// ShareGetInfo implements NetrShareGetInfo at levels 0, 1, 2, 501, 502 and
// 1005 (impacket's smbclient.py `info` asks 502); levels 2 and 502 reveal the
// path and need an administrator, as on Windows.
func (s *srvsvcServer) ShareGetInfo(_ context.Context, req *srvsvc.ShareGetInfoRequest) (*srvsvc.ShareGetInfoResponse, error) {
	resp := &srvsvc.ShareGetInfoResponse{Level: req.Level, Info: &srvsvc.ShareInfo{Value: &srvsvc.ShareInfo_0{}}}
	sh, ok := s.find(strings.TrimRight(req.NetName, "\x00"))
	switch {
	case req.Level > 2 && req.Level != 501 && req.Level != 502 && req.Level != 1005:
		resp.Return = errorInvalidLevel
	case !ok:
		resp.Return = nerrNetNameNotFound
	case req.Level == 0:
		resp.Info.Value = &srvsvc.ShareInfo_0{ShareInfo0: &srvsvc.ShareInfo0{NetworkName: sh.Name}}
	case req.Level == 1:
		resp.Info.Value = &srvsvc.ShareInfo_1{ShareInfo1: &srvsvc.ShareInfo1{NetworkName: sh.Name, Type: sh.Type, Remark: sh.Remark}}
	case req.Level == 501:
		resp.Info.Value = &srvsvc.ShareInfo_501{ShareInfo501: &srvsvc.ShareInfo501{NetworkName: sh.Name, Type: sh.Type, Remark: sh.Remark}}
	case req.Level == 1005:
		resp.Info.Value = &srvsvc.ShareInfo_1005{ShareInfo1005: &srvsvc.ShareInfo1005{}}
	case !s.caller.Admin:
		resp.Return = errorAccessDenied
	case req.Level == 502:
		resp.Info.Value = &srvsvc.ShareInfo_502{ShareInfo502: &srvsvc.ShareInfo502I{NetworkName: sh.Name, Type: sh.Type,
			Remark: sh.Remark, MaxUses: 0xFFFFFFFF, Path: sh.Path}}
	default:
		resp.Info.Value = &srvsvc.ShareInfo_2{ShareInfo2: share2(sh)}
	}
	if resp.Return != 0 {
		resp.Level = 0
	}
	return resp, nil
}

// serverType is the sv101_type of the host: a workstation and server running NT, and SV_TYPE_SERVER_NT on a Windows
// Server edition.
func (s *srvsvcServer) serverType() uint32 {
	t := serverTypeWorkstation | serverTypeServer | serverTypeNT
	if s.cfg.WindowsServer {
		t |= serverTypeServerNT
	}
	return t
}

// GetInfo implements NetrServerGetInfo at levels 100, 101 and 102, with the host's Windows version (the one NTLM
// announces).
func (s *srvsvcServer) GetInfo(_ context.Context, req *srvsvc.GetInfoRequest) (*srvsvc.GetInfoResponse, error) {
	resp := &srvsvc.GetInfoResponse{Level: req.Level}
	switch req.Level {
	case 100:
		resp.Info = &srvsvc.ServerInfo{Value: &srvsvc.ServerInfo_100{ServerInfo100: &dtyp.ServerInfo100{
			PlatformID: platformIDNT, Name: s.cfg.ServerName}}}
	case 101:
		resp.Info = &srvsvc.ServerInfo{Value: &srvsvc.ServerInfo_101{ServerInfo101: &dtyp.ServerInfo101{
			PlatformID: platformIDNT, Name: s.cfg.ServerName, VersionMajor: s.cfg.OSMajor, VersionMinor: s.cfg.OSMinor,
			VersionType: s.serverType(), Comment: s.cfg.Comment}}}
	case 102:
		resp.Info = &srvsvc.ServerInfo{Value: &srvsvc.ServerInfo_102{ServerInfo102: &srvsvc.ServerInfo102{
			PlatformID: platformIDNT, Name: s.cfg.ServerName, VersionMajor: s.cfg.OSMajor, VersionMinor: s.cfg.OSMinor,
			Type: s.serverType(), Comment: s.cfg.Comment, Users: 0xFFFFFFFF, Disc: 15, Announce: 240,
			AnnounceDelta: 3000, UserPath: `c:\`}}}
	default:
		resp.Level = 100
		resp.Info = &srvsvc.ServerInfo{Value: &srvsvc.ServerInfo_100{ServerInfo100: &dtyp.ServerInfo100{}}}
		resp.Return = errorInvalidLevel
	}
	return resp, nil
}

// Session is one SMB session of the host, for NetrSessionEnum.
type Session struct {
	// Client is the client's IP address; User the account it logged on
	// with.
	Client, User string
	// Active is how long ago the logon completed; Idle how long ago the
	// client's latest request arrived.
	Active, Idle time.Duration
}

// NetrSessionEnum results ([MS-SRVS] 3.1.4.5, [MS-ERREF]).
const (
	nerrUserNotFound       uint32 = 2221
	nerrClientNameNotFound uint32 = 2312
)

// SessionEnum implements NetrSessionEnum at levels 0, 1, 2, 10 and 502
// (impacket's smbclient.py `who` asks level 10). As on Windows 10 and
// Server 2016 onwards (the SrvsvcSessionInfo default), only administrators
// may enumerate sessions. ClientName (with or without leading backslashes)
// and UserName filter the list; a filter that matches nothing answers
// NERR_ClientNameNotFound or NERR_UserNotFound.
func (s *srvsvcServer) SessionEnum(_ context.Context, req *srvsvc.SessionEnumRequest) (*srvsvc.SessionEnumResponse, error) {
	level := uint32(10)
	if req.Info != nil {
		level = req.Info.Level
	}
	resp := &srvsvc.SessionEnumResponse{Info: &srvsvc.SessionEnum{Level: level}}
	if !s.caller.Admin {
		resp.Return = errorAccessDenied
		return resp, nil
	}
	var list []Session
	if s.cfg.Sessions != nil {
		list = s.cfg.Sessions()
	}
	if c := strings.TrimLeft(req.ClientName, `\`); c != "" {
		var kept []Session
		for _, se := range list {
			if strings.EqualFold(se.Client, c) {
				kept = append(kept, se)
			}
		}
		if len(kept) == 0 {
			resp.Return = nerrClientNameNotFound
			return resp, nil
		}
		list = kept
	}
	if u := req.UserName; u != "" {
		var kept []Session
		for _, se := range list {
			if strings.EqualFold(se.User, u) {
				kept = append(kept, se)
			}
		}
		if len(kept) == 0 {
			resp.Return = nerrUserNotFound
			return resp, nil
		}
		list = kept
	}
	secs := func(d time.Duration) uint32 { return uint32(d / time.Second) }
	switch level {
	case 0:
		c := &srvsvc.SessionInfo0Container{Buffer: []*srvsvc.SessionInfo0{}}
		for _, se := range list {
			c.Buffer = append(c.Buffer, &srvsvc.SessionInfo0{ClientName: `\\` + se.Client})
		}
		c.EntriesRead = uint32(len(c.Buffer))
		resp.Info.SessionInfo = &srvsvc.SessionEnumUnion{Value: &srvsvc.SessionEnumUnion_Level0{Level0: c}}
	case 1:
		c := &srvsvc.SessionInfo1Container{Buffer: []*srvsvc.SessionInfo1{}}
		for _, se := range list {
			c.Buffer = append(c.Buffer, &srvsvc.SessionInfo1{ClientName: `\\` + se.Client, UserName: se.User,
				Time: secs(se.Active), IdleTime: secs(se.Idle)})
		}
		c.EntriesRead = uint32(len(c.Buffer))
		resp.Info.SessionInfo = &srvsvc.SessionEnumUnion{Value: &srvsvc.SessionEnumUnion_Level1{Level1: c}}
	case 2:
		c := &srvsvc.SessionInfo2Container{Buffer: []*srvsvc.SessionInfo2{}}
		for _, se := range list {
			c.Buffer = append(c.Buffer, &srvsvc.SessionInfo2{ClientName: `\\` + se.Client, UserName: se.User,
				Time: secs(se.Active), IdleTime: secs(se.Idle), ClientTypeName: ""})
		}
		c.EntriesRead = uint32(len(c.Buffer))
		resp.Info.SessionInfo = &srvsvc.SessionEnumUnion{Value: &srvsvc.SessionEnumUnion_Level2{Level2: c}}
	case 10:
		c := &srvsvc.SessionInfo10Container{Buffer: []*srvsvc.SessionInfo10{}}
		for _, se := range list {
			c.Buffer = append(c.Buffer, &srvsvc.SessionInfo10{ClientName: `\\` + se.Client, UserName: se.User,
				Time: secs(se.Active), IdleTime: secs(se.Idle)})
		}
		c.EntriesRead = uint32(len(c.Buffer))
		resp.Info.SessionInfo = &srvsvc.SessionEnumUnion{Value: &srvsvc.SessionEnumUnion_Level10{Level10: c}}
	case 502:
		c := &srvsvc.SessionInfo502Container{Buffer: []*srvsvc.SessionInfo502{}}
		for _, se := range list {
			c.Buffer = append(c.Buffer, &srvsvc.SessionInfo502{ClientName: `\\` + se.Client, UserName: se.User,
				Time: secs(se.Active), IdleTime: secs(se.Idle), ClientTypeName: "", Transport: `\Device\NetbiosSmb`})
		}
		c.EntriesRead = uint32(len(c.Buffer))
		resp.Info.SessionInfo = &srvsvc.SessionEnumUnion{Value: &srvsvc.SessionEnumUnion_Level502{Level502: c}}
	default:
		resp.Return = errorInvalidLevel
		return resp, nil
	}
	resp.TotalEntries = uint32(len(list))
	return resp, nil
}
