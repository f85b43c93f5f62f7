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
	errorInvalidParameter uint32 = 87
	nerrNetNameNotFound   uint32 = 2310
	platformIDNT          uint32 = 500
	serverTypeWorkstation uint32 = 0x00000001
	serverTypeServer      uint32 = 0x00000002
	serverTypeNT          uint32 = 0x00001000
	serverTypeServerNT    uint32 = 0x00008000
)

// srvsvcServer implements NetrShareEnum, NetrShareGetInfo,
// NetrServerGetInfo, NetrSessionEnum, NetrConnectionEnum, NetrFileEnum,
// NetrServerDiskEnum and NetrRemoteTOD from a Config; other methods answer with
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
	// Trees are the session's tree connects; Opens its opens.
	Trees []Tree
	Opens []Open
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

// Tree is one tree connect of a session; Open one open file, directory or
// pipe.
type Tree struct {
	ID    uint32
	Share string
	Opens int
}

// Open is one open of a session: Name is share-relative ("" for the
// share's root; the pipe's name on IPC$).
type Open struct {
	ID     uint64
	Share  string
	Name   string
	Access uint32
}

// RemoteToD implements NetrRemoteTOD: the host's clock, in UTC.
func (s *srvsvcServer) RemoteToD(context.Context, *srvsvc.RemoteToDRequest) (*srvsvc.RemoteToDResponse, error) {
	now := time.Now().UTC()
	return &srvsvc.RemoteToDResponse{BufferPointer: &srvsvc.TimeOfDayInfo{ElapsedTime: uint32(now.Unix()),
		Msecs: uint32(now.UnixMilli() % (1 << 32)), Hours: uint32(now.Hour()), Mins: uint32(now.Minute()),
		Secs: uint32(now.Second()), Hunds: uint32(now.Nanosecond() / 10_000_000), Timezone: 0, Tinterval: 310,
		Day: uint32(now.Day()), Month: uint32(now.Month()), Year: uint32(now.Year()), Weekday: uint32(now.Weekday())}}, nil
}

// DiskEnum implements NetrServerDiskEnum at level 0 (administrators only):
// the host's one drive, followed by the empty entry Windows ends the list
// with.
func (s *srvsvcServer) DiskEnum(_ context.Context, req *srvsvc.DiskEnumRequest) (*srvsvc.DiskEnumResponse, error) {
	resp := &srvsvc.DiskEnumResponse{DiskInfo: &srvsvc.DiskEnumContainer{Buffer: []*srvsvc.DiskInfo{}}}
	switch {
	case !s.caller.Admin:
		resp.Return = errorAccessDenied
	case req.Level != 0:
		resp.Return = errorInvalidLevel
	default:
		resp.DiskInfo.Buffer = []*srvsvc.DiskInfo{{Disk: "C:"}, {Disk: ""}}
		resp.DiskInfo.EntriesRead = 2
		resp.TotalEntries = 1
	}
	return resp, nil
}

// sessions returns the host's sessions.
func (s *srvsvcServer) sessions() []Session {
	if s.cfg.Sessions == nil {
		return nil
	}
	return s.cfg.Sessions()
}

// ConnectionEnum implements NetrConnectionEnum at levels 0 and 1
// (administrators only): the tree connects to the share Qualifier names, or
// those of the client \\Qualifier names. A Qualifier naming neither answers
// NERR_NetNameNotFound; none at all, ERROR_INVALID_PARAMETER.
func (s *srvsvcServer) ConnectionEnum(_ context.Context, req *srvsvc.ConnectionEnumRequest) (*srvsvc.ConnectionEnumResponse, error) {
	level := uint32(0)
	if req.Info != nil {
		level = req.Info.Level
	}
	resp := &srvsvc.ConnectionEnumResponse{Info: &srvsvc.ConnectEnum{Level: level}}
	if !s.caller.Admin {
		resp.Return = errorAccessDenied
		return resp, nil
	}
	if level != 0 && level != 1 {
		resp.Return = errorInvalidLevel
		return resp, nil
	}
	q := req.Qualifier
	if q == "" {
		resp.Return = errorInvalidParameter
		return resp, nil
	}
	byClient := strings.HasPrefix(q, `\\`)
	if !byClient {
		if _, ok := s.find(q); !ok {
			resp.Return = nerrNetNameNotFound
			return resp, nil
		}
	}
	c0 := &srvsvc.ConnectInfo0Container{Buffer: []*srvsvc.ConnectionInfo0{}}
	c1 := &srvsvc.ConnectInfo1Container{Buffer: []*srvsvc.ConnectionInfo1{}}
	for _, se := range s.sessions() {
		if byClient && !strings.EqualFold(se.Client, strings.TrimLeft(q, `\`)) {
			continue
		}
		for _, t := range se.Trees {
			if !byClient && !strings.EqualFold(t.Share, q) {
				continue
			}
			netname, typ := se.Client, uint32(0)
			if sh, ok := s.find(t.Share); ok {
				typ = sh.Type &^ ShareTypeSpecial
			}
			if byClient {
				netname = t.Share
			}
			c0.Buffer = append(c0.Buffer, &srvsvc.ConnectionInfo0{Coni0ID: t.ID})
			c1.Buffer = append(c1.Buffer, &srvsvc.ConnectionInfo1{ID: t.ID, Type: typ, NumOpens: uint32(t.Opens),
				NumUsers: 1, Time: uint32(se.Active / time.Second), UserName: se.User, NetworkName: netname})
		}
	}
	if level == 0 {
		c0.EntriesRead = uint32(len(c0.Buffer))
		resp.Info.ConnectInfo = &srvsvc.ConnectEnumUnion{Value: &srvsvc.ConnectEnumUnion_Level0{Level0: c0}}
	} else {
		c1.EntriesRead = uint32(len(c1.Buffer))
		resp.Info.ConnectInfo = &srvsvc.ConnectEnumUnion{Value: &srvsvc.ConnectEnumUnion_Level1{Level1: c1}}
	}
	resp.TotalEntries = uint32(len(c0.Buffer))
	return resp, nil
}

// File permissions of FILE_INFO_3 ([MS-SRVS] 2.2.4.40).
const (
	permFileRead   = 0x1
	permFileWrite  = 0x2
	permFileCreate = 0x4
)

// FileEnum implements NetrFileEnum at levels 2 and 3 (administrators
// only): the files, directories and pipes open on the host, with their
// Windows paths; BasePath keeps the paths it begins with, UserName the
// opens of that user.
func (s *srvsvcServer) FileEnum(_ context.Context, req *srvsvc.FileEnumRequest) (*srvsvc.FileEnumResponse, error) {
	level := uint32(3)
	if req.Info != nil {
		level = req.Info.Level
	}
	resp := &srvsvc.FileEnumResponse{Info: &srvsvc.FileEnum{Level: level}}
	if !s.caller.Admin {
		resp.Return = errorAccessDenied
		return resp, nil
	}
	if level != 2 && level != 3 {
		resp.Return = errorInvalidLevel
		return resp, nil
	}
	c2 := &srvsvc.FileInfo2Container{Buffer: []*srvsvc.FileInfo2{}}
	c3 := &srvsvc.FileInfo3Container{Buffer: []*srvsvc.FileInfo3{}}
	for _, se := range s.sessions() {
		if req.UserName != "" && !strings.EqualFold(se.User, req.UserName) {
			continue
		}
		for _, o := range se.Opens {
			path := s.windowsPath(o)
			if req.BasePath != "" && !strings.HasPrefix(strings.ToLower(path), strings.ToLower(req.BasePath)) {
				continue
			}
			var perm uint32
			if o.Access&(0x1|0x80000000|0x10000000|0x02000000) != 0 { // FILE_READ_DATA, GENERIC_READ/ALL, MAXIMUM_ALLOWED
				perm |= permFileRead
			}
			if o.Access&(0x2|0x4|0x40000000|0x10000000|0x02000000) != 0 { // FILE_WRITE_DATA, FILE_APPEND_DATA, GENERIC_WRITE/ALL, MAXIMUM_ALLOWED
				perm |= permFileWrite | permFileCreate
			}
			id := uint32(o.ID)
			c2.Buffer = append(c2.Buffer, &srvsvc.FileInfo2{ID: id})
			c3.Buffer = append(c3.Buffer, &srvsvc.FileInfo3{ID: id, Permissions: perm, PathName: path, UserName: se.User})
		}
	}
	if level == 2 {
		c2.EntriesRead = uint32(len(c2.Buffer))
		resp.Info.FileInfo = &srvsvc.FileEnumUnion{Value: &srvsvc.FileEnumUnion_Level2{Level2: c2}}
	} else {
		c3.EntriesRead = uint32(len(c3.Buffer))
		resp.Info.FileInfo = &srvsvc.FileEnumUnion{Value: &srvsvc.FileEnumUnion_Level3{Level3: c3}}
	}
	resp.TotalEntries = uint32(len(c2.Buffer))
	return resp, nil
}

// windowsPath is the path Windows shows for an open: the pipe's \PIPE\ name
// on IPC$, else the shared directory's path joined with the file's name.
func (s *srvsvcServer) windowsPath(o Open) string {
	sh, ok := s.find(o.Share)
	if !ok || sh.Path == "" {
		return `\PIPE\` + o.Name
	}
	if o.Name == "" {
		return sh.Path
	}
	return strings.TrimSuffix(sh.Path, `\`) + `\` + o.Name
}
