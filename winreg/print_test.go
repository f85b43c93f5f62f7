package winreg

import (
	"testing"

	"github.com/nxdeploy/deployer/internal/secrettest"
	"github.com/nxdeploy/deployer/smb"
)

// TestClientPrintsNoSecret: a Client and its Config print no password.
func TestClientPrintsNoSecret(t *testing.T) {
	const pw = "Reg-S3cret!pw"
	cfg := Config{Credentials: smb.Credentials{User: "admin", Password: pw}}
	secrettest.AssertHidden(t, &Client{host: "pc1", cfg: cfg}, pw)
	secrettest.AssertHidden(t, cfg, pw)
}
