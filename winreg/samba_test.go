package winreg_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/nxdeploy/deployer/deployertest/lab"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/winreg"
)

// The products the Samba host's registry gets, as Windows Installer and a
// legacy installer write them.
const (
	agentCode   = "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}"
	agentUpCode = "{8BDC3E8C-6BC8-4F4B-ADE7-CB4FD10D5932}"
	tool32Code  = "{5D9A1C0E-2B7F-4E1A-9C3B-7A1E2F3D4C5B}"
	legacyKey   = "Notepad++"
)

// uninstallReg is a .reg file of the kind regedit exports: an MSI product
// in the native view (Version DWORD 0x02010bb8 = 2.1.3000), a 32-bit MSI
// product under WOW6432Node, a legacy installer's entry with only
// DisplayVersion, and the upgrade code mapping Windows Installer keeps.
var uninstallReg = `Windows Registry Editor Version 5.00

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\` + agentCode + `]
"DisplayName"="Collector Agent"
"DisplayVersion"="2.1.3000"
"Publisher"="NX Deploy"
"InstallDate"="20261104"
"InstallLocation"="C:\\Program Files\\Collector\\"
"UninstallString"=hex(2):4d,00,73,00,69,00,45,00,78,00,65,00,63,00,2e,00,65,00,78,00,65,00,20,00,2f,00,58,00,7b,00,33,00,46,00,32,00,35,00,30,00,34,00,45,00,30,00,7d,00,00,00
"WindowsInstaller"=dword:00000001
"Version"=dword:02010bb8
"VersionMajor"=dword:00000002
"VersionMinor"=dword:00000001
"Language"=dword:00000409
"Contacts"=hex(7):61,00,00,00,62,00,00,00,00,00

[HKEY_LOCAL_MACHINE\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\` + tool32Code + `]
"DisplayName"="Old Tool (x86)"
"DisplayVersion"="1.0.7"
"WindowsInstaller"=dword:00000001
"Version"=dword:01000007
"SystemComponent"=dword:00000001

[HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\` + legacyKey + `]
"DisplayName"="Notepad++ (64-bit x64)"
"DisplayVersion"="8.6.2"
"UninstallString"="\"C:\\Program Files\\Notepad++\\uninstall.exe\""

[HKEY_LOCAL_MACHINE\SOFTWARE\Classes\Installer\UpgradeCodes\C8E3CDB88CB6B4F4DA7EBCF41DD09523]
"0E4052F398F43D11A9C030508EC23310"=""
`

type sambaReg struct {
	n *lab.Net
	s *lab.Samba
}

func startSamba(t *testing.T) *sambaReg { return startSambaB(t) }

func startSambaB(t testing.TB) *sambaReg {
	t.Helper()
	lab.Require(t, "root", "netns", "smbd", "net")
	n := lab.NewNet(t)
	s := n.AddHost(t, "reg1").StartSamba(t, lab.SambaOptions{SigningMandatory: true})
	path := filepath.Join(t.TempDir(), "uninstall.reg")
	require.NoError(t, os.WriteFile(path, []byte(uninstallReg), 0o644))
	netBin, err := lab.LookPath("net")
	require.NoError(t, err)
	out, err := n.Command(context.Background(), netBin, "-s", s.Conf, "registry", "import", path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	// Samba's import drops a value whose data is the empty string, which is
	// how Windows Installer writes an upgrade code's product codes: set it
	// as Windows Installer does.
	out, err = n.Command(context.Background(), netBin, "-s", s.Conf, "registry", "setvalue",
		`HKLM\`+winreg.UpgradeCodesKey+`\C8E3CDB88CB6B4F4DA7EBCF41DD09523`, "0E4052F398F43D11A9C030508EC23310", "sz", "").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return &sambaReg{n: n, s: s}
}

func (p *sambaReg) session(t *testing.T, admin bool) *smb.Session {
	t.Helper()
	creds := smb.Credentials{User: p.s.User, Password: p.s.Password}
	if admin {
		creds = smb.Credentials{User: p.s.AdminUser, Password: p.s.AdminPassword}
	}
	sess, err := smb.Dial(ctxT(t), p.s.Addr.String(), smb.Config{Credentials: creds, Dial: p.n.DialContext}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sess.Close()) })
	return sess
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestSamba(t *testing.T) {
	p := startSamba(t)
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, leaks) })
	sess := p.session(t, true)
	ctx := ctxT(t)
	for _, seal := range []bool{false, true} {
		name := map[bool]string{false: "session", true: "sealed"}[seal]
		t.Run(name, func(t *testing.T) {
			c, err := winreg.Open(ctx, "reg1", sess.Pipes(), winreg.Config{
				Seal: seal, Credentials: smb.Credentials{User: p.s.AdminUser, Password: p.s.AdminPassword},
			})
			require.NoError(t, err)
			defer func() { assert.NoError(t, c.Close()) }()
			// Samba's svcctl reports Remote Registry as always running.
			assert.Equal(t, winreg.ServiceWasRunning, c.ServiceAction())

			agent, err := c.Product(ctx, strings.ToLower(strings.Trim(agentCode, "{}")))
			require.NoError(t, err)
			assert.Equal(t, &winreg.Product{
				Key: agentCode, View: winreg.Native, DisplayName: "Collector Agent", DisplayVersion: "2.1.3000",
				Version: winreg.Version{Major: 2, Minor: 1, Build: 3000}, Publisher: "NX Deploy", InstallDate: "20261104",
				InstallLocation: `C:\Program Files\Collector\`, UninstallString: `MsiExec.exe /X{3F2504E0}`,
				WindowsInstaller: true,
			}, agent)
			assert.Equal(t, agentCode, agent.ProductCode())

			tool, err := c.Product(ctx, tool32Code)
			require.NoError(t, err)
			assert.Equal(t, winreg.WOW64, tool.View)
			assert.Equal(t, "1.0.7", tool.Version.String())
			assert.True(t, tool.SystemComponent)

			_, err = c.Product(ctx, "{00000000-0000-0000-0000-000000000001}")
			assert.ErrorIs(t, err, winreg.ErrNotInstalled)
			_, err = c.Product(ctx, "not-a-guid")
			assert.ErrorIs(t, err, winreg.ErrBadGUID)

			all, err := c.Products(ctx)
			require.NoError(t, err)
			var keys []string
			for _, pr := range all {
				keys = append(keys, pr.View.String()+" "+pr.Key)
			}
			assert.Equal(t, []string{"native " + legacyKey, "native " + agentCode, "32-bit on 64-bit " + tool32Code}, keys)
			for _, pr := range all {
				if pr.Key == legacyKey {
					assert.False(t, pr.WindowsInstaller)
					assert.Equal(t, winreg.Version{Major: 8, Minor: 6, Build: 2}, pr.Version)
					assert.Equal(t, `"C:\Program Files\Notepad++\uninstall.exe"`, pr.UninstallString)
				}
			}

			codes, err := c.ProductCodes(ctx, agentUpCode)
			require.NoError(t, err)
			assert.Equal(t, []string{agentCode}, codes)
			_, err = c.ProductCodes(ctx, "{00000000-0000-0000-0000-000000000002}")
			assert.ErrorIs(t, err, winreg.ErrNotInstalled)

			vals, err := c.Values(ctx, winreg.UninstallKey+`\`+agentCode)
			require.NoError(t, err)
			byName := map[string]winreg.Value{}
			for _, v := range vals {
				byName[v.Name] = v
			}
			contacts, err := byName["Contacts"].Strings()
			require.NoError(t, err)
			assert.Equal(t, []string{"a", "b"}, contacts)
			assert.Equal(t, winreg.TypeExpandString, byName["UninstallString"].Type)
			lang, err := byName["Language"].Uint64()
			require.NoError(t, err)
			assert.Equal(t, uint64(0x409), lang)

			_, err = c.Values(ctx, `SOFTWARE\NoSuchVendor`)
			assert.ErrorIs(t, err, winreg.ErrNotFound)
			de, ok := derrors.As(err)
			require.True(t, ok, "%v", err)
			assert.Equal(t, winreg.StepReadRegistry, de.Step)
			assert.Equal(t, derrors.Win32Code(2), de.Code)

			subs, err := c.Subkeys(ctx, winreg.UninstallKey)
			require.NoError(t, err)
			assert.ElementsMatch(t, []string{agentCode, legacyKey}, subs)
		})
	}

	t.Run("own dial", func(t *testing.T) {
		c, err := winreg.Dial(ctx, p.s.Addr.String(), smb.Config{
			Credentials: smb.Credentials{User: p.s.AdminUser, Password: p.s.AdminPassword}, Dial: p.n.DialContext,
		}, winreg.Config{})
		require.NoError(t, err)
		pr, err := c.Product(ctx, agentCode)
		require.NoError(t, err)
		assert.Equal(t, "Collector Agent", pr.DisplayName)
		require.NoError(t, c.Close())
		_, err = c.Product(ctx, agentCode)
		assert.Error(t, err, "a closed client")
	})

	t.Run("cancelled", func(t *testing.T) {
		c, err := winreg.Open(ctx, "reg1", sess.Pipes(), winreg.Config{})
		require.NoError(t, err)
		defer c.Close()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = c.Products(cctx)
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
		// The client still works with a live context.
		_, err = c.Product(ctx, agentCode)
		assert.NoError(t, err)
	})

	t.Run("user without administrator rights", func(t *testing.T) {
		// Samba's registry lets any authenticated user read HKLM (Windows
		// keeps \pipe\winreg to administrators and a few service accounts
		// by the SecurePipeServers\winreg ACL); and its service manager
		// refuses the user Remote Registry's start rights, which Open
		// tolerates when it need not start the service.
		us := p.session(t, false)
		c, err := winreg.Open(ctx, "reg1", us.Pipes(), winreg.Config{})
		require.NoError(t, err)
		defer func() { assert.NoError(t, c.Close()) }()
		assert.Equal(t, winreg.ServiceNotChecked, c.ServiceAction())
		pr, err := c.Product(ctx, agentCode)
		require.NoError(t, err)
		assert.Equal(t, "Collector Agent", pr.DisplayName)
	})
}
