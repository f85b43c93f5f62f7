package rpc_test

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestThirdPartyClientsOverSMB drives the Opener through the emulated
// host's SMB2 server (ncacn_np) with Samba's smbclient and net rpc, and
// impacket.
func TestThirdPartyClientsOverSMB(t *testing.T) {
	lab.Require(t, "smbclient", "net", "impacket")
	h, err := deployertest.New(deployertest.WithStartTimeout(time.Second), deployertest.WithHostname("WINHOST1"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	port := strconv.Itoa(h.Port)
	cred := h.User + "%" + h.Password
	run := func(t *testing.T, name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		require.NoError(t, err, string(out))
		return string(out)
	}
	netRPC := func(t *testing.T, args ...string) string {
		t.Helper()
		return run(t, "net", append(append([]string{"rpc", "service"}, args...), "-S", "127.0.0.1", "-p", port, "-U", cred)...)
	}
	steps := []struct {
		name string
		do   func(t *testing.T) string
		want []string
	}{
		{"smbclient -L", func(t *testing.T) string {
			return run(t, "smbclient", "-L", "//127.0.0.1", "-p", port, "-U", cred)
		}, []string{"ADMIN$          Disk      Remote Admin", "IPC$            IPC       Remote IPC"}},
		{"net rpc service list", func(t *testing.T) string { return netRPC(t, "list") },
			[]string{`LanmanServer            "Server"`, `Spooler                 "Print Spooler"`}},
		{"net rpc service status", func(t *testing.T) string { return netRPC(t, "status", "Spooler") },
			[]string{"Spooler service is running.", `Executable Path      = %SystemRoot%\System32\spoolsv.exe`}},
		{"net rpc service stop", func(t *testing.T) string { return netRPC(t, "stop", "Spooler") },
			[]string{"Spooler service is stopped."}},
		{"net rpc service start", func(t *testing.T) string { return netRPC(t, "start", "Spooler") },
			[]string{"Successfully started service: Spooler"}},
		{"net rpc service create", func(t *testing.T) string {
			return netRPC(t, "create", "nxtest", "nx test", `C:\Windows\x.exe`)
		}, []string{"Successfully created Service: nxtest"}},
		{"net rpc service delete", func(t *testing.T) string { return netRPC(t, "delete", "nxtest") },
			[]string{"Successfully deleted Service: nxtest"}},
		{"impacket listShares and svcctl over ncacn_np", func(t *testing.T) string {
			return run(t, "/usr/bin/python3", "-c", `
import sys
from impacket.smbconnection import SMBConnection
from impacket.dcerpc.v5 import transport, scmr
port = int(sys.argv[1])
c = SMBConnection('127.0.0.1', '127.0.0.1', sess_port=port)
c.login(sys.argv[2], sys.argv[3])
print('shares', [s['shi1_netname'][:-1] for s in c.listShares()])
t = transport.SMBTransport('127.0.0.1', port, r'\svcctl', smb_connection=c)
d = t.get_dce_rpc(); d.connect(); d.bind(scmr.MSRPC_UUID_SCMR)
h = scmr.hROpenSCManagerW(d)['lpScHandle']
print('services', sorted(s['lpServiceName'][:-1] for s in scmr.hREnumServicesStatusW(d, h)))
`, port, h.User, h.Password)
		}, []string{"shares ['ADMIN$', 'C$', 'IPC$']", "services ['LanmanServer', 'RemoteRegistry', 'Spooler']"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out := s.do(t)
			for _, w := range s.want {
				assert.Contains(t, out, w)
			}
		})
	}
	_, ok := h.Service("nxtest")
	assert.False(t, ok)
}
