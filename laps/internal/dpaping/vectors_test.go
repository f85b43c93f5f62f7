package dpaping

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vectorDir holds blobs Windows produced with NCryptProtectSecret and the
// KDS root keys that protect them, from the test data of the dpapi-ng Python
// library (see its README.md there for the source, commit and licence).
const vectorDir = "../../testdata/dpapi-ng"

type rootKeyVector struct {
	Version                   int
	RootKeyID                 string `json:"RootKeyId"`
	KdfAlgorithm              string
	KdfParameters             string
	SecretAgreementAlgorithm  string
	SecretAgreementParameters string
	PrivateKeyLength          uint32
	PublicKeyLength           uint32
	RootKeyData               string
	Data                      string
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func loadVector(t testing.TB, name string) (*RootKey, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectorDir, name))
	require.NoError(t, err)
	var v rootKeyVector
	require.NoError(t, json.Unmarshal(raw, &v))
	id, err := ParseGUID(v.RootKeyID)
	require.NoError(t, err)
	return &RootKey{
		ID: id, Data: unhex(t, v.RootKeyData), KDFAlgorithm: v.KdfAlgorithm,
		KDFParameters: unhex(t, v.KdfParameters), SecretAlgorithm: v.SecretAgreementAlgorithm,
		SecretParameters: unhex(t, v.SecretAgreementParameters),
		PrivateKeyBits:   v.PrivateKeyLength, PublicKeyBits: v.PublicKeyLength,
	}, unhex(t, v.Data)
}

// TestWindowsBlobs decrypts the 16 Windows-made blobs (4 KDF hashes ×
// symmetric key, DH, ECDH P-256 and ECDH P-384) to the byte they protect:
// the blob parser, the target security descriptor (it feeds the L1 key),
// the group key derivation, both key agreements, key unwrap and AES-GCM
// must all be right for one to open.
func TestWindowsBlobs(t *testing.T) {
	matches, err := filepath.Glob(filepath.Join(vectorDir, "kdf_*.json"))
	require.NoError(t, err)
	require.Len(t, matches, 16)
	for _, m := range matches {
		name := filepath.Base(m)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			rk, data := loadVector(t, name)
			blob, err := ParseBlob(data)
			require.NoError(t, err)
			assert.Equal(t, !strings.Contains(name, "nonce"), blob.KeyID.PublicKey())
			assert.Equal(t, rk.ID, blob.KeyID.RootKeyID)
			sd, err := TargetSD(blob.SID)
			require.NoError(t, err)
			g, err := rk.GroupKey(sd, blob.KeyID.L0, blob.KeyID.L1, blob.KeyID.L2)
			require.NoError(t, err)
			kek, err := g.KEK(blob.KeyID)
			require.NoError(t, err)
			plain, err := blob.Decrypt(kek)
			require.NoError(t, err)
			assert.Equal(t, []byte{0}, plain)

			// The envelope round-trips, and a newer envelope (as a DC
			// answers for the current time) derives the same key.
			g2, err := ParseGroupKey(g.Marshal())
			require.NoError(t, err)
			assert.Equal(t, g, g2)
			if blob.KeyID.L2 < 31 && blob.KeyID.L1 < 31 {
				newer, err := rk.GroupKey(sd, blob.KeyID.L0, blob.KeyID.L1+1, 5)
				require.NoError(t, err)
				kek2, err := newer.KEK(blob.KeyID)
				require.NoError(t, err)
				assert.Equal(t, kek, kek2)
			}
			// Another SID's security descriptor gives another key.
			other, err := TargetSD("S-1-5-32-544")
			require.NoError(t, err)
			g3, err := rk.GroupKey(other, blob.KeyID.L0, blob.KeyID.L1, blob.KeyID.L2)
			require.NoError(t, err)
			kek3, err := g3.KEK(blob.KeyID)
			require.NoError(t, err)
			_, err = blob.Decrypt(kek3)
			assert.ErrorIs(t, err, ErrDecrypt)
		})
	}
}

// TestLAPSBlobWithDCEnvelope opens a Windows LAPS style blob (content after
// the CMS structure) with the group key envelope a domain controller of the
// same domain returned from GetKey: the client half of MS-GKDI against a
// real DC's answer.
func TestLAPSBlobWithDCEnvelope(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(vectorDir, "dpapi_ng_blob"))
	require.NoError(t, err)
	env, err := os.ReadFile(filepath.Join(vectorDir, "group_key_envelope"))
	require.NoError(t, err)
	blob, err := ParseBlob(data)
	require.NoError(t, err)
	assert.Equal(t, "S-1-5-21-3337337973-3297078028-437386066-512", blob.SID)
	assert.True(t, blob.KeyID.PublicKey())
	assert.Equal(t, "domain.test", blob.KeyID.Domain)
	assert.Equal(t, [3]int32{361, 16, 3}, [3]int32{blob.KeyID.L0, blob.KeyID.L1, blob.KeyID.L2})
	g, err := ParseGroupKey(env)
	require.NoError(t, err)
	assert.False(t, g.PublicKey())
	assert.Equal(t, "DH", g.SecretAlgorithm)
	assert.Equal(t, env, g.Marshal())
	kek, err := g.KEK(blob.KeyID)
	require.NoError(t, err)
	plain, err := blob.Decrypt(kek)
	require.NoError(t, err)
	// UTF-16LE JSON with a NUL, as [MS-ADA2] 2.66 and 2.64 describe.
	want := `{"n":"Administrator","t":"1d9737aa6ba2536","p":"Z}-FQ5ZjuB+4Yg"}` + "\x00"
	var u []byte
	for _, r := range want {
		u = append(u, byte(r), 0)
	}
	assert.Equal(t, u, plain)
}

// TestTargetSD compares the security descriptor built for a SID with the one
// in the library's GetKey test data (seed_key.json) for the same SID.
func TestTargetSD(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(vectorDir, "seed_key.json"))
	require.NoError(t, err)
	var v struct{ SecurityDescriptor string }
	require.NoError(t, json.Unmarshal(raw, &v))
	sd, err := TargetSD("S-1-5-21-2185496602-3367037166-1388177638-1103")
	require.NoError(t, err)
	assert.Equal(t, unhex(t, v.SecurityDescriptor), sd)
	for _, bad := range []string{"", "S-1", "S-2-5-1", "S-1-x-1", "S-1-5-99999999999", "X-1-5-18"} {
		_, err := TargetSD(bad)
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}
