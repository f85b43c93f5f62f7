package winelab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// NewWith is New with options: a prefix for t, closed in t.Cleanup.
func NewWith(t testing.TB, opts Options) *Wine {
	t.Helper()
	Require(t)
	w, err := StartWith(context.Background(), t.TempDir(), opts)
	if err != nil {
		t.Fatalf("winelab: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Close(); err != nil {
			t.Errorf("winelab close: %v", err)
		}
	})
	t.Logf("winelab: prefix %s in netns %s, wineboot took %v", w.Prefix, w.NetNS, w.BootTime.Round(time.Millisecond))
	return w
}

// CommandLines returns the command line of every process on this machine.
// Wine shows a Windows program's command line as its Linux argv, so this is
// how a test sees what any program under Wine was started with.
func CommandLines() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && len(b) > 0 {
			out = append(out, strings.TrimRight(strings.ReplaceAll(string(b), "\x00", " "), " "))
		}
	}
	return out
}
