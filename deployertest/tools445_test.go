package deployertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/internal/rpc"
	"github.com/nxdeploy/deployer/deployertest/lab"
)

// impacketExamples is where Debian's python3-impacket keeps its example tools.
const impacketExamples = "/usr/share/doc/python3-impacket/examples"

// TestImpacketExampleTools runs impacket's example tools, which dial port 445
// only, against an emulated host serving port 445 inside a network namespace,
// as an operator points them at a Windows host.
func TestImpacketExampleTools(t *testing.T) {
	lab.Require(t, "impacket", "root", "netns")
	n := lab.NewNet(t)
	lh := n.AddHost(t, "win")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ln, err := lh.Listen(ctx, "tcp", lh.Addr.String()+":445")
	require.NoError(t, err)
	h := Start(t, WithListener(ln), WithHostname("WINTOOLS"), WithWindows(Windows10),
		WithUsers(User{Name: "operator", Password: "Op-Passw0rd!"}))
	target := h.User + ":" + h.Password + "@" + lh.Addr.String()
	tool := func(t *testing.T, script string, args ...string) string {
		t.Helper()
		cmd := n.Command(ctx, "/usr/bin/python3", append([]string{filepath.Join(impacketExamples, script)}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s: %s", script, out)
		return string(out)
	}
	script := filepath.Join(t.TempDir(), "smbclient.txt")
	require.NoError(t, os.WriteFile(script, []byte("info\nwho\n"), 0o644))
	wkssvc := func(t *testing.T) string {
		t.Helper()
		out, err := n.Command(ctx, "/usr/bin/python3", "-c", `
import sys
from impacket.dcerpc.v5 import transport, wkst
t = transport.DCERPCTransportFactory(r'ncacn_np:%s[\pipe\wkssvc]' % sys.argv[1])
t.set_credentials(sys.argv[2], sys.argv[3])
d = t.get_dce_rpc(); d.connect(); d.bind(wkst.MSRPC_UUID_WKST)
r = wkst.hNetrWkstaGetInfo(d, 100)['WkstaInfo']['WkstaInfo100']
print('WKSTA', r['wki100_computername'][:-1], r['wki100_langroup'][:-1], r['wki100_ver_major'], r['wki100_ver_minor'])
`, lh.Addr.String(), h.User, h.Password).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	tests := []struct {
		name string
		run  func(t *testing.T) string
		want []string
	}{
		{"lookupsid.py", func(t *testing.T) string { return tool(t, "lookupsid.py", target, "1100") }, []string{
			"Domain SID is: " + rpc.MachineSID("WINTOOLS"),
			`500: WINTOOLS\Administrator (SidTypeUser)`,
			`501: WINTOOLS\Guest (SidTypeUser)`,
			`513: WINTOOLS\None (SidTypeGroup)`,
			`1001: WINTOOLS\operator (SidTypeUser)`,
		}},
		{"smbclient.py info and who", func(t *testing.T) string {
			return tool(t, "smbclient.py", "-file", script, target)
		}, []string{
			"Version Major: 10", "Server Name: WINTOOLS", `Simultaneous Users: 4294967295`,
			`\\` + lh.ClientAddr.String() + ", user: Administrator",
		}},
		{"wkssvc NetrWkstaGetInfo", wkssvc, []string{"WKSTA WINTOOLS WORKGROUP 10 0"}},
		{"rpcdump.py over the epmapper pipe", func(t *testing.T) string { return tool(t, "rpcdump.py", "-port", "445", target) },
			[]string{"Protocol: [MS-SCMR]", `ncacn_np:\\WINTOOLS[\PIPE\ntsvcs]`, "Protocol: [MS-SRVS]",
				`ncacn_np:\\WINTOOLS[\PIPE\srvsvc]`, `ncacn_np:\\WINTOOLS[\PIPE\lsass]`, `ncacn_np:\\WINTOOLS[\PIPE\wkssvc]`,
				"Received 4 endpoints."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := tt.run(t)
			assert.NotContains(t, out, "[-]", "the tool reported an error")
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}
