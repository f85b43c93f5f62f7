package rpcpipe_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	winreg "github.com/oiweiwei/go-msrpc/msrpc/rrp/winreg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/internal/rpcpipe"
	"github.com/nxdeploy/deployer/smb"
)

func TestSambaWinregSealed(t *testing.T) {
	lab.Require(t, "root", "netns", "smbd")
	n := lab.NewNet(t)
	s := n.AddHost(t, "reg1").StartSamba(t, lab.SambaOptions{SigningMandatory: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	creds := smb.Credentials{User: s.AdminUser, Password: s.AdminPassword}
	sess, err := smb.Dial(ctx, s.Addr.String(), smb.Config{Credentials: creds, Dial: n.DialContext}, nil)
	require.NoError(t, err)
	defer sess.Close()
	for _, seal := range []bool{false, true} {
		c, err := rpcpipe.Bind(ctx, rpcpipe.Config{
			Host: s.Addr.String(), BindStep: "open registry", Seal: seal, Credentials: creds,
			Open:    func(ctx context.Context) (net.Conn, error) { return sess.OpenPipe(ctx, "winreg") },
			Mappers: nil,
		}, winreg.NewWinregClient)
		require.NoError(t, err, "seal %v", seal)
		err = c.Call(ctx, "read", true, func(ctx context.Context, cli winreg.WinregClient) error {
			hk, err := rpcpipe.Check(cli.OpenLocalMachine(ctx, &winreg.OpenLocalMachineRequest{DesiredAccess: 0x20019}))
			if err != nil {
				return err
			}
			k, err := rpcpipe.Check(cli.BaseRegOpenKey(ctx, &winreg.BaseRegOpenKeyRequest{Key: hk.Key, SubKey: &winreg.UnicodeString{Buffer: "SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\x00"}, DesiredAccess: 0x20019}))
			if err != nil {
				return err
			}
			v, err := rpcpipe.Check(cli.BaseRegQueryValue(ctx, &winreg.BaseRegQueryValueRequest{Key: k.ResultKey, ValueName: &winreg.UnicodeString{Buffer: "CurrentVersion\x00"}, DataLength: 512, Length: 0}))
			t.Logf("seal=%v value %+v err %v", seal, v, err)
			return err
		})
		t.Logf("err %v", err)
		assert.NoError(t, err)
		_ = win32.Mapper{}
		_ = derrors.StepLogon
		require.NoError(t, c.Close())
	}
}
