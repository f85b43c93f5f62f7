package winelab

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/nxdeploy/deployer/internal/winpath"
)

//go:embed shim/bcryptprimitives.c
var shimSource []byte

// Wine is one running Wine prefix inside its own network namespace.
type Wine struct {
	// Prefix is the WINEPREFIX directory; drive C: is Prefix/drive_c.
	Prefix string
	// NetNS is the name of the network namespace every wine process runs in.
	NetNS string
	// BootTime is how long initializing the prefix (wineboot) took.
	BootTime time.Duration

	env       []string
	server    *exec.Cmd
	serverErr chan error
	closeOnce sync.Once
	closeErr  error

	bridgeOnce sync.Once // pipebridge.exe installed
	bridgeErr  error
}

// Start creates a Wine prefix in dir (which must exist and should be empty),
// a network namespace with only loopback, starts a persistent wineserver in
// it, initializes the prefix (wineboot, through the first wine command) and
// installs the ProcessPrng shim. Close undoes everything but dir.
func Start(ctx context.Context, dir string) (*Wine, error) {
	return StartWith(ctx, dir, Options{})
}

// StartWith is Start with options (see Options).
func StartWith(ctx context.Context, dir string, opts Options) (_ *Wine, err error) {
	if err := Check(); err != nil {
		return nil, err
	}
	prefix := filepath.Join(dir, "prefix")
	if err := os.MkdirAll(prefix, 0o755); err != nil {
		return nil, err
	}
	w := &Wine{Prefix: prefix}
	w.env = append(os.Environ(),
		"WINEPREFIX="+prefix,
		"WINEARCH=win64",
		"WINEDEBUG=-all",
		"WINEDLLOVERRIDES=mscoree,mshtml=",
		"DISPLAY=",
		"WAYLAND_DISPLAY=",
	)
	defer func() {
		if err != nil {
			_ = w.Close()
		}
	}()
	if w.NetNS, err = createNetNS(ctx); err != nil {
		return nil, err
	}

	w.server = w.Command("wineserver", "-f", "-p")
	serverLog, err := os.Create(filepath.Join(dir, "wineserver.log"))
	if err != nil {
		return nil, err
	}
	defer serverLog.Close()
	w.server.Stdout, w.server.Stderr = serverLog, serverLog
	if err := w.server.Start(); err != nil {
		return nil, fmt.Errorf("start wineserver: %w", err)
	}
	w.serverErr = make(chan error, 1)
	go func(c *exec.Cmd) { w.serverErr <- c.Wait() }(w.server)

	// The first wine command initializes the prefix (the loader runs
	// wineboot --init and waits for it). Running `wineboot -i` explicitly on a
	// fresh prefix instead leaves two services.exe serving \pipe\svcctl, and
	// SCM calls then fail at random.
	start := time.Now()
	bootCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := w.Run(bootCtx, "cmd", "/c", "exit", "0"); err != nil {
		serverOut, _ := os.ReadFile(serverLog.Name())
		return nil, fmt.Errorf("initialize prefix: %w (wineserver: %s)", err, bytes.TrimSpace(serverOut))
	}
	w.BootTime = time.Since(start)
	if !opts.NoShim {
		if err := w.installShim(ctx, dir); err != nil {
			return nil, err
		}
	}
	if opts.WindowsVersion != "" {
		if err := w.SetWindowsVersion(bootCtx, opts.WindowsVersion); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// createNetNS adds a namespace named dl<pid>x<random>wine and brings up its
// lo. The dl<pid>x prefix is package lab's: lab.Sweep removes the namespace,
// and kills the Wine processes inside it, if this process dies without Close.
func createNetNS(ctx context.Context) (string, error) {
	_ = lab.Sweep() // best effort: reclaim what crashed runs left
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := fmt.Sprintf("dl%dx%swine", os.Getpid(), hex.EncodeToString(b[:]))
	if out, err := exec.CommandContext(ctx, "ip", "netns", "add", name).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ip netns add %s: %w: %s", name, err, bytes.TrimSpace(out))
	}
	if out, err := exec.CommandContext(ctx, "ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		_ = exec.Command("ip", "netns", "del", name).Run()
		return "", fmt.Errorf("ip -n %s link set lo up: %w: %s", name, err, bytes.TrimSpace(out))
	}
	return name, nil
}

// installShim compiles bcryptprimitives.c with mingw-w64 in workDir and copies
// the DLL into system32.
func (w *Wine) installShim(ctx context.Context, workDir string) error {
	src := filepath.Join(workDir, "bcryptprimitives.c")
	dll := filepath.Join(workDir, "bcryptprimitives.dll")
	if err := os.WriteFile(src, shimSource, 0o644); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "x86_64-w64-mingw32-gcc", "-shared", "-O2", "-s",
		"-o", dll, src, "-ladvapi32").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build ProcessPrng shim: %w: %s", err, bytes.TrimSpace(out))
	}
	b, err := os.ReadFile(dll)
	if err != nil {
		return err
	}
	dst, err := w.Path(`C:\windows\system32\bcryptprimitives.dll`)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}

// Command returns a command that runs name with args inside the namespace with
// the prefix's environment.
func (w *Wine) Command(name string, args ...string) *exec.Cmd {
	return w.CommandContext(context.Background(), name, args...)
}

// CommandContext is Command with a context that kills the command.
func (w *Wine) CommandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", w.NetNS, name}, args...)...)
	cmd.Env = w.env
	cmd.Dir = w.Prefix
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// RunError is returned by Run when the program exits with a non-zero code.
type RunError struct {
	// Args are wine's arguments.
	Args []string
	// ExitCode is the program's exit code.
	ExitCode int
	// Stdout and Stderr are the program's output.
	Stdout, Stderr string
}

func (e *RunError) Error() string {
	return fmt.Sprintf("wine %s: exit code %d: %s%s", strings.Join(e.Args, " "), e.ExitCode,
		strings.TrimSpace(e.Stdout), strings.TrimSpace(" "+e.Stderr))
}

// Run runs `wine args...` in the namespace and returns its standard output.
// A non-zero exit code yields a *RunError (with the output). Output goes
// through files, not pipes, because wine leaves helper processes (services,
// explorer) running that would hold a pipe open.
//
// When Wine's launcher could not start the program at all ("Application
// could not be started", "ShellExecuteEx failed": seen under load, the
// program never ran), the command is run again, up to three times.
func (w *Wine) Run(ctx context.Context, args ...string) (string, error) {
	wait := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := w.runOnce(ctx, args...)
		var re *RunError
		if attempt == 3 || !errors.As(err, &re) || !launchFailed(re) {
			return out, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return out, err
		case <-t.C:
		}
		wait *= 2
	}
}

// launchFailed reports Wine's own failure to start a program, as opposed to
// the program's failure.
func launchFailed(e *RunError) bool {
	text := e.Stdout + e.Stderr
	return strings.Contains(text, "ShellExecuteEx failed") || strings.Contains(text, "Application could not be started") ||
		// The loader found its server directory under /tmp wrong, repaired
		// it and asks for the command again.
		strings.Contains(text, "fixed a temporary directory error, please try running the same command again")
}

func (w *Wine) runOnce(ctx context.Context, args ...string) (string, error) {
	cmd := w.CommandContext(ctx, "wine", args...)
	stdout, err := os.CreateTemp("", "winelab-out-")
	if err != nil {
		return "", err
	}
	defer os.Remove(stdout.Name())
	defer stdout.Close()
	stderr, err := os.CreateTemp("", "winelab-err-")
	if err != nil {
		return "", err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err = cmd.Run()
	outB, _ := os.ReadFile(stdout.Name())
	errB, _ := os.ReadFile(stderr.Name())
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) && ctx.Err() == nil {
		return string(outB), &RunError{Args: args, ExitCode: exitErr.ExitCode(), Stdout: string(outB), Stderr: string(errB)}
	}
	if err != nil {
		return string(outB), fmt.Errorf("wine %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(errB))
	}
	return string(outB), nil
}

// SC runs Wine's `sc args...` (the service control tool).
func (w *Wine) SC(ctx context.Context, args ...string) (string, error) {
	return w.Run(ctx, append([]string{"sc"}, args...)...)
}

// Net runs Wine's `net args...`.
func (w *Wine) Net(ctx context.Context, args ...string) (string, error) {
	return w.Run(ctx, append([]string{"net"}, args...)...)
}

// Path maps an absolute Windows path on drive C: (C:\windows\x) to the Linux
// path inside the prefix. Existing components are matched case-insensitively,
// as Wine does; missing ones keep the given spelling.
func (w *Wine) Path(winPath string) (string, error) {
	if len(winPath) < 3 || !strings.EqualFold(winPath[:3], `C:\`) {
		return "", fmt.Errorf("winelab: %q is not an absolute path on drive C", winPath)
	}
	p := filepath.Join(w.Prefix, "drive_c")
	for _, c := range strings.Split(winPath[3:], `\`) {
		switch c {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("winelab: %q has a .. component", winPath)
		}
		p = filepath.Join(p, winpath.MatchName(p, c))
	}
	return p, nil
}

// Close stops every Wine process of the prefix (wineserver -k, then the
// persistent wineserver by PID) and deletes the namespace. It is safe to call
// more than once.
func (w *Wine) Close() error {
	w.closeOnce.Do(func() {
		var errs []error
		if w.server != nil && w.server.Process != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			_ = w.CommandContext(ctx, "wineserver", "-k").Run()
			cancel()
			select {
			case <-w.serverErr:
			case <-time.After(10 * time.Second):
				_ = w.server.Process.Kill()
				<-w.serverErr
			}
		}
		if w.NetNS != "" {
			if out, err := exec.Command("ip", "netns", "del", w.NetNS).CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("ip netns del %s: %w: %s", w.NetNS, err, bytes.TrimSpace(out)))
			}
		}
		w.closeErr = errors.Join(errs...)
	})
	return w.closeErr
}

// New starts a Wine lab for t in t.TempDir and closes it in t.Cleanup; it skips
// (or fails under DEPLOYER_LAB=required) when the tools are missing.
func New(t testing.TB) *Wine {
	t.Helper()
	return NewWith(t, Options{})
}

// Shared lets the tests of one package share one Wine lab: the first Get
// starts it, later ones reuse it, and the package's TestMain calls Close after
// m.Run. The zero value is ready to use.
type Shared struct {
	// Options are given to StartWith by the first Get.
	Options Options

	once sync.Once
	dir  string
	wine *Wine
	err  error
}

// Get returns the shared lab, starting it on first use; it skips or fails t
// like Require, and fails t if the lab could not start.
func (s *Shared) Get(t testing.TB) *Wine {
	t.Helper()
	Require(t)
	s.once.Do(func() {
		s.dir, s.err = os.MkdirTemp("", "winelab-")
		if s.err != nil {
			return
		}
		s.wine, s.err = StartWith(context.Background(), s.dir, s.Options)
	})
	if s.err != nil {
		t.Fatalf("winelab: %v", s.err)
	}
	return s.wine
}

// Close closes the shared lab, if started, and removes its directory.
func (s *Shared) Close() error {
	var errs []error
	if s.wine != nil {
		errs = append(errs, s.wine.Close())
	}
	if s.dir != "" {
		errs = append(errs, os.RemoveAll(s.dir))
	}
	return errors.Join(errs...)
}
