package dpaping

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 3394 4.6: wrap 256 bits of key data with a 256-bit KEK.
func TestUnwrapRFC3394(t *testing.T) {
	kek := unhex(t, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	wrapped := unhex(t, "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
	key, err := unwrapKey(kek, wrapped)
	require.NoError(t, err)
	assert.Equal(t, unhex(t, "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"), key)
	wrapped[5] ^= 1
	_, err = unwrapKey(kek, wrapped)
	assert.ErrorIs(t, err, ErrDecrypt)
	_, err = unwrapKey(kek, wrapped[:20])
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = unwrapKey(kek[:16], wrapped)
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestGUID(t *testing.T) {
	g, err := ParseGUID("2491e5f1-c935-27c4-22ba-b85f61b24768")
	require.NoError(t, err)
	assert.Equal(t, unhex(t, "F1E5912435C9C42722BAB85F61B24768"), g[:])
	assert.Equal(t, "2491e5f1-c935-27c4-22ba-b85f61b24768", g.String())
	for _, bad := range []string{"", "2491e5f1c93527c422bab85f61b24768", "2491e5f1-c935-27c4-22ba-b85f61b2476x", "2491e5f1+c935-27c4-22ba-b85f61b24768"} {
		_, err := ParseGUID(bad)
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}

func TestGroupKeyRefusals(t *testing.T) {
	rk, data := loadVector(t, "kdf_sha256_nonce.json")
	blob, err := ParseBlob(data)
	require.NoError(t, err)
	sd, err := TargetSD(blob.SID)
	require.NoError(t, err)
	id := blob.KeyID

	// An envelope older than the key cannot derive it.
	if id.L2 > 0 {
		older, err := rk.GroupKey(sd, id.L0, id.L1, id.L2-1)
		require.NoError(t, err)
		_, err = older.KEK(id)
		assert.ErrorIs(t, err, ErrMalformed)
	}
	g, err := rk.GroupKey(sd, id.L0, id.L1, id.L2)
	require.NoError(t, err)
	// A public-key envelope: the caller is not authorised.
	pub := *g
	pub.Flags |= flagPublicKey
	_, err = pub.KEK(id)
	assert.ErrorIs(t, err, ErrNotAuthorized)
	// Another root key or L0.
	other := *g
	other.RootKeyID[0] ^= 1
	_, err = other.KEK(id)
	assert.ErrorIs(t, err, ErrMalformed)
	other = *g
	other.L0++
	_, err = other.KEK(id)
	assert.ErrorIs(t, err, ErrMalformed)
	// Unknown KDF.
	other = *g
	other.KDFAlgorithm = "PBKDF2"
	_, err = other.KEK(id)
	assert.ErrorIs(t, err, ErrUnsupported)
	// An altered content does not authenticate.
	kek, err := g.KEK(id)
	require.NoError(t, err)
	blob.Content[0] ^= 1
	_, err = blob.Decrypt(kek)
	assert.ErrorIs(t, err, ErrDecrypt)
}

func TestParseRefusals(t *testing.T) {
	_, data := loadVector(t, "kdf_sha256_dh.json")
	for n := 0; n < len(data)-1; n += 7 {
		if _, err := ParseBlob(data[:n]); err == nil {
			// A LAPS-style blob may end anywhere after the structure; the
			// content is then too short for the tag only when it is.
			blob, _ := ParseBlob(data[:n])
			assert.GreaterOrEqual(t, len(blob.Content), blob.TagSize)
		}
	}
	env, err := os.ReadFile(filepath.Join(vectorDir, "group_key_envelope"))
	require.NoError(t, err)
	for n := 0; n < len(env); n++ {
		_, err := ParseGroupKey(env[:n])
		assert.ErrorIs(t, err, ErrMalformed, "%d bytes", n)
	}
	bad := append([]byte{}, env...)
	bad[4] = 'X'
	_, err = ParseGroupKey(bad)
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = ParseBlob(make([]byte, maxBlob+1))
	assert.ErrorIs(t, err, ErrMalformed)
}

func FuzzParseBlob(f *testing.F) {
	for _, name := range []string{"kdf_sha256_dh.json", "kdf_sha1_nonce.json", "kdf_sha384_ecdh_p384.json"} {
		_, data := loadVector(f, name)
		f.Add(data)
	}
	laps, err := os.ReadFile(filepath.Join(vectorDir, "dpapi_ng_blob"))
	require.NoError(f, err)
	f.Add(laps)
	f.Fuzz(func(t *testing.T, b []byte) {
		blob, err := ParseBlob(b)
		if err != nil {
			return
		}
		if _, err := TargetSD(blob.SID); err != nil {
			t.Fatalf("parsed SID %q does not build: %v", blob.SID, err)
		}
		_, _ = blob.Decrypt(make([]byte, 32))
	})
}

func FuzzParseGroupKey(f *testing.F) {
	env, err := os.ReadFile(filepath.Join(vectorDir, "group_key_envelope"))
	require.NoError(f, err)
	f.Add(env)
	laps, err := os.ReadFile(filepath.Join(vectorDir, "dpapi_ng_blob"))
	require.NoError(f, err)
	blob, err := ParseBlob(laps)
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGroupKey(b)
		if err != nil {
			return
		}
		again, err := ParseGroupKey(g.Marshal())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		_ = again
		// Whatever the envelope says, deriving a KEK ends with a key or an
		// error, never a panic.
		_, _ = g.KEK(blob.KeyID)
	})
}

func FuzzAgree(f *testing.F) {
	laps, err := os.ReadFile(filepath.Join(vectorDir, "dpapi_ng_blob"))
	require.NoError(f, err)
	blob, err := ParseBlob(laps)
	require.NoError(f, err)
	f.Add("DH", make([]byte, 64), blob.KeyID.KeyInfo)
	_, p256 := loadVector(f, "kdf_sha256_ecdh_p256.json")
	b256, err := ParseBlob(p256)
	require.NoError(f, err)
	f.Add("ECDH_P256", make([]byte, 32), b256.KeyID.KeyInfo)
	f.Fuzz(func(t *testing.T, alg string, priv, pub []byte) {
		_, _, _ = agree(alg, priv, pub)
	})
}

func TestWrapRFC3394(t *testing.T) {
	kek := unhex(t, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	w, err := wrapKey(kek, unhex(t, "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F"))
	require.NoError(t, err)
	assert.Equal(t, unhex(t, "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"), w)
}

// TestProtect round-trips Protect's blobs through ParseBlob and the same
// decryption the Windows blobs go through, in both layouts.
func TestProtect(t *testing.T) {
	rk, _ := loadVector(t, "kdf_sha512_dh.json")
	sid := "S-1-5-21-1-2-3-512"
	sd, err := TargetSD(sid)
	require.NoError(t, err)
	g, err := rk.GroupKey(sd, 370, 4, 9)
	require.NoError(t, err)
	for _, detached := range []bool{false, true} {
		b, err := Protect(g, sid, []byte("secret"), detached, rand.Reader)
		require.NoError(t, err)
		blob, err := ParseBlob(b)
		require.NoError(t, err)
		assert.Equal(t, sid, blob.SID)
		kek, err := g.KEK(blob.KeyID)
		require.NoError(t, err)
		plain, err := blob.Decrypt(kek)
		require.NoError(t, err)
		assert.Equal(t, []byte("secret"), plain)
	}
}
