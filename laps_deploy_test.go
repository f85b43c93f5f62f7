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
// credential discovery gives them (the default credentials are wrong): the
// built-in Administrator installs; a LAPS account that is not the built-in
// Administrator is named as filtered by UAC before the logon and its
// refusal typed laps_account_filtered. The password appears in no event,
// log line, or file of the store.
func TestDeployerLAPSCredential(t *testing.T) {
	const secretPw = "L4ps-Secr3t-Pw!"
	tests := []struct {
		name    string
		account string
		opts    []deployertest.Option
		state   deployer.State
		reason  derrors.Reason
		message string
	}{
		{"built-in Administrator", "", []deployertest.Option{deployertest.WithCredentials("Administrator", secretPw)},
			deployer.WithCollector, derrors.NoReason, ""},
		{"other LAPS account", "WLapsAdmin", []deployertest.Option{deployertest.WithCredentials("WLapsAdmin", secretPw),
			deployertest.WithUACRemoteRestrictions()}, deployer.Failed, derrors.ReasonLAPSAccountFiltered,
			"is not the built-in Administrator (RID 500)"},
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
			if tc.reason != derrors.NoReason {
				require.NotNil(t, recs[0].Error)
				assert.Equal(t, tc.reason, recs[0].Error.Reason)
			}
			all := strings.Join(events, "\n")
			if tc.message != "" {
				assert.Contains(t, all, tc.message)
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
