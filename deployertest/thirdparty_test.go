package deployertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	smb2 "github.com/oiweiwei/go-smb2.fork"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/internal/remotesvc"
)

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestSmbclientListShares(t *testing.T) {
	lab.Require(t, "smbclient")
	cases := []struct {
		name string
		opts []Option
		args []string
		want []string
		not  []string
	}{
		{name: "default", want: []string{"ADMIN$", "C$", "IPC$", "Remote Admin"}},
		{name: "SMB2_02", args: []string{"-m", "SMB2_02"}, want: []string{"ADMIN$", "C$", "IPC$"}},
		{name: "encryption required", opts: []Option{WithEncryptionRequired()}, want: []string{"ADMIN$", "IPC$"}},
		{name: "signing required", opts: []Option{WithSigningRequired()}, args: []string{"--client-protection=sign"}, want: []string{"ADMIN$"}},
		{name: "ADMIN$ missing", opts: []Option{WithoutAdminShare()}, want: []string{"C$", "IPC$"}, not: []string{"ADMIN$"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := Start(t, tc.opts...)
			args := append([]string{"-L", "//" + h.IP, "-p", strconv.Itoa(h.Port), "-U", h.User + "%" + h.Password}, tc.args...)
			out, err := run(t, "smbclient", args...)
			require.NoError(t, err, out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			for _, n := range tc.not {
				assert.NotContains(t, out, n)
			}
		})
	}
}

func TestSmbclientWrongPasswordOnHost(t *testing.T) {
	lab.Require(t, "smbclient")
	h := Start(t)
	out, err := run(t, "smbclient", "//"+h.IP+"/ADMIN$", "-p", strconv.Itoa(h.Port), "-U", h.User+"%wrong", "-c", "ls")
	require.Error(t, err)
	assert.Contains(t, out, "NT_STATUS_LOGON_FAILURE")
}

func TestGoSMB2ListSharenames(t *testing.T) {
	h := Start(t, WithSigningRequired())
	s, err := logon(t, h.Addr, h.User, h.Password, smb2.Negotiator{RequireMessageSigning: true})
	require.NoError(t, err)
	names, err := s.ListSharenames()
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"ADMIN$", "C$", "IPC$"}, names)
}

// impacketSCMR uploads a service binary, lists shares, and drives a service
// through create, start, query, stop and delete over \pipe\svcctl.
const impacketSCMR = `
import sys
from impacket.smbconnection import SMBConnection
from impacket.dcerpc.v5 import transport, scmr
from impacket.smb3structs import SMB2_DIALECT_21, SMB2_DIALECT_30
host, port, user, pw, dialect, binary = sys.argv[1:7]
pref = {"210": SMB2_DIALECT_21, "300": SMB2_DIALECT_30, "": None}[dialect]
c = SMBConnection(host, host, sess_port=int(port), preferredDialect=pref, timeout=30)
c.login(user, pw)
print("SHARES", " ".join(sorted(s["shi1_netname"][:-1] for s in c.listShares())))
import io
c.putFile("ADMIN$", "Temp\\nxsvc.exe", open(binary, "rb").read)
c.putFile("ADMIN$", "Temp\\stub.exe", io.BytesIO(b"MZ fake service").read)
rpc = transport.SMBTransport(host, int(port), filename=r"\svcctl", smb_connection=c)
dce = rpc.get_dce_rpc()
dce.connect()
dce.bind(scmr.MSRPC_UUID_SCMR)
scm = scmr.hROpenSCManagerW(dce)["lpScHandle"]
svc = scmr.hRCreateServiceW(dce, scm, "nxsvc\x00", "nxsvc\x00", lpBinaryPathName="C:\\Windows\\Temp\\nxsvc.exe --msi x.msi\x00")["lpServiceHandle"]
stub = scmr.hRCreateServiceW(dce, scm, "stub\x00", "stub\x00", lpBinaryPathName="C:\\Windows\\Temp\\stub.exe\x00")["lpServiceHandle"]
try:
    scmr.hRStartServiceW(dce, stub)
except Exception as e:
    print("STUB", e)
scmr.hRDeleteService(dce, stub)
scmr.hRCloseServiceHandle(dce, stub)
scmr.hRStartServiceW(dce, svc)
st = scmr.hRQueryServiceStatus(dce, svc)["lpServiceStatus"]
print("STATE", st["dwCurrentState"])
try:
    scmr.hRControlService(dce, svc, scmr.SERVICE_CONTROL_STOP)
except Exception as e:
    print("STOP", e)
scmr.hRDeleteService(dce, svc)
scmr.hRCloseServiceHandle(dce, svc)
try:
    scmr.hROpenServiceW(dce, scm, "nxsvc\x00")
except Exception as e:
    print("REOPEN", e)
print("OK")
`

func TestImpacketSharesAndSCMR(t *testing.T) {
	lab.Require(t, "impacket")
	cases := []struct {
		name    string
		dialect string
		opts    []Option
	}{
		{name: "SMB 3.0 (encrypted by impacket)", dialect: "300"},
		{name: "SMB 2.1 signed", dialect: "210", opts: []Option{WithSigningRequired()}},
		{name: "default negotiation", dialect: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := Start(t, tc.opts...)
			out, err := run(t, "/usr/bin/python3", "-c", impacketSCMR, h.IP, strconv.Itoa(h.Port), h.User, h.Password, tc.dialect, nxsvcFile(t))
			require.NoError(t, err, out)
			assert.Contains(t, out, "ERROR_BAD_EXE_FORMAT", "a two-byte MZ stub is not a valid Win32 application")
			assert.Contains(t, out, "SHARES ADMIN$ C$ IPC$")
			assert.Contains(t, out, "OK")
			assert.Contains(t, out, "ERROR_SERVICE_DOES_NOT_EXIST", out)
			_, err = os.Stat(filepath.Join(h.AdminDir, "Temp", "nxsvc.exe"))
			require.NoError(t, err)
			_, exists := h.scm.Service("nxsvc")
			assert.False(t, exists, "service still in the database")
			assert.True(t, strings.Contains(out, "STATE "), out)
		})
	}
}

func TestImpacketUACDeniesSCM(t *testing.T) {
	lab.Require(t, "impacket")
	h := Start(t, WithUACRemoteRestrictions())
	out, err := run(t, "/usr/bin/python3", "-c", impacketSCMR, h.IP, strconv.Itoa(h.Port), h.User, h.Password, "210", nxsvcFile(t))
	require.Error(t, err, out)
	assert.Contains(t, out, "STATUS_ACCESS_DENIED")
}

func TestNetRPCServiceList(t *testing.T) {
	lab.Require(t, "net")
	h := Start(t)
	out, err := run(t, "net", "rpc", "service", "list", "-S", h.IP, "-p", strconv.Itoa(h.Port), "-U", h.User+"%"+h.Password)
	require.NoError(t, err, out)
	require.NotEmpty(t, h.scm.Services())
	for _, svc := range h.scm.Services() {
		assert.Contains(t, out, svc.Name)
	}
}

// nxsvcFile writes the deployer's amd64 service binary to a temporary file.
func nxsvcFile(t *testing.T) string {
	t.Helper()
	b, err := remotesvc.Binary("amd64")
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "nxsvc.exe")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}
