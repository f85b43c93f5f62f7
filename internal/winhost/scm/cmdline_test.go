package scm

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSplitCommandLine(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"prog", []string{"prog"}},
		{`"C:\Program Files\x.exe" /i a.msi`, []string{`C:\Program Files\x.exe`, "/i", "a.msi"}},
		{`"C:\unterminated`, []string{`C:\unterminated`}},
		{`C:\x.exe\ "a"`, []string{`C:\x.exe\`, "a"}},
		{`"a b c" d e`, []string{"a b c", "d", "e"}},
		{`prog "ab\"c" "\\" d`, []string{"prog", `ab"c`, `\`, "d"}},
		{`prog a\\\b d"e f"g h`, []string{"prog", `a\\\b`, "de fg", "h"}},
		{`prog a\\\"b c d`, []string{"prog", `a\"b`, "c", "d"}},
		{`prog a\\\\"b c" d e`, []string{"prog", `a\\b c`, "d", "e"}},
		{`prog "a""b"`, []string{"prog", `a"b`}},
		{"prog \t a  \t", []string{"prog", "a"}},
		{`prog ""`, []string{"prog", ""}},
		{`prog trailing\\`, []string{"prog", `trailing\\`}},
		{`prog /l*v "C:\Windows\nx\install log.txt"`, []string{"prog", "/l*v", `C:\Windows\nx\install log.txt`}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, SplitCommandLine(tt.in))
		})
	}
}

// escapeArg quotes s so that CommandLineToArgvW yields s back.
func escapeArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	b.WriteString(strings.Repeat(`\`, slashes))
	b.WriteByte('"')
	return b.String()
}

func FuzzSplitCommandLine(f *testing.F) {
	for _, s := range []string{"a\x00b c", `x\"y` + "\x00" + `\\`, "\x00\x00", `"q"` + "\x00" + `a""b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		// Any input splits without panicking.
		_ = SplitCommandLine(raw)
		args := strings.Split(raw, "\x00")
		parts := []string{"prog"}
		for _, a := range args {
			parts = append(parts, escapeArg(a))
		}
		got := SplitCommandLine(strings.Join(parts, " "))
		assert.Equal(t, append([]string{"prog"}, args...), got)
	})
}

func FuzzHostPath(f *testing.F) {
	for _, s := range []string{`C:\Windows\a\..\..\b`, `%SystemRoot%\x`, `\\?\C:\WINDOWS\`, `c:\windowsx`, "%WINDIR%\u0130x"} {
		f.Add(s)
	}
	dir := f.TempDir()
	p := pathMapper{systemRoot: `C:\Windows`, adminDir: dir}
	f.Fuzz(func(t *testing.T, win string) {
		host, ok := p.HostPath(win)
		if ok && host != dir && !strings.HasPrefix(host, dir+"/") {
			t.Fatalf("%q escaped the admin dir: %q", win, host)
		}
	})
}
