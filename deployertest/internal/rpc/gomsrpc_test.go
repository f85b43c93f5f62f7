package rpc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	srvsvc "github.com/oiweiwei/go-msrpc/msrpc/srvs/srvsvc/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// dialSvcctl connects go-msrpc's svcctl client to h over ncacn_ip_tcp.
func dialSvcctl(t *testing.T, h *host, opts ...dcerpc.Option) svcctl.SvcctlClient {
	t.Helper()
	ctx := context.Background()
	conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_ip_tcp:127.0.0.1[%d]", h.addr.Port))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	cli, err := svcctl.NewSvcctlClient(ctx, conn, append(opts, dcerpc.WithInsecure())...)
	require.NoError(t, err)
	return cli
}

func win32Code(t *testing.T, err error) uint32 {
	t.Helper()
	var we *win32.Error
	require.True(t, errors.As(err, &we), "want a win32 error, got %v", err)
	return uint32(we.Code)
}

func TestGoMSRPCServiceLifeCycle(t *testing.T) {
	// go-msrpc offers at least 4096 and adopts the server's sizes: a server
	// limited to 1432 (MustRecvFragSize) makes both directions fragment.
	for _, tc := range []struct {
		name  string
		frag  int
		ndr64 bool
	}{{"ndr20", 0, false}, {"ndr20 frag=1432", 1432, false}, {"ndr64", 0, true}, {"ndr64 frag=1432", 1432, true}} {
		frag := tc.frag
		t.Run(tc.name, func(t *testing.T) {
			h := startHost(t, scm.Options{Program: scm.Installer(scm.InstallerOptions{Outcomes: []uint32{1603}})},
				Config{MaxFrag: uint16(frag)})
			h.writeExe(t, "nx/svc.exe")
			var opts []dcerpc.Option
			if tc.ndr64 {
				opts = append(opts, dcerpc.WithNDR64())
			}
			cli := dialSvcctl(t, h, opts...)
			ctx := context.Background()

			scmResp, err := cli.OpenSCMW(ctx, &svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerAllAccess})
			require.NoError(t, err)
			hSCM := scmResp.SCM

			// A long binary path makes the request span several fragments.
			long := `C:\Windows\nx\svc.exe --job ` + string(make([]byte, 0)) + repeat("x", 1000)
			cr, err := cli.CreateServiceW(ctx, &svcctl.CreateServiceWRequest{ServiceManager: hSCM,
				ServiceName: "nx-1", DisplayName: "nx one", DesiredAccess: scm.ServiceAllAccess,
				ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand, BinaryPathName: long})
			require.NoError(t, err)

			_, err = cli.CreateServiceW(ctx, &svcctl.CreateServiceWRequest{ServiceManager: hSCM,
				ServiceName: "NX-1", DesiredAccess: scm.ServiceAllAccess,
				ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand, BinaryPathName: long})
			assert.Equal(t, uint32(scm.ErrorServiceExists), win32Code(t, err))

			qc, err := cli.QueryServiceConfigW(ctx, &svcctl.QueryServiceConfigWRequest{Service: cr.Service, BufferLength: 0})
			assert.Equal(t, uint32(scm.ErrorInsufficientBuffer), win32Code(t, err))
			qc, err = cli.QueryServiceConfigW(ctx, &svcctl.QueryServiceConfigWRequest{Service: cr.Service, BufferLength: qc.BytesNeededLength})
			require.NoError(t, err)
			assert.Equal(t, long, qc.ServiceConfig.BinaryPathName)
			if frag > 0 {
				assert.LessOrEqual(t, h.maxFragment.Load(), int64(frag), "responses fragmented")
				assert.LessOrEqual(t, h.maxInFragment.Load(), int64(frag), "requests fragmented")
			} else {
				assert.Greater(t, h.maxFragment.Load(), int64(2000), "one response fragment")
				assert.Greater(t, h.maxInFragment.Load(), int64(2000), "one request fragment")
			}
			assert.Equal(t, "nx one", qc.ServiceConfig.DisplayName)
			assert.Equal(t, "LocalSystem", qc.ServiceConfig.ServiceStartName)

			q2, err := cli.QueryServiceConfig2W(ctx, &svcctl.QueryServiceConfig2WRequest{Service: cr.Service, InfoLevel: 1})
			assert.Equal(t, uint32(scm.ErrorInsufficientBuffer), win32Code(t, err))
			assert.Equal(t, uint32(4), q2.BytesNeededLength)
			_, err = cli.QueryServiceConfig2W(ctx, &svcctl.QueryServiceConfig2WRequest{Service: cr.Service, InfoLevel: 2, BufferLength: 20})
			require.NoError(t, err)
			_, err = cli.QueryServiceConfig2W(ctx, &svcctl.QueryServiceConfig2WRequest{Service: cr.Service, InfoLevel: 9, BufferLength: 20})
			assert.Equal(t, uint32(scm.ErrorInvalidLevel), win32Code(t, err))

			_, err = cli.ChangeServiceConfigW(ctx, &svcctl.ChangeServiceConfigWRequest{Service: cr.Service,
				ServiceType: scm.NoChange, StartType: scm.StartDisabled, ErrorControl: scm.NoChange})
			require.NoError(t, err)
			_, err = cli.StartServiceW(ctx, &svcctl.StartServiceWRequest{Service: cr.Service})
			assert.Equal(t, uint32(scm.ErrorServiceDisabled), win32Code(t, err))
			_, err = cli.ChangeServiceConfigW(ctx, &svcctl.ChangeServiceConfigWRequest{Service: cr.Service,
				ServiceType: scm.NoChange, StartType: scm.StartDemand, ErrorControl: scm.NoChange})
			require.NoError(t, err)

			_, err = cli.StartServiceW(ctx, &svcctl.StartServiceWRequest{Service: cr.Service,
				Argc: 2, Argv: []*svcctl.UnicodeString{{StringPointer: "a"}, {StringPointer: "b"}}})
			require.NoError(t, err)
			_, err = cli.StartServiceW(ctx, &svcctl.StartServiceWRequest{Service: cr.Service})
			if err != nil {
				// The scripted install may already have ended.
				assert.Equal(t, uint32(scm.ErrorServiceAlreadyRunning), win32Code(t, err))
			}
			var st *svcctl.ServiceStatus
			require.Eventually(t, func() bool {
				r, err := cli.QueryServiceStatus(ctx, &svcctl.QueryServiceStatusRequest{Service: cr.Service})
				require.NoError(t, err)
				st = r.ServiceStatus
				return st.CurrentState == scm.StateStopped
			}, 5*time.Second, 10*time.Millisecond)
			assert.Equal(t, uint32(scm.ErrorServiceSpecificError), st.Win32ExitCode)
			assert.Equal(t, uint32(1603), st.ServiceSpecificExitCode)

			ex, err := cli.QueryServiceStatusEx(ctx, &svcctl.QueryServiceStatusExRequest{Service: cr.Service, BufferLength: 36})
			require.NoError(t, err)
			require.Len(t, ex.Buffer, 36)
			assert.Equal(t, byte(scm.StateStopped), ex.Buffer[4])

			_, err = cli.ControlService(ctx, &svcctl.ControlServiceRequest{Service: cr.Service, Control: scm.ControlStop})
			assert.Equal(t, uint32(scm.ErrorServiceNotActive), win32Code(t, err))

			_, err = cli.DeleteService(ctx, &svcctl.DeleteServiceRequest{Service: cr.Service})
			require.NoError(t, err)
			_, err = cli.DeleteService(ctx, &svcctl.DeleteServiceRequest{Service: cr.Service})
			assert.Equal(t, uint32(scm.ErrorServiceMarkedForDelete), win32Code(t, err))
			_, err = cli.OpenServiceW(ctx, &svcctl.OpenServiceWRequest{ServiceManager: hSCM, ServiceName: "nx-1", DesiredAccess: scm.ServiceQueryStatus})
			assert.Equal(t, uint32(scm.ErrorServiceMarkedForDelete), win32Code(t, err))
			_, err = cli.CloseService(ctx, &svcctl.CloseServiceRequest{ServiceObject: cr.Service})
			require.NoError(t, err)
			_, err = cli.OpenServiceW(ctx, &svcctl.OpenServiceWRequest{ServiceManager: hSCM, ServiceName: "nx-1", DesiredAccess: scm.ServiceQueryStatus})
			assert.Equal(t, uint32(scm.ErrorServiceDoesNotExist), win32Code(t, err))
		})
	}
}

func repeat(s string, n int) string {
	out := make([]byte, 0, len(s)*n)
	for range n {
		out = append(out, s...)
	}
	return string(out)
}

func TestGoMSRPCEnumServicesFragmented(t *testing.T) {
	var pre []scm.Preload
	for i := range 150 {
		pre = append(pre, scm.Preload{Name: fmt.Sprintf("Svc%03d", i), Running: i%2 == 0, Config: scm.Config{
			ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand, BinaryPath: `C:\x.exe`,
			DisplayName: fmt.Sprintf("Service number %03d", i)}})
	}
	h := startHost(t, scm.Options{Services: pre}, Config{MaxFrag: 1432})
	cli := dialSvcctl(t, h)
	before := h.fragments.Load()
	ctx := context.Background()
	scmResp, err := cli.OpenSCMW(ctx, &svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerEnumerateService})
	require.NoError(t, err)
	r, err := cli.EnumServicesStatusW(ctx, &svcctl.EnumServicesStatusWRequest{ServiceManager: scmResp.SCM,
		ServiceType: scm.ServiceWin32, ServiceState: scm.EnumAll})
	assert.Equal(t, uint32(scm.ErrorMoreData), win32Code(t, err))
	need := r.BytesNeededLength
	require.Greater(t, need, uint32(8000))
	r, err = cli.EnumServicesStatusW(ctx, &svcctl.EnumServicesStatusWRequest{ServiceManager: scmResp.SCM,
		ServiceType: scm.ServiceWin32, ServiceState: scm.EnumActive, BufferLength: need})
	require.NoError(t, err)
	assert.Equal(t, uint32(75), r.ServicesReturned)
	// The ~8 KiB answer went out in fragments of at most 1432 bytes.
	assert.GreaterOrEqual(t, h.fragments.Load()-before, int64(6))
	assert.LessOrEqual(t, h.maxFragment.Load(), int64(1432))
}

func TestGoMSRPCAccessDenied(t *testing.T) {
	user := pipe.Caller{User: "bob"}
	h := startHost(t, scm.Options{}, Config{TCPCaller: &user})
	cli := dialSvcctl(t, h)
	ctx := context.Background()
	_, err := cli.OpenSCMW(ctx, &svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerAllAccess})
	assert.Equal(t, uint32(scm.ErrorAccessDenied), win32Code(t, err))
	_, err = cli.OpenSCMW(ctx, &svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerConnect | scm.SCManagerEnumerateService})
	require.NoError(t, err)
}

func TestGoMSRPCShareEnum(t *testing.T) {
	h := startHost(t, scm.Options{}, Config{ServerName: "HOST1"})
	ctx := context.Background()
	conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_ip_tcp:127.0.0.1[%d]", h.addr.Port))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	cli, err := srvsvc.NewSrvsvcClient(ctx, conn, dcerpc.WithInsecure())
	require.NoError(t, err)
	r, err := cli.ShareEnum(ctx, &srvsvc.ShareEnumRequest{Info: &srvsvc.ShareEnum{Level: 1,
		ShareInfo: &srvsvc.ShareEnumUnion{Value: &srvsvc.ShareEnumUnion_Level1{Level1: &srvsvc.ShareInfo1Container{}}}},
		PreferredMaximumLength: 0xFFFFFFFF})
	require.NoError(t, err)
	l1 := r.Info.ShareInfo.Value.(*srvsvc.ShareEnumUnion_Level1).Level1
	var names []string
	for _, s := range l1.Buffer {
		names = append(names, s.NetworkName)
	}
	assert.Equal(t, []string{"ADMIN$", "C$", "IPC$"}, names)
	gi, err := cli.GetInfo(ctx, &srvsvc.GetInfoRequest{Level: 101})
	require.NoError(t, err)
	assert.Equal(t, "HOST1", gi.Info.Value.(*srvsvc.ServerInfo_101).ServerInfo101.Name)
}

func TestGoMSRPCShareInfo(t *testing.T) {
	admin := startHost(t, scm.Options{}, Config{})
	user := startHost(t, scm.Options{}, Config{TCPCaller: &pipe.Caller{User: "bob"}})
	dial := func(h *host) srvsvc.SrvsvcClient {
		ctx := context.Background()
		conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_ip_tcp:127.0.0.1[%d]", h.addr.Port))
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		cli, err := srvsvc.NewSrvsvcClient(ctx, conn, dcerpc.WithInsecure())
		require.NoError(t, err)
		return cli
	}
	tests := []struct {
		name  string
		h     *host
		share string
		level uint32
		want  uint32
	}{
		{"admin level 2", admin, "admin$", 2, 0},
		{"admin level 1", admin, "IPC$", 1, 0},
		{"user level 0", user, "C$", 0, 0},
		{"user level 2", user, "ADMIN$", 2, 5},
		{"unknown share", admin, "nope", 1, 2310},
		{"admin level 502", admin, "C$", 502, 0},
		{"user level 502", user, "C$", 502, 5},
		{"admin level 501", admin, "IPC$", 501, 0},
		{"admin level 1005", admin, "ADMIN$", 1005, 0},
		{"invalid level", admin, "C$", 503, 124},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cli := dial(tt.h)
			r, err := cli.ShareGetInfo(context.Background(), &srvsvc.ShareGetInfoRequest{NetName: tt.share, Level: tt.level})
			if tt.want != 0 {
				assert.Equal(t, tt.want, win32Code(t, err))
				return
			}
			require.NoError(t, err)
			if tt.level == 2 {
				info := r.Info.Value.(*srvsvc.ShareInfo_2).ShareInfo2
				assert.Equal(t, "ADMIN$", info.NetworkName)
				assert.Equal(t, `C:\Windows`, info.Path)
				assert.Equal(t, ShareTypeDisk|ShareTypeSpecial, info.Type)
			}
		})
	}
	cli := dial(user)
	_, err := cli.ShareEnum(context.Background(), &srvsvc.ShareEnumRequest{Info: &srvsvc.ShareEnum{Level: 2,
		ShareInfo: &srvsvc.ShareEnumUnion{Value: &srvsvc.ShareEnumUnion_Level2{Level2: &srvsvc.ShareInfo2Container{}}}}})
	assert.Equal(t, uint32(5), win32Code(t, err))
}
