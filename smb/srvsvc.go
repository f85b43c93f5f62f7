package smb

import (
	"context"
	"fmt"
	"net"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	srvsvc "github.com/oiweiwei/go-msrpc/msrpc/srvs/srvsvc/v3"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/rpcguard"
)

// SharePath returns the local path behind a share on the host, such as
// `C:\Windows` for ADMIN$, from srvsvc NetrShareGetInfo at level 2 over
// \pipe\srvsvc on this session. Windows answers it for administrators only
// (ERROR_ACCESS_DENIED otherwise). The whole exchange is bounded by the
// request timeout. A failure is a *derrors.Error at the list shares step.
func (s *Session) SharePath(ctx context.Context, share string) (path string, err error) {
	err = s.srvsvc(ctx, func(ctx context.Context, cli srvsvc.SrvsvcClient) error {
		resp, err := cli.ShareGetInfo(ctx, &srvsvc.ShareGetInfoRequest{
			ServerName: `\\` + s.serverName(), NetName: share, Level: 2})
		if err != nil {
			return err
		}
		if resp.Return != 0 {
			return win32.FromCode(resp.Return)
		}
		info, ok := resp.Info.GetValue().(*srvsvc.ShareInfo2)
		if !ok || info == nil {
			return fmt.Errorf("smb: NetrShareGetInfo(%s, 2) answered level %d", share, resp.Level)
		}
		path = info.Path
		return nil
	})
	return path, err
}

// ListShares lists the host's share names over srvsvc NetrShareEnum (level
// 1) on \pipe\srvsvc, as `smbclient -L` does, bounded by the request
// timeout. A failure is a *derrors.Error at the list shares step.
func (s *Session) ListShares(ctx context.Context) (names []string, err error) {
	err = s.srvsvc(ctx, func(ctx context.Context, cli srvsvc.SrvsvcClient) error {
		resp, err := cli.ShareEnum(ctx, &srvsvc.ShareEnumRequest{
			ServerName: `\\` + s.serverName(),
			Info: &srvsvc.ShareEnum{Level: 1, ShareInfo: &srvsvc.ShareEnumUnion{
				Value: &srvsvc.ShareEnumUnion_Level1{Level1: &srvsvc.ShareInfo1Container{}}}},
			PreferredMaximumLength: 0xFFFFFFFF,
		})
		if err != nil {
			return err
		}
		if resp.Return != 0 {
			return win32.FromCode(resp.Return)
		}
		c, ok := resp.Info.ShareInfo.GetValue().(*srvsvc.ShareInfo1Container)
		if !ok || c == nil {
			return fmt.Errorf("smb: NetrShareEnum(1) answered level %d", resp.Info.Level)
		}
		for _, sh := range c.Buffer {
			if sh != nil {
				names = append(names, sh.NetworkName)
			}
		}
		return nil
	})
	return names, err
}

// srvsvc runs call with a srvsvc client bound over \pipe\srvsvc on this
// session, behind the RPC reply guard, within the request timeout.
func (s *Session) srvsvc(ctx context.Context, call func(context.Context, srvsvc.SrvsvcClient) error) (err error) {
	defer s.recoverReply(derrors.StepListShares, &err)
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	p, err := s.OpenPipe(rctx, "srvsvc")
	if err != nil {
		return err
	}
	defer p.Close()
	guard := rpcguard.New(p, rpcguard.Options{Host: s.label, Interface: "srvsvc", Check: rpcguard.SrvsvcChecker})
	wrap := func(err error) error {
		if f := guard.Err(); f != nil {
			err = f
		}
		return s.wrap(derrors.StepListShares, err)
	}
	dial := func(context.Context, string, string) (net.Conn, error) { return guard, nil }
	conn, err := dcerpc.Dial(rctx, s.serverName(), dcerpc.WithDialer(dialerFunc(dial)),
		dcerpc.WithTimeout(s.cfg.requestTimeout()))
	if err != nil {
		return wrap(err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(rctx)) }()
	cli, err := srvsvc.NewSrvsvcClient(rctx, conn, dcerpc.WithEndpoint("ncacn_ip_tcp:[445]"),
		dcerpc.WithInsecure(), dcerpc.WithErrorMapper(win32.Mapper{}))
	if err != nil {
		return wrap(err)
	}
	if err := call(rctx, cli); err != nil {
		return wrap(err)
	}
	return nil
}

// dialerFunc adapts a function to go-msrpc's dcerpc.Dialer.
type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}
