package winelab

import (
	"context"
	"fmt"
	"strings"
)

// Options change the prefix StartWith makes.
type Options struct {
	// NoShim leaves out the ProcessPrng shim (bcryptprimitives.dll), so the
	// prefix loads programs as Windows 7, 8.1 and Server 2012 R2 do: a Go
	// ≥ 1.22 program aborts there, as it does on those Windows.
	NoShim bool
	// WindowsVersion is the version the prefix reports, as winecfg names
	// it ("win7", "win81", "win10"); empty leaves Wine's default.
	WindowsVersion string
}

// SetWindowsVersion makes the prefix report version ("win7", "win81",
// "win10", ... as `winecfg -v` takes them) and checks that `ver` agrees.
func (w *Wine) SetWindowsVersion(ctx context.Context, version string) error {
	want, ok := map[string]string{"win7": "6.1", "win2008r2": "6.1", "win8": "6.2", "win81": "6.3", "win10": "10.0"}[version]
	if !ok {
		return fmt.Errorf("winelab: unknown Windows version %q", version)
	}
	if _, err := w.Run(ctx, "winecfg", "-v", version); err != nil {
		return fmt.Errorf("winelab: winecfg -v %s: %w", version, err)
	}
	out, err := w.Run(ctx, "cmd", "/c", "ver")
	if err != nil {
		return fmt.Errorf("winelab: ver: %w", err)
	}
	if !strings.Contains(out, "Windows "+want+".") {
		return fmt.Errorf("winelab: after winecfg -v %s the prefix reports %q", version, strings.TrimSpace(out))
	}
	return nil
}
