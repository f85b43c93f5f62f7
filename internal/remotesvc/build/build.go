package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Package is the import path of the service's main package.
const Package = "github.com/nxdeploy/deployer/internal/remotesvc/cmd/nxsvc"

// Arches returns the GOARCH values nxsvc is built for, in a fixed order.
func Arches() []string { return []string{"amd64", "386", "arm64"} }

// FileName is the name of the binary built for arch inside the output directory.
func FileName(arch string) string { return "nxsvc-" + arch + ".exe" }

// Env returns the environment for building nxsvc for arch: the caller's
// environment with every setting that changes the output pinned, so the
// bytes depend only on the source and the Go toolchain version.
func Env(arch string) []string {
	pinned := map[string]string{
		"GOOS":         "windows",
		"GOARCH":       arch,
		"CGO_ENABLED":  "0",
		"GOAMD64":      "v1",
		"GO386":        "sse2",
		"GOARM64":      "v8.0",
		"GOEXPERIMENT": "",
		"GOFLAGS":      "",
	}
	env := make([]string, 0, len(os.Environ())+len(pinned))
	for _, kv := range os.Environ() {
		k, _, _ := cutEnv(kv)
		if _, ok := pinned[k]; ok {
			continue
		}
		env = append(env, kv)
	}
	for _, k := range []string{"GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64", "GO386", "GOARM64", "GOEXPERIMENT", "GOFLAGS"} {
		env = append(env, k+"="+pinned[k])
	}
	return env
}

func cutEnv(kv string) (string, string, bool) {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' && i > 0 {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

// Args returns the go command's arguments that build nxsvc into out.
func Args(out string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, Package}
}

// Options tunes Build.
type Options struct {
	// GoTool is the go command; empty means $GOROOT/bin/go of the running
	// toolchain, falling back to "go" on PATH.
	GoTool string
	// Dir is the directory the go command runs in; it must be inside the
	// deployer module. Empty means the current directory.
	Dir string
	// ExtraFlags are inserted after "build" (for example -modfile=...).
	ExtraFlags []string
}

// Build compiles nxsvc for arch into outDir/FileName(arch) and returns the path.
func Build(ctx context.Context, outDir, arch string, opts Options) (string, error) {
	if !known(arch) {
		return "", fmt.Errorf("build: unsupported arch %q", arch)
	}
	out, err := filepath.Abs(filepath.Join(outDir, FileName(arch)))
	if err != nil {
		return "", err
	}
	args := Args(out)
	args = append(append([]string{args[0]}, opts.ExtraFlags...), args[1:]...)
	cmd := exec.CommandContext(ctx, goTool(opts.GoTool), args...)
	cmd.Dir = opts.Dir
	cmd.Env = Env(arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build nxsvc for windows/%s: %w: %s", arch, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return out, nil
}

func known(arch string) bool {
	for _, a := range Arches() {
		if a == arch {
			return true
		}
	}
	return false
}

func goTool(explicit string) string {
	if explicit != "" {
		return explicit
	}
	// The go command of the toolchain on PATH: GOTOOLCHAIN and go.mod pick
	// the same version wherever the build runs.
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}
