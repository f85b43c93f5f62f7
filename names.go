package deployer

// Names the deployer builds host paths and service names from: where they
// are checked, and what is accepted. Every such name is checked where it
// enters (the API, the journal, what a host reports), so that nothing the
// deployer deletes can be outside one deployment directory of its own.

import (
	"errors"
	"fmt"
	"strings"

	derrors "github.com/nxdeploy/deployer/errors"
)

// ErrInvalidName is wrapped by every *NameError, for errors.Is.
var ErrInvalidName = errors.New("deployer: invalid name")

// NameError reports a name the deployer refuses to build a host path or a
// service name from: a deployment ID, a prefix, or a name a host reported.
type NameError struct {
	// What names the input: "deployment ID", "prefix", "service name" or
	// "directory name".
	What string
	// Name is the refused name.
	Name string
	// Reason says what is wrong with it.
	Reason string
}

// Error quotes the name with Go's %q, so invisible and bidirectional
// characters show as escapes.
func (e *NameError) Error() string {
	return fmt.Sprintf("deployer: invalid %s %q: %s", e.What, e.Name, e.Reason)
}

// Unwrap returns ErrInvalidName.
func (e *NameError) Unwrap() error { return ErrInvalidName }

// MaxDeploymentIDLen bounds a deployment ID.
const MaxDeploymentIDLen = 40

// ValidateDeploymentID reports whether id can name a deployment on a host:
// the service "<prefix>-<id>" and the directory ADMIN$\<prefix>-<id>. It
// accepts 1 to 40 ASCII letters, digits, '-', '_' and '.', starting with a
// letter or a digit and not ending with '.' (Windows drops a trailing dot,
// so "run." would be the directory "run"); it refuses the names Windows
// reserves for devices (CON, NUL, COM1, LPT1, ... also with an extension).
// So ".", ".." and anything with a path separator never name a directory.
// The error is a *NameError.
//
// Every deployment ID is checked with it where it enters: InstallOptions,
// ServiceSpec, what Sweep finds on a host, and the journal a Store reads.
func ValidateDeploymentID(id string) error {
	return validateName("deployment ID", id, MaxDeploymentIDLen, true)
}

// maxPrefixLen bounds ConnectConfig.Prefix.
const maxPrefixLen = 24

// validatePrefix checks ConnectConfig.Prefix: 1 to 24 ASCII letters, digits
// and '-', starting with a letter, and not a device name.
func validatePrefix(prefix string) error {
	if err := validateName("prefix", prefix, maxPrefixLen, false); err != nil {
		return err
	}
	if c := prefix[0]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
		return &NameError{What: "prefix", Name: prefix, Reason: "it must start with a letter"}
	}
	return nil
}

// validateName checks one path component: length, characters (dots only
// when dots is set), first and last character, device names.
func validateName(what, name string, maxLen int, dots bool) error {
	bad := func(reason string, a ...any) error {
		return &NameError{What: what, Name: name, Reason: fmt.Sprintf(reason, a...)}
	}
	if name == "" {
		return bad("it is empty")
	}
	if len(name) > maxLen {
		return bad("it is %d bytes long, more than %d", len(name), maxLen)
	}
	allowed := "letters, digits and '-'"
	if dots {
		allowed = "letters, digits, '-', '_' and '.'"
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-':
		case dots && (r == '_' || r == '.'):
		default:
			return bad("character %q at byte %d: only ASCII %s are allowed", r, i, allowed)
		}
	}
	if c := name[0]; c == '.' || c == '-' || c == '_' {
		return bad("it must start with a letter or a digit")
	}
	if name[len(name)-1] == '.' {
		return bad("it ends with '.', which Windows drops from file names")
	}
	if isDeviceName(name) {
		return bad("Windows reserves it for a device")
	}
	return nil
}

// isDeviceName reports whether Windows reads a file name as a device: CON,
// PRN, AUX, NUL, COM0-9, LPT0-9, in any case, alone or before an extension.
func isDeviceName(name string) bool {
	base, _, _ := strings.Cut(name, ".")
	switch strings.ToUpper(base) {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(base) == 4 {
		head := strings.ToUpper(base[:3])
		return (head == "COM" || head == "LPT") && base[3] >= '0' && base[3] <= '9'
	}
	return false
}

// deploymentOfService returns the deployment ID in a service name the host
// reported, when the name is "<prefix>-<valid id>" (the prefix compared
// without case, as Windows does).
func deploymentOfService(prefix, service string) (string, bool) {
	pfx := prefix + "-"
	if len(service) <= len(pfx) || !strings.EqualFold(service[:len(pfx)], pfx) {
		return "", false
	}
	id := service[len(pfx):]
	return id, ValidateDeploymentID(id) == nil
}

// invalidInput is the error for a value the caller gave that cannot be used
// on a host: an installation error whose reason names the fix.
func invalidInput(host string, step derrors.Step, err error) *derrors.Error {
	e := derrors.New(host, step, derrors.InstallationError, err)
	e.Reason = derrors.ReasonInvalidInput
	return e
}
