package discovery_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/internal/secrettest"
)

// TestLDAPSourcePrintsNoSecret: the bind password and the private key of a
// client certificate in TLSConfig never print, through any encoder, from an
// LDAPSource value or pointer.
func TestLDAPSourcePrintsNoSecret(t *testing.T) {
	const pw = "Ld@p-S3cret!pw"
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	src := discovery.LDAPSource{URL: "ldaps://dc1.corp.test", User: "admin@corp.test", Password: pw,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{{PrivateKey: key}}}}
	raw, err := key.Bytes()
	require.NoError(t, err)
	secrets := []string{pw, new(big.Int).SetBytes(raw).String(), keyPEM}
	for name, v := range map[string]any{"value": src, "pointer": &src, "in a slice": []discovery.LDAPSource{src}} {
		t.Run(name, func(t *testing.T) {
			out := secrettest.AssertHidden(t, v, secrets...)
			assert.Contains(t, out["%v"], "admin@corp.test")
			assert.Contains(t, out["json"], `"Password":"[REDACTED]"`)
		})
	}
}
