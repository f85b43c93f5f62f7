package build

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvDropsCompilerSettings(t *testing.T) {
	t.Setenv("GCC_EXEC_PREFIX", "/evil/")
	t.Setenv("CPATH", "/evil/include")
	t.Setenv("LC_ALL", "de_DE.UTF-8")
	count := map[string]int{}
	values := map[string]string{}
	for _, kv := range Env() {
		k, v, _ := strings.Cut(kv, "=")
		count[k]++
		values[k] = v
	}
	assert.Zero(t, count["GCC_EXEC_PREFIX"])
	assert.Zero(t, count["CPATH"])
	assert.Equal(t, 1, count["LC_ALL"])
	assert.Equal(t, "C", values["LC_ALL"])
}

func TestArgsPinReproducibility(t *testing.T) {
	for _, arch := range Arches() {
		joined := strings.Join(Args("/src", arch, "/tmp/x.exe"), " ")
		for _, want := range []string{"-Werror", "-Wl,--no-insert-timestamp", "-Wl,--build-id=none", "-ffile-prefix-map=/src=.",
			"-fno-ident", "-nostdlib", "-Wl,--subsystem,console:6.0", "-Wl,--major-os-version,6", "-o /tmp/x.exe", "/src/nxsvc.c"} {
			assert.Contains(t, joined, want, arch)
		}
		assert.NotContains(t, joined, "__DATE__")
	}
	assert.Contains(t, strings.Join(LDFlags("386"), " "), "-e,_nx_entry")
	assert.Contains(t, strings.Join(LDFlags("amd64"), " "), "-e,nx_entry")
	assert.Equal(t, "nxsvc-386.exe", FileName("386"))
}

func TestBuildRejectsUnknownArch(t *testing.T) {
	_, err := Build(context.Background(), "", t.TempDir(), "arm64")
	require.ErrorContains(t, err, "unsupported arch")
	_, err = Compiler("mips")
	require.Error(t, err)
}
