package deployertest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/winreg"
)

const testProductCode = "{6F7C6B2A-3C1D-4E5F-8A9B-0C1D2E3F4A5B}"

// TestRegistryThroughWinregClient reads a pre-installed product over
// \pipe\winreg with the deployer's winreg client, from each state of the
// Remote Registry service, and checks the service is put back as it was.
func TestRegistryThroughWinregClient(t *testing.T) {
	tests := []struct {
		state      RemoteRegistryState
		action     winreg.ServiceAction
		start, end string
	}{
		{RemoteRegistryDisabled, winreg.ServiceEnabledAndStarted, "DISABLED", "STOPPED"},
		{RemoteRegistryStopped, winreg.ServiceStarted, "DEMAND_START", "STOPPED"},
		{RemoteRegistryRunning, winreg.ServiceWasRunning, "AUTO_START", "RUNNING"},
	}
	for _, tc := range tests {
		t.Run(tc.state.String(), func(t *testing.T) {
			h := Start(t, WithRemoteRegistry(tc.state), WithInstalledProduct(
				InstalledProduct{ProductCode: testProductCode, Name: "Collector", Version: "6.2.1", Publisher: "NX"},
				InstalledProduct{ProductCode: "{00000000-1111-2222-3333-444444444444}", Name: "Old32", Version: "1.0.7", WOW64: true}))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := winreg.Dial(ctx, h.IP, smb.Config{Port: h.Port,
				Credentials: smb.Credentials{User: h.User, Password: h.Password}}, winreg.Config{})
			require.NoError(t, err)
			assert.Equal(t, tc.action, c.ServiceAction())
			p, err := c.Product(ctx, testProductCode)
			require.NoError(t, err)
			assert.Equal(t, "Collector", p.DisplayName)
			assert.Equal(t, "6.2.1", p.DisplayVersion)
			assert.Equal(t, "6.2.1", p.Version.String())
			assert.True(t, p.WindowsInstaller)
			assert.Equal(t, winreg.Native, p.View)
			old, err := c.Product(ctx, "{00000000-1111-2222-3333-444444444444}")
			require.NoError(t, err)
			assert.Equal(t, winreg.WOW64, old.View)
			_, err = c.Product(ctx, "{99999999-1111-2222-3333-444444444444}")
			assert.ErrorIs(t, err, winreg.ErrNotInstalled)
			all, err := c.Products(ctx)
			require.NoError(t, err)
			assert.Len(t, all, 2)
			require.NoError(t, c.Close())
			svc, ok := h.Service("RemoteRegistry")
			require.True(t, ok)
			assert.Equal(t, tc.start, svc.StartType)
			assert.Equal(t, tc.end, svc.State)
		})
	}
}

// TestRegistryRefusesFilteredToken: a filtered (non-administrator) token
// gets ERROR_ACCESS_DENIED from the registry, as from Windows' winreg pipe.
func TestRegistryRefusesFilteredToken(t *testing.T) {
	h := Start(t, WithRemoteRegistry(RemoteRegistryRunning), WithUsers(User{Name: "plain", Password: "Pl-ain-1!"}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := winreg.Dial(ctx, h.IP, smb.Config{Port: h.Port,
		Credentials: smb.Credentials{User: "plain", Password: "Pl-ain-1!"}}, winreg.Config{})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Product(ctx, testProductCode)
	require.Error(t, err)
	assert.NotErrorIs(t, err, winreg.ErrNotInstalled)
	assert.Contains(t, err.Error(), "ACCESS_DENIED")
}

// TestImpacketRegQuery runs impacket's reg.py against an emulated host whose
// Remote Registry is disabled: reg.py enables and starts it over svcctl,
// queries the Uninstall key, and puts it back; the values it prints are the
// ones the emulated installer records.
func TestImpacketRegQuery(t *testing.T) {
	lab.Require(t, "impacket", "root", "netns")
	n := lab.NewNet(t)
	lh := n.AddHost(t, "win")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln, err := lh.Listen(ctx, "tcp", lh.Addr.String()+":445")
	require.NoError(t, err)
	h := Start(t, WithListener(ln), WithHostname("WINREG"), WithWindows(Windows10), WithInstalledProduct(
		InstalledProduct{ProductCode: testProductCode, Name: "Collector", Version: "6.2.1", Publisher: "NX"}))
	out, err := n.Command(ctx, "/usr/bin/python3", filepath.Join(impacketExamples, "reg.py"),
		h.User+":"+h.Password+"@"+lh.Addr.String(), "query",
		"-keyName", `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\`+testProductCode).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []string{"DisplayName\tREG_SZ\t Collector", "DisplayVersion\tREG_SZ\t 6.2.1",
		"WindowsInstaller\tREG_DWORD\t 0x1", "Version\tREG_DWORD\t 0x6020001"} {
		assert.Contains(t, string(out), want)
	}
	out, err = n.Command(ctx, "/usr/bin/python3", filepath.Join(impacketExamples, "reg.py"),
		h.User+":"+h.Password+"@"+lh.Addr.String(), "query",
		"-keyName", `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall`, "-s").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), testProductCode)
	svc, ok := h.Service("RemoteRegistry")
	require.True(t, ok)
	assert.Equal(t, "DISABLED", svc.StartType, "reg.py puts the service back")
	assert.Equal(t, "STOPPED", svc.State)
}
