package demofleet

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
)

func TestMSIIsTheTestPackage(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "..", "..", "msi", "testdata", "ok.msi"))
	require.NoError(t, err)
	assert.Equal(t, want, MSI, "ok.msi is a copy of msi/testdata/ok.msi")
}

func TestConfigure(t *testing.T) {
	f := &demo.Fleet{Port: 4455}
	var cfg deployer.Config
	Configure(&cfg, f)
	assert.Equal(t, 4455, cfg.Connect.SMB.Port)
	assert.Equal(t, time.Minute, cfg.HostTimeout)
	cfg = deployer.Config{HostTimeout: 5 * time.Second}
	Configure(&cfg, f)
	assert.Equal(t, 5*time.Second, cfg.HostTimeout, "a host timeout already set is kept")
}
