package loader

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/internal/remotesvc"
)

var (
	win7      = Version{Major: 6, Minor: 1, Build: 7601}
	win2012R2 = Version{Major: 6, Minor: 3, Build: 9600}
	win10     = Version{Major: 10, Build: 19045}
	win11     = Version{Major: 10, Build: 22631}
)

func nxsvc(t *testing.T, arch string) []byte {
	t.Helper()
	b, err := remotesvc.Binary(arch)
	require.NoError(t, err)
	return b
}

// TestGoServiceNeedsProcessPrng: a Go service (Go ≥ 1.22 runtime, as the deployer's was) starts on Windows 8 and
// later and dies at start on Windows 7 / Server 2008 R2, which lack ProcessPrng; the deployer's service (C, Vista
// and later) starts on all of them.
func TestGoServiceNeedsProcessPrng(t *testing.T) {
	goSvc := lab.GoWindowsService(t, "amd64")
	r := Check(goSvc, win7, AMD64)
	assert.Equal(t, ErrorServiceRequestTimeout, r.Code, r.Reason)
	assert.True(t, r.Exited)
	assert.Contains(t, r.Reason, "ProcessPrng")
	for _, v := range []Version{win2012R2, win10, win11} {
		assert.True(t, Check(goSvc, v, AMD64).OK(), "%v: %s", v, Check(goSvc, v, AMD64).Reason)
	}
	for _, v := range []Version{win7, win2012R2, win10, win11} {
		for _, a := range []Arch{AMD64, X86} {
			build := map[Arch]string{AMD64: "amd64", X86: "386"}[a]
			r := Check(nxsvc(t, build), v, a)
			assert.True(t, r.OK(), "the deployer's service on %v %s: %s", v, a, r.Reason)
		}
	}
	assert.True(t, Check(nxsvc(t, "386"), win10, ARM64).OK(), "ARM64 Windows runs the x86 build")
}

func TestRefusedImages(t *testing.T) {
	amd64, x86, arm64 := nxsvc(t, "amd64"), nxsvc(t, "386"), lab.GoWindowsService(t, "arm64")
	elf, err := os.ReadFile("/bin/true")
	require.NoError(t, err)
	cases := []struct {
		name  string
		image []byte
		v     Version
		arch  Arch
		code  uint32
	}{
		{"ELF", elf, win10, AMD64, ErrorBadExeFormat},
		{"two-byte MZ stub", []byte("MZ"), win10, AMD64, ErrorBadExeFormat},
		{"empty", nil, win10, AMD64, ErrorBadExeFormat},
		{"truncated", amd64[:len(amd64)/2], win10, AMD64, ErrorBadExeFormat},
		{"headers only", amd64[:1024], win10, AMD64, ErrorBadExeFormat},
		{"x64 on x86 Windows", amd64, win10, X86, ErrorExeMachineTypeMismatch},
		{"ARM64 on x64 Windows", arm64, win10, AMD64, ErrorExeMachineTypeMismatch},
		{"x64 on Windows 10 on ARM", amd64, win10, ARM64, ErrorExeMachineTypeMismatch},
		{"x86 on x64 (WOW64)", x86, win10, AMD64, 0},
		{"x64 on Windows 11 on ARM (emulated)", amd64, win11, ARM64, 0},
		{"ARM64 on ARM64", arm64, win11, ARM64, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Check(c.image, c.v, c.arch)
			assert.Equal(t, c.code, r.Code, r.Reason)
			assert.False(t, r.Exited, "CreateProcess refuses these")
		})
	}
}

// TestNativeServiceImports builds small C programs with mingw-w64: one importing only what Windows 7 has starts
// there, one importing GetSystemTimePreciseAsFileTime (Windows 8) or the Universal CRT does not, and one with a
// subsystem version of 10.0 is refused before Windows 10.
func TestNativeServiceImports(t *testing.T) {
	lab.Require(t, "mingw")
	build := func(name, src string, flags ...string) []byte {
		dir := t.TempDir()
		c := filepath.Join(dir, name+".c")
		exe := filepath.Join(dir, name+".exe")
		require.NoError(t, os.WriteFile(c, []byte(src), 0o644))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		args := append([]string{"-O2", "-o", exe, c, "-ladvapi32"}, flags...)
		out, err := exec.CommandContext(ctx, "x86_64-w64-mingw32-gcc", args...).CombinedOutput()
		require.NoError(t, err, string(out))
		b, err := os.ReadFile(exe)
		require.NoError(t, err)
		return b
	}
	const win7Only = `#include <windows.h>
int main(void) { SERVICE_TABLE_ENTRYW t[] = {{L"x", NULL}, {NULL, NULL}}; return !StartServiceCtrlDispatcherW(t); }`
	const precise = `#include <windows.h>
int main(void) { FILETIME f; GetSystemTimePreciseAsFileTime(&f); return (int)f.dwLowDateTime; }`
	plain := build("plain", win7Only)
	r := Check(plain, win7, AMD64)
	assert.True(t, r.OK(), r.Reason)
	assert.True(t, Check(plain, win10, AMD64).OK())

	pr := build("precise", precise, "-D_WIN32_WINNT=0x0602")
	r = Check(pr, win7, AMD64)
	assert.Equal(t, ErrorServiceRequestTimeout, r.Code, r.Reason)
	assert.True(t, r.Exited)
	assert.Contains(t, r.Reason, "GetSystemTimePreciseAsFileTime")
	assert.True(t, Check(pr, win2012R2, AMD64).OK())

	sub10 := build("sub10", win7Only, "-Wl,--subsystem,console:10.0")
	r = Check(sub10, win2012R2, AMD64)
	assert.Equal(t, ErrorBadExeFormat, r.Code, r.Reason)
	assert.True(t, Check(sub10, win10, AMD64).OK())
}

func TestGoVersions(t *testing.T) {
	for v, want := range map[string]bool{"go1.20.14": false, "go1.21.4": false, "go1.21.5": true, "go1.22.0": true,
		"go1.26.8": true, "go1.23rc1": true, "go2.0": true, "devel": false} {
		assert.Equal(t, want, goUsesProcessPrng(v), v)
	}
}

func TestDLLs(t *testing.T) {
	assert.False(t, dllPresent("vcruntime140.dll", win10))
	assert.False(t, dllPresent("api-ms-win-crt-runtime-l1-1-0.dll", win2012R2))
	assert.True(t, dllPresent("api-ms-win-crt-runtime-l1-1-0.dll", win10))
	assert.True(t, dllPresent("api-ms-win-core-synch-l1-1-0.dll", win7))
	assert.False(t, dllPresent("api-ms-win-core-synch-l1-2-0.dll", win7))
	assert.False(t, dllPresent("nosuch.dll", win11))
	assert.True(t, dllPresent("msi.dll", win7))
}

// FuzzCheck: no input makes the loader model panic.
func FuzzCheck(f *testing.F) {
	f.Add([]byte("MZ"))
	f.Add(make([]byte, 512))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = Check(b, win10, AMD64)
	})
}
