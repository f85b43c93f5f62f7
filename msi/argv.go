package msi

import (
	"strconv"
	"strings"
)

// SplitCommandLine splits a Windows command line into arguments exactly as
// CommandLineToArgvW (shell32) does, for a non-empty command line:
//
//   - The first argument, the program path, follows special rules: if it
//     starts with a double quote it ends at the next double quote, otherwise at
//     the first space or tab; backslashes are never special in it. A command
//     line starting with a space or tab therefore has an empty first argument.
//   - Later arguments are separated by runs of spaces and tabs outside quotes.
//   - 2n backslashes followed by a double quote produce n backslashes and the
//     quote toggles quoting; 2n+1 backslashes followed by a double quote
//     produce n backslashes and a literal quote; backslashes not followed by a
//     quote are literal.
//   - Inside a quoted part, a run of consecutive quotes counts together with
//     the quote that opened the part: 3n quotes give n literal quotes and stay
//     quoted, 3n+1 give n quotes and close, 3n+2 give n+1 quotes and close.
//     Outside quotes, the first quote of a run opens quoting and the rest of
//     the run follows the same rule.
//
// For an empty string CommandLineToArgvW returns the path of the running
// executable; SplitCommandLine returns nil instead. The rules follow Wine's
// implementation, which is tested against Windows. A NUL character ends the
// command line, as it does for the Windows API.
func SplitCommandLine(s string) []string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return nil
	}
	var args []string
	i := 0
	// The program path.
	if s[0] == '"' {
		end := strings.IndexByte(s[1:], '"')
		if end < 0 {
			args = append(args, s[1:])
			i = len(s)
		} else {
			args = append(args, s[1:1+end])
			i = end + 2
		}
	} else {
		end := strings.IndexAny(s, " \t")
		if end < 0 {
			end = len(s)
		}
		args = append(args, s[:end])
		i = end
	}
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= len(s) {
		return args
	}
	var (
		b       strings.Builder
		quoted  int // 0 outside quotes, 1 inside (Wine's qcount)
		slashes int // consecutive backslashes just copied to b
	)
	for i < len(s) {
		c := s[i]
		switch {
		case (c == ' ' || c == '\t') && quoted == 0:
			args = append(args, b.String())
			b.Reset()
			slashes = 0
			for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
				i++
			}
			if i >= len(s) {
				return args
			}
			continue
		case c == '\\':
			b.WriteByte('\\')
			slashes++
			i++
			continue
		case c == '"':
			cur := b.String()
			if slashes%2 == 0 {
				// Half the backslashes remain; the quote toggles quoting.
				cur = cur[:len(cur)-slashes/2]
				quoted++
			} else {
				// Half the backslashes remain, plus a literal quote.
				cur = cur[:len(cur)-slashes/2-1] + `"`
			}
			b.Reset()
			b.WriteString(cur)
			slashes = 0
			i++
			for i < len(s) && s[i] == '"' {
				quoted++
				if quoted == 3 {
					b.WriteByte('"')
					quoted = 0
				}
				i++
			}
			if quoted == 2 {
				quoted = 0
			}
			continue
		default:
			b.WriteByte(c)
			slashes = 0
			i++
		}
	}
	args = append(args, b.String())
	return args
}

// QuoteArg encodes one argument (not the first, program-path argument) so
// that SplitCommandLine and CommandLineToArgvW give it back unchanged. An
// argument with no space, tab or double quote and that is not empty is
// returned as is; otherwise it is wrapped in double quotes, with every double
// quote escaped as \" and the backslashes that precede a quote (or the closing
// quote) doubled. NUL characters cannot be represented; callers reject them
// (see JoinCommandLine).
func QuoteArg(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 2)
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

// JoinCommandLine builds a Windows command line from args such that
// SplitCommandLine (and CommandLineToArgvW) returns exactly args. The first
// element is the program path, which Windows cannot escape: it must be
// non-empty and contain no double quote; it is quoted when it contains a space
// or tab. No element may contain NUL. Use it, for example, to pass a whole
// msiexec command line as one argument of a service's binary path.
func JoinCommandLine(args []string) (string, error) {
	if len(args) == 0 {
		return "", &ArgumentError{Field: "program", Reason: "no arguments"}
	}
	prog := args[0]
	switch {
	case prog == "":
		return "", &ArgumentError{Field: "program", Reason: "empty program path"}
	case strings.ContainsAny(prog, "\"\x00"):
		return "", &ArgumentError{Field: "program", Reason: "program path contains a double quote or NUL"}
	}
	var b strings.Builder
	if strings.ContainsAny(prog, " \t") {
		b.WriteString(`"` + prog + `"`)
	} else {
		b.WriteString(prog)
	}
	for n, a := range args[1:] {
		if strings.IndexByte(a, 0) >= 0 {
			return "", &ArgumentError{Field: "argument " + strconv.Itoa(n+1), Reason: "contains NUL"}
		}
		b.WriteByte(' ')
		b.WriteString(QuoteArg(a))
	}
	return b.String(), nil
}
