package lab

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// GoWindowsService builds a minimal Windows service written in Go (the
// program in internal/remotesvc/testdata/gosvc: x/sys/windows/svc, as the
// deployer's remote service was until it was rewritten in C) for goarch
// ("amd64", "386", "arm64") and returns the executable. Its Go ≥ 1.22
// runtime needs ProcessPrng, which Windows 7 and Server 2008 R2 lack: the
// loader tests use it as the program such a host cannot start. It needs
// the go command; a missing one skips t (or fails it under
// DEPLOYER_LAB=required).
func GoWindowsService(t testing.TB, goarch string) []byte {
	t.Helper()
	Require(t, "go")
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("lab: cannot locate the module")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..")
	out := filepath.Join(t.TempDir(), "gosvc-"+goarch+".exe")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./internal/remotesvc/testdata/gosvc")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH="+goarch, "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lab: build the Go service for windows/%s: %v: %s", goarch, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
