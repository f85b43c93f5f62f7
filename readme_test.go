package deployer_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	derrors "github.com/nxdeploy/deployer/errors"
)

// TestREADMEShowsTheErrorTableAsImplemented keeps the README's table honest:
// every kind and reason appears with the exact texts the errors package
// returns.
func TestREADMEShowsTheErrorTableAsImplemented(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	require.NoError(t, err)
	readme := strings.ReplaceAll(string(raw), `\|`, "|")
	for _, k := range derrors.Kinds() {
		assert.Contains(t, readme, "| "+k.Type().String()+" | "+k.Message(), "row of %v", k)
		assert.Contains(t, readme, k.Cause(), "cause of %v", k)
		assert.Contains(t, readme, k.Solution(), "solution of %v", k)
	}
	for _, r := range derrors.Reasons() {
		assert.Contains(t, readme, r.String()+": "+r.Cause(), "cause of %v", r)
		assert.Contains(t, readme, r.Solution(), "solution of %v", r)
	}
	for _, cmd := range []string{"go run ./examples/deploy -demo", "./scripts/test.sh"} {
		assert.Contains(t, readme, "\n"+cmd+"\n", "the README's set-up command %q", cmd)
	}
	ci, err := os.ReadFile(".ci/run")
	require.NoError(t, err)
	assert.Contains(t, string(ci), "./scripts/test.sh", "CI runs the README's test command")
}
