package deployer_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/laps"
)

// TestDeployerLAPSCredential deploys to emulated hosts with the LAPS
// credential discovery gives them (the default credentials are wrong). The
// host's LSA says which account it is (LsarLookupNames over \pipe\lsarpc
// on the deployment's session): the built-in Administrator installs, under
// its own name or renamed (RID 500 either way, no UAC note); another local
// administrator (RID 1001), whose token Windows filters, is named with its
// RID and its refusal typed laps_account_filtered, at ADMIN$ during the
// connection or at the service's creation after it; a renamed built-in
// Administrator refused at the service's creation keeps the refusal's own
// type. The password appears in no event, log line, or file of the store.
func TestDeployerLAPSCredential(t *testing.T) {
	const secretPw = "L4ps-Secr3t-Pw!"
	filteredAdmin := deployertest.WithUsers(deployertest.User{Name: "WLapsAdmin", Password: secretPw})
	unfilteredOther := deployertest.WithUsers(deployertest.User{Name: "WLapsAdmin", Password: secretPw, Admin: true})
	tests := []struct {
		name      string
		account   string
		opts      []deployertest.Option
		via       deployer.Via
		state     deployer.State
		reason    derrors.Reason
		step      derrors.Step
		message   string
		noMessage string
	}{
		{"built-in Administrator", "", []deployertest.Option{deployertest.WithCredentials("Administrator", secretPw)},
			deployer.ViaAuto, deployer.WithCollector, derrors.NoReason, "", "", "not the built-in Administrator"},
		{"renamed built-in Administrator", "LocalAdm", []deployertest.Option{deployertest.WithCredentials("LocalAdm", secretPw)},
			deployer.ViaAuto, deployer.WithCollector, derrors.NoReason, "", "", "not the built-in Administrator"},
		{"other LAPS account, refused at ADMIN$", "WLapsAdmin", []deployertest.Option{filteredAdmin},
			deployer.ViaAuto, deployer.Failed, derrors.ReasonLAPSAccountFiltered, derrors.StepTreeConnect,
			`LAPS-managed account \"WLapsAdmin\" (RID 1001) is not the built-in Administrator (RID 500): Windows filters`, "unless it was renamed"},
		{"other LAPS account, refused at service creation", "WLapsAdmin", []deployertest.Option{unfilteredOther,
			deployertest.WithServiceCreationRefused()}, deployer.ViaService, deployer.Failed, derrors.ReasonLAPSAccountFiltered,
			derrors.StepCreateService, `(RID 1001) is not the built-in Administrator`, "unless it was renamed"},
		{"renamed built-in Administrator, refused at service creation", "LocalAdm", []deployertest.Option{
			deployertest.WithCredentials("LocalAdm", secretPw), deployertest.WithServiceCreationRefused()},
			deployer.ViaService, deployer.Failed, derrors.NoReason, derrors.StepCreateService, "", "not the built-in Administrator"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := startEmulated(t, hostOpts{win: tc.opts})
			target := h.target()
			target.LAPS = &laps.Credential{Computer: h.Name, Source: laps.Clear, Account: tc.account, Password: laps.NewPassword(secretPw)}
			if tc.account == "" {
				target.LAPS.Source = laps.Legacy
			}
			cc := h.connectConfig()
			cc.SMB.Credentials.User, cc.SMB.Credentials.Password = "nobody", "wrong"
			cc.Via = tc.via
			storePath := filepath.Join(t.TempDir(), "store.jsonl")
			store, err := deployer.OpenFileStore(storePath)
			require.NoError(t, err)
			var events []string
			var logs strings.Builder
			d, err := deployer.New(deployer.Config{Connect: cc, Package: deployer.Package{Path: testPackage}, Store: store,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				OnEvent: func(ev deployer.Event) {
					b, _ := json.Marshal(ev)
					events = append(events, string(b))
				}})
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sum, err := d.Run(ctx, []discovery.Host{target})
			require.NoError(t, err)
			require.NoError(t, d.Close())
			assert.Equal(t, 1, sum.States[tc.state], "%v", sum)
			recs := d.Hosts()
			require.Len(t, recs, 1)
			assert.Contains(t, recs[0].Account, `\`, "a local account, counted per host")
			if tc.state == deployer.Failed {
				require.NotNil(t, recs[0].Error)
				assert.Equal(t, tc.reason, recs[0].Error.Reason, "%+v", recs[0].Error)
				assert.Equal(t, tc.step, recs[0].Error.Step)
			}
			all := strings.Join(events, "\n")
			if tc.message != "" {
				assert.Contains(t, all, tc.message)
			}
			if tc.noMessage != "" {
				assert.NotContains(t, all, tc.noMessage)
			}
			stored, err := os.ReadFile(storePath)
			require.NoError(t, err)
			for what, text := range map[string]string{"events": all, "log": logs.String(), "store": string(stored)} {
				assert.NotContains(t, text, secretPw, "the LAPS password in the %s", what)
			}
			assert.NotEmpty(t, stored)
		})
	}
}
