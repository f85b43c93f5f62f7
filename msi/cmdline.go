package msi

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DefaultExecutable is the program a command line starts with when
// InstallCommand.Executable or UninstallCommand.Executable is empty.
const DefaultExecutable = "msiexec.exe"

// DefaultLogFlags are the /l flags used when a log path is set and LogFlags is
// empty: "*v", every message, verbose.
const DefaultLogFlags = "*v"

// Sentinel errors wrapped by *PropertyError and *ArgumentError, for errors.Is.
var (
	// ErrInvalidPropertyName reports a property name that is not a valid
	// public Windows Installer property name.
	ErrInvalidPropertyName = errors.New("msi: invalid public property name")
	// ErrUnsafeValue reports a property value that cannot be passed on an
	// msiexec command line (newline, carriage return, NUL, invalid UTF-8).
	ErrUnsafeValue = errors.New("msi: property value cannot be passed on a command line")
	// ErrInvalidArgument reports a path, product code or switch that cannot be
	// put on a command line.
	ErrInvalidArgument = errors.New("msi: invalid command-line argument")
	// ErrTooLong reports a property name, a property value or all the
	// properties together too long for an msiexec command line.
	ErrTooLong = errors.New("msi: too long for a command line")
)

// Size limits of what goes on an msiexec command line, in characters
// (UTF-16 code units, as Windows counts). Windows starts no command line
// longer than MaxCommandLineLen (CreateProcess), and msiexec's carries the
// package and log paths besides the properties.
const (
	// MaxPropertyNameLen is the longest property name: the key column of
	// the Property table (s72).
	MaxPropertyNameLen = 72
	// MaxPropertyValueLen is the longest property value.
	MaxPropertyValueLen = 8192
	// MaxPropertiesLen bounds all the properties together as they appear
	// on the command line (NAME=value, quoted, with the spaces between).
	MaxPropertiesLen = 24576
	// MaxCommandLineLen is the longest command line Windows starts.
	MaxCommandLineLen = 32767
)

// utf16Len is the length of s in UTF-16 code units.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1) // an invalid rune is sent as U+FFFD
	}
	return n
}

// ValidateProperties checks every property (ValidatePropertyName,
// ValidatePropertyValue), that no name is given twice, and that all of them
// together fit in MaxPropertiesLen; the error names the property at fault
// (for the total, the longest one) and never includes a value.
func ValidateProperties(props []Property) error {
	seen := make(map[string]bool, len(props))
	total, longest, longestLen := 0, "", -1
	for i, p := range props {
		if err := ValidatePropertyName(p.Name); err != nil {
			return err
		}
		if err := ValidatePropertyValue(p.Name, p.Value); err != nil {
			return err
		}
		if seen[p.Name] {
			return &PropertyError{Name: p.Name, Reason: "property set twice", Err: ErrInvalidPropertyName}
		}
		seen[p.Name] = true
		n := len(p.Name) + 1 + utf16Len(QuotePropertyValue(p.Value))
		if i > 0 {
			n++
		}
		total += n
		if n > longestLen {
			longest, longestLen = p.Name, n
		}
	}
	if total > MaxPropertiesLen {
		return &PropertyError{Name: longest, Err: ErrTooLong, Reason: fmt.Sprintf(
			"the %d properties take %d characters on the command line, more than %d; this one, the longest, takes %d",
			len(props), total, MaxPropertiesLen, longestLen)}
	}
	return nil
}

// Property is one public property set on the msiexec command line
// (NAME=value). Order is kept: msiexec applies properties left to right.
type Property struct {
	// Name is the public property name: uppercase ASCII letters, digits,
	// underscores and periods, starting with a letter or an underscore.
	Name string
	// Value is passed verbatim; any Unicode text without CR, LF or NUL.
	Value string
}

// PropertiesFromMap returns m as properties sorted by name, so that a command
// line built from a map is deterministic.
func PropertiesFromMap(m map[string]string) []Property {
	props := make([]Property, 0, len(m))
	for k, v := range m {
		props = append(props, Property{Name: k, Value: v})
	}
	slices.SortFunc(props, func(a, b Property) int { return strings.Compare(a.Name, b.Name) })
	return props
}

// PropertyError reports a property that cannot be put on an msiexec command
// line. It never contains the value, which may be a secret.
type PropertyError struct {
	// Name is the offending property's name, as given.
	Name string
	// Reason says what is wrong, e.g. "value contains a newline at byte 4".
	Reason string
	// Err is ErrInvalidPropertyName or ErrUnsafeValue.
	Err error
}

// Error implements error.
func (e *PropertyError) Error() string {
	return fmt.Sprintf("msi: property %q: %s", e.Name, e.Reason)
}

// Unwrap returns the sentinel error.
func (e *PropertyError) Unwrap() error { return e.Err }

// ArgumentError reports a package path, log path, product code or switch
// that cannot be put on a command line.
type ArgumentError struct {
	// Field names the argument: "Package", "LogPath", "ProductCode",
	// "LogFlags", "Executable", "program" or "argument N".
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error implements error.
func (e *ArgumentError) Error() string {
	return fmt.Sprintf("msi: %s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrInvalidArgument.
func (e *ArgumentError) Unwrap() error { return ErrInvalidArgument }

// UILevel selects msiexec's user interface switch.
type UILevel int

// UI levels. The zero value is UINone (/qn), the only level that cannot hang
// msiexec in session 0 when it runs from a service.
const (
	UINone         UILevel = iota // /qn: no user interface
	UIBasic                       // /qb: basic progress
	UIReduced                     // /qr: reduced
	UIFull                        // /qf: full
	UINoneWithEnd                 // /qn+: none, except a final dialog
	UIBasicNoModal                // /qb-: basic, no modal dialogs
)

func (u UILevel) switchText() (string, error) {
	switch u {
	case UINone:
		return "/qn", nil
	case UIBasic:
		return "/qb", nil
	case UIReduced:
		return "/qr", nil
	case UIFull:
		return "/qf", nil
	case UINoneWithEnd:
		return "/qn+", nil
	case UIBasicNoModal:
		return "/qb-", nil
	}
	return "", &ArgumentError{Field: "UI", Reason: fmt.Sprintf("unknown UI level %d", int(u))}
}

// RestartMode selects msiexec's restart switch.
type RestartMode int

// Restart modes. The zero value is RestartNever (/norestart): the deployer
// reports 3010/1641 and leaves the reboot to the operator.
const (
	RestartNever   RestartMode = iota // /norestart
	RestartDefault                    // no switch: the package decides
	RestartPrompt                     // /promptrestart
	RestartForce                      // /forcerestart
)

func (r RestartMode) switchText() (string, error) {
	switch r {
	case RestartNever:
		return "/norestart", nil
	case RestartDefault:
		return "", nil
	case RestartPrompt:
		return "/promptrestart", nil
	case RestartForce:
		return "/forcerestart", nil
	}
	return "", &ArgumentError{Field: "Restart", Reason: fmt.Sprintf("unknown restart mode %d", int(r))}
}

// InstallCommand describes `msiexec /i`. The zero values give the safe
// defaults for an unattended install: /qn and /norestart.
//
// Line returns the command line, e.g.
//
//	msiexec.exe /i "C:\Windows\nx\pkg.msi" /qn /norestart /l*v "C:\Windows\nx\install.log" SERVER="a b" PORT=443
type InstallCommand struct {
	// Executable is the program; DefaultExecutable when empty. It may be a
	// full path such as C:\Windows\System32\msiexec.exe.
	Executable string
	// Package is the path of the .msi as the remote host sees it (a local
	// path: SYSTEM often cannot read UNC paths). Required.
	Package string
	// LogPath, when set, adds /l<LogFlags> "LogPath".
	LogPath string
	// LogFlags are the logging mode letters after /l; DefaultLogFlags when
	// empty. Allowed: i w e a r u c m o p v x + ! *.
	LogFlags string
	// UI selects /qn (default), /qb, ...
	UI UILevel
	// Restart selects /norestart (default), /forcerestart, ...
	Restart RestartMode
	// Properties are appended in order as NAME=value.
	Properties []Property
}

// UninstallCommand describes `msiexec /x`, by product code or package path.
type UninstallCommand struct {
	// Executable is the program; DefaultExecutable when empty.
	Executable string
	// ProductCode is the product's GUID, e.g.
	// {6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}; braces are added when missing
	// and hex digits are upper-cased. Exactly one of ProductCode and Package
	// must be set.
	ProductCode string
	// Package is the path of the .msi to uninstall, instead of ProductCode.
	Package string
	// LogPath, when set, adds /l<LogFlags> "LogPath".
	LogPath string
	// LogFlags as in InstallCommand.
	LogFlags string
	// UI as in InstallCommand.
	UI UILevel
	// Restart as in InstallCommand.
	Restart RestartMode
	// Properties as in InstallCommand.
	Properties []Property
}

// Args returns the arguments msiexec acts on, as msiexec itself parses its
// command line (see ParseCommandLine): the executable, the switches, the
// package path and log path without their quotes, and each property as
// NAME=value with the value unquoted. It is the logical form of Line; to
// start msiexec on Windows pass Line verbatim as the command line (for
// example syscall.SysProcAttr.CmdLine), never Args through a generic argv
// quoter: msiexec does not understand the \" escapes such quoters produce.
func (c InstallCommand) Args() ([]string, error) {
	return buildArgs(c.Executable, "/i", c.Package, "Package", c.LogPath, c.LogFlags, c.UI, c.Restart, c.Properties)
}

// Line returns the msiexec command line, quoted by msiexec's rules: paths in
// double quotes, property values bare when they are non-empty and contain no
// space, tab or double quote, otherwise as NAME="value" with each embedded
// double quote doubled (""), as documented for msiexec. Backslashes are
// literal for msiexec and are never escaped.
func (c InstallCommand) Line() (string, error) {
	args, err := c.Args()
	return commandLine(args, len(c.Properties), err)
}

// String returns Line, or a description of the error.
func (c InstallCommand) String() string { return describe(c.Line()) }

// commandLine joins args, whose last nprops elements are properties, with
// msiexec's quoting; err is the error of building args.
func commandLine(args []string, nprops int, err error) (string, error) {
	if err != nil {
		return "", err
	}
	line := joinMsiexec(args, len(args)-nprops)
	if n := utf16Len(line); n > MaxCommandLineLen {
		return "", &ArgumentError{Field: "command line", Reason: fmt.Sprintf(
			"%d characters, more than Windows starts (%d): shorten the paths or the properties", n, MaxCommandLineLen)}
	}
	return line, nil
}

// describe returns a command line, or a description of why there is none.
func describe(line string, err error) string {
	if err != nil {
		return "<invalid msiexec command: " + err.Error() + ">"
	}
	return line
}

// Args returns the logical arguments, as InstallCommand.Args does.
func (c UninstallCommand) Args() ([]string, error) {
	switch {
	case c.ProductCode != "" && c.Package != "":
		return nil, &ArgumentError{Field: "ProductCode", Reason: "both ProductCode and Package are set"}
	case c.ProductCode != "":
		code, err := NormalizeProductCode(c.ProductCode)
		if err != nil {
			return nil, err
		}
		return buildArgs(c.Executable, "/x", code, "ProductCode", c.LogPath, c.LogFlags, c.UI, c.Restart, c.Properties)
	case c.Package != "":
		return buildArgs(c.Executable, "/x", c.Package, "Package", c.LogPath, c.LogFlags, c.UI, c.Restart, c.Properties)
	}
	return nil, &ArgumentError{Field: "ProductCode", Reason: "neither ProductCode nor Package is set"}
}

// Line returns the msiexec command line, quoted as InstallCommand.Line.
func (c UninstallCommand) Line() (string, error) {
	args, err := c.Args()
	return commandLine(args, len(c.Properties), err)
}

// String returns Line, or a description of the error.
func (c UninstallCommand) String() string { return describe(c.Line()) }

// NormalizeProductCode validates a product (or upgrade) code and returns it
// in the canonical form {8-4-4-4-12 hex digits}, upper case, e.g. {6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}.
func NormalizeProductCode(code string) (string, error) {
	s := strings.TrimSuffix(strings.TrimPrefix(code, "{"), "}")
	bad := &ArgumentError{Field: "ProductCode", Reason: fmt.Sprintf("%q is not a GUID like {6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}", code)}
	if len(s) != 36 || (strings.HasPrefix(code, "{") != strings.HasSuffix(code, "}")) {
		return "", bad
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return "", bad
			}
			continue
		}
		if !isHex(c) {
			return "", bad
		}
	}
	return "{" + strings.ToUpper(s) + "}", nil
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// ValidatePropertyName reports whether name is a valid public property name:
// ASCII uppercase letters, digits, underscores and periods, starting with an
// uppercase letter or an underscore. Private properties (with a lowercase
// letter) cannot be set from the command line and are rejected.
func ValidatePropertyName(name string) error {
	if name == "" {
		return &PropertyError{Name: name, Reason: "empty property name", Err: ErrInvalidPropertyName}
	}
	if len(name) > MaxPropertyNameLen {
		return &PropertyError{Name: name[:MaxPropertyNameLen] + "...", Err: ErrTooLong,
			Reason: fmt.Sprintf("the name is %d characters long, more than %d", len(name), MaxPropertyNameLen)}
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z', c == '_':
		case (c >= '0' && c <= '9') || c == '.':
			if i == 0 {
				return &PropertyError{Name: name, Reason: "a public property name must start with an uppercase letter or an underscore", Err: ErrInvalidPropertyName}
			}
		case c >= 'a' && c <= 'z':
			return &PropertyError{Name: name, Reason: fmt.Sprintf("lowercase letter %q at byte %d: only public (all-uppercase) properties can be set on the command line", c, i), Err: ErrInvalidPropertyName}
		default:
			return &PropertyError{Name: name, Reason: fmt.Sprintf("character %q at byte %d is not allowed (A-Z, 0-9, _ and . only)", rune(c), i), Err: ErrInvalidPropertyName}
		}
	}
	return nil
}

// ValidatePropertyValue reports whether value can be passed on an msiexec
// command line: valid UTF-8 with no NUL, CR or LF, and at most
// MaxPropertyValueLen characters. The error names the property but never
// includes the value.
func ValidatePropertyValue(name, value string) error {
	if !utf8.ValidString(value) {
		return &PropertyError{Name: name, Reason: "value is not valid UTF-8", Err: ErrUnsafeValue}
	}
	if n := utf16Len(value); n > MaxPropertyValueLen {
		return &PropertyError{Name: name, Err: ErrTooLong,
			Reason: fmt.Sprintf("the value is %d characters long, more than %d", n, MaxPropertyValueLen)}
	}
	if i := strings.IndexAny(value, "\x00\r\n"); i >= 0 {
		what := map[byte]string{0: "a NUL", '\r': "a carriage return", '\n': "a newline"}[value[i]]
		return &PropertyError{Name: name, Reason: fmt.Sprintf("value contains %s at byte %d", what, i), Err: ErrUnsafeValue}
	}
	return nil
}

func validatePath(field, p string) error {
	switch {
	case p == "":
		return &ArgumentError{Field: field, Reason: "empty path"}
	case !utf8.ValidString(p):
		return &ArgumentError{Field: field, Reason: "path is not valid UTF-8"}
	case strings.ContainsAny(p, "\x00\r\n"):
		return &ArgumentError{Field: field, Reason: "path contains NUL, CR or LF"}
	case strings.ContainsRune(p, '"'):
		return &ArgumentError{Field: field, Reason: "path contains a double quote"}
	case strings.HasSuffix(p, `\`):
		return &ArgumentError{Field: field, Reason: "path ends with a backslash (a file path is expected)"}
	case strings.TrimSpace(p) != p:
		return &ArgumentError{Field: field, Reason: "path has leading or trailing white space"}
	case field != "Executable" && (p[0] == '/' || p[0] == '-'):
		return &ArgumentError{Field: field, Reason: "path starts with / or -, which msiexec would read as a switch"}
	}
	return nil
}

func validateLogFlags(f string) error {
	for _, c := range f {
		if !strings.ContainsRune("iwearucmopvx+!*", c) {
			return &ArgumentError{Field: "LogFlags", Reason: fmt.Sprintf("log flag %q not in iwearucmopvx+!*", c)}
		}
	}
	return nil
}

func buildArgs(exe, op, target, targetField, logPath, logFlags string, ui UILevel, restart RestartMode, props []Property) ([]string, error) {
	if exe == "" {
		exe = DefaultExecutable
	}
	if err := validatePath("Executable", exe); err != nil {
		return nil, err
	}
	if err := validatePath(targetField, target); err != nil {
		return nil, err
	}
	args := []string{exe, op, target}
	uiSwitch, err := ui.switchText()
	if err != nil {
		return nil, err
	}
	args = append(args, uiSwitch)
	rs, err := restart.switchText()
	if err != nil {
		return nil, err
	}
	if rs != "" {
		args = append(args, rs)
	}
	if logPath != "" {
		if logFlags == "" {
			logFlags = DefaultLogFlags
		}
		if err := validateLogFlags(logFlags); err != nil {
			return nil, err
		}
		if err := validatePath("LogPath", logPath); err != nil {
			return nil, err
		}
		args = append(args, "/l"+logFlags, logPath)
	} else if logFlags != "" {
		return nil, &ArgumentError{Field: "LogFlags", Reason: "LogFlags set without LogPath"}
	}
	if err := ValidateProperties(props); err != nil {
		return nil, err
	}
	for _, p := range props {
		args = append(args, p.Name+"="+p.Value)
	}
	return args, nil
}

// joinMsiexec renders logical args: args[0] is the program, the arguments
// in quoted are paths (always double-quoted), args from firstProp on are
// NAME=value properties, and the rest are switches written bare.
func joinMsiexec(args []string, firstProp int) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch {
		case i >= firstProp:
			name, value, _ := strings.Cut(a, "=")
			b.WriteString(name)
			b.WriteByte('=')
			b.WriteString(QuotePropertyValue(value))
		case i == 0 && !strings.ContainsAny(a, " \t"):
			b.WriteString(a)
		case i == 0 || isPathArg(args, i):
			b.WriteString(`"` + a + `"`)
		default:
			b.WriteString(a)
		}
	}
	return b.String()
}

// isPathArg reports whether args[i] is the value of the switch before it
// (/i, /x or /l...). buildArgs only produces these switches with a value.
func isPathArg(args []string, i int) bool {
	prev := args[i-1]
	return prev == "/i" || prev == "/x" || (strings.HasPrefix(prev, "/l") && i > 2)
}

// QuotePropertyValue quotes a property value by msiexec's rules: returned as
// is when it is non-empty and has no space, tab or double quote; otherwise
// wrapped in double quotes with each double quote doubled. The value must
// have passed ValidatePropertyValue.
func QuotePropertyValue(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\"") {
		return v
	}
	return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
}
