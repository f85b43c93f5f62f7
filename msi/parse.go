package msi

import (
	"fmt"
	"strings"
)

// ParsedCommand is an msiexec command line as msiexec reads it (see
// ParseCommandLine). Switch names are lower-cased; values are unquoted.
type ParsedCommand struct {
	// Executable is the first token, the program.
	Executable string
	// Action is the operation switch, lower-cased: "/i", "/x", "/a", "/f..."
	// or "/j..."; "/package" and "/uninstall" are reported as "/i" and "/x".
	Action string
	// Target is the package path or product code that follows Action.
	Target string
	// UI is the user-interface switch, lower-cased ("/qn", "/quiet",
	// "/passive", ...), or "" when absent.
	UI string
	// Restart is "/norestart", "/forcerestart", "/promptrestart" or "".
	Restart string
	// LogFlags are the letters after /l ("*v"); LogPath the file after them.
	LogFlags, LogPath string
	// Properties are the NAME=value pairs, in order.
	Properties []Property
	// Other holds the switches not listed above, verbatim, with their values
	// when they take one (/t, /p, /update, /g, /c...).
	Other []string
}

// Property returns the last value given for name and whether it was given.
func (p *ParsedCommand) Property(name string) (string, bool) {
	for i := len(p.Properties) - 1; i >= 0; i-- {
		if p.Properties[i].Name == name {
			return p.Properties[i].Value, true
		}
	}
	return "", false
}

// tokenizeMsiexec splits s by the rules this package assumes for msiexec
// (see ParseCommandLine).
func tokenizeMsiexec(s string) ([]string, error) {
	var (
		toks   []string
		b      strings.Builder
		in     bool // inside a token
		quoted bool
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
			return nil, fmt.Errorf("msi: command line contains NUL at byte %d", i)
		case quoted && c == '"':
			if i+1 < len(s) && s[i+1] == '"' {
				b.WriteByte('"')
				i++
			} else {
				quoted = false
			}
		case quoted:
			b.WriteByte(c)
		case c == ' ' || c == '\t':
			if in {
				toks = append(toks, b.String())
				b.Reset()
				in = false
			}
		case c == '"':
			in, quoted = true, true
		default:
			in = true
			b.WriteByte(c)
		}
	}
	if quoted {
		return nil, fmt.Errorf("msi: command line has an unterminated double quote")
	}
	if in {
		toks = append(toks, b.String())
	}
	return toks, nil
}

// ParseProperties parses a property list as msiexec and MsiInstallProduct
// read it, e.g. `SERVER="a b" PORT=443 MSG="say ""hi"""`. The grammar this
// package assumes (and Line produces) is:
//
//   - tokens are separated by spaces and tabs outside double quotes;
//   - a double quote starts a quoted run, ended by the next lone double quote;
//     inside it, two double quotes ("") stand for one literal double quote
//     and spaces are literal;
//   - backslashes are always literal (unlike CommandLineToArgvW);
//   - each token must be NAME=VALUE; the name is everything before the first
//     '=', the value everything after it with the quotes removed.
//
// Names are returned as written; use ValidatePropertyName to check them.
func ParseProperties(s string) ([]Property, error) {
	toks, err := tokenizeMsiexec(s)
	if err != nil {
		return nil, err
	}
	props := make([]Property, 0, len(toks))
	for _, t := range toks {
		name, value, ok := strings.Cut(t, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("msi: %q is not a NAME=value property", t)
		}
		props = append(props, Property{Name: name, Value: value})
	}
	return props, nil
}

// ParseCommandLine parses a whole msiexec command line with the grammar of
// ParseProperties: the first token is the program, switches start with / or
// - and are matched case-insensitively, and a token containing '=' that is
// not a switch is a property. The emulated Windows host uses it to act on
// the command line the deployer gives msiexec, exactly as InstallCommand.Line
// wrote it.
func ParseCommandLine(line string) (*ParsedCommand, error) {
	toks, err := tokenizeMsiexec(line)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("msi: empty command line")
	}
	pc := &ParsedCommand{Executable: toks[0]}
	value := func(i int, sw string) (string, error) {
		if i+1 >= len(toks) {
			return "", fmt.Errorf("msi: switch %s needs a value", sw)
		}
		return toks[i+1], nil
	}
	setAction := func(a, target string) error {
		if pc.Action != "" {
			return fmt.Errorf("msi: two operations on one command line (%s and %s)", pc.Action, a)
		}
		pc.Action, pc.Target = a, target
		return nil
	}
	for i := 1; i < len(toks); i++ {
		t := toks[i]
		if t == "" || (t[0] != '/' && t[0] != '-') {
			name, v, ok := strings.Cut(t, "=")
			if !ok || name == "" {
				return nil, fmt.Errorf("msi: unexpected argument %q", t)
			}
			pc.Properties = append(pc.Properties, Property{Name: name, Value: v})
			continue
		}
		sw := "/" + strings.ToLower(t[1:])
		switch {
		case sw == "/norestart" || sw == "/forcerestart" || sw == "/promptrestart":
			pc.Restart = sw
		case sw == "/i" || sw == "/package" || sw == "/x" || sw == "/uninstall" || sw == "/a" ||
			strings.HasPrefix(sw, "/f") || strings.HasPrefix(sw, "/j"):
			v, err := value(i, t)
			if err != nil {
				return nil, err
			}
			a := sw
			switch sw {
			case "/package":
				a = "/i"
			case "/uninstall":
				a = "/x"
			}
			if err := setAction(a, v); err != nil {
				return nil, err
			}
			i++
		case strings.HasPrefix(sw, "/q") || sw == "/passive":
			pc.UI = sw
		case strings.HasPrefix(sw, "/l"):
			v, err := value(i, t)
			if err != nil {
				return nil, err
			}
			if sw == "/log" {
				pc.LogFlags = DefaultLogFlags
			} else {
				pc.LogFlags = sw[2:]
			}
			pc.LogPath = v
			i++
		case sw == "/t" || sw == "/p" || sw == "/update" || sw == "/g" || sw == "/c" || sw == "/m" || sw == "/y" || sw == "/z":
			pc.Other = append(pc.Other, t)
			if i+1 < len(toks) {
				pc.Other = append(pc.Other, toks[i+1])
				i++
			}
		default:
			pc.Other = append(pc.Other, t)
		}
	}
	return pc, nil
}
