package krbauth

import (
	"testing"

	"github.com/oiweiwei/go-msrpc/ssp/credential"
	"github.com/stretchr/testify/assert"

	"github.com/nxdeploy/deployer/internal/secrettest"
)

// TestAccountPrintsNoSecret: an Account, a Setup holding one and a
// Mechanism holding a credential print no password or NT hash.
func TestAccountPrintsNoSecret(t *testing.T) {
	const pw = "Krb-S3cret!pw"
	hash := []byte{0xaa, 0xd3, 0xb4, 0x35, 0xb5, 0x14, 0x04, 0xee, 0xaa, 0xd3, 0xb4, 0x35, 0xb5, 0x14, 0x04, 0xee}
	secrets := append([]string{pw}, secrettest.BytesForms(hash)...)
	acct := Account{User: "admin", Realm: "CORP.TEST", Password: pw, NTHash: hash}
	for name, v := range map[string]any{
		"Account":   acct,
		"Setup":     Setup{Account: acct, KDCs: []string{"dc1"}},
		"Mechanism": &Mechanism{Credential: credential.NewFromPassword("admin@CORP.TEST", pw), SPN: "cifs/pc1.corp.test"},
	} {
		t.Run(name, func(t *testing.T) {
			out := secrettest.AssertHidden(t, v, secrets...)
			assert.NotEmpty(t, out["%v"])
		})
	}
}
