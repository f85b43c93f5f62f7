package lab

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stopGrace is how long a stopped process group gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// logTailLines is how many lines of a process log are printed when a test fails.
const logTailLines = 40

// proc is a long-running process started by the lab in its own session.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when cmd.Wait returns
}

// Start starts a long-running process in the host's namespace, in a new session (setsid) so that it and its
// children form their own process group. Its stdout and stderr go to a log file in t.TempDir(). On cleanup the
// group is sent SIGTERM, then SIGKILL after 5 s, by PID; if t failed, the log's tail is printed first.
// The lab waits for the process: callers must not call Wait on the returned command.
func (h *Host) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return startProc(t, h.Command(context.Background(), name, args...), name).cmd
}

// Start is Host.Start for the client namespace.
func (n *Net) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	return startProc(t, n.Command(context.Background(), name, args...), name).cmd
}

// startProc starts cmd under setsid with output to a log file and registers its teardown.
func startProc(t testing.TB, cmd *exec.Cmd, name string) *proc {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), filepath.Base(name)+"-*.log")
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("lab: starting %s: %v", name, err)
	}
	p := &proc{cmd: cmd, log: f.Name(), done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("lab: tail of %s (pid %d):\n%s", p.log, cmd.Process.Pid, tailFile(p.log, logTailLines))
		}
		stopGroup(cmd.Process.Pid, p.done)
	})
	return p
}

// exited reports whether the process has exited.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stopGroup ends the process group pgid (a session leader's PID): SIGTERM, then SIGKILL after stopGrace, and
// waits until the leader is reaped (done closed) and no process of the group is left.
func stopGroup(pgid int, done <-chan struct{}) {
	_ = unix.Kill(-pgid, unix.SIGTERM)
	if waitGroupGone(pgid, done, stopGrace) {
		return
	}
	_ = unix.Kill(-pgid, unix.SIGKILL)
	waitGroupGone(pgid, done, stopGrace)
}

// waitGroupGone waits up to d for the leader to be reaped and the group to be empty.
func waitGroupGone(pgid int, done <-chan struct{}, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		select {
		case <-done:
			if !groupAlive(pgid) {
				return true
			}
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// groupAlive reports whether any process of group pgid still exists (zombies excluded).
func groupAlive(pgid int) bool {
	if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	// kill(-pgid, 0) also succeeds for zombies awaiting reaping by init; look for live members.
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range entries {
		pid := 0
		for _, c := range e.Name() {
			if c < '0' || c > '9' {
				pid = -1
				break
			}
			pid = pid*10 + int(c-'0')
		}
		if pid <= 0 {
			continue
		}
		if g, err := unix.Getpgid(pid); err == nil && g == pgid && !isZombie(pid) {
			return true
		}
	}
	return false
}

// tailFile returns the last n lines of a file.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(string(bytes.TrimRight(b, "\n")), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
