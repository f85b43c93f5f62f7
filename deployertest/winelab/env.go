package winelab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/nxdeploy/deployer/deployertest/lab"
)

// LabEnv is the environment variable that turns skips into failures: CI sets
// DEPLOYER_LAB=required so a missing tool cannot silently skip the proof.
const LabEnv = lab.EnvLab

// baseTools are the programs every Wine lab needs on PATH (besides being root
// for ip netns).
func baseTools() []string { return []string{"wine", "wineserver", "ip", "x86_64-w64-mingw32-gcc"} }

// Check reports why a Wine lab cannot run here, or nil. extraTools names more
// programs the caller needs (for example "wixl").
func Check(extraTools ...string) error {
	var errs []error
	if os.Geteuid() != 0 {
		errs = append(errs, errors.New("not root (ip netns needs it)"))
	}
	for _, tool := range append(baseTools(), extraTools...) {
		if _, err := exec.LookPath(tool); err != nil {
			errs = append(errs, fmt.Errorf("%s not found (apt-get install %s)", tool, debianPackage(tool)))
		}
	}
	return errors.Join(errs...)
}

func debianPackage(tool string) string {
	switch tool {
	case "wine", "wineserver":
		return "--no-install-recommends wine wine64"
	case "ip":
		return "iproute2"
	case "x86_64-w64-mingw32-gcc":
		return "gcc-mingw-w64-x86-64-win32"
	case "wixl":
		return "wixl"
	case "msiinfo":
		return "msitools"
	}
	return tool
}

// Require skips t when the Wine lab cannot run here (see Check), or fails it
// when DEPLOYER_LAB=required; it delegates to lab.Require.
func Require(t testing.TB, extraTools ...string) {
	t.Helper()
	lab.Require(t, append([]string{"root", "netns", "wine", "wineserver", "mingw"}, extraTools...)...)
	if err := Check(extraTools...); err != nil {
		msg := "wine lab unavailable: " + strings.ReplaceAll(err.Error(), "\n", "; ")
		if os.Getenv(LabEnv) == "required" {
			t.Fatal(msg + " (" + LabEnv + "=required)")
		}
		t.Skip(msg)
	}
}
