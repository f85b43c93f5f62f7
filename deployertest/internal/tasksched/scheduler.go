package tasksched

import (
	"crypto/rand"
	"errors"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
)

// HRESULTs the Task Scheduler returns ([MS-TSCH] 2.3.14, [MS-ERREF]).
const (
	SOK                  uint32 = 0x00000000
	SFalse               uint32 = 0x00000001
	SchedSTaskRunning    uint32 = 0x00041301 // last run: still running
	SchedSTaskHasNotRun  uint32 = 0x00041303
	SchedSTaskTerminated uint32 = 0x00041306 // last run: ended by SchRpcStop or the time limit
	SchedETaskNotRunning uint32 = 0x8004130B
	EAccessDenied        uint32 = 0x80070005
	EFileNotFound        uint32 = 0x80070002
	EPathNotFound        uint32 = 0x80070003
	EAlreadyExists       uint32 = 0x800700B7
	EInvalidArg          uint32 = 0x80070057
	ETaskDisabled        uint32 = 0x80041326 // SCHED_E_TASK_DISABLED
)

// hresultWin32 is HRESULT_FROM_WIN32.
func hresultWin32(code uint32) uint32 { return 0x80070000 | code&0xFFFF }

// Registration flags of SchRpcRegisterTask ([MS-TSCH] 3.2.5.4.2).
const (
	FlagValidateOnly uint32 = 0x1
	FlagCreate       uint32 = 0x2
	FlagUpdate       uint32 = 0x4
)

// Task states (TASK_STATE).
const (
	StateDisabled uint32 = 1
	StateReady    uint32 = 3
	StateRunning  uint32 = 4
)

// Scheduler is the Task Scheduler of an emulated host: tasks of the root
// folder, registered, run only when asked (SchRpcRun: a task without
// trigger does not start by itself, as on Windows Server 2025), followed,
// stopped and deleted. A task's action runs through the service manager's
// program model (scm.Manager.Launch). It is safe for concurrent use.
type Scheduler struct {
	mgr *scm.Manager
	now func() time.Time

	mu    sync.Mutex
	tasks map[string]*task
}

// task is one registered task; guarded by Scheduler.mu.
type task struct {
	name     string
	text     string
	def      Definition
	lastRun  time.Time
	hasRun   bool
	lastCode uint32
	proc     *scm.Process
	instance [16]byte
}

// New returns a Scheduler whose tasks run programs through mgr.
func New(mgr *scm.Manager) *Scheduler {
	return &Scheduler{mgr: mgr, now: time.Now, tasks: map[string]*task{}}
}

// taskName returns the name of a path in the root folder (`\Name`);
// false for another folder or a bad name.
func taskName(path string) (string, bool) {
	name, ok := strings.CutPrefix(path, `\`)
	if !ok || name == "" || len(name) > 238 || strings.ContainsAny(name, `\/:*?"<>|`) {
		return "", false
	}
	for _, r := range name {
		if r < 0x20 || r == unicode.ReplacementChar {
			return "", false
		}
	}
	return name, true
}

// Register registers (or replaces) the task at path with the definition
// text, as SchRpcRegisterTask does for the root folder; the HRESULT, and the
// definition's error when it does not parse.
func (s *Scheduler) Register(path, text string, flags uint32, admin bool) (string, uint32, *XMLError) {
	if !admin {
		return "", EAccessDenied, nil
	}
	name, ok := taskName(path)
	if !ok {
		if strings.Count(path, `\`) > 1 {
			return "", EPathNotFound, nil
		}
		return "", EInvalidArg, nil
	}
	def, err := ParseDefinition(text)
	if err != nil {
		var xe *XMLError
		if errors.As(err, &xe) {
			return "", xe.Code, xe
		}
		return "", EInvalidArg, nil
	}
	if flags&(FlagCreate|FlagUpdate|FlagValidateOnly) == 0 || flags&^0x7F != 0 {
		return "", EInvalidArg, nil
	}
	if flags&FlagValidateOnly != 0 {
		return `\` + name, SOK, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	t, exists := s.tasks[key]
	switch {
	case exists && flags&FlagUpdate == 0:
		return "", EAlreadyExists, nil
	case !exists && flags&FlagCreate == 0:
		return "", EFileNotFound, nil
	case exists:
		t.text, t.def = text, def
	default:
		s.tasks[key] = &task{name: name, text: text, def: def}
	}
	return `\` + name, SOK, nil
}

// lookupLocked returns the task at path.
func (s *Scheduler) lookupLocked(path string) (*task, uint32) {
	name, ok := taskName(path)
	if !ok {
		return nil, EFileNotFound
	}
	t, ok := s.tasks[strings.ToLower(name)]
	if !ok {
		return nil, EFileNotFound
	}
	return t, SOK
}

// Definition returns the task's definition text (SchRpcRetrieveTask).
func (s *Scheduler) Definition(path string) (string, uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, hr := s.lookupLocked(path)
	if t == nil {
		return "", hr
	}
	return t.text, SOK
}

// Run starts the task's action now (SchRpcRun) and returns the instance
// GUID. A running task is not started twice (the definition's
// IgnoreNew policy): its running instance is returned. A program that
// cannot start ends the run at once with its HRESULT as the last result.
func (s *Scheduler) Run(path string, admin bool) ([16]byte, uint32) {
	if !admin {
		return [16]byte{}, EAccessDenied
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, hr := s.lookupLocked(path)
	switch {
	case t == nil:
		return [16]byte{}, hr
	case !t.def.Enabled:
		return [16]byte{}, ETaskDisabled
	case t.proc != nil:
		return t.instance, SOK
	}
	_, _ = rand.Read(t.instance[:])
	t.hasRun, t.lastRun = true, s.now()
	cmd := quoteCommand(t.def.Command)
	if t.def.Arguments != "" {
		cmd += " " + t.def.Arguments
	}
	p, err := s.mgr.Launch(cmd)
	if err != nil {
		var code scm.Errno
		if errors.As(err, &code) {
			t.lastCode = hresultWin32(uint32(code))
		} else {
			t.lastCode = hresultWin32(2)
		}
		return t.instance, SOK
	}
	t.proc, t.lastCode = p, SchedSTaskRunning
	go s.follow(t, p)
	return t.instance, SOK
}

// follow records the end of t's run p, and ends it after the time limit.
func (s *Scheduler) follow(t *task, p *scm.Process) {
	var limit <-chan time.Time
	if d := t.def.ExecutionTimeLimit; d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		limit = tm.C
	}
	select {
	case <-p.Done():
	case <-limit:
		p.Kill(SchedSTaskTerminated)
		<-p.Done()
	}
	s.ended(t, p)
}

// ended records the end of t's run p, once p is done.
func (s *Scheduler) ended(t *task, p *scm.Process) {
	s.mu.Lock()
	if t.proc == p {
		t.proc, t.lastCode = nil, p.ExitCode()
	}
	s.mu.Unlock()
}

// quoteCommand quotes a program path holding spaces.
func quoteCommand(c string) string {
	if strings.ContainsAny(c, " \t") && !strings.HasPrefix(c, `"`) {
		return `"` + c + `"`
	}
	return c
}

// Stop ends the task's running instance as TerminateProcess does
// (SchRpcStop): the program gets no chance to clean up, and the last run
// result is SCHED_S_TASK_TERMINATED. A task not running gets
// SCHED_E_TASK_NOT_RUNNING.
func (s *Scheduler) Stop(path string, admin bool) uint32 {
	if !admin {
		return EAccessDenied
	}
	s.mu.Lock()
	t, hr := s.lookupLocked(path)
	var p *scm.Process
	if t != nil {
		p = t.proc
	}
	s.mu.Unlock()
	switch {
	case t == nil:
		return hr
	case p == nil:
		return SchedETaskNotRunning
	}
	p.Kill(SchedSTaskTerminated)
	<-p.Done()
	s.ended(t, p)
	return SOK
}

// Delete removes the task (SchRpcDelete); a running instance goes on, as
// on Windows.
func (s *Scheduler) Delete(path string, admin bool) uint32 {
	if !admin {
		return EAccessDenied
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, hr := s.lookupLocked(path)
	if t == nil {
		return hr
	}
	delete(s.tasks, strings.ToLower(t.name))
	return SOK
}

// LastRun returns the task's last run (SchRpcGetLastRunInfo): its start
// and result, SCHED_S_TASK_RUNNING while it runs; the HRESULT is
// SCHED_S_TASK_HAS_NOT_RUN before the first run.
func (s *Scheduler) LastRun(path string) (time.Time, uint32, uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, hr := s.lookupLocked(path)
	switch {
	case t == nil:
		return time.Time{}, 0, hr
	case !t.hasRun:
		return time.Time{}, 0, SchedSTaskHasNotRun
	}
	return t.lastRun, t.lastCode, SOK
}

// Info returns whether the task is enabled and its state
// (SchRpcGetTaskInfo).
func (s *Scheduler) Info(path string) (bool, uint32, uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, hr := s.lookupLocked(path)
	switch {
	case t == nil:
		return false, 0, hr
	case t.proc != nil:
		return t.def.Enabled, StateRunning, SOK
	case !t.def.Enabled:
		return false, StateDisabled, SOK
	}
	return true, StateReady, SOK
}

// Instances returns the running instances of the task at path, or of
// every task when path is `\` (SchRpcEnumInstances).
func (s *Scheduler) Instances(path string) ([][16]byte, uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][16]byte
	if path == `\` || path == "" {
		for _, t := range s.sortedLocked() {
			if t.proc != nil {
				out = append(out, t.instance)
			}
		}
		return out, SOK
	}
	t, hr := s.lookupLocked(path)
	if t == nil {
		return nil, hr
	}
	if t.proc != nil {
		out = append(out, t.instance)
	}
	return out, SOK
}

// Enum returns the root folder's task names from index start, at most n
// (SchRpcEnumTasks): S_FALSE while more remain, with the next index.
// Hidden tasks are listed only with hidden.
func (s *Scheduler) Enum(folder string, hidden bool, start, n uint32) ([]string, uint32, uint32) {
	if folder != `\` && folder != "" {
		return nil, start, EFileNotFound
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for _, t := range s.sortedLocked() {
		if hidden || !t.def.Hidden {
			names = append(names, t.name)
		}
	}
	if n == 0 {
		n = 1
	}
	if int(start) >= len(names) {
		return nil, start, SOK
	}
	end := min(len(names), int(start)+int(n))
	out := names[start:end]
	if end < len(names) {
		return out, uint32(end), SFalse
	}
	return out, uint32(end), SOK
}

func (s *Scheduler) sortedLocked() []*task {
	out := make([]*task, 0, len(s.tasks))
	for _, t := range s.tasks {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].name) < strings.ToLower(out[j].name) })
	return out
}

// Tasks returns the names of the registered tasks, sorted.
func (s *Scheduler) Tasks() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, t := range s.sortedLocked() {
		out = append(out, t.name)
	}
	return out
}

// Running reports whether the named task runs.
func (s *Scheduler) Running(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[strings.ToLower(name)]
	return ok && t.proc != nil
}
