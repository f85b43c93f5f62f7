package build

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Sources are the C files of nxsvc, in csrc, in link order.
var Sources = []string{"nxsvc.c", "nxjob.c", "nxrt.c"}

// Headers are the other files of csrc a build reads.
var Headers = []string{"nxjob.h"}

// Arches returns the builds of nxsvc, in a fixed order: "amd64" (x64) and
// "386" (x86; also what ARM64 Windows runs, under its x86 emulation).
func Arches() []string { return []string{"amd64", "386"} }

// FileName is the name of the binary built for arch inside the output directory.
func FileName(arch string) string { return "nxsvc-" + arch + ".exe" }

// Compiler returns the mingw-w64 driver for arch (Debian's
// gcc-mingw-w64-x86-64-win32 and gcc-mingw-w64-i686-win32).
func Compiler(arch string) (string, error) {
	switch arch {
	case "amd64":
		return "x86_64-w64-mingw32-gcc", nil
	case "386":
		return "i686-w64-mingw32-gcc", nil
	}
	return "", fmt.Errorf("build: unsupported arch %q", arch)
}

// MinWindows is the oldest Windows nxsvc is built for, as the PE header's
// operating-system and subsystem version: Windows Vista / Server 2008.
const (
	MinWindowsMajor = 6
	MinWindowsMinor = 0
)

// CFlags are the compiler flags of every build: every warning an error (so
// a callback whose calling convention differs from the Windows header's
// type does not compile on x86), no C runtime, no stack protector or
// builtins that would call into one, nothing that depends on the build
// machine (no identification string, file paths mapped to ".").
func CFlags(srcDir string) []string {
	return []string{
		"-std=gnu11", "-Os",
		"-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wstrict-prototypes", "-Wmissing-prototypes",
		"-Werror=incompatible-pointer-types", "-Werror=implicit-function-declaration",
		"-ffreestanding", "-fno-builtin", "-fno-stack-protector", "-fno-tree-loop-distribute-patterns",
		"-fno-ident", "-ffunction-sections", "-fdata-sections",
		"-ffile-prefix-map=" + srcDir + "=.",
		"-D_WIN32_WINNT=0x0600", "-DWINVER=0x0600", "-DNTDDI_VERSION=0x06000000",
	}
}

// LDFlags are the linker flags for arch: no C runtime (entry point
// nx_entry), no timestamp and no build id in the image, Vista as the
// minimum OS and subsystem version, ASLR and DEP, sections garbage
// collected, symbols stripped.
func LDFlags(arch string) []string {
	entry := "nx_entry"
	if arch == "386" {
		entry = "_nx_entry" // i386 C symbols carry a leading underscore
	}
	v := fmt.Sprintf("%d.%d", MinWindowsMajor, MinWindowsMinor)
	return []string{
		"-nostdlib", "-nostartfiles", "-s",
		"-Wl,-e," + entry,
		"-Wl,--gc-sections",
		"-Wl,--no-insert-timestamp",
		"-Wl,--build-id=none",
		"-Wl,--subsystem,console:" + v,
		fmt.Sprintf("-Wl,--major-os-version,%d", MinWindowsMajor),
		fmt.Sprintf("-Wl,--minor-os-version,%d", MinWindowsMinor),
		"-Wl,--dynamicbase", "-Wl,--nxcompat",
	}
}

// Libs are the import libraries nxsvc links, and libgcc for the helpers
// the compiler may call (64-bit division on x86, stack probes).
var Libs = []string{"-lmsi", "-ladvapi32", "-lkernel32", "-lgcc"}

// Args returns the compiler's arguments that build nxsvc for arch from
// srcDir into out.
func Args(srcDir, arch, out string) []string {
	args := CFlags(srcDir)
	args = append(args, LDFlags(arch)...)
	args = append(args, "-o", out)
	for _, s := range Sources {
		args = append(args, filepath.Join(srcDir, s))
	}
	return append(args, Libs...)
}

// SourceDir returns the csrc directory next to this package's source.
func SourceDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("build: cannot locate the csrc directory")
	}
	return filepath.Join(filepath.Dir(file), "..", "csrc"), nil
}

// Env returns the environment of a build: the caller's, with the settings
// that can change gcc's output removed, and the locale fixed.
func Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GCC_EXEC_PREFIX", "COMPILER_PATH", "LIBRARY_PATH", "CPATH", "C_INCLUDE_PATH",
			"SOURCE_DATE_EPOCH", "LC_ALL", "LANG", "LANGUAGE", "TMPDIR", "DEPENDENCIES_OUTPUT",
			"SUNPRO_DEPENDENCIES", "GCC_COMPARE_DEBUG":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// Build compiles nxsvc for arch into outDir/FileName(arch) and returns the
// path. srcDir "" means SourceDir().
func Build(ctx context.Context, srcDir, outDir, arch string) (string, error) {
	cc, err := Compiler(arch)
	if err != nil {
		return "", err
	}
	if srcDir == "" {
		if srcDir, err = SourceDir(); err != nil {
			return "", err
		}
	}
	if srcDir, err = filepath.Abs(srcDir); err != nil {
		return "", err
	}
	out, err := filepath.Abs(filepath.Join(outDir, FileName(arch)))
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, cc, Args(srcDir, arch, out)...)
	cmd.Dir = srcDir
	cmd.Env = Env()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build nxsvc for windows/%s with %s: %w: %s", arch, cc, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if msg := bytes.TrimSpace(stderr.Bytes()); len(msg) > 0 {
		// The linker reports some problems (a missing entry point) only
		// as warnings: any output is a failed build.
		return "", fmt.Errorf("build nxsvc for windows/%s: %s", arch, msg)
	}
	return out, nil
}

// Toolchain returns the version lines of the compiler and of the
// assembler/linker for arch, which decide the bytes of a build.
func Toolchain(ctx context.Context, arch string) (string, error) {
	cc, err := Compiler(arch)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, c := range [][]string{{cc, "--version"}, {strings.TrimSuffix(cc, "gcc") + "ld", "--version"}} {
		out, err := exec.CommandContext(ctx, c[0], c[1:]...).Output()
		if err != nil {
			return "", fmt.Errorf("%s --version: %w", c[0], err)
		}
		first, _, _ := strings.Cut(string(out), "\n")
		lines = append(lines, strings.TrimSpace(first))
	}
	// On Debian, the packages' versions say exactly which toolchain it is.
	pkg := map[string]string{"amd64": "x86-64", "386": "i686"}[arch]
	names := []string{"gcc-mingw-w64-" + pkg + "-win32", "binutils-mingw-w64-" + pkg, "mingw-w64-" + pkg + "-dev"}
	if out, err := exec.CommandContext(ctx, "dpkg-query", append([]string{"-W", "-f", "${Package}=${Version} "}, names...)...).Output(); err == nil {
		lines = append(lines, strings.TrimSpace(string(out)))
	}
	return strings.Join(lines, "; "), nil
}
