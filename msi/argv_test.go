package msi

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// splitCases are CommandLineToArgvW results: the examples of Microsoft's
// "Parsing C++ command-line arguments" page that CommandLineToArgvW shares
// with the CRT, and the quote-run rules documented in Wine's implementation.
// TestSplitCommandLineWine checks every one against Wine's shell32.
var splitCases = []struct {
	line string
	want []string
}{
	{`prog "abc" d e`, []string{"prog", "abc", "d", "e"}},
	{`prog a\\b d"e f"g h`, []string{"prog", `a\\b`, "de fg", "h"}},
	{`prog a\\\"b c d`, []string{"prog", `a\"b`, "c", "d"}},
	{`prog a\\\\"b c" d e`, []string{"prog", `a\\b c`, "d", "e"}},
	{`prog a"b"" c d`, []string{"prog", `ab"`, "c", "d"}},
	{`prog`, []string{"prog"}},
	{`prog   `, []string{"prog"}},
	{"prog\ta\t\tb", []string{"prog", "a", "b"}},
	{` a b`, []string{"", "a", "b"}},
	{`"C:\Program Files\x.exe" a`, []string{`C:\Program Files\x.exe`, "a"}},
	{`"C:\Program Files\x.exe"a b`, []string{`C:\Program Files\x.exe`, "a", "b"}},
	{`"unterminated prog`, []string{"unterminated prog"}},
	{`C:\dir\"x a`, []string{`C:\dir\"x`, "a"}},
	{`prog ""`, []string{"prog", ""}},
	{`prog "" ""`, []string{"prog", "", ""}},
	{`prog """"`, []string{"prog", `"`}},
	{`prog """"""`, []string{"prog", `""`}},
	{`prog """ a"`, []string{"prog", `"`, "a"}},
	{`prog "a""b"`, []string{"prog", `a"b`}},
	{`prog "a"""b"`, []string{"prog", `a"b`}},
	{`prog "a""""b c"`, []string{"prog", `a"b`, "c"}},
	{`prog a\b\\c\\\`, []string{"prog", `a\b\\c\\\`}},
	{`prog "a\\" b`, []string{"prog", `a\`, "b"}},
	{`prog "a\\\" b"`, []string{"prog", `a\" b`}},
	{`prog \"a\"`, []string{"prog", `"a"`}},
	{`prog "unterminated arg`, []string{"prog", "unterminated arg"}},
	{`prog SERVER="a b" PORT=443`, []string{"prog", "SERVER=a b", "PORT=443"}},
	{"prog \"é ü\" 100%", []string{"prog", "é ü", "100%"}},
	{"prog a\x00b c", []string{"prog", "a"}},
}

func TestSplitCommandLine(t *testing.T) {
	for _, tc := range splitCases {
		t.Run(tc.line, func(t *testing.T) {
			assert.Equal(t, tc.want, SplitCommandLine(tc.line))
		})
	}
	assert.Nil(t, SplitCommandLine(""))
}

// hostileArgs are arguments that break naive quoting.
var hostileArgs = []string{
	"", " ", "\t", `"`, `""`, `"""`, `\`, `\\`, `\"`, `\\"`, `a\`, `a\\`, `a b\`, `a b\\`,
	`C:\Program Files\NxTest\`, `say "hi"`, `"quoted"`, `a"b"c`, `100%`, `%PATH%`, `a&b|c<d>e^f`,
	"ünïcödé ✓", "日本語 テキスト", "emoji 🎉", `\\server\share\dir\`, `--flag="x y"`, `'single'`,
}

func TestJoinCommandLineRoundTrip(t *testing.T) {
	for _, a := range hostileArgs {
		for _, b := range hostileArgs {
			args := []string{`C:\Program Files\svc.exe`, a, b, "last"}
			line, err := JoinCommandLine(args)
			require.NoError(t, err)
			assert.Equal(t, args, SplitCommandLine(line), "line %q", line)
		}
	}
}

func TestJoinCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"none", nil, "no arguments"},
		{"empty program", []string{""}, "empty program path"},
		{"quote in program", []string{`a"b`}, "double quote"},
		{"nul in arg", []string{"p", "a\x00"}, "argument 1: contains NUL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := JoinCommandLine(tc.args)
			require.ErrorIs(t, err, ErrInvalidArgument)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestQuoteArg(t *testing.T) {
	tests := map[string]string{
		"plain":     "plain",
		"":          `""`,
		"a b":       `"a b"`,
		`a\b`:       `a\b`,
		`a"b`:       `"a\"b"`,
		`a b\`:      `"a b\\"`,
		`a\"b`:      `"a\\\"b"`,
		`C:\dir\ x`: `"C:\dir\ x"`,
	}
	for in, want := range tests {
		assert.Equal(t, want, QuoteArg(in), "QuoteArg(%q)", in)
	}
}

func FuzzSplitCommandLine(f *testing.F) {
	for _, tc := range splitCases {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := SplitCommandLine(line)
		if strings.IndexByte(line, 0) < 0 && line != "" {
			require.NotEmpty(t, args)
		}
		if len(args) < 2 || args[0] == "" || strings.ContainsAny(args[0], "\"") || !utf8.ValidString(line) {
			return
		}
		// Whatever a line means, re-encoding its arguments must mean the same.
		again, err := JoinCommandLine(args)
		require.NoError(t, err)
		require.Equal(t, args, SplitCommandLine(again), "re-encoded as %q", again)
	})
}

func FuzzJoinCommandLine(f *testing.F) {
	for _, a := range hostileArgs {
		f.Add(`C:\x y\p.exe`, a, "b")
	}
	f.Fuzz(func(t *testing.T, prog, a, b string) {
		args := []string{prog, a, b}
		line, err := JoinCommandLine(args)
		if prog == "" || strings.ContainsAny(prog, "\"\x00") || strings.ContainsRune(a+b, 0) {
			require.Error(t, err)
			return
		}
		require.NoError(t, err)
		require.Equal(t, args, SplitCommandLine(line), "line %q", line)
	})
}
