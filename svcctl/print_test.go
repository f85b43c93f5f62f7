package svcctl_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nxdeploy/deployer/internal/secrettest"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// TestConfigAndClientPrintNoSecret: svcctl's configuration and client
// print no password or NT hash through any encoder.
func TestConfigAndClientPrintNoSecret(t *testing.T) {
	const pw = "Svc-S3cret!pw"
	hash := []byte{0x31, 0xd6, 0xcf, 0xe0, 0xd1, 0x6a, 0xe9, 0x31, 0xb7, 0x3c, 0x59, 0xd7, 0xe0, 0xc0, 0x89, 0xc0}
	secrets := append([]string{pw}, secrettest.BytesForms(hash)...)
	for name, v := range map[string]any{
		"Config":            svcctl.Config{Credentials: smb.Credentials{User: "admin", Password: pw, NTHash: hash}, Port: 445},
		"pointer to Config": &svcctl.Config{Credentials: smb.Credentials{User: "admin", Password: pw}},
	} {
		t.Run(name, func(t *testing.T) { secrettest.AssertHidden(t, v, secrets...) })
	}
	t.Run("Client", func(t *testing.T) {
		p := startWinhost(t)
		cfg := p.config(true)
		c := p.dial(t, cfg)
		out := secrettest.AssertHidden(t, c, p.h.Password)
		assert.Contains(t, out["%v"], p.h.IP)
	})
}
