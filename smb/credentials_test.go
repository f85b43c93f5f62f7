package smb_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/internal/secrettest"
	"github.com/nxdeploy/deployer/smb"
)

const testSecret = "Sup3r-S3cret!pw"

var testHash = []byte{0x8a, 0x46, 0xc1, 0x11, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}

// TestCredentialsPrintNoSecret: every type of this package that holds a
// password or an NT hash prints neither through json, log/slog (JSON and
// text), fmt (%v %+v %#v %s %q %x %d, alone and inside a struct), gob or
// xml.
func TestCredentialsPrintNoSecret(t *testing.T) {
	secrets := append([]string{testSecret}, secrettest.BytesForms(testHash)...)
	cases := map[string]any{
		"password":             smb.Credentials{User: "admin", Domain: "CORP", Password: testSecret},
		"NT hash":              smb.Credentials{User: "admin", NTHash: testHash},
		"pointer":              &smb.Credentials{User: "admin", Password: testSecret, NTHash: testHash},
		"Kerberos":             smb.Credentials{User: "admin@CORP.TEST", Password: testSecret, Kerberos: &smb.Kerberos{Realm: "CORP.TEST", KDCs: []string{"dc1"}}},
		"Config":               smb.Config{Credentials: smb.Credentials{User: "admin", Password: testSecret, NTHash: testHash}, Port: 445},
		"pointer to a Config":  &smb.Config{Credentials: smb.Credentials{User: "admin", Password: testSecret}},
		"Credentials in a map": map[string]smb.Credentials{"pc1": {User: "admin", Password: testSecret}},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			out := secrettest.AssertHidden(t, v, secrets...)
			assert.Contains(t, out["%v"], "admin", "the account is still shown")
		})
	}
	t.Run("Session", func(t *testing.T) {
		h := deployertest.Start(t)
		cfg := smb.Config{Credentials: smb.Credentials{User: h.User, Password: h.Password}, Port: h.Port, RequestTimeout: 10 * time.Second}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		s, err := smb.Dial(ctx, h.IP, cfg, nil)
		require.NoError(t, err)
		defer s.Close()
		out := secrettest.AssertHidden(t, s, h.Password)
		assert.Contains(t, out["%v"], h.IP)
	})
}

// TestCredentialsEncodings: what the encoders keep of Credentials, and that
// a password in JSON input is still read.
func TestCredentialsEncodings(t *testing.T) {
	c := smb.Credentials{User: "admin", Domain: "CORP", Password: testSecret, NTHash: testHash}
	b, err := json.Marshal(c)
	require.NoError(t, err)
	assert.JSONEq(t, `{"User":"admin","Domain":"CORP","Password":"[REDACTED]","NTHash":"[REDACTED]"}`, string(b))
	var in smb.Credentials
	require.NoError(t, json.Unmarshal([]byte(`{"User":"u","Password":"p"}`), &in))
	assert.Equal(t, smb.Credentials{User: "u", Password: "p"}, in)

	var buf bytes.Buffer
	require.NoError(t, gob.NewEncoder(&buf).Encode(c))
	var back smb.Credentials
	require.NoError(t, gob.NewDecoder(&buf).Decode(&back))
	assert.Equal(t, smb.Credentials{User: "admin", Domain: "CORP"}, back, "gob carries the account, not its secrets")

	assert.Equal(t, `CORP\admin`, fmt.Sprint(c))
	assert.Equal(t, `smb.Credentials{CORP\admin}`, fmt.Sprintf("%#v", c))
	assert.Equal(t, `"CORP\\admin"`, fmt.Sprintf("%q", c))
}
