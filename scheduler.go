package deployer

// scheduler.go: the long-lived Deployer. Hosts are scheduled, rescheduled
// and cancelled at any time; a queue feeds at most Concurrency workers;
// hosts that may be retried wait on a timer; Drain and Close end it.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
)

// Errors of the Deployer's methods.
var (
	// ErrClosed: the Deployer was closed.
	ErrClosed = errors.New("deployer: the Deployer is closed")
	// ErrDraining: the Deployer is draining and starts no new host.
	ErrDraining = errors.New("deployer: the Deployer is draining: it starts no new host")
	// ErrUnknownHost: no host of that key was scheduled or is in the store.
	ErrUnknownHost = errors.New("deployer: unknown host")
)

// Why hosts in flight or waiting were sent back (the cause of their
// "cancelled" error).
var (
	errCancelledByOperator = errors.New("cancelled by the operator")
	errRunCancelled        = errors.New("the run was cancelled")
	errDrained             = errors.New("not started: the Deployer is draining")
	errDrainDeadline       = errors.New("stopped: the drain's deadline passed before the installation finished")
	errClosing             = errors.New("stopped: the Deployer was closed")
)

// phase is where an entry is in the Deployer's machinery.
type phase int

const (
	phaseIdle    phase = iota // resting; nothing to do until scheduled
	phaseQueued               // waiting for a worker
	phaseWaiting              // waiting for its retry time
	phaseRunning              // a worker is on it
)

// entry is one host the Deployer knows.
type entry struct {
	key  string
	host discovery.Host
	rec  HostRecord

	phase  phase
	timer  *time.Timer
	cancel context.CancelCauseFunc // of the attempt under way

	// What the host was before it was scheduled, restored if it is
	// cancelled before it finishes.
	prev      State
	prevPkg   *PackageIdentity
	prevErr   *ErrorInfo
	cleanOnly bool      // remove leftovers only, install nothing
	since     time.Time // when it was scheduled: the retry window's start
	busy      int       // busy retries so far

	waiters []*batch
}

// batch is what one Run (or Schedule) waits for.
type batch struct {
	keys    []string
	pending int
	done    chan struct{}
}

// Deployer installs a package on hosts and keeps track of them, for as
// long as the Engine runs: hosts are scheduled (Schedule, Run), rescheduled
// (Reschedule, RescheduleFailed) and cancelled (Cancel) at any time, at
// most Config.Concurrency at once; the hosts' records are in the Store and
// every change is an Event. Drain stops it gracefully, Close at once.
// Its methods are safe for concurrent use.
type Deployer struct {
	cfg    Config
	pkg    PackageIdentity
	budget *logonBudget
	writer *storeWriter
	events *outbox
	base   context.Context // the attempts' parent; cancelled by Close
	abort  context.CancelFunc

	mu       sync.Mutex
	hosts    map[string]*entry
	queue    []*entry
	workers  int
	active   int           // entries not idle
	idle     chan struct{} // closed while no entry is active
	draining bool
	closed   bool
	wg       sync.WaitGroup // workers
}

// New returns a Deployer for cfg. It inspects the package first (readable,
// an MSI with a ProductCode; its version and SHA-256 recorded per host) and
// fails with an error naming the file before any host is touched; then it
// loads the Store's records (the logon failures still within their window
// count against the budget again). A package on a share (Package.UNC) is
// read by the hosts, not the Engine, so only its path is checked.
//
// New starts nothing: hosts are given to Schedule or Run. Close the
// Deployer when done with it.
func New(cfg Config) (*Deployer, error) {
	pkg, err := inspectPackage(cfg.Package)
	if err != nil {
		return nil, err
	}
	if pkg.SHA256 != "" {
		cfg.Package.verified, _ = hex.DecodeString(pkg.SHA256)
	}
	cfg = cfg.withDefaults()
	recs, err := cfg.Store.Load(context.Background())
	if err != nil {
		return nil, fmt.Errorf("deployer: loading the store: %w", err)
	}
	base, abort := context.WithCancel(context.Background())
	d := &Deployer{cfg: cfg, pkg: pkg, budget: newLogonBudget(cfg.LogonFailureBudget, cfg.LogonFailureWindow),
		writer: newStoreWriter(cfg.Store), base: base, abort: abort, hosts: make(map[string]*entry, len(recs)),
		idle: make(chan struct{})}
	close(d.idle)
	d.events = newOutbox(func(ev Event) {
		if d.cfg.OnEvent != nil {
			d.onEvent(ev)
		}
		if d.cfg.Logger != nil {
			logEvent(d.cfg.Logger, ev)
		}
	})
	for _, r := range recs {
		if err := validRecord(r); err != nil {
			if cfg.Logger != nil {
				cfg.Logger.Warn("record of the store left out", "host", r.Key, "error", err.Error())
			}
			continue
		}
		d.hosts[r.Key] = &entry{key: r.Key, host: hostOfRecord(r), rec: r.clone()}
		if !r.LogonFailedAt.IsZero() {
			d.budget.record(r.Account, r.LogonFailedAt)
		}
	}
	return d, nil
}

// Package returns the identity of the package the Deployer installs.
func (d *Deployer) Package() PackageIdentity { return d.pkg }

// hostOfRecord rebuilds a host known only from the store.
func hostOfRecord(r HostRecord) discovery.Host {
	h := discovery.Host{Source: "store"}
	if a, err := netip.ParseAddr(r.Addr); err == nil {
		h.Addr = a
	}
	if a, err := netip.ParseAddr(r.Key); err != nil || a != h.Addr {
		h.Name = r.Key
	}
	return h
}

// hostKey is the key of a host in the Deployer and its store.
func hostKeyOf(h discovery.Host) string {
	if h.Name == "" && !h.Addr.IsValid() && h.Source != "" {
		return h.Source
	}
	return h.Label()
}

// Schedule adds hosts to the Deployer. Each host is decided at once from
// what the Deployer knows of it (its record): a new host, a Discovered one,
// a host With Collector with another package, one whose failure may be
// retried, or one that was in flight when the Engine stopped is scheduled
// for installation; a host With Collector with this package, or one that
// Failed with an error the Deployer does not retry by itself (see
// Reschedule), is skipped with an event saying why; a host already
// scheduled or in flight is left as it is, never started twice. Hosts
// holding leftovers of an earlier deployment get an attempt that removes
// them even when skipped.
//
// It returns ErrDraining or ErrClosed when the Deployer no longer starts
// hosts.
func (d *Deployer) Schedule(hosts ...discovery.Host) error {
	_, err := d.schedule(hosts, false)
	return err
}

func (d *Deployer) schedule(hosts []discovery.Host, wait bool) (*batch, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.acceptingLocked(); err != nil {
		return nil, err
	}
	b := &batch{done: make(chan struct{})}
	seen := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		key := hostKeyOf(h)
		if seen[key] {
			continue
		}
		seen[key] = true
		b.keys = append(b.keys, key)
		e := d.hosts[key]
		if e == nil {
			e = &entry{key: key, host: h, rec: HostRecord{Key: key, State: Discovered}}
			d.hosts[key] = e
		} else if e.phase == phaseIdle {
			e.host = h
		}
		if h.Addr.IsValid() && e.phase == phaseIdle {
			e.rec.Addr = h.Addr.String()
		}
		if e.phase == phaseIdle {
			d.admitLocked(e, false)
		}
		if wait && e.phase != phaseIdle {
			e.waiters = append(e.waiters, b)
			b.pending++
		}
	}
	if b.pending == 0 {
		close(b.done)
	}
	d.dispatchLocked()
	return b, nil
}

func (d *Deployer) acceptingLocked() error {
	switch {
	case d.closed:
		return ErrClosed
	case d.draining:
		return ErrDraining
	}
	return nil
}

// admitLocked decides what to do with an idle host given to Schedule
// (explicit: to Reschedule).
func (d *Deployer) admitLocked(e *entry, explicit bool) {
	r := &e.rec
	from := r.State
	if e.host.Err != nil && e.host.Name == "" && !e.host.Addr.IsValid() {
		// Nothing to connect to.
		r.Error, r.Skipped = NewErrorInfo(e.key, derrors.Wrap(e.key, derrors.StepDiscover, e.host.Err)), ""
		r.State = Failed
		d.noteLocked(e, from, nil)
		return
	}
	msg := ""
	cleanOnly := false
	switch {
	case explicit:
		msg = "rescheduled"
	case r.DeploymentID != "":
		msg = fmt.Sprintf("resuming: deployment %s was in flight when the Engine stopped; what it did on the host is read first", r.DeploymentID)
	case r.State == WithCollector:
		switch {
		case r.Package != nil && !r.Package.Same(d.pkg):
			msg = fmt.Sprintf("the package changed: %s is installed, %s is due", r.Package, d.pkg)
		case len(r.Leftovers) > 0:
			cleanOnly = true
		default:
			msg = "already With Collector with this package"
			if r.Package == nil {
				msg = "already With Collector (the package was not recorded then); Reschedule it to install this package again"
			}
			d.skipLocked(e, SkipInstalled, msg)
			return
		}
	case r.State == Failed && r.Error != nil && r.Error.Retry == derrors.NoRetry:
		if len(r.Leftovers) > 0 {
			cleanOnly = true
			break
		}
		d.skipLocked(e, SkipNotRetryable, fmt.Sprintf("it failed with %q (%s), which the Deployer does not retry by itself: Reschedule it once the cause is fixed",
			r.Error.Message, r.Error.Kind.Name()))
		return
	}
	e.prev, e.prevPkg, e.prevErr = r.State, r.Package, r.Error
	if e.prev == Scheduled || e.prev == Installing || e.prev == Retrying {
		e.prev = Discovered // in flight in an earlier process: it rests as Discovered if cancelled
	}
	e.cleanOnly, e.since, e.busy = cleanOnly, time.Now(), 0
	r.Attempts, r.Skipped = 0, ""
	d.activateLocked(e)
	if cleanOnly {
		d.noteLocked(e, from, func(ev *Event) {
			ev.Message = fmt.Sprintf("scheduled to remove leftover deployments %v", r.Leftovers)
		})
		d.enqueueLocked(e)
		return
	}
	if r.State == Retrying && !explicit && time.Until(r.NextAttempt) > 0 {
		d.waitLocked(e, r.NextAttempt)
		d.noteLocked(e, from, func(ev *Event) { ev.Message = "waiting for its retry time" })
		return
	}
	r.State, r.NextAttempt = Scheduled, time.Time{}
	d.noteLocked(e, from, func(ev *Event) { ev.Message = msg })
	d.enqueueLocked(e)
}

func (d *Deployer) skipLocked(e *entry, why SkipReason, msg string) {
	e.rec.Skipped = why
	d.noteLocked(e, e.rec.State, func(ev *Event) {
		ev.Skipped, ev.Message = why, msg
		ev.Package = e.rec.Package
	})
}

func (d *Deployer) activateLocked(e *entry) {
	if e.phase != phaseIdle {
		return
	}
	d.active++
	if d.active == 1 {
		d.idle = make(chan struct{})
	}
}

func (d *Deployer) enqueueLocked(e *entry) {
	e.phase = phaseQueued
	d.queue = append(d.queue, e)
	d.dispatchLocked()
}

// waitLocked makes e wait for its retry time.
func (d *Deployer) waitLocked(e *entry, at time.Time) {
	e.phase = phaseWaiting
	var t *time.Timer
	t = time.AfterFunc(time.Until(at), func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if e.phase != phaseWaiting || e.timer != t {
			return
		}
		e.timer = nil
		if d.draining {
			return // Drain and Close settle waiting hosts themselves
		}
		d.enqueueLocked(e)
	})
	e.timer = t
}

// settleLocked makes e idle and releases whoever waits for it.
func (d *Deployer) settleLocked(e *entry) {
	if e.phase == phaseIdle {
		return
	}
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	e.phase, e.cancel = phaseIdle, nil
	d.active--
	for _, b := range e.waiters {
		if b.pending--; b.pending == 0 {
			close(b.done)
		}
	}
	e.waiters = nil
	if d.active == 0 {
		close(d.idle)
	}
}

// dispatchLocked starts workers for the queue, up to Concurrency.
func (d *Deployer) dispatchLocked() {
	for !d.draining && d.workers < d.cfg.Concurrency && d.workers < len(d.queue) {
		d.workers++
		d.wg.Add(1)
		go d.worker()
	}
}

func (d *Deployer) worker() {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		var e *entry
		for e == nil && len(d.queue) > 0 && !d.draining {
			x := d.queue[0]
			d.queue[0] = nil
			d.queue = d.queue[1:]
			if x.phase == phaseQueued {
				e = x
			}
		}
		if e == nil {
			d.workers--
			d.mu.Unlock()
			return
		}
		ctx, cancel := context.WithCancelCause(d.base)
		e.phase, e.cancel = phaseRunning, cancel
		d.mu.Unlock()
		d.attemptRecovered(ctx, e)
		cancel(nil)
	}
}

// attemptRecovered is attempt, with a panic in it (a bug, in the deployer
// or a dependency) turned into that host's failure instead of the end of
// the process: the other hosts and the store go on. A panic while the
// Deployer's lock was held cannot be recovered safely, and is re-raised.
func (d *Deployer) attemptRecovered(ctx context.Context, e *entry) {
	defer func() {
		p := recover()
		if p == nil {
			return
		}
		stack := debug.Stack()
		locked := false
		for range 100 { // a second: the lock is free unless the panic left it held
			if locked = d.mu.TryLock(); locked {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !locked {
			panic(p)
		}
		if d.cfg.Logger != nil {
			d.cfg.Logger.Error("panic in a deployment", "host", e.key, "panic", fmt.Sprint(p), "stack", string(stack))
		}
		err := derrors.New(e.key, "", derrors.UnknownError, fmt.Errorf("internal error: %v", p))
		e.rec.Progress = nil
		d.failLocked(&hostAttempt{d: d, e: e, key: e.key}, err)
		d.mu.Unlock()
	}()
	d.attempt(ctx, e)
}

// onEvent calls Config.OnEvent, logging instead of crashing when it
// panics: the caller's code must not stop the deliveries to come.
func (d *Deployer) onEvent(ev Event) {
	defer func() {
		if p := recover(); p != nil && d.cfg.Logger != nil {
			d.cfg.Logger.Error("panic in Config.OnEvent", "host", ev.Host, "panic", fmt.Sprint(p))
		}
	}()
	d.cfg.OnEvent(ev)
}

// noteLocked stores e's record (after a change) and sends the event of the
// change from state from; more fills in what the record does not say.
func (d *Deployer) noteLocked(e *entry, from State, more func(*Event)) uint64 {
	r := &e.rec
	r.Updated = time.Now().UTC()
	seq := d.writer.put(*r)
	ev := Event{Time: r.Updated, Host: e.key, Addr: r.Addr, From: from, State: r.State, Attempt: r.Attempts,
		NextAttempt: r.NextAttempt, DeploymentID: r.DeploymentID, RebootNeeded: r.RebootNeeded,
		Error: r.Error.clone(), CleanupError: nil}
	if r.ExitCode != nil {
		c := *r.ExitCode
		ev.ExitCode = &c
	}
	if r.State == WithCollector && r.Package != nil && from != WithCollector {
		p := *r.Package
		ev.Package = &p
	}
	if more != nil {
		more(&ev)
	}
	d.events.push(ev)
	return seq
}

// unscheduleLocked sends a host that is queued or waiting back to where it
// was before it was scheduled, with a "cancelled" event.
func (d *Deployer) unscheduleLocked(e *entry, cause error) {
	d.restoreLocked(e, cancelledError(e.key, derrors.StepDiscover, cause), "")
	d.settleLocked(e)
}

// cancelledError is the error of a host sent back by cause.
func cancelledError(key string, step derrors.Step, cause error) *derrors.Error {
	return derrors.New(key, step, derrors.Cancelled, cause)
}

// restoreLocked puts e back in the state it had before it was scheduled
// (Discovered for a new host, or one that was in flight in an earlier
// process), after a cancellation, and sends the event.
func (d *Deployer) restoreLocked(e *entry, cancelled error, msg string) {
	r := &e.rec
	from := r.State
	info := NewErrorInfo(e.key, cancelled)
	switch e.prev {
	case WithCollector:
		r.State, r.Package, r.Error = WithCollector, e.prevPkg, nil
	case Failed:
		r.State, r.Error = Failed, e.prevErr
	default:
		r.State, r.Error = Discovered, info
	}
	r.NextAttempt, r.Progress = time.Time{}, nil
	d.noteLocked(e, from, func(ev *Event) {
		ev.Error, ev.Message = info, msg
		ev.CleanupError = r.CleanupError.clone()
	})
}

// Reschedule schedules the hosts of keys again, whatever their state: the
// caller's decision overrides the retry class (a corrected password, a
// fixed package, a host With Collector to reinstall). Hosts already
// scheduled or in flight are left as they are. Unknown keys are reported
// with ErrUnknownHost; the others are rescheduled.
func (d *Deployer) Reschedule(keys ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.acceptingLocked(); err != nil {
		return err
	}
	var errs []error
	for _, key := range keys {
		e := d.hosts[key]
		if e == nil {
			errs = append(errs, fmt.Errorf("%w %q", ErrUnknownHost, key))
			continue
		}
		if e.phase == phaseIdle {
			d.admitLocked(e, true)
		}
	}
	d.dispatchLocked()
	return errors.Join(errs...)
}

// RescheduleFailed reschedules every Failed host whose error is of kind
// (any kind when kind is 0), and returns their keys, sorted.
func (d *Deployer) RescheduleFailed(kind derrors.Kind) ([]string, error) {
	return d.admitWhere(true, func(r *HostRecord) bool {
		return r.State == Failed && (kind == 0 || (r.Error != nil && r.Error.Kind == kind))
	})
}

// Resume schedules every host the store knows with work left on it: hosts
// that were scheduled, in flight or retrying when the Engine stopped, and
// hosts holding leftovers of an earlier deployment. It returns their keys,
// sorted. A restarted Engine calls it once, so nothing it started is left
// half done, even on hosts it does not schedule again.
func (d *Deployer) Resume() ([]string, error) {
	return d.admitWhere(false, func(r *HostRecord) bool {
		return r.DeploymentID != "" || len(r.Leftovers) > 0 || r.State == Scheduled || r.State == Installing ||
			r.State == Retrying
	})
}

// admitWhere admits every idle host whose record matches, in key order, and
// returns their keys.
func (d *Deployer) admitWhere(explicit bool, match func(*HostRecord) bool) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.acceptingLocked(); err != nil {
		return nil, err
	}
	var keys []string
	for key, e := range d.hosts {
		if e.phase == phaseIdle && match(&e.rec) {
			keys = append(keys, key)
		}
	}
	slices.Sort(keys)
	for _, key := range keys {
		d.admitLocked(d.hosts[key], explicit)
	}
	d.dispatchLocked()
	return keys, nil
}

// Cancel stops the work on one host: a host waiting to start (or to be
// retried) goes back to the state it had before it was scheduled; a host in
// flight is stopped (msiexec is stopped, Windows Installer rolls back) and
// cleaned up first. Either way it gets an event with a "cancelled" error. A
// host that is not scheduled is left as it is.
func (d *Deployer) Cancel(key string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.hosts[key]
	if e == nil {
		return fmt.Errorf("%w %q", ErrUnknownHost, key)
	}
	d.cancelLocked(e, errCancelledByOperator)
	return nil
}

func (d *Deployer) cancelLocked(e *entry, cause error) {
	switch e.phase {
	case phaseQueued, phaseWaiting:
		d.unscheduleLocked(e, cause)
	case phaseRunning:
		e.cancel(cause)
	}
}

func (d *Deployer) cancelKeys(keys []string, cause error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, key := range keys {
		if e := d.hosts[key]; e != nil {
			d.cancelLocked(e, cause)
		}
	}
}

// Drain stops the Deployer gracefully: it starts no new host (hosts
// waiting to start or to be retried go back to the state they had, with a
// "cancelled" event) and waits for the hosts in flight to finish. When ctx
// is done first, the hosts still in flight are stopped and cleaned up, as
// Cancel does, and Drain returns ctx's error once they are. Afterwards the
// Deployer schedules nothing (ErrDraining); Close it.
func (d *Deployer) Drain(ctx context.Context) error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	d.draining = true
	for _, e := range d.hosts {
		if e.phase == phaseQueued || e.phase == phaseWaiting {
			d.unscheduleLocked(e, errDrained)
		}
	}
	idle := d.idle
	d.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
	}
	d.mu.Lock()
	for _, e := range d.hosts {
		d.cancelLocked(e, errDrainDeadline)
	}
	idle = d.idle
	d.mu.Unlock()
	<-idle
	return ctx.Err()
}

// Close stops the Deployer at once: no host is started any more, hosts in
// flight are stopped and cleaned up (no service or file of ours is left on
// them) and, like hosts waiting to start, go back to the state they had,
// with a "cancelled" event. It returns once every event is delivered and
// every record is in the store, with the store's first failure if it
// failed. It does not close the store. Calling it again returns nil.
func (d *Deployer) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed, d.draining = true, true
	for _, e := range d.hosts {
		d.cancelLocked(e, errClosing)
	}
	idle := d.idle
	d.mu.Unlock()
	<-idle
	d.wg.Wait()
	d.abort()
	_ = d.events.wait(context.Background(), d.events.last())
	return d.writer.wait(context.Background(), d.writer.last())
}

// Wait returns when no host is scheduled, in flight or waiting to be
// retried, or when ctx is done (with its error).
func (d *Deployer) Wait(ctx context.Context) error {
	d.mu.Lock()
	idle := d.idle
	d.mu.Unlock()
	select {
	case <-idle:
	case <-ctx.Done():
		return ctx.Err()
	}
	_ = d.events.wait(ctx, d.events.last())
	return d.writer.wait(ctx, d.writer.last())
}

// Host returns what the Deployer knows of the host of key: its state, its
// last error (cause, solution, MSI log excerpt), the steps of its last
// attempt with their times, its progress.
func (d *Deployer) Host(key string) (HostRecord, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.hosts[key]
	if e == nil {
		return HostRecord{}, false
	}
	return e.rec.clone(), true
}

// Hosts returns the records of every host the Deployer knows, sorted by
// key.
func (d *Deployer) Hosts() []HostRecord {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]HostRecord, 0, len(d.hosts))
	for _, e := range d.hosts {
		out = append(out, e.rec.clone())
	}
	slices.SortFunc(out, func(a, b HostRecord) int {
		switch {
		case a.Key < b.Key:
			return -1
		case a.Key > b.Key:
			return 1
		}
		return 0
	})
	return out
}

// Counts returns how many hosts the Deployer knows in each state.
func (d *Deployer) Counts() map[State]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[State]int, len(stateNames))
	for _, e := range d.hosts {
		out[e.rec.State]++
	}
	return out
}

// Summary summarises the hosts of keys, or every host the Deployer knows
// when keys is empty.
func (d *Deployer) Summary(keys ...string) *Summary {
	d.mu.Lock()
	var recs []HostRecord
	if len(keys) == 0 {
		recs = make([]HostRecord, 0, len(d.hosts))
		for _, e := range d.hosts {
			recs = append(recs, e.rec.clone())
		}
	} else {
		recs = make([]HostRecord, 0, len(keys))
		seen := make(map[string]bool, len(keys))
		for _, k := range keys {
			if e := d.hosts[k]; e != nil && !seen[k] {
				seen[k] = true
				recs = append(recs, e.rec.clone())
			}
		}
	}
	d.mu.Unlock()
	return newSummary(recs)
}
