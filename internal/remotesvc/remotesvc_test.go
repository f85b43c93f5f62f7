package remotesvc

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/pe"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/internal/remotesvc/build"
)

func TestArch(t *testing.T) {
	for in, want := range map[string]string{
		"amd64": "amd64", "AMD64": "amd64", "x64": "amd64", "x86_64": "amd64", " AMD64 ": "amd64", "EM64T": "amd64",
		"386": "386", "x86": "386", "X86": "386", "i686": "386",
		"arm64": "arm64", "ARM64": "arm64", "aarch64": "arm64",
	} {
		got, err := Arch(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "IA64", "ARM", "mips", "amd64 x86"} {
		_, err := Arch(bad)
		require.ErrorIs(t, err, ErrUnknownArch, bad)
		_, err = Binary(bad)
		require.ErrorIs(t, err, ErrUnknownArch, bad)
		_, err = SHA256(bad)
		require.ErrorIs(t, err, ErrUnknownArch, bad)
	}
}

func TestBinaries(t *testing.T) {
	machines := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "386": pe.IMAGE_FILE_MACHINE_I386, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}
	require.Equal(t, []string{"amd64", "386", "arm64"}, Arches())
	for _, arch := range Arches() {
		t.Run(arch, func(t *testing.T) {
			b, err := Binary(arch)
			require.NoError(t, err)
			f, err := pe.NewFile(bytes.NewReader(b))
			require.NoError(t, err)
			assert.Equal(t, machines[arch], f.Machine)
			assert.Empty(t, f.Symbols, "built with -s: no COFF symbols")
			sum, err := SHA256(arch)
			require.NoError(t, err)
			assert.Equal(t, sha256.Sum256(b), sum)
			name, err := FileName(arch)
			require.NoError(t, err)
			assert.Equal(t, "nxsvc-"+arch+".exe", name)
			t.Logf("%s: %d bytes, sha256 %x", name, len(b), sum)

			b[0] = 'X'
			again, err := Binary(arch)
			require.NoError(t, err)
			assert.Equal(t, byte('M'), again[0], "Binary returns a copy")
		})
	}
}

// TestEmbeddedMatchesSource rebuilds nxsvc for every architecture and fails if
// the bytes differ from the embedded ones: run `go generate
// ./internal/remotesvc` after changing the service (same Go toolchain as CI).
func TestEmbeddedMatchesSource(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds nxsvc three times: skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	for _, arch := range Arches() {
		start := time.Now()
		p, err := build.Build(ctx, dir, arch, build.Options{})
		require.NoError(t, err)
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		want, err := Binary(arch)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got),
			"windows/%s: embedded nxsvc differs from a fresh build (%d vs %d bytes): run go generate ./internal/remotesvc", arch, len(want), len(got))
		t.Logf("windows/%s rebuilt identically in %v", arch, time.Since(start).Round(time.Millisecond))
	}
}
