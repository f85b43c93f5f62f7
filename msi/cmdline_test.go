package msi

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstallCommandLine(t *testing.T) {
	tests := []struct {
		name string
		cmd  InstallCommand
		want string
	}{
		{
			name: "defaults",
			cmd:  InstallCommand{Package: `C:\Windows\nx\pkg.msi`},
			want: `msiexec.exe /i "C:\Windows\nx\pkg.msi" /qn /norestart`,
		},
		{
			name: "log and properties",
			cmd: InstallCommand{
				Package: `C:\Windows\nx\pkg.msi`, LogPath: `C:\Windows\nx\install.log`,
				Properties: []Property{{"SERVER", "a b"}, {"PORT", "443"}},
			},
			want: `msiexec.exe /i "C:\Windows\nx\pkg.msi" /qn /norestart /l*v "C:\Windows\nx\install.log" SERVER="a b" PORT=443`,
		},
		{
			name: "quotes doubled, backslashes literal, empty quoted",
			cmd: InstallCommand{
				Executable: `C:\Windows\System32\msiexec.exe`, Package: `C:\p q\x.msi`,
				Properties: []Property{{"MSG", `say "hi"`}, {"DIR", `C:\Program Files\Nx\`}, {"EMPTY", ""}, {"_X.Y", `a\b`}},
			},
			want: `C:\Windows\System32\msiexec.exe /i "C:\p q\x.msi" /qn /norestart MSG="say ""hi""" DIR="C:\Program Files\Nx\" EMPTY="" _X.Y=a\b`,
		},
		{
			name: "other switches",
			cmd: InstallCommand{
				Executable: `C:\Program Files\m.exe`, Package: `x.msi`, LogPath: `l.txt`, LogFlags: "voicewarmup!",
				UI: UIBasicNoModal, Restart: RestartForce,
			},
			want: `"C:\Program Files\m.exe" /i "x.msi" /qb- /forcerestart /lvoicewarmup! "l.txt"`,
		},
		{
			name: "restart default has no switch",
			cmd:  InstallCommand{Package: `x.msi`, UI: UIFull, Restart: RestartDefault},
			want: `msiexec.exe /i "x.msi" /qf`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.cmd.Line()
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.want, tc.cmd.String())
			pc, err := ParseCommandLine(got)
			require.NoError(t, err)
			assert.Equal(t, "/i", pc.Action)
			assert.Equal(t, tc.cmd.Package, pc.Target)
			assert.Equal(t, tc.cmd.LogPath, pc.LogPath)
			if len(tc.cmd.Properties) > 0 {
				assert.Equal(t, tc.cmd.Properties, pc.Properties)
			}
		})
	}
}

func TestUninstallCommandLine(t *testing.T) {
	got, err := UninstallCommand{ProductCode: "6f0b5c1e-8a3d-4e2b-9c7a-1d2e3f405162", LogPath: `C:\t\u.log`}.Line()
	require.NoError(t, err)
	assert.Equal(t, `msiexec.exe /x "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}" /qn /norestart /l*v "C:\t\u.log"`, got)
	pc, err := ParseCommandLine(got)
	require.NoError(t, err)
	assert.Equal(t, "/x", pc.Action)
	assert.Equal(t, "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", pc.Target)

	got, err = UninstallCommand{Package: `C:\t\x.msi`}.Line()
	require.NoError(t, err)
	assert.Equal(t, `msiexec.exe /x "C:\t\x.msi" /qn /norestart`, got)

	for _, c := range []UninstallCommand{{}, {ProductCode: "{x}"}, {ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", Package: "a.msi"}, {ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F40516}"}, {ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162"}} {
		_, err := c.Line()
		require.ErrorIs(t, err, ErrInvalidArgument, "%+v", c)
		assert.Contains(t, err.Error(), "ProductCode")
		assert.Contains(t, c.String(), "invalid msiexec command")
	}
}

func TestCommandErrors(t *testing.T) {
	const pkg = `C:\x.msi`
	tests := []struct {
		name     string
		cmd      InstallCommand
		sentinel error
		wantText []string
	}{
		{"lowercase property", InstallCommand{Package: pkg, Properties: []Property{{"Server", "x"}}}, ErrInvalidPropertyName, []string{`"Server"`, "lowercase"}},
		{"private property", InstallCommand{Package: pkg, Properties: []Property{{"installdir", "x"}}}, ErrInvalidPropertyName, []string{`"installdir"`}},
		{"digit first", InstallCommand{Package: pkg, Properties: []Property{{"1X", "x"}}}, ErrInvalidPropertyName, []string{`"1X"`, "start"}},
		{"space in name", InstallCommand{Package: pkg, Properties: []Property{{"A B", "x"}}}, ErrInvalidPropertyName, []string{`"A B"`}},
		{"equals in name", InstallCommand{Package: pkg, Properties: []Property{{"A=B", "x"}}}, ErrInvalidPropertyName, []string{`"A=B"`}},
		{"empty name", InstallCommand{Package: pkg, Properties: []Property{{"", "x"}}}, ErrInvalidPropertyName, []string{"empty"}},
		{"duplicate", InstallCommand{Package: pkg, Properties: []Property{{"A", "1"}, {"A", "2"}}}, ErrInvalidPropertyName, []string{`"A"`, "twice"}},
		{"newline value", InstallCommand{Package: pkg, Properties: []Property{{"PASSWORD", "sec\nret"}}}, ErrUnsafeValue, []string{`"PASSWORD"`, "newline at byte 3"}},
		{"CR value", InstallCommand{Package: pkg, Properties: []Property{{"A", "x\r"}}}, ErrUnsafeValue, []string{"carriage return"}},
		{"NUL value", InstallCommand{Package: pkg, Properties: []Property{{"A", "x\x00"}}}, ErrUnsafeValue, []string{"NUL"}},
		{"invalid UTF-8", InstallCommand{Package: pkg, Properties: []Property{{"A", "\xff"}}}, ErrUnsafeValue, []string{"UTF-8"}},
		{"no package", InstallCommand{}, ErrInvalidArgument, []string{"Package", "empty"}},
		{"quote in package", InstallCommand{Package: `C:\a"b.msi`}, ErrInvalidArgument, []string{"Package", "double quote"}},
		{"newline in package", InstallCommand{Package: "C:\\a\nb.msi"}, ErrInvalidArgument, []string{"Package"}},
		{"NUL in log", InstallCommand{Package: pkg, LogPath: "C:\\l\x00.log"}, ErrInvalidArgument, []string{"LogPath"}},
		{"quote in log", InstallCommand{Package: pkg, LogPath: `C:\l".log`}, ErrInvalidArgument, []string{"LogPath"}},
		{"trailing backslash", InstallCommand{Package: `C:\dir\`}, ErrInvalidArgument, []string{"backslash"}},
		{"switch-like package", InstallCommand{Package: `/x`}, ErrInvalidArgument, []string{"switch"}},
		{"bad log flags", InstallCommand{Package: pkg, LogPath: "l", LogFlags: "*z"}, ErrInvalidArgument, []string{"LogFlags"}},
		{"flags without log", InstallCommand{Package: pkg, LogFlags: "*v"}, ErrInvalidArgument, []string{"LogFlags"}},
		{"bad UI", InstallCommand{Package: pkg, UI: 99}, ErrInvalidArgument, []string{"UI"}},
		{"bad restart", InstallCommand{Package: pkg, Restart: 99}, ErrInvalidArgument, []string{"Restart"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cmd.Line()
			require.ErrorIs(t, err, tc.sentinel)
			for _, w := range tc.wantText {
				assert.Contains(t, err.Error(), w)
			}
			if tc.sentinel == ErrUnsafeValue {
				var pe *PropertyError
				require.ErrorAs(t, err, &pe)
				assert.NotContains(t, err.Error(), "sec", "errors never carry the value")
			}
		})
	}
}

func TestPropertiesFromMap(t *testing.T) {
	got := PropertiesFromMap(map[string]string{"PORT": "443", "A": "1", "SERVER": "x y"})
	assert.Equal(t, []Property{{"A", "1"}, {"PORT", "443"}, {"SERVER", "x y"}}, got)
}

func TestParseProperties(t *testing.T) {
	tests := []struct {
		in   string
		want []Property
		err  string
	}{
		{`SERVER="a b" PORT=443`, []Property{{"SERVER", "a b"}, {"PORT", "443"}}, ""},
		{`MSG="say ""hi"""`, []Property{{"MSG", `say "hi"`}}, ""},
		{`A="" B=""""`, []Property{{"A", ""}, {"B", `"`}}, ""},
		{`DIR="C:\x y\" NEXT=1`, []Property{{"DIR", `C:\x y\`}, {"NEXT", "1"}}, ""},
		{"  A=1\t\tB=2  ", []Property{{"A", "1"}, {"B", "2"}}, ""},
		{`A=x"y z"w`, []Property{{"A", "xy zw"}}, ""},
		{`A="unterminated`, nil, "unterminated"},
		{`NOEQUALS`, nil, "NAME=value"},
		{`=x`, nil, "NAME=value"},
		{"A=\x00", nil, "NUL"},
		{``, []Property{}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseProperties(tc.in)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseCommandLine(t *testing.T) {
	pc, err := ParseCommandLine(`"C:\W\msiexec.exe" /PACKAGE "C:\a b\p.msi" /QN /NoRestart /L*V "C:\l.log" /t "t.mst" /unknown A=1 B="x y"`)
	require.NoError(t, err)
	assert.Equal(t, &ParsedCommand{
		Executable: `C:\W\msiexec.exe`, Action: "/i", Target: `C:\a b\p.msi`, UI: "/qn", Restart: "/norestart",
		LogFlags: "*v", LogPath: `C:\l.log`, Properties: []Property{{"A", "1"}, {"B", "x y"}},
		Other: []string{"/t", "t.mst", "/unknown"},
	}, pc)
	v, ok := pc.Property("B")
	assert.True(t, ok)
	assert.Equal(t, "x y", v)
	_, ok = pc.Property("C")
	assert.False(t, ok)

	for _, bad := range []string{"", "msiexec /i", "msiexec /l*v", "msiexec /i a /x b", `msiexec "x`, "msiexec stray"} {
		_, err := ParseCommandLine(bad)
		assert.Error(t, err, "%q", bad)
	}
	pc, err = ParseCommandLine(`msiexec /uninstall {6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162} /passive /log x.log /forcerestart`)
	require.NoError(t, err)
	assert.Equal(t, "/x", pc.Action)
	assert.Equal(t, "/passive", pc.UI)
	assert.Equal(t, "*v", pc.LogFlags)
	assert.Equal(t, "/forcerestart", pc.Restart)
}

// cltaAgrees reports whether CommandLineToArgvW reads the property token for
// value as NAME=value. msiexec's rules differ from CommandLineToArgvW's for
// embedded double quotes (msiexec doubles them) and for backslashes before
// the closing quote (literal for msiexec); Line follows msiexec.
func cltaAgrees(v string) bool {
	if strings.Contains(v, `"`) {
		return false
	}
	quoted := v == "" || strings.ContainsAny(v, " \t")
	return !(quoted && strings.HasSuffix(v, `\`))
}

// checkRoundTrip builds a command and checks both parsers read it back.
func checkRoundTrip(t *testing.T, pkg, logPath string, props []Property) {
	t.Helper()
	cmd := InstallCommand{Package: pkg, LogPath: logPath, Properties: props}
	line, err := cmd.Line()
	if err != nil {
		return
	}
	args, err := cmd.Args()
	require.NoError(t, err)

	// msiexec's view: everything comes back exactly.
	pc, err := ParseCommandLine(line)
	require.NoError(t, err, "line %q", line)
	require.Equal(t, pkg, pc.Target)
	require.Equal(t, logPath, pc.LogPath)
	require.Equal(t, props, pc.Properties, "line %q", line)
	toks, err := tokenizeMsiexec(line)
	require.NoError(t, err)
	require.Equal(t, args, toks)

	// CommandLineToArgvW's view: the program, switches and paths always
	// match; properties match up to the first one where !cltaAgrees (after
	// it, the two readings may split the rest differently).
	argv := SplitCommandLine(line)
	nonProp := len(args) - len(props)
	require.GreaterOrEqual(t, len(argv), nonProp, "line %q", line)
	require.Equal(t, args[:nonProp], argv[:nonProp], "line %q", line)
	for i, p := range props {
		if !cltaAgrees(p.Value) {
			return
		}
		require.Greater(t, len(argv), nonProp+i, "line %q", line)
		require.Equal(t, p.Name+"="+p.Value, argv[nonProp+i], "line %q", line)
	}
	require.Len(t, argv, len(args), "line %q", line)
}

var hostileValues = []string{
	"", " ", "a b", `"`, `""`, `say "hi"`, `\`, `\\`, `a\`, `a b\`, `a b\\`, `\"`, `a\"b`, `"a b"`,
	`C:\Program Files\NxTest\`, `100%`, `%TEMP%\x`, `a&b|c<d>e^f`, "ünïcödé ✓ 日本語 🎉", "tab\there",
	`p@ss w0rd!"#$'()*+,-./:;=?[]{}~`, "=", "a=b", `/qn`, `-x`,
}

func TestCommandLineRoundTrip(t *testing.T) {
	for _, v := range hostileValues {
		for _, w := range []string{"x", `C:\a b\`, `"`} {
			checkRoundTrip(t, `C:\Windows\nx dir\pkg ü.msi`, `C:\Windows\nx dir\install 100%.log`,
				[]Property{{"VALUE", v}, {"OTHER", w}, {"_LAST.ONE", "end"}})
		}
	}
}

func FuzzCommandLineRoundTrip(f *testing.F) {
	for _, v := range hostileValues {
		f.Add(`C:\Windows\nx\pkg.msi`, `C:\Windows\nx\install.log`, "VALUE", v, "next")
	}
	f.Fuzz(func(t *testing.T, pkg, logPath, name, v1, v2 string) {
		props := []Property{{name, v1}, {"SECOND", v2}}
		cmd := InstallCommand{Package: pkg, LogPath: logPath, Properties: props}
		_, err := cmd.Line()
		if err != nil {
			// Rejections must be for a reason the validators give.
			bad := validatePath("Package", pkg) != nil || (logPath != "" && validatePath("LogPath", logPath) != nil) ||
				ValidatePropertyName(name) != nil || name == "SECOND" ||
				ValidatePropertyValue(name, v1) != nil || ValidatePropertyValue("SECOND", v2) != nil
			require.True(t, bad, "unexpected rejection: %v", err)
			return
		}
		require.True(t, utf8.ValidString(v1) && utf8.ValidString(v2))
		checkRoundTrip(t, pkg, logPath, props)
	})
}
