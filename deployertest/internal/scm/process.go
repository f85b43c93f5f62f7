package scm

import (
	"context"
	"sync"

	"github.com/nxdeploy/deployer/msi"
)

// Process is a program the Manager's program model runs without a service,
// as the Task Scheduler starts a task's action: the program's
// Run.ReportRunning does nothing and Run.Service is empty.
type Process struct {
	// PID is the process identifier.
	PID uint32

	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	code   uint32
	killed bool
}

// Launch starts commandLine (a program under the system root and its
// arguments) with the Manager's program, as CreateProcess would: it fails
// with ERROR_FILE_NOT_FOUND when the executable is missing, with the
// antivirus' or the loader model's refusal, and with
// ERROR_SHUTDOWN_IN_PROGRESS after Close. The process ends when the program
// returns, when Kill is called or when the Manager closes.
func (m *Manager) Launch(commandLine string) (*Process, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrorShutdownInProgress
	}
	if code := launchError(m.mapper, commandLine, m.opts.Blocked); code != 0 {
		return nil, code
	}
	if r, ok := m.load(commandLine); ok && !r.OK() {
		return nil, Errno(r.Code)
	}
	cmd := m.mapper.expand(commandLine)
	args := msi.SplitCommandLine(cmd)
	exe, _ := m.mapper.HostPath(args[0])
	m.runSeq++
	m.nextPID += 4
	run := &Run{CommandLine: cmd, Args: args, Executable: exe, Seq: m.runSeq, mapper: m.mapper, running: func() {}}
	ctx, cancel := context.WithCancel(m.base)
	p := &Process{PID: m.nextPID, cancel: cancel, done: make(chan struct{})}
	release := func() {}
	if exe != "" && m.opts.MapImage != nil {
		release = m.opts.MapImage(exe)
	}
	prog := m.prog
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer cancel()
		code, _ := prog(ctx, run)
		release()
		p.mu.Lock()
		if !p.killed {
			p.code = code
		}
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// Kill ends the process as TerminateProcess does, with exit code code: the
// program's own exit code is dropped. It does not wait (see Done).
func (p *Process) Kill(code uint32) {
	p.mu.Lock()
	select {
	case <-p.done:
	default:
		p.killed, p.code = true, code
	}
	p.mu.Unlock()
	p.cancel()
}

// Done is closed when the process has ended.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode returns the process's exit code once Done is closed.
func (p *Process) ExitCode() uint32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.code
}
