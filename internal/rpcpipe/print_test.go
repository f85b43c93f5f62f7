package rpcpipe

import (
	"testing"

	"github.com/oiweiwei/go-msrpc/msrpc/rrp/winreg/v1"

	"github.com/nxdeploy/deployer/internal/secrettest"
	"github.com/nxdeploy/deployer/smb"
)

// TestConnPrintsNoSecret: a Conn (whose configuration holds the sealed
// bind's credentials) and its Config print no password.
func TestConnPrintsNoSecret(t *testing.T) {
	const pw = "Rpc-S3cret!pw"
	cfg := Config{Host: "pc1", Seal: true, Credentials: smb.Credentials{User: "admin", Password: pw}}
	secrettest.AssertHidden(t, &Conn[winreg.WinregClient]{cfg: cfg}, pw)
	secrettest.AssertHidden(t, cfg, pw)
}
