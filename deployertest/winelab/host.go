package winelab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest"
)

// PrepareRoot lays out root (a directory for deployertest.WithRoot) so that the
// host's C:\Windows, the directory behind ADMIN$, is the Wine prefix's
// drive_c/windows: root/C is a directory of its own (behind C$) and
// root/C/Windows a symbolic link to prefix/drive_c/windows.
//
// winhost creates C:\Windows\Temp with that spelling while Wine's prefix has
// windows/temp; so that the prefix does not gain a second, empty "Temp"
// directory, PrepareRoot adds a relative link windows/Temp → temp, which the
// returned undo removes (call it after the host is closed). Likewise it adds
// an empty windows/syswow64 when the prefix has none (see below); undo
// removes it only if it is still empty.
func PrepareRoot(prefix, root string) (undo func() error, err error) {
	windows := filepath.Join(prefix, "drive_c", "windows")
	fi, err := os.Stat(windows)
	if err != nil {
		return nil, fmt.Errorf("winelab: prefix not initialized: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("winelab: %s is not a directory", windows)
	}
	cdir := filepath.Join(root, "C")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return nil, fmt.Errorf("winelab: %w", err)
	}
	if err := os.Symlink(windows, filepath.Join(cdir, "Windows")); err != nil {
		return nil, fmt.Errorf("winelab: %w", err)
	}
	var made []string // removed by undo, last first
	undo = func() error {
		var errs []error
		for i := len(made) - 1; i >= 0; i-- {
			err := os.Remove(made[i])
			if err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, syscall.ENOTEMPTY) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	if _, err := os.Lstat(filepath.Join(windows, "Temp")); errors.Is(err, os.ErrNotExist) {
		if name := findFold(windows, "Temp"); name != "" {
			link := filepath.Join(windows, "Temp")
			if err := os.Symlink(name, link); err != nil {
				return nil, errors.Join(fmt.Errorf("winelab: %w", err), undo())
			}
			made = append(made, link)
		}
	}
	// 64-bit Windows has C:\Windows\SysWOW64, and the deployer tells the
	// host's architecture by it; a prefix made by wine64 without wine32 has
	// none. An empty one makes the prefix look like the x64 Windows it
	// stands for (and it can run no 32-bit program anyway).
	if findFold(windows, "SysWOW64") == "" {
		wow := filepath.Join(windows, "syswow64")
		if err := os.Mkdir(wow, 0o755); err != nil {
			return nil, errors.Join(fmt.Errorf("winelab: %w", err), undo())
		}
		made = append(made, wow)
	}
	return undo, nil
}

// findFold returns the entry of dir whose name equals name ignoring case.
func findFold(dir, name string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if strings.EqualFold(e.Name(), name) {
			return e.Name()
		}
	}
	return ""
}

// DefaultStartTimeout is the emulated service manager's start timeout in
// Wine mode when HostOptions.StartTimeout is 0: `wine sc create` plus
// `wine sc start` of a Go service take 1-5 s on an idle prefix and far more
// on a loaded machine (Windows itself waits 30 s).
const DefaultStartTimeout = 3 * time.Minute

// HostOptions configure StartHost.
type HostOptions struct {
	// Program tunes the Program that mirrors services into Wine.
	Program ProgramOptions
	// StartTimeout is the emulated service manager's start timeout;
	// DefaultStartTimeout when 0.
	StartTimeout time.Duration
	// Winhost are more options of the emulated host (WithRoot,
	// WithStartTimeout and WithProgram are set by StartHost).
	Winhost []deployertest.Option
}

// Host is an emulated Windows host in Wine mode: its ADMIN$ is a Wine
// prefix's C:\windows and every service its service manager starts runs in
// Wine's service manager (see Program).
type Host struct {
	*deployertest.Host
	// Wine is the prefix whose C:\windows is ADMIN$ and whose service
	// manager runs the services.
	Wine *Wine

	mu   sync.Mutex
	runs []Record
}

// Runs returns the records of the runs that finished so far, in order.
func (h *Host) Runs() []Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Record(nil), h.runs...)
}

// StartHost starts an emulated host for t whose ADMIN$ is w's C:\windows and
// whose services run in w's service manager, and closes it on cleanup
// (stopping and deleting any service still running in Wine).
func StartHost(t testing.TB, w *Wine, opts HostOptions) *Host {
	t.Helper()
	root := t.TempDir()
	undo, err := PrepareRoot(w.Prefix, root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := undo(); err != nil {
			t.Errorf("winelab: %v", err)
		}
	})
	h := &Host{Wine: w}
	popts := opts.Program
	onRun := popts.OnRun
	popts.OnRun = func(r Record) {
		h.mu.Lock()
		h.runs = append(h.runs, r)
		h.mu.Unlock()
		if onRun != nil {
			onRun(r)
		}
	}
	start := opts.StartTimeout
	if start <= 0 {
		start = DefaultStartTimeout
	}
	wopts := append([]deployertest.Option{deployertest.WithRoot(root), deployertest.WithStartTimeout(start),
		deployertest.WithProgram(Program(w, popts))}, opts.Winhost...)
	h.Host = deployertest.Start(t, wopts...)
	return h
}
