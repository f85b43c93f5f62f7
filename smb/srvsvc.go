package smb

import (
	"context"
	"fmt"
	"net"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	srvsvc "github.com/oiweiwei/go-msrpc/msrpc/srvs/srvsvc/v3"

	derrors "github.com/nxdeploy/deployer/errors"
)

// SharePath returns the local path behind a share on the host, such as
// `C:\Windows` for ADMIN$, from srvsvc NetrShareGetInfo at level 2 over
// \pipe\srvsvc on this session. Windows answers it for administrators only
// (ERROR_ACCESS_DENIED otherwise). The whole exchange is bounded by the
// request timeout. A failure is a *derrors.Error at the list shares step.
func (s *Session) SharePath(ctx context.Context, share string) (string, error) {
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	p, err := s.OpenPipe(rctx, "srvsvc")
	if err != nil {
		return "", err
	}
	defer p.Close()
	dial := func(context.Context, string, string) (net.Conn, error) { return p, nil }
	conn, err := dcerpc.Dial(rctx, s.serverName(), dcerpc.WithDialer(dialerFunc(dial)),
		dcerpc.WithTimeout(s.cfg.requestTimeout()))
	if err != nil {
		return "", s.wrap(derrors.StepListShares, err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(rctx)) }()
	cli, err := srvsvc.NewSrvsvcClient(rctx, conn, dcerpc.WithEndpoint("ncacn_ip_tcp:[445]"),
		dcerpc.WithInsecure(), dcerpc.WithErrorMapper(win32.Mapper{}))
	if err != nil {
		return "", s.wrap(derrors.StepListShares, err)
	}
	resp, err := cli.ShareGetInfo(rctx, &srvsvc.ShareGetInfoRequest{
		ServerName: `\\` + s.serverName(), NetName: share, Level: 2})
	if err != nil {
		return "", s.wrap(derrors.StepListShares, err)
	}
	if resp.Return != 0 {
		return "", s.wrap(derrors.StepListShares, win32.FromCode(resp.Return))
	}
	info, ok := resp.Info.GetValue().(*srvsvc.ShareInfo2)
	if !ok || info == nil {
		return "", s.wrap(derrors.StepListShares, fmt.Errorf("smb: NetrShareGetInfo(%s, 2) answered level %d", share, resp.Level))
	}
	return info.Path, nil
}

// dialerFunc adapts a function to go-msrpc's dcerpc.Dialer.
type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}
