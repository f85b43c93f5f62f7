package lab

import (
	"context"
	"crypto/rand"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// smbclientResult is what one smbclient run printed and whether it exited 0.
type smbclientResult struct {
	out string
	ok  bool
}

// smbclient runs smbclient in n's client namespace.
func smbclient(t *testing.T, n *Net, user, password string, args ...string) smbclientResult {
	t.Helper()
	out, err := n.Smbclient(context.Background(), user, password, args...).CombinedOutput()
	return smbclientResult{out: string(out), ok: err == nil}
}

// putAndVerify uploads size random bytes to ADMIN$ with smbclient (extra args first) and checks the file that
// lands in AdminShareDir byte for byte. smbclient exits 0 even when put fails, so its output is what counts.
func putAndVerify(t *testing.T, s *Samba, size int, extra ...string) {
	t.Helper()
	payload := make([]byte, size)
	_, err := rand.Read(payload)
	require.NoError(t, err)
	src := filepath.Join(t.TempDir(), "payload.bin")
	require.NoError(t, os.WriteFile(src, payload, 0o644))
	args := append(append([]string{}, extra...), "//"+s.Addr.String()+"/ADMIN$", "-c", "put "+src+" payload.bin")
	r := smbclient(t, s.Host.Net(), s.AdminUser, s.AdminPassword, args...)
	require.True(t, r.ok, "%s", r.out)
	require.Contains(t, r.out, "putting file "+src+" as \\payload.bin")
	require.NotContains(t, r.out, "NT_STATUS_")
	got, err := os.ReadFile(filepath.Join(s.AdminShareDir, "payload.bin"))
	require.NoError(t, err)
	require.Equal(t, len(payload), len(got))
	require.True(t, string(payload) == string(got), "uploaded bytes differ")
}

var (
	adminShareLine = regexp.MustCompile(`(?m)^\s+ADMIN\$\s+Disk\s`)
	ipcShareLine   = regexp.MustCompile(`(?m)^\s+IPC\$\s+IPC\s`)
)

func TestSamba(t *testing.T) {
	t.Parallel()
	Require(t, "root", "netns", "smbd", "smbclient")
	n := NewNet(t)

	t.Run("default", func(t *testing.T) {
		t.Parallel()
		s := n.AddHost(t, "default").StartSamba(t, SambaOptions{})
		unc := "//" + s.Addr.String()
		tests := []struct {
			name, user, password string
			args                 []string
			wantOK               bool
			wantOut              []string
			wantShares           bool
		}{
			{name: "admin lists shares", user: s.AdminUser, password: s.AdminPassword, args: []string{"-L", unc},
				wantOK: true, wantShares: true},
			{name: "user lists shares", user: s.User, password: s.Password, args: []string{"-L", unc},
				wantOK: true, wantShares: true},
			{name: "wrong password", user: s.AdminUser, password: s.AdminPassword + "x", args: []string{"-L", unc},
				wantOut: []string{"NT_STATUS_LOGON_FAILURE"}},
			{name: "unknown user", user: "nosuchuser", password: "whatever", args: []string{"-L", unc},
				wantOut: []string{"NT_STATUS_LOGON_FAILURE"}},
			{name: "admin reads ADMIN$", user: s.AdminUser, password: s.AdminPassword,
				args: []string{unc + "/ADMIN$", "-c", "ls"}, wantOK: true, wantOut: []string{"blocks available"}},
			{name: "user denied ADMIN$", user: s.User, password: s.Password,
				args: []string{unc + "/ADMIN$", "-c", "ls"}, wantOut: []string{"NT_STATUS_ACCESS_DENIED"}},
			{name: "user connects IPC$", user: s.User, password: s.Password,
				args: []string{unc + "/IPC$", "-c", "exit"}, wantOK: true},
			{name: "missing share", user: s.AdminUser, password: s.AdminPassword,
				args: []string{unc + "/C$", "-c", "ls"}, wantOut: []string{"NT_STATUS_BAD_NETWORK_NAME"}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := smbclient(t, n, tc.user, tc.password, tc.args...)
				assert.Equal(t, tc.wantOK, r.ok, "%s", r.out)
				for _, w := range tc.wantOut {
					assert.Contains(t, r.out, w)
				}
				if tc.wantShares {
					assert.Regexp(t, adminShareLine, r.out)
					assert.Regexp(t, ipcShareLine, r.out)
				}
			})
		}
		t.Run("put 5 MiB byte for byte", func(t *testing.T) {
			putAndVerify(t, s, 5<<20)
		})
		t.Run("svcctl admin token via net rpc", func(t *testing.T) {
			Require(t, "net")
			netRPC := func(user, password string, args ...string) smbclientResult {
				args = append(append([]string{"--configfile=/dev/null", "rpc", "service"}, args...),
					"-S", s.Addr.String(), "-U", user)
				cmd := n.Command(context.Background(), "net", args...)
				cmd.Env = append(os.Environ(), "PASSWD="+password)
				out, err := cmd.CombinedOutput()
				return smbclientResult{out: string(out), ok: err == nil}
			}
			r := netRPC(s.AdminUser, s.AdminPassword, "status", "Spooler")
			require.True(t, r.ok, "%s", r.out)
			assert.Contains(t, r.out, "Display Name         = Print Spooler")
			// OpenSCManager(SC_MANAGER_CREATE_SERVICE) passes for the admin; Samba 4.17 then lacks CreateServiceW.
			r = netRPC(s.AdminUser, s.AdminPassword, "create", "dltest", "dltest", `C:\x.exe`)
			assert.Contains(t, r.out, "Create service request failed.  [NT_STATUS_RPC_PROCNUM_OUT_OF_RANGE]")
			r = netRPC(s.User, s.Password, "create", "dltest", "dltest", `C:\x.exe`)
			assert.Contains(t, r.out, "Failed to open Service Control Manager. [WERR_ACCESS_DENIED]")
		})
		t.Run("impacket sees no guest flag", func(t *testing.T) {
			Require(t, "impacket")
			cmd := n.Command(context.Background(), systemPython, "-c", impacketGuestProbe, s.Addr.String(), s.User)
			cmd.Env = append(os.Environ(), "PASSWD="+s.Password)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Equal(t, "user", strings.TrimSpace(string(out)))
		})
		t.Run("password never in argv", func(t *testing.T) {
			cmd := n.Smbclient(context.Background(), s.AdminUser, s.AdminPassword, "-L", unc)
			assert.NotContains(t, strings.Join(cmd.Args, " "), s.AdminPassword)
		})
	})

	t.Run("deny admin share", func(t *testing.T) {
		t.Parallel()
		s := n.AddHost(t, "deny").StartSamba(t, SambaOptions{DenyAdminShare: true})
		unc := "//" + s.Addr.String()
		r := smbclient(t, n, s.AdminUser, s.AdminPassword, unc+"/IPC$", "-c", "exit")
		require.True(t, r.ok, "logon and IPC$ work: %s", r.out)
		r = smbclient(t, n, s.AdminUser, s.AdminPassword, unc+"/ADMIN$", "-c", "ls")
		assert.False(t, r.ok)
		assert.Contains(t, r.out, "tree connect failed: NT_STATUS_ACCESS_DENIED")
	})

	t.Run("no admin share", func(t *testing.T) {
		t.Parallel()
		s := n.AddHost(t, "noadmin").StartSamba(t, SambaOptions{NoAdminShare: true})
		unc := "//" + s.Addr.String()
		r := smbclient(t, n, s.AdminUser, s.AdminPassword, "-L", unc)
		require.True(t, r.ok, "%s", r.out)
		assert.NotRegexp(t, adminShareLine, r.out)
		assert.Regexp(t, ipcShareLine, r.out)
		r = smbclient(t, n, s.AdminUser, s.AdminPassword, unc+"/ADMIN$", "-c", "ls")
		assert.False(t, r.ok)
		assert.Contains(t, r.out, "tree connect failed: NT_STATUS_BAD_NETWORK_NAME")
	})

	t.Run("guest only", func(t *testing.T) {
		t.Parallel()
		s := n.AddHost(t, "guest").StartSamba(t, SambaOptions{GuestOnly: true})
		unc := "//" + s.Addr.String()
		// Any credentials are accepted (mapped to guest); smbclient does not print the session's guest flag.
		for _, cred := range [][2]string{{s.AdminUser, s.AdminPassword}, {s.User, s.Password}, {"anyone", "x"}} {
			r := smbclient(t, n, cred[0], cred[1], unc+"/IPC$", "-c", "exit")
			assert.True(t, r.ok, "%s: %s", cred[0], r.out)
		}
		r := smbclient(t, n, s.AdminUser, s.AdminPassword, unc+"/ADMIN$", "-c", "ls")
		assert.Contains(t, r.out, "NT_STATUS_ACCESS_DENIED", "guest gets no ADMIN$")

		t.Run("impacket sees SMB2_SESSION_FLAG_IS_GUEST", func(t *testing.T) {
			Require(t, "impacket")
			for _, cred := range [][2]string{{s.AdminUser, s.AdminPassword}, {"anyone", "x"}} {
				cmd := n.Command(context.Background(), systemPython, "-c", impacketGuestProbe, s.Addr.String(), cred[0])
				cmd.Env = append(os.Environ(), "PASSWD="+cred[1])
				out, err := cmd.CombinedOutput()
				require.NoError(t, err, "%s", out)
				assert.Equal(t, "guest", strings.TrimSpace(string(out)))
			}
		})
	})

	t.Run("signing encryption SMB3.1.1", func(t *testing.T) {
		t.Parallel()
		h := n.AddHost(t, "hardened")
		extra := h.AddAddrs(t, 2)
		s := h.StartSamba(t, SambaOptions{
			SigningMandatory: true, EncryptionRequired: true, MinSMB311: true, Addrs: extra,
		})
		assert.Equal(t, append([]netip.Addr{h.Addr}, extra...), s.Addrs)
		putAndVerify(t, s, 5<<20, "--client-protection=encrypt")
		for _, a := range extra {
			r := smbclient(t, n, s.AdminUser, s.AdminPassword, "//"+a.String()+"/IPC$", "--client-protection=encrypt",
				"-c", "exit")
			assert.True(t, r.ok, "extra address %s: %s", a, r.out)
		}
		r := smbclient(t, n, s.AdminUser, s.AdminPassword, "//"+s.Addr.String()+"/IPC$", "-m", "SMB3_02", "-c", "exit")
		assert.False(t, r.ok, "SMB 3.0.2 must be refused: %s", r.out)
		t.Logf("smbclient -m SMB3_02 against min SMB3_11: %s", strings.TrimSpace(r.out))
	})
}

// impacketGuestProbe logs on with impacket (argv: address, user; password in $PASSWD) and prints "guest" or
// "user" from the session setup response's flags.
const impacketGuestProbe = `
import os, sys
from impacket.smbconnection import SMBConnection
c = SMBConnection(sys.argv[1], sys.argv[1], timeout=10)
c.login(sys.argv[2], os.environ["PASSWD"])
print("guest" if c.isGuestSession() else "user")
c.logoff()
`
