package scm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// InstallerOptions script the default Program, which models this project's
// remote service running msiexec.
type InstallerOptions struct {
	// Outcomes are msiexec's exit codes for successive runs of the Manager
	// (all services count), e.g. 1618, 1618, 0; the last one repeats. Empty
	// means 0 for every run. A non-zero code is reported as a
	// service-specific exit code (dwWin32ExitCode 1066).
	Outcomes []uint32
	// Duration is how long each install takes once RUNNING.
	Duration time.Duration
	// ProgressLines is how many progress lines are appended to the log while
	// the install runs; 4 when zero.
	ProgressLines int
	// LogFile is the log path (relative to ADMIN$, with / or \) used when the
	// command line names no /l*v (or /log, --log) file. Empty means no log
	// in that case.
	LogFile string
	// NeverRunning makes the program never report RUNNING, so StartServiceW
	// fails with ERROR_SERVICE_REQUEST_TIMEOUT.
	NeverRunning bool
}

// Installer returns a Program that reports RUNNING, "installs" for
// opts.Duration while appending msiexec-style lines to the log, and stops
// with the next scripted outcome as its service-specific exit code. A
// package named with /i (or /package) that maps under ADMIN$ and is missing
// ends the run with 1619 (ERROR_INSTALL_PACKAGE_OPEN_FAILED); a stop request
// ends it with 1602 (ERROR_INSTALL_USEREXIT).
func Installer(opts InstallerOptions) Program {
	if opts.ProgressLines <= 0 {
		opts.ProgressLines = 4
	}
	var (
		mu   sync.Mutex
		next int
	)
	outcome := func() uint32 {
		mu.Lock()
		defer mu.Unlock()
		if len(opts.Outcomes) == 0 {
			return 0
		}
		i := min(next, len(opts.Outcomes)-1)
		next++
		return opts.Outcomes[i]
	}
	return func(ctx context.Context, run *Run) (uint32, bool) {
		if opts.NeverRunning {
			<-ctx.Done()
			return 0, false
		}
		run.ReportRunning()
		args := append(append([]string(nil), run.Args[min(1, len(run.Args)):]...), run.StartArgs...)
		logPath, pkg := msiexecArgs(args)
		lg := &msiLog{}
		switch {
		case logPath != "":
			lg.path, _ = run.HostPath(logPath)
		case opts.LogFile != "":
			lg.path, _ = run.HostPath(`C:\Windows\` + strings.ReplaceAll(opts.LogFile, "/", `\`))
		}
		lg.printf("=== Verbose logging started: %s  Build type: SHIP UNICODE 5.00.10011.00  Calling process: C:\\Windows\\system32\\msiexec.exe ===",
			time.Now().UTC().Format("1/2/2006  15:04:05"))
		lg.printf("MSI (s) (%d): Executing op: ProductInfo(Package=%s)", run.Seq, pkg)
		if pkg != "" {
			if host, ok := run.HostPath(pkg); ok {
				if _, err := os.Stat(host); err != nil {
					lg.printf("MSI (c) (%d): Note: 1: 1309 2: 5 3: %s", run.Seq, pkg)
					return lg.finish(run.Seq, uint32(ErrorInstallPackageOpenFailed))
				}
			}
		}
		code := outcome()
		steps := opts.ProgressLines
		tick := time.NewTicker(max(opts.Duration/time.Duration(steps), time.Millisecond))
		defer tick.Stop()
		for i := 1; i <= steps; i++ {
			if opts.Duration > 0 {
				select {
				case <-ctx.Done():
					lg.printf("MSI (s) (%d): Product: %s -- Installation operation cancelled by a stop request.", run.Seq, pkg)
					return lg.finish(run.Seq, uint32(ErrorInstallUserExit))
				case <-tick.C:
				}
			}
			lg.printf("Action start %s: InstallFiles. Progress %d/%d (%d%%)",
				time.Now().UTC().Format("15:04:05"), i, steps, i*100/steps)
		}
		return lg.finish(run.Seq, code)
	}
}

// msiexecArgs finds the log file (/l*v FILE, /log FILE, --log FILE,
// --log=FILE) and the package (/i FILE, /package FILE) in args.
func msiexecArgs(args []string) (logPath, pkg string) {
	for i := 0; i < len(args); i++ {
		a := strings.ToLower(args[i])
		next := ""
		if i+1 < len(args) {
			next = args[i+1]
		}
		switch {
		case strings.HasPrefix(a, "--log="):
			logPath = args[i][len("--log="):]
		case a == "--log" || a == "-log" || a == "/log" || isMsiLogSwitch(a):
			logPath = next
			i++
		case a == "/i" || a == "-i" || a == "/package" || a == "-package":
			pkg = next
			i++
		}
	}
	return logPath, pkg
}

// isMsiLogSwitch reports whether a is msiexec's /L[iwearucmopvx+!*] switch.
func isMsiLogSwitch(a string) bool {
	if len(a) < 2 || (a[0] != '/' && a[0] != '-') || a[1] != 'l' {
		return false
	}
	return strings.Trim(a[2:], "iwearucmopvx+!*") == ""
}

// msiLog appends lines to a host file; without a path it does nothing.
type msiLog struct{ path string }

func (l *msiLog) printf(format string, args ...any) {
	if l.path == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = fmt.Fprintf(f, format+"\r\n", args...)
}

// finish writes msiexec's closing lines and returns code as a
// service-specific exit code.
func (l *msiLog) finish(seq int, code uint32) (uint32, bool) {
	if code == 0 {
		l.printf("MSI (s) (%d): Product: -- Installation completed successfully.", seq)
	} else {
		l.printf("MSI (s) (%d): Product: -- Installation failed.", seq)
	}
	l.printf("MSI (s) (%d): Windows Installer installed the product. Installation success or error status: %d.", seq, code)
	l.printf("MSI (s) (%d): MainEngineThread is returning %d", seq, code)
	l.printf("=== Verbose logging stopped: %s ===", time.Now().UTC().Format("1/2/2006  15:04:05"))
	return code, code != 0
}
