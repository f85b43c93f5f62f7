package rpc

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"

	"github.com/nxdeploy/deployer/deployertest/internal/pipe"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testProgram never reports RUNNING for the service "hang" and otherwise
// runs an installer that takes until it is stopped.
func testProgram() scm.Program {
	inst := scm.Installer(scm.InstallerOptions{Duration: 0})
	return func(ctx context.Context, run *scm.Run) (uint32, bool) {
		switch run.Service {
		case "hang":
			<-ctx.Done()
			return 0, false
		case "nxsvc":
			run.ReportRunning()
			<-ctx.Done()
			return 1602, true
		}
		return inst(ctx, run)
	}
}

func TestImpacketSCMR(t *testing.T) {
	py := impacketPython(t)
	for _, frag := range []int{0, 64} {
		t.Run("frag="+strconv.Itoa(frag), func(t *testing.T) {
			cfg := Config{}
			if frag > 0 {
				cfg.MaxFrag = 1432
			}
			admin := startHost(t, scm.Options{Program: testProgram()}, cfg)
			admin.writeExe(t, "NX/Svc.exe")
			user := startHost(t, scm.Options{}, Config{TCPCaller: &pipe.Caller{User: "bob"}})
			out, err := exec.Command(py, "testdata/impacket_scmr.py", strconv.Itoa(admin.addr.Port),
				strconv.Itoa(user.addr.Port), strconv.Itoa(frag)).CombinedOutput()
			require.NoError(t, err, string(out))
			var res map[string]any
			require.NoError(t, json.Unmarshal(out, &res), string(out))
			num := func(v uint32) any { return float64(v) }
			want := map[string]any{
				"exists":          num(1073),
				"does_not_exist":  num(1060),
				"start":           num(0),
				"already_running": num(1056),
				"running_state":   num(scm.StateRunning),
				"stop":            num(0),
				"stopped_exit":    []any{num(scm.StateStopped), num(1066), num(1602)},
				"not_active":      num(1062),
				"delete":          num(0),
				"delete_again":    num(1072),
				"open_marked":     num(1072),
				"open_deleted":    num(1060),
				"timeout":         num(1053),
				"quarantined":     num(2),
				"disabled":        num(1058),
				"user_all_access": num(5),
				"user_connect":    num(0),
				"unknown_opnum":   "nca_s_op_rng_error", // impacket names the fault 0x1c010002
				"shares":          []any{"ADMIN$", "C$", "IPC$"},
				"enum":            []any{"LanmanServer", "Spooler", "gone", "hang", "off"},
			}
			for k, v := range want {
				assert.Equal(t, v, res[k], k)
			}
			assert.Equal(t, num(scm.StateRunning), res["ndr64"], "NDR64 bind and calls (Spooler runs, as on Windows)")
			assert.Contains(t, res["config_path"], `C:\Windows\nx\svc.exe --log`)
			if frag > 0 {
				// Requests cut by impacket into 64-byte fragments, responses
				// by the server into 1432-byte ones.
				assert.LessOrEqual(t, admin.maxInFragment.Load(), int64(frag+24))
				assert.LessOrEqual(t, admin.maxFragment.Load(), int64(1432))
			} else {
				assert.Greater(t, admin.maxFragment.Load(), int64(1432))
			}
		})
	}
}
