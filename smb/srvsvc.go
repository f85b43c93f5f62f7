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
	err = s.srvsvc(ctx, derrors.StepListShares, func(ctx context.Context, cli srvsvc.SrvsvcClient) error {
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
	err = s.srvsvc(ctx, derrors.StepListShares, func(ctx context.Context, cli srvsvc.SrvsvcClient) error {
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

// srvsvcBinding is a session's srvsvc binding over \pipe\srvsvc, made on
// first use and kept for the session's life: every srvsvc call of the
// session (the ADMIN$ path, the Windows version, file security) goes over
// it, so the pipe's open, bind and close are paid once.
type srvsvcBinding struct {
	pipe  *Pipe
	guard *rpcguard.Conn
	conn  dcerpc.Conn
	cli   srvsvc.SrvsvcClient
}

// srvsvc runs call with the session's srvsvc client (bound on first use,
// behind the RPC reply guard), one call at a time, within the request
// timeout. A failure is a *derrors.Error at step; after one the binding is
// dropped, and the next call binds again.
func (s *Session) srvsvc(ctx context.Context, step derrors.Step, call func(context.Context, srvsvc.SrvsvcClient) error) (err error) {
	defer s.recoverReply(step, &err)
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	rctx, cancel := s.requestContext(ctx)
	defer cancel()
	b := s.srv
	if b == nil {
		if b, err = s.bindSrvsvc(rctx, step); err != nil {
			return err
		}
		s.srv = b
	}
	// The binding lives beyond this call: a context that ends while the
	// call waits closes the pipe (and the binding with it).
	stop := context.AfterFunc(rctx, func() { _ = b.pipe.Close() })
	err = call(rctx, b.cli)
	if !stop() || err != nil {
		if f := b.guard.Err(); f != nil {
			err = f
		} else if err == nil {
			err = rctx.Err()
		}
		s.dropSrvsvcLocked()
		return s.wrap(step, err)
	}
	return nil
}

// bindSrvsvc opens \pipe\srvsvc and binds srvsvc over it.
func (s *Session) bindSrvsvc(rctx context.Context, step derrors.Step) (*srvsvcBinding, error) {
	p, err := s.OpenPipe(rctx, "srvsvc")
	if err != nil {
		return nil, err
	}
	guard := rpcguard.New(p, rpcguard.Options{Host: s.label, Interface: "srvsvc", Check: rpcguard.SrvsvcChecker})
	fail := func(err error) (*srvsvcBinding, error) {
		_ = p.Close()
		if f := guard.Err(); f != nil {
			err = f
		}
		return nil, s.wrap(step, err)
	}
	// go-msrpc runs the transport under the dial's context for its whole
	// life: it must outlive this call; closing the pipe bounds the bind.
	bctx := context.WithoutCancel(rctx)
	stop := context.AfterFunc(rctx, func() { _ = p.Close() })
	dial := func(context.Context, string, string) (net.Conn, error) { return guard, nil }
	conn, err := dcerpc.Dial(bctx, s.serverName(), dcerpc.WithDialer(dialerFunc(dial)),
		dcerpc.WithTimeout(s.cfg.requestTimeout()))
	if err != nil {
		stop()
		return fail(err)
	}
	cli, err := srvsvc.NewSrvsvcClient(bctx, conn, dcerpc.WithEndpoint("ncacn_ip_tcp:[445]"),
		dcerpc.WithInsecure(), dcerpc.WithErrorMapper(win32.Mapper{}))
	if !stop() && err == nil {
		err = rctx.Err()
	}
	if err != nil {
		_ = conn.Close(bctx)
		return fail(err)
	}
	return &srvsvcBinding{pipe: p, guard: guard, conn: conn, cli: cli}, nil
}

// dropSrvsvc forgets the session's srvsvc binding and closes its pipe
// (which does nothing more once the session's Close abandoned it).
func (s *Session) dropSrvsvc() {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	s.dropSrvsvcLocked()
}

func (s *Session) dropSrvsvcLocked() {
	b := s.srv
	if b == nil {
		return
	}
	s.srv = nil
	_ = b.conn.Close(context.Background())
	_ = b.pipe.Close()
}

// dialerFunc adapts a function to go-msrpc's dcerpc.Dialer.
type dialerFunc func(ctx context.Context, network, address string) (net.Conn, error)

func (f dialerFunc) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return f(ctx, network, address)
}
