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

//go:embed bin/nxsvc-amd64.exe bin/nxsvc-386.exe bin/nxsvc-arm64.exe
var binaries embed.FS

// ErrUnknownArch is returned (wrapped) for an architecture nxsvc is not built for.
var ErrUnknownArch = errors.New("remotesvc: no nxsvc binary for architecture")

// Arch normalizes an architecture name to the GOARCH nxsvc is built for:
// "amd64", "386" and "arm64" are returned as they are; Windows'
// PROCESSOR_ARCHITECTURE values "AMD64", "x86", "ARM64" (any case) and the
// common aliases "x64", "x86_64", "i386", "i686", "aarch64" are mapped.
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

// Arches returns the GOARCH names nxsvc is embedded for.
func Arches() []string { return build.Arches() }

// FileName returns the name of the embedded binary for arch (GOARCH or
// PROCESSOR_ARCHITECTURE name), for example "nxsvc-amd64.exe".
func FileName(arch string) (string, error) {
	a, err := Arch(arch)
	if err != nil {
		return "", err
	}
	return build.FileName(a), nil
}

// Binary returns a copy of the nxsvc executable for arch.
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
