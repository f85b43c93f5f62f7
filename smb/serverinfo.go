package smb

import (
	"context"
	"fmt"

	"github.com/oiweiwei/go-msrpc/msrpc/dtyp"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	srvsvc "github.com/oiweiwei/go-msrpc/msrpc/srvs/srvsvc/v3"

	derrors "github.com/nxdeploy/deployer/errors"
)

// WindowsVersion returns the host's Windows version: the one its NTLM
// challenge announced, or, when there was none (a Kerberos logon), the
// major and minor version srvsvc NetrServerGetInfo reports at level 101
// (over \pipe\srvsvc on this session; no build number then). A failure is
// a *derrors.Error at the list shares step.
func (s *Session) WindowsVersion(ctx context.Context) (OSVersion, error) {
	if v := s.info.Server.OS; !v.IsZero() {
		return v, nil
	}
	return s.serverInfoVersion(ctx)
}

// serverInfoVersion asks srvsvc NetrServerGetInfo at level 101.
func (s *Session) serverInfoVersion(ctx context.Context) (OSVersion, error) {
	var v OSVersion
	err := s.srvsvc(ctx, derrors.StepListShares, func(rctx context.Context, cli srvsvc.SrvsvcClient) error {
		resp, err := cli.GetInfo(rctx, &srvsvc.GetInfoRequest{ServerName: `\\` + s.serverName(), Level: 101})
		switch {
		case err != nil:
			return err
		case resp.Return != 0:
			return win32.FromCode(resp.Return)
		}
		info, ok := resp.Info.GetValue().(*dtyp.ServerInfo101)
		if !ok || info == nil {
			return fmt.Errorf("smb: NetrServerGetInfo(101) answered level %d", resp.Level)
		}
		v = OSVersion{Major: uint8(info.VersionMajor & 0x0F), Minor: uint8(info.VersionMinor)}
		return nil
	})
	return v, err
}
