package deployertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oiweiwei/go-msrpc/dcerpc"
	"github.com/oiweiwei/go-msrpc/msrpc/erref/win32"
	svcctl "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"
	"github.com/oiweiwei/go-msrpc/ssp"
	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/internal/remotesvc"
)

// startService creates and starts a service for the binary at ADMIN$\Temp\name over svcctl, and returns
// StartServiceW's error.
func startService(t *testing.T, h *Host, name string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := dcerpc.Dial(ctx, fmt.Sprintf("ncacn_np:%s[svcctl]", h.IP), dcerpc.WithSMBPort(h.Port),
		dcerpc.WithCredentials(credential.NewFromPassword(h.User, h.Password)),
		dcerpc.WithMechanism(ssp.SPNEGO), dcerpc.WithMechanism(ssp.NTLM))
	require.NoError(t, err)
	defer conn.Close(context.Background())
	cli, err := svcctl.NewSvcctlClient(ctx, conn, dcerpc.WithInsecure())
	require.NoError(t, err)
	sm, err := cli.OpenSCMW(ctx, &svcctl.OpenSCMWRequest{DesiredAccess: scm.SCManagerAllAccess})
	require.NoError(t, err)
	cr, err := cli.CreateServiceW(ctx, &svcctl.CreateServiceWRequest{ServiceManager: sm.SCM, ServiceName: name,
		DesiredAccess: scm.ServiceAllAccess, ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand,
		BinaryPathName: `C:\Windows\Temp\` + name + `.exe`})
	require.NoError(t, err)
	_, err = cli.StartServiceW(ctx, &svcctl.StartServiceWRequest{Service: cr.Service})
	return err
}

func win32Of(t *testing.T, err error) uint32 {
	t.Helper()
	var we *win32.Error
	require.True(t, errors.As(err, &we), "want a win32 error, got %v", err)
	return uint32(we.Code)
}

// TestLoaderByWindowsVersion: a Go service (Go 1.26 runtime, as the deployer's was) fails with 1053 at once on
// Windows 7, where the deployer's service (C) starts, as on Server 2012 R2, Windows 10 and 11; a stub is not a
// valid Win32 application anywhere; an x64 binary does not run on 32-bit Windows.
func TestLoaderByWindowsVersion(t *testing.T) {
	amd64, err := remotesvc.Binary("amd64")
	require.NoError(t, err)
	x86, err := remotesvc.Binary("386")
	require.NoError(t, err)
	goSvc := lab.GoWindowsService(t, "amd64")
	cases := []struct {
		name    string
		windows Windows
		arch    Arch
		binary  []byte
		code    uint32
	}{
		{"Go service on Windows 7", Windows7, AMD64, goSvc, 1053},
		{"the deployer's service on Windows 7", Windows7, AMD64, amd64, 0},
		{"Go service on Server 2012 R2", Server2012R2, AMD64, goSvc, 0},
		{"the deployer's service on Windows 11", Windows11, AMD64, amd64, 0},
		{"the deployer's x86 service on 32-bit Windows 7", Windows7, X86, x86, 0},
		{"x64 service on 32-bit Windows 10", Windows10, X86, amd64, 216},
		{"two-byte stub", Server2022, AMD64, []byte("MZ"), 193},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := Start(t, WithWindows(c.windows), WithArch(c.arch), withSCM(scm.Options{StartTimeout: 10 * time.Second,
				Program: scm.Installer(scm.InstallerOptions{Duration: time.Minute})}))
			require.NoError(t, os.WriteFile(filepath.Join(h.AdminDir, "Temp", "svc.exe"), c.binary, 0o644))
			begin := time.Now()
			err := startService(t, h, "svc")
			if c.code == 0 {
				require.NoError(t, err)
				return
			}
			assert.Equal(t, c.code, win32Of(t, err))
			assert.Less(t, time.Since(begin), 5*time.Second, "Windows reports it at once, not after its timeout")
			st, ok := h.scm.Service("svc")
			require.True(t, ok)
			assert.Equal(t, scm.StateStopped, st.Status.CurrentState)
			assert.Equal(t, c.code, st.Status.Win32ExitCode)
		})
	}
	_, wow := os.Stat(filepath.Join(Start(t, WithArch(X86)).AdminDir, "SysWOW64"))
	assert.True(t, os.IsNotExist(wow), "32-bit Windows has no SysWOW64")
	arm := Start(t, WithArch(ARM64))
	for _, d := range []string{"SysWOW64", "SysArm32"} {
		_, err := os.Stat(filepath.Join(arm.AdminDir, d))
		assert.NoError(t, err, "ARM64 Windows has %s", d)
	}
}
