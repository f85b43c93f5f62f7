package remotesvc

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
)

// SignForTest signs the embedded build for arch with a throwaway
// self-signed code-signing certificate (openssl, osslsigncode) and returns
// the signed binary and the certificate's PEM file.
func signForTest(t *testing.T, arch string) (signed []byte, certFile string) {
	t.Helper()
	lab.Require(t, "openssl", "osslsigncode")
	dir := t.TempDir()
	key, cert := filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", key, "-out", cert, "-days", "2",
		"-nodes", "-subj", "/CN=nxdeploy throwaway test signer", "-addext", "extendedKeyUsage=codeSigning").CombinedOutput()
	require.NoError(t, err, "%s", out)
	in, outFile := filepath.Join(dir, "nxsvc.exe"), filepath.Join(dir, "nxsvc-signed.exe")
	b, err := Binary(arch)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(in, b, 0o644))
	out, err = exec.Command("osslsigncode", "sign", "-certs", cert, "-key", key, "-n", "nxsvc", "-h", "sha256",
		"-in", in, "-out", outFile).CombinedOutput()
	require.NoError(t, err, "%s", out)
	signed, err = os.ReadFile(outFile)
	require.NoError(t, err)
	return signed, cert
}

// TestSignedBuild signs each build, verifies the signature with
// osslsigncode, and checks that Identify recognizes the signed copy, that
// its Authenticode digest is the one osslsigncode computed, and that the
// signed image is still within budget and imports nothing new.
func TestSignedBuild(t *testing.T) {
	for _, arch := range Arches() {
		t.Run(arch, func(t *testing.T) {
			signed, cert := signForTest(t, arch)
			file := filepath.Join(t.TempDir(), "signed.exe")
			require.NoError(t, os.WriteFile(file, signed, 0o644))
			out, err := exec.Command("osslsigncode", "verify", "-CAfile", cert, "-in", file).CombinedOutput()
			require.NoError(t, err, "%s", out)
			text := string(out)
			assert.Contains(t, text, "Signature verification: ok")
			m := regexp.MustCompile(`Calculated message digest\s*:\s*([0-9A-F]+)`).FindStringSubmatch(text)
			require.Len(t, m, 2, text)
			sum, err := ImageDigest(signed)
			require.NoError(t, err)
			assert.Equal(t, strings.ToLower(m[1]), hex.EncodeToString(sum[:]), "our Authenticode digest is osslsigncode's")

			build, isSigned, err := Identify(signed)
			require.NoError(t, err)
			assert.Equal(t, arch, build)
			assert.True(t, isSigned)
			own, err := Binary(arch)
			require.NoError(t, err)
			build, isSigned, err = Identify(own)
			require.NoError(t, err)
			assert.Equal(t, arch, build)
			assert.False(t, isSigned)
			assert.LessOrEqual(t, len(signed), maxBinarySize+8<<10, "a signature adds a few KiB")
			t.Logf("%s: %d bytes unsigned, %d signed", arch, len(own), len(signed))
		})
	}
}

func TestIdentifyRefuses(t *testing.T) {
	own, err := Binary("amd64")
	require.NoError(t, err)
	patched := append([]byte(nil), own...)
	patched[len(patched)-100] ^= 1
	for name, b := range map[string][]byte{
		"empty": nil, "not PE": []byte("MZ but nothing else"), "ELF": []byte("\x7fELF\x02\x01\x01"),
		"patched build": patched, "truncated": own[:1024],
	} {
		_, _, err := Identify(b)
		assert.ErrorIs(t, err, ErrNotService, name)
	}
}

func FuzzImageDigest(f *testing.F) {
	own, err := Binary("386")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(own[:2048])
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ImageDigest(b) // never panics
		_, _, _ = Identify(b)
	})
}
