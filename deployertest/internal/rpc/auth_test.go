package rpc

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/nxdeploy/deployer/deployertest/internal/ntlmssp"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/oiweiwei/go-msrpc/dcerpc"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/oiweiwei/go-msrpc/ssp/gssapi"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testAccounts are the RPC accounts of the authentication tests.
func testAccounts() []Account {
	return []Account{{User: "Administrator", NTHash: ntlmssp.NTHash("Secret1!"), Admin: true}}
}

// authOptions are go-msrpc's options for an NTLM bind (in SPNEGO when
// spnego) at level ("seal", "sign") with password.
func authOptions(spnego bool, level, password string) []dcerpc.Option {
	cred := gssapi.NewCredential("", nil, gssapi.InitiateAndAccept, credential.NewFromPassword("Administrator", password))
	opts := []dcerpc.Option{dcerpc.WithCredentials(cred)}
	if spnego {
		opts = append(opts, dcerpc.WithMechanism(ssp.SPNEGO))
	}
	opts = append(opts, dcerpc.WithMechanism(ssp.NTLM))
	return opts
}

// levelOption is the bind's level option.
func levelOption(level string) dcerpc.Option {
	if level == "seal" {
		return dcerpc.WithSeal()
	}
	return dcerpc.WithSign()
}

// TestAuthenticatedBind binds svcctl with go-msrpc's NTLM, bare and in
// SPNEGO, signed and sealed, with responses large enough to fragment, and
// checks that a wrong password gets no call through.
func TestAuthenticatedBind(t *testing.T) {
	for _, tc := range []struct {
		spnego bool
		level  string
		frag   int
	}{{true, "seal", 0}, {false, "seal", 0}, {true, "sign", 0}, {false, "sign", 0}, {true, "seal", 1432}, {false, "sign", 1432}} {
		t.Run(fmt.Sprintf("spnego=%v/%s/frag=%d", tc.spnego, tc.level, tc.frag), func(t *testing.T) {
			h := startHost(t, scm.Options{}, Config{RPCAccounts: testAccounts(), MaxFrag: uint16(tc.frag)})
			h.writeExe(t, "nx/svc.exe")
			ctx := context.Background()
			conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_ip_tcp:127.0.0.1[%d]", h.addr.Port), authOptions(tc.spnego, tc.level, "Secret1!")...)
			require.NoError(t, err)
			defer func() { _ = conn.Close(context.Background()) }()
			cli, err := svcctl.NewSvcctlClient(ctx, conn, levelOption(tc.level))
			require.NoError(t, err)
			scmResp, err := cli.OpenSCMW(ctx, &svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerAllAccess})
			require.NoError(t, err)
			long := `C:\Windows\nx\svc.exe --job ` + strings.Repeat("x", 3000)
			cr, err := cli.CreateServiceW(ctx, &svcctl.CreateServiceWRequest{ServiceManager: scmResp.SCM,
				ServiceName: "nx-1", DisplayName: "nx one", DesiredAccess: scm.ServiceAllAccess,
				ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand, BinaryPathName: long})
			require.NoError(t, err)
			for range 3 {
				qc, err := cli.QueryServiceConfigW(ctx, &svcctl.QueryServiceConfigWRequest{Service: cr.Service, BufferLength: 8192})
				require.NoError(t, err)
				assert.Equal(t, long, qc.ServiceConfig.BinaryPathName)
			}
			_, err = cli.DeleteService(ctx, &svcctl.DeleteServiceRequest{Service: cr.Service})
			require.NoError(t, err)
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		h := startHost(t, scm.Options{}, Config{RPCAccounts: testAccounts()})
		ctx := context.Background()
		conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_ip_tcp:127.0.0.1[%d]", h.addr.Port), authOptions(true, "seal", "wrong")...)
		require.NoError(t, err)
		defer func() { _ = conn.Close(context.Background()) }()
		cli, err := svcctl.NewSvcctlClient(ctx, conn, dcerpc.WithSeal())
		if err == nil {
			_, err = cli.OpenSCMW(ctx, &svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerAllAccess})
		}
		require.Error(t, err)
	})
	t.Run("no accounts", func(t *testing.T) {
		h := startHost(t, scm.Options{}, Config{})
		ctx := context.Background()
		conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_ip_tcp:127.0.0.1[%d]", h.addr.Port), authOptions(true, "seal", "Secret1!")...)
		require.NoError(t, err)
		defer func() { _ = conn.Close(context.Background()) }()
		_, err = svcctl.NewSvcctlClient(ctx, conn, dcerpc.WithSeal())
		require.Error(t, err)
	})
}
