package smbserver

import (
	"crypto/aes"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// TestCMACVectors checks AES-CMAC against RFC 4493 section 4.
func TestCMACVectors(t *testing.T) {
	key := "2b7e151628aed2a6abf7158809cf4f3c"
	msg := "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
	cases := []struct {
		name string
		n    int
		mac  string
	}{
		{name: "empty", n: 0, mac: "bb1d6929e95937287fa37d129b756746"},
		{name: "one block", n: 16, mac: "070a16b46b4d4144f79bdd9dd04a287c"},
		{name: "40 bytes", n: 40, mac: "dfa66747de9ae63030ca32611497c827"},
		{name: "64 bytes", n: 64, mac: "51f0bebf7e3b9d92fc49741779363cfe"},
	}
	b, err := aes.NewCipher(unhex(t, key))
	require.NoError(t, err)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := cmac(b, unhex(t, msg)[:tc.n])
			assert.Equal(t, tc.mac, hex.EncodeToString(got[:]))
		})
	}
}

// TestCCMVector checks AES-CCM against RFC 3610 packet vector #1 (8-byte
// tag there; the server uses 16, so only the ciphertext is compared) and a
// seal/open round trip with a 16-byte tag and SMB's 11-byte nonce.
func TestCCMVector(t *testing.T) {
	b, err := aes.NewCipher(unhex(t, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"))
	require.NoError(t, err)
	c := newCCM(b, 13)
	nonce := unhex(t, "00000003020100a0a1a2a3a4a5")
	aad := unhex(t, "0001020304050607")
	plain := unhex(t, "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e")
	sealed := c.Seal(nil, nonce, plain, aad)
	assert.Equal(t, "588c979a61c663d2f066d0c2c0f989806d5f6b61dac384", hex.EncodeToString(sealed[:len(plain)]))

	smb := newCCM(b, 11)
	n11 := unhex(t, "0102030405060708090a0b")
	msg := []byte("an SMB2 message longer than one block")
	ct := smb.Seal(nil, n11, msg, aad)
	got, err := smb.Open(nil, n11, ct, aad)
	require.NoError(t, err)
	assert.Equal(t, msg, got)
	ct[3] ^= 1
	_, err = smb.Open(nil, n11, ct, aad)
	assert.Error(t, err)
}

// TestKDF checks the SP800-108 KDF against values computed by impacket's
// independent KDF_CounterMode for the 3.0 and 3.1.1 signing-key labels.
func TestKDF(t *testing.T) {
	key := make([]byte, 16)
	ctx := make([]byte, 64)
	for i := range ctx {
		ctx[i] = byte(i)
		if i < 16 {
			key[i] = byte(i)
		}
	}
	cases := []struct {
		name           string
		label, context []byte
		want           string
	}{
		{name: "3.0 signing", label: []byte("SMB2AESCMAC\x00"), context: []byte("SmbSign\x00"), want: "6234814cbb8ea9227440ebfeb5eacbe1"},
		{name: "3.1.1 signing", label: []byte("SMBSigningKey\x00"), context: ctx, want: "f7e5401ecc6e79ef9eab401b05004e4f"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, hex.EncodeToString(kdf(key, tc.label, tc.context)))
		})
	}
}
