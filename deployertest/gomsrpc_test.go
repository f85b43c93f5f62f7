package deployertest

import (
	"context"
	"errors"
	"fmt"
	"github.com/nxdeploy/deployer/internal/remotesvc"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	"github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
)

// TestGoMSRPCSvcctlOverSMB drives the service life cycle the deployer uses
// with go-msrpc over ncacn_np, through the SMB2 server and the svcctl pipe.
func TestGoMSRPCSvcctlOverSMB(t *testing.T) {
	cases := []struct {
		name string
		opts []Option
	}{
		{name: "default"},
		{name: "signing required", opts: []Option{WithSigningRequired()}},
		{name: "encryption required", opts: []Option{WithEncryptionRequired()}},
		{name: "SMB 2.1 only", opts: []Option{WithMaxDialect(0x0210)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := append([]Option{withSCM(scm.Options{StartTimeout: 5 * time.Second,
				Program: scm.Installer(scm.InstallerOptions{Outcomes: []uint32{1603}})})}, tc.opts...)
			h := Start(t, opts...)
			bin, err := remotesvc.Binary("amd64")
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(h.AdminDir, "Temp", "nxsvc.exe"), bin, 0o644))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_np:%s[svcctl]", h.IP),
				dcerpc.WithSMBPort(h.Port),
				dcerpc.WithCredentials(credential.NewFromPassword(h.User, h.Password)),
				dcerpc.WithMechanism(ssp.SPNEGO), dcerpc.WithMechanism(ssp.NTLM))
			require.NoError(t, err)
			t.Cleanup(func() { _ = conn.Close(context.Background()) })
			cli, err := svcctl.NewSvcctlClient(ctx, conn, dcerpc.WithInsecure())
			require.NoError(t, err)

			sm, err := cli.OpenSCMW(ctx, &svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerAllAccess})
			require.NoError(t, err)
			cr, err := cli.CreateServiceW(ctx, &svcctl.CreateServiceWRequest{ServiceManager: sm.SCM,
				ServiceName: "nxdeploy", DisplayName: "nxdeploy", DesiredAccess: scm.ServiceAllAccess,
				ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand,
				BinaryPathName: `C:\Windows\Temp\nxsvc.exe --msi C:\Windows\Temp\x.msi`})
			require.NoError(t, err)
			_, err = cli.CreateServiceW(ctx, &svcctl.CreateServiceWRequest{ServiceManager: sm.SCM,
				ServiceName: "nxdeploy", DesiredAccess: scm.ServiceAllAccess,
				ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand, BinaryPathName: `C:\Windows\Temp\nxsvc.exe`})
			var we *win32.Error
			require.True(t, errors.As(err, &we), "%v", err)
			assert.Equal(t, uint32(scm.ErrorServiceExists), uint32(we.Code))

			_, err = cli.StartServiceW(ctx, &svcctl.StartServiceWRequest{Service: cr.Service})
			require.NoError(t, err)
			var st *svcctl.ServiceStatus
			require.Eventually(t, func() bool {
				qs, err := cli.QueryServiceStatus(ctx, &svcctl.QueryServiceStatusRequest{Service: cr.Service})
				if err != nil {
					return false
				}
				st = qs.ServiceStatus
				return st.CurrentState == 1
			}, 30*time.Second, 20*time.Millisecond)
			assert.Equal(t, uint32(1066), st.Win32ExitCode)
			assert.Equal(t, uint32(1603), st.ServiceSpecificExitCode)
			_, err = cli.DeleteService(ctx, &svcctl.DeleteServiceRequest{Service: cr.Service})
			require.NoError(t, err)
			_, err = cli.CloseService(ctx, &svcctl.CloseServiceRequest{ServiceObject: cr.Service})
			require.NoError(t, err)
			_, exists := h.scm.Service("nxdeploy")
			assert.False(t, exists)
			assert.NotZero(t, h.server.Stats().Logons, "the RPC did not go through an SMB session")
		})
	}
}
