package remotesvc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/internal/remotesvc/build"
)

// maxBinarySize is the budget of one build of nxsvc.
const maxBinarySize = 64 << 10

func TestArch(t *testing.T) {
	for in, want := range map[string][2]string{
		"amd64": {"amd64", "amd64"}, "AMD64": {"amd64", "amd64"}, "x64": {"amd64", "amd64"}, " AMD64 ": {"amd64", "amd64"},
		"386": {"386", "386"}, "x86": {"386", "386"}, "i686": {"386", "386"},
		"arm64": {"arm64", "386"}, "ARM64": {"arm64", "386"}, "aarch64": {"arm64", "386"},
	} {
		got, err := Arch(in)
		require.NoError(t, err, in)
		assert.Equal(t, want[0], got, in)
		b, err := BuildFor(in)
		require.NoError(t, err, in)
		assert.Equal(t, want[1], b, in)
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
	machines := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "386": pe.IMAGE_FILE_MACHINE_I386}
	require.Equal(t, []string{"amd64", "386"}, Arches())
	for _, host := range []string{"amd64", "386", "arm64"} {
		t.Run(host, func(t *testing.T) {
			b, err := Binary(host)
			require.NoError(t, err)
			arch, _ := BuildFor(host)
			f, err := pe.NewFile(bytes.NewReader(b))
			require.NoError(t, err)
			assert.Equal(t, machines[arch], f.Machine)
			assert.Empty(t, f.Symbols, "stripped: no COFF symbols")
			assert.LessOrEqual(t, len(b), maxBinarySize, "nxsvc's budget is 64 KiB per architecture")
			sum, err := SHA256(host)
			require.NoError(t, err)
			assert.Equal(t, sha256.Sum256(b), sum)
			name, err := FileName(host)
			require.NoError(t, err)
			assert.Equal(t, "nxsvc-"+arch+".exe", name)
			t.Logf("host %s runs %s: %d bytes, sha256 %x", host, name, len(b), sum)

			b[0] = 'X'
			again, err := Binary(host)
			require.NoError(t, err)
			assert.Equal(t, byte('M'), again[0], "Binary returns a copy")
		})
	}
}

// allowedImport is one line of imports.txt.
type allowedImport struct {
	dll, function, doc string
	major, minor       int
}

func readAllowlist(t *testing.T) map[string]allowedImport {
	t.Helper()
	f, err := os.Open("imports.txt")
	require.NoError(t, err)
	defer f.Close()
	out := map[string]allowedImport{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, "\t")
		require.Len(t, fields, 5, "imports.txt:%d: dll, function, version, client, page", n)
		maj, min, ok := strings.Cut(fields[2], ".")
		require.True(t, ok, "imports.txt:%d: version %q", n, fields[2])
		a := allowedImport{dll: strings.ToLower(fields[0]), function: fields[1], doc: fields[4]}
		a.major, err = strconv.Atoi(maj)
		require.NoError(t, err)
		a.minor, err = strconv.Atoi(min)
		require.NoError(t, err)
		key := a.function + ":" + a.dll
		require.NotContains(t, out, key, "imports.txt:%d: listed twice", n)
		require.NotEmpty(t, fields[3], "imports.txt:%d: no documented minimum", n)
		out[key] = a
	}
	require.NoError(t, sc.Err())
	return out
}

// TestImportsAllowed reads each build's PE headers and imports and fails on
// anything newer than Windows Vista / Server 2008: the OS and subsystem
// versions in the optional header, an import missing from imports.txt, or
// one listed there with a newer minimum Windows. No Windows that old runs
// here, and no 32-bit program at all, so this is what holds the x86 build
// (with the one source built for both architectures with -Werror).
func TestImportsAllowed(t *testing.T) {
	allowed := readAllowlist(t)
	used := map[string]bool{}
	for _, arch := range Arches() {
		t.Run(arch, func(t *testing.T) {
			b, err := Binary(arch)
			require.NoError(t, err)
			f, err := pe.NewFile(bytes.NewReader(b))
			require.NoError(t, err)
			var osMajor, osMinor, subMajor, subMinor, dllChars uint16
			var subsystem uint16
			switch h := f.OptionalHeader.(type) {
			case *pe.OptionalHeader32:
				osMajor, osMinor, subMajor, subMinor = h.MajorOperatingSystemVersion, h.MinorOperatingSystemVersion, h.MajorSubsystemVersion, h.MinorSubsystemVersion
				dllChars, subsystem = h.DllCharacteristics, h.Subsystem
				assert.Zero(t, h.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_TLS].Size, "no TLS callbacks")
			case *pe.OptionalHeader64:
				osMajor, osMinor, subMajor, subMinor = h.MajorOperatingSystemVersion, h.MinorOperatingSystemVersion, h.MajorSubsystemVersion, h.MinorSubsystemVersion
				dllChars, subsystem = h.DllCharacteristics, h.Subsystem
				assert.Zero(t, h.DataDirectory[pe.IMAGE_DIRECTORY_ENTRY_TLS].Size, "no TLS callbacks")
			default:
				t.Fatalf("no optional header")
			}
			notNewer := func(what string, major, minor uint16) {
				assert.True(t, int(major) < build.MinWindowsMajor || int(major) == build.MinWindowsMajor && int(minor) <= build.MinWindowsMinor,
					"%s %d.%d is newer than Windows Vista / Server 2008 (6.0)", what, major, minor)
			}
			notNewer("operating system version", osMajor, osMinor)
			notNewer("subsystem version", subMajor, subMinor)
			assert.Equal(t, uint16(pe.IMAGE_SUBSYSTEM_WINDOWS_CUI), subsystem)
			assert.NotZero(t, dllChars&pe.IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE, "ASLR")
			assert.NotZero(t, dllChars&pe.IMAGE_DLLCHARACTERISTICS_NX_COMPAT, "DEP")
			assert.Zero(t, f.FileHeader.TimeDateStamp, "no timestamp")

			syms, err := f.ImportedSymbols()
			require.NoError(t, err)
			require.NotEmpty(t, syms)
			dlls := map[string]bool{}
			for _, s := range syms {
				fn, dll, ok := strings.Cut(s, ":")
				require.True(t, ok, s)
				key := fn + ":" + strings.ToLower(dll)
				dlls[strings.ToLower(dll)] = true
				a, ok := allowed[key]
				if !assert.True(t, ok, "%s imports %s from %s, which imports.txt does not list with its minimum Windows", arch, fn, dll) {
					continue
				}
				used[key] = true
				assert.True(t, a.major < build.MinWindowsMajor || a.major == build.MinWindowsMajor && a.minor <= build.MinWindowsMinor,
					"%s needs Windows %d.%d (%s), newer than Vista / Server 2008", fn, a.major, a.minor, a.doc)
			}
			libs, err := f.ImportedLibraries()
			require.NoError(t, err)
			for _, l := range libs {
				assert.True(t, dlls[strings.ToLower(l)], "library %s with no imported symbol", l)
			}
			assert.Equal(t, map[string]bool{"kernel32.dll": true, "advapi32.dll": true, "msi.dll": true}, dlls,
				"nxsvc imports only kernel32, advapi32 and msi (no C runtime)")
		})
	}
	for key := range allowed {
		assert.True(t, used[key], "imports.txt lists %s, which no build imports: remove the line", key)
	}
}

// TestEmbeddedMatchesSource rebuilds nxsvc for every architecture and fails
// if the bytes differ from the embedded ones: run `go generate
// ./internal/remotesvc` after changing the C source (with the toolchain
// bin/TOOLCHAIN names: Debian 12's mingw-w64).
func TestEmbeddedMatchesSource(t *testing.T) {
	lab.Require(t, "x86_64-w64-mingw32-gcc", "i686-w64-mingw32-gcc")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	recorded, err := os.ReadFile(filepath.Join("bin", "TOOLCHAIN"))
	require.NoError(t, err)
	for _, arch := range Arches() {
		start := time.Now()
		p, err := build.Build(ctx, "", dir, arch)
		require.NoError(t, err)
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		want, err := Binary(arch)
		require.NoError(t, err)
		tc, err := build.Toolchain(ctx, arch)
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, got),
			"windows/%s: embedded nxsvc differs from a fresh build (%d vs %d bytes): run go generate ./internal/remotesvc.\n"+
				"toolchain now: %s\nrecorded:\n%s", arch, len(want), len(got), tc, recorded)
		assert.Contains(t, string(recorded), arch+": "+tc, "bin/TOOLCHAIN names the toolchain that built the embedded bytes")
		t.Logf("windows/%s rebuilt identically in %v (%s)", arch, time.Since(start).Round(time.Millisecond), tc)
	}
}

// TestCallbackConventionMustMatch proves the claim the x86 build rests on:
// with nxsvc's flags, a callback whose calling convention differs from the
// Windows header's type does not compile for i686 (on x64 there is only one
// convention), while the right one does.
func TestCallbackConventionMustMatch(t *testing.T) {
	lab.Require(t, "i686-w64-mingw32-gcc")
	src, err := build.SourceDir()
	require.NoError(t, err)
	cc, err := build.Compiler("386")
	require.NoError(t, err)
	for _, tc := range []struct {
		name, decl string
		ok         bool
	}{
		{"WINAPI handler", "static int WINAPI h(LPVOID c, UINT m, MSIHANDLE r)", true},
		{"cdecl handler", "static int h(LPVOID c, UINT m, MSIHANDLE r)", false},
		{"cdecl service main", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := "#include <windows.h>\n#include <msi.h>\n" + tc.decl +
				" { (void)c; (void)m; (void)r; return 0; }\nINSTALLUI_HANDLER_RECORD f(void);\nINSTALLUI_HANDLER_RECORD f(void) { return h; }\n"
			if tc.decl == "" {
				code = "#include <windows.h>\nstatic void m(DWORD n, LPWSTR *a) { (void)n; (void)a; }\n" +
					"LPSERVICE_MAIN_FUNCTIONW f(void);\nLPSERVICE_MAIN_FUNCTIONW f(void) { return m; }\n"
			}
			file := filepath.Join(t.TempDir(), "cb.c")
			require.NoError(t, os.WriteFile(file, []byte(code), 0o644))
			args := append(build.CFlags(src), "-c", "-o", file+".o", file)
			out, err := exec.Command(cc, args...).CombinedOutput()
			if tc.ok {
				require.NoError(t, err, "%s", out)
				return
			}
			require.Error(t, err, "a mismatched calling convention compiled")
			assert.Contains(t, string(out), "incompatible-pointer-types")
		})
	}
}
