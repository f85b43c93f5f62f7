package build

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvPinsBuildSettings(t *testing.T) {
	t.Setenv("GOFLAGS", "-race")
	t.Setenv("GOAMD64", "v3")
	t.Setenv("CGO_ENABLED", "1")
	env := Env("386")
	count := map[string]int{}
	values := map[string]string{}
	for _, kv := range env {
		k, v, _ := cutEnv(kv)
		count[k]++
		values[k] = v
	}
	for k, want := range map[string]string{"GOOS": "windows", "GOARCH": "386", "CGO_ENABLED": "0", "GOAMD64": "v1", "GO386": "sse2", "GOARM64": "v8.0", "GOFLAGS": ""} {
		assert.Equal(t, 1, count[k], k)
		assert.Equal(t, want, values[k], k)
	}
}

func TestArgs(t *testing.T) {
	args := Args("/tmp/x.exe")
	joined := strings.Join(args, " ")
	for _, want := range []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o /tmp/x.exe", Package} {
		assert.Contains(t, joined, want)
	}
	assert.Equal(t, "nxsvc-arm64.exe", FileName("arm64"))
}

func TestBuildRejectsUnknownArch(t *testing.T) {
	_, err := Build(context.Background(), t.TempDir(), "mips", Options{})
	require.ErrorContains(t, err, "unsupported arch")
	_, err = Build(context.Background(), t.TempDir(), "amd64", Options{GoTool: "/nonexistent/go"})
	require.Error(t, err)
}

func TestCutEnv(t *testing.T) {
	for in, want := range map[string][2]string{"A=b": {"A", "b"}, "A=": {"A", ""}, "=C:=C:\\": {"=C:", "C:\\"}, "X": {"X", ""}} {
		k, v, _ := cutEnv(in)
		assert.Equal(t, want, [2]string{k, v}, in)
	}
}
