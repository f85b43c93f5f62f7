package remotesvc

import (
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"strings"

	"github.com/nxdeploy/deployer/internal/remotesvc/build"
)

//go:generate go run ./internal/genbin -out bin

//go:embed bin/nxsvc-amd64.exe bin/nxsvc-386.exe
var binaries embed.FS

// ErrUnknownArch is returned (wrapped) for an architecture nxsvc does not run on.
var ErrUnknownArch = errors.New("remotesvc: no nxsvc build for architecture")

// Arch normalizes a host architecture: "amd64", "386" and "arm64" are
// returned as they are; Windows' PROCESSOR_ARCHITECTURE values "AMD64",
// "x86", "ARM64" (any case) and the common aliases "x64", "x86_64",
// "i386", "i686", "aarch64" are mapped.
func Arch(name string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "amd64", "x64", "x86_64", "em64t":
		return "amd64", nil
	case "386", "x86", "i386", "i686":
		return "386", nil
	case "arm64", "aarch64":
		return "arm64", nil
	}
	return "", fmt.Errorf("%w %q", ErrUnknownArch, name)
}

// BuildFor returns the build of nxsvc a host of architecture arch runs:
// "amd64" on x64 Windows, "386" on x86 Windows and on ARM64 Windows, which
// runs x86 programs under its built-in emulation on every version (x64
// emulation needs Windows 11; see the package documentation).
func BuildFor(arch string) (string, error) {
	a, err := Arch(arch)
	if err != nil {
		return "", err
	}
	if a == "arm64" {
		return "386", nil
	}
	return a, nil
}

// Arches returns the builds nxsvc is embedded in.
func Arches() []string { return build.Arches() }

// FileName returns the name of the embedded binary a host of architecture
// arch runs, for example "nxsvc-amd64.exe".
func FileName(arch string) (string, error) {
	b, err := BuildFor(arch)
	if err != nil {
		return "", err
	}
	return build.FileName(b), nil
}

// Binary returns a copy of the nxsvc executable a host of architecture
// arch runs.
func Binary(arch string) ([]byte, error) {
	name, err := FileName(arch)
	if err != nil {
		return nil, err
	}
	return binaries.ReadFile("bin/" + name)
}

// SHA256 returns the SHA-256 digest of Binary(arch).
func SHA256(arch string) ([sha256.Size]byte, error) {
	b, err := Binary(arch)
	if err != nil {
		return [sha256.Size]byte{}, err
	}
	return sha256.Sum256(b), nil
}
