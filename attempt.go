package deployer

// attempt.go: one attempt on one host. It logs on (within the account's
// logon-failure budget), settles what an earlier attempt left in flight
// (resume.go), removes leftovers, installs, and records the outcome: With
// Collector, Failed, Retrying, or back where it was when cancelled.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/laps"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/winreg"
)

// hostAttempt is one attempt under way.
type hostAttempt struct {
	d   *Deployer
	e   *entry
	ctx context.Context // cancelled by Cancel, Drain's deadline, Close
	key string
	// viaTask says how the remote service ran when it ran as a task, for
	// the With Collector event.
	viaTask string

	actx context.Context // ctx bounded by HostTimeout

	mu       sync.Mutex // steps, phase, lastEmit: the progress callback runs on RunInstaller's goroutines
	steps    []StepTiming
	phase    string // the installation's phase ("upload", "install", ...)
	lastProg Progress
	lastEmit time.Time

	// laps is the host's LAPS credential when the attempt logged on with
	// it, its RID filled in by the host when it answered the lookup.
	laps *laps.Credential
}

func (d *Deployer) credentials(h discovery.Host) smb.Credentials {
	if d.cfg.Credentials != nil {
		if c, ok := d.cfg.Credentials(h); ok {
			return c
		}
	}
	if h.LAPS != nil && !h.LAPS.Password.IsZero() {
		return lapsCredentials(h)
	}
	return d.cfg.Connect.SMB.Credentials
}

// lapsCredentials is the host's LAPS-managed local account: the account
// Windows LAPS names, or the built-in Administrator for Microsoft LAPS
// (which does not record it). Domain "." makes it the host's own account,
// counted per host by the logon budget.
func lapsCredentials(h discovery.Host) smb.Credentials {
	user := h.LAPS.Account
	if user == "" {
		user = "Administrator"
	}
	return smb.Credentials{User: user, Domain: ".", Password: h.LAPS.Password.Reveal()}
}

// attempt works on e until its outcome is recorded.
func (d *Deployer) attempt(ctx context.Context, e *entry) {
	a := &hostAttempt{d: d, e: e, ctx: ctx, key: e.key}
	d.mu.Lock()
	h := e.host
	d.mu.Unlock()
	creds := d.credentials(h)
	account := accountName(creds, h)
	if err := d.budget.refusal(a.key, account); err != nil {
		a.fail(err, nil)
		return
	}

	d.mu.Lock()
	cleanOnly := e.cleanOnly
	r := &e.rec
	from := r.State
	r.Attempts++
	r.Skipped, r.Steps, r.Progress, r.ExitCode, r.NextAttempt, r.RebootNeeded = "", nil, nil, nil, time.Time{}, false
	r.CleanupError = nil
	if !cleanOnly && r.State != Scheduled {
		r.State = Scheduled
		d.noteLocked(e, from, nil)
	}
	resumeID := r.DeploymentID
	leftovers := slices.Clone(r.Leftovers)
	d.mu.Unlock()

	actx, cancel := context.WithTimeout(ctx, d.cfg.HostTimeout)
	defer cancel()
	a.actx = actx

	conn, err := a.connect(creds, account, h)
	if err != nil {
		a.fail(a.explain(err), nil) // Connect names a filtered LAPS account (lapsFiltered)
		return
	}
	if usesLAPS(h, creds) {
		// The host's LSA told Connect which account it is (RID 500 or not);
		// refusals from here on are named by it too.
		a.laps = conn.Host().LAPS
		if conn.lapsLookupErr != nil && d.cfg.Logger != nil {
			d.cfg.Logger.Debug("LAPS account lookup refused: its name decides whether UAC filters it",
				"host", a.key, "err", conn.lapsLookupErr.Error())
		}
		if note := lapsNote(a.laps); note != "" {
			d.mu.Lock()
			d.noteLocked(e, e.rec.State, func(ev *Event) { ev.Message = note })
			d.mu.Unlock()
		}
	}
	defer conn.Close()

	if resumeID != "" {
		a.step(derrors.StepQueryService)
		res, err := settleDeployment(actx, conn, resumeID, d.cfg.Package, a.installOptions(resumeID))
		switch {
		case res != nil:
			// The earlier deployment ran: its outcome is this attempt's.
			a.finishInstall(res, err, resumeID, true)
			return
		case err != nil:
			a.fail(a.explain(err), nil) // still unsettled: the next attempt reads it again
			return
		}
		d.mu.Lock()
		e.rec.DeploymentID, e.rec.DeploymentPackage = "", nil
		d.noteLocked(e, e.rec.State, func(ev *Event) {
			ev.Message = fmt.Sprintf("deployment %s had not started its installation: removed; installing afresh", resumeID)
		})
		d.mu.Unlock()
	}

	if len(leftovers) > 0 {
		a.step(derrors.StepCleanup)
		for _, id := range leftovers {
			if err := removeDeployment(actx, conn, id, nil); err != nil {
				a.fail(a.explain(err), err)
				return
			}
			d.mu.Lock()
			e.rec.Leftovers = slices.DeleteFunc(e.rec.Leftovers, func(x string) bool { return x == id })
			d.noteLocked(e, e.rec.State, func(ev *Event) {
				ev.Message = fmt.Sprintf("removed deployment %s, left on the host by an earlier attempt", id)
			})
			d.mu.Unlock()
		}
	}
	if cleanOnly {
		d.mu.Lock()
		a.endSteps()
		e.rec.Steps = a.snapshotSteps()
		d.restoreAfterCleanupLocked(e)
		d.settleLocked(e)
		d.mu.Unlock()
		return
	}

	var askService *PackageIdentity
	var minorUpgrade bool
	if !d.cfg.SkipInstalledCheck {
		done, ask, upgrade := a.checkInstalled(conn)
		if done {
			return
		}
		askService, minorUpgrade = ask, upgrade
	}

	// The deployment id is durable before anything of it exists on the
	// host, so a restarted Engine can always find it.
	id := NewDeploymentID()
	d.mu.Lock()
	pkg := d.pkg
	e.rec.DeploymentID, e.rec.DeploymentPackage = id, &pkg
	seq := d.noteLocked(e, e.rec.State, nil)
	d.mu.Unlock()
	if err := d.writer.wait(actx, seq); err != nil {
		d.mu.Lock()
		e.rec.DeploymentID, e.rec.DeploymentPackage = "", nil
		d.mu.Unlock()
		a.fail(derrors.New(a.key, derrors.StepUpload, derrors.UnknownError, fmt.Errorf("recording the deployment in the store: %w", err)), nil)
		return
	}
	d.mu.Lock()
	e.rec.State = Installing
	d.noteLocked(e, Scheduled, nil)
	d.mu.Unlock()
	opts := a.installOptions(id)
	if askService != nil {
		opts.skipIfInstalled = askService
	}
	opts.minorUpgrade = minorUpgrade
	res, err := RunInstaller(actx, conn, d.cfg.Package, opts)
	if conn.ViaTask() {
		a.viaTask = "the remote service ran as a task of the Task Scheduler"
		if conn.cfg.Via == ViaAuto {
			a.viaTask += " (the host refused to create services)"
		}
	}
	if askService != nil && res != nil && (err == nil || res.InstalledBefore != "") {
		// Also after a failure: a newer version the host has is why
		// Windows Installer refused the package (1638).
		if a.noteServiceCheck(res, *askService) {
			return
		}
	}
	a.finishInstall(res, err, id, false)
}

// noteServiceCheck reports what the remote service found of the product
// before installing (the check without Remote Registry): the same version
// settles the host With Collector without installing, as the registry
// check does, and noteServiceCheck returns true; an older or newer version
// is said in an event.
func (a *hostAttempt) noteServiceCheck(res *InstallResult, pkg PackageIdentity) bool {
	d, e := a.d, a.e
	ic := serviceCheck(res, pkg)
	ic.byService = true
	switch ic.state {
	case onHostSame:
		a.endSteps()
		d.mu.Lock()
		defer d.mu.Unlock()
		r := &e.rec
		r.Steps = a.snapshotSteps()
		r.Progress = nil
		r.DeploymentID, r.DeploymentPackage = "", nil
		if res.CleanupErr != nil {
			if !slices.Contains(r.Leftovers, res.DeploymentID) {
				r.Leftovers = append(r.Leftovers, res.DeploymentID)
			}
			r.CleanupError = cleanupInfo(a.key, res.CleanupErr)
		}
		from := r.State
		p := d.pkg
		r.State, r.Package, r.Error, r.Skipped = WithCollector, &p, nil, SkipAlreadyOnHost
		d.noteLocked(e, from, func(ev *Event) {
			ev.Skipped, ev.Message, ev.Package = SkipAlreadyOnHost, ic.message(pkg), &p
			ev.CleanupError = r.CleanupError.clone()
		})
		d.settleLocked(e)
		return true
	case onHostOlder, onHostNewer:
		d.mu.Lock()
		d.noteLocked(e, e.rec.State, func(ev *Event) { ev.Message = ic.message(pkg) })
		d.mu.Unlock()
	}
	return false
}

// connect logs on within the account's budget: the logon is reserved once
// the TCP connection is up (a host that does not answer holds no place in
// the budget) and released as soon as the connection is set up, so the
// next hosts wait for a logon, never for an installation.
func (a *hostAttempt) connect(creds smb.Credentials, account string, h discovery.Host) (*Conn, error) {
	d := a.d
	cc := d.cfg.Connect
	cc.SMB.Credentials = creds
	dial := cc.SMB.Dial
	if dial == nil {
		var nd net.Dialer
		dial = nd.DialContext
	}
	var reserved atomic.Bool
	cc.SMB.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil || reserved.Load() {
			return c, err
		}
		if err := d.budget.take(a.actx, a.key, account); err != nil {
			c.Close()
			return nil, err
		}
		reserved.Store(true)
		return c, nil
	}
	a.step(derrors.StepConnect)
	conn, err := Connect(a.actx, h, cc)
	counted := err != nil && derrors.AccountAttempt(err)
	if reserved.Load() {
		d.budget.done(account, counted)
	}
	d.mu.Lock()
	a.e.rec.Account = account
	if counted {
		a.e.rec.LogonFailedAt = time.Now().UTC()
	}
	if err == nil {
		if ap := conn.Session().Info().Addr; ap.IsValid() {
			a.e.rec.Addr = ap.Addr().String()
		}
	}
	d.mu.Unlock()
	return conn, err
}

// installOptions are the Deployer's InstallOptions for deployment id, with
// progress going to the events.
func (a *hostAttempt) installOptions(id string) InstallOptions {
	opts := a.d.cfg.Install
	if a.d.cfg.Properties != nil {
		if props, ok := a.d.cfg.Properties(a.e.host); ok {
			opts.Properties = props
		}
	}
	opts.DeploymentID = id
	user := opts.Progress
	opts.Progress = func(p InstallProgress) {
		a.progress(p)
		if user != nil {
			user(p)
		}
	}
	return opts
}

// phaseSteps maps RunInstaller's phases to steps.
var phaseSteps = map[string]derrors.Step{"upload": derrors.StepUpload, "start": derrors.StepStartService,
	"install": derrors.StepMSIExec, "cleanup": derrors.StepCleanup}

// progressEvery is the longest an installation's progress waits to be sent
// when it changes only a little.
const progressEvery = time.Second

func (a *hostAttempt) progress(p InstallProgress) {
	prog := Progress{Phase: p.Phase, Action: p.Action, Uploaded: p.Uploaded, Total: p.Total}
	if p.Phase == "upload" && p.Total > 0 {
		pct := int(p.Uploaded * 100 / p.Total)
		prog.Percent = &pct
	}
	a.mu.Lock()
	if s, ok := phaseSteps[p.Phase]; ok && p.Phase != a.phase {
		a.phase = p.Phase
		a.stepLocked(s)
	}
	last := a.lastProg
	emit := prog.Phase != last.Phase || prog.Action != last.Action || time.Since(a.lastEmit) >= progressEvery ||
		(prog.Percent != nil && (last.Percent == nil || *prog.Percent/10 != *last.Percent/10 || *prog.Percent == 100))
	if emit {
		a.lastProg, a.lastEmit = prog, time.Now()
	}
	steps := slices.Clone(a.steps)
	a.mu.Unlock()

	d := a.d
	d.mu.Lock()
	defer d.mu.Unlock()
	r := &a.e.rec
	r.Progress, r.Steps = &prog, steps
	if !emit || prog.Phase == "cleanup" && r.State != Installing {
		return
	}
	p2 := prog
	d.events.push(Event{Time: time.Now().UTC(), Host: a.key, Addr: r.Addr, From: r.State, State: r.State,
		Attempt: r.Attempts, DeploymentID: r.DeploymentID, Progress: &p2})
}

// step starts timing step, ending the one under way.
func (a *hostAttempt) step(s derrors.Step) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stepLocked(s)
}

func (a *hostAttempt) stepLocked(s derrors.Step) {
	now := time.Now()
	if n := len(a.steps); n > 0 && a.steps[n-1].Duration == 0 {
		a.steps[n-1].Duration = max(now.Sub(a.steps[n-1].Start), 1)
	}
	a.steps = append(a.steps, StepTiming{Step: s, Start: now.UTC()})
}

func (a *hostAttempt) endSteps() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.steps); n > 0 && a.steps[n-1].Duration == 0 {
		a.steps[n-1].Duration = max(time.Since(a.steps[n-1].Start), 1)
	}
}

func (a *hostAttempt) snapshotSteps() []StepTiming {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.steps)
}

// currentStep is the step under way, for errors that do not say.
func (a *hostAttempt) currentStep() derrors.Step {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := len(a.steps); n > 0 {
		return a.steps[n-1].Step
	}
	return derrors.StepConnect
}

// explain classifies err by what the attempt knows: a cancellation is
// "cancelled", and the host timeout expiring is a slow installation or a
// slow host depending on the step, never a silent TCP port.
func (a *hostAttempt) explain(err error) error {
	if err == nil {
		return nil
	}
	if a.ctx.Err() != nil {
		return cancelledError(a.key, a.currentStep(), context.Cause(a.ctx))
	}
	if a.actx == nil || !errors.Is(a.actx.Err(), context.DeadlineExceeded) {
		return err
	}
	step := a.currentStep()
	if de, ok := derrors.As(err); ok && de.Step != "" {
		step = de.Step // where it failed, not the cleanup that ran after
	}
	e := derrors.New(a.key, step, derrors.ConnectionTimeout,
		fmt.Errorf("the attempt did not finish within the host timeout (%v): %w", a.d.cfg.HostTimeout, err))
	e.Reason = derrors.ReasonHostTimeout
	if step == derrors.StepMSIExec || step == derrors.StepQueryService {
		e.Kind, e.Reason, e.Step = derrors.InstallationError, derrors.ReasonInstallTimeout, derrors.StepMSIExec
	}
	if de, ok := derrors.As(err); ok {
		e.Detail = de.Detail
	}
	return e
}

// exitCodeOf returns msiexec's exit code when res or err carry it.
func exitCodeOf(res *InstallResult, err error) (uint32, bool) {
	if res != nil && (res.Outcome == derrors.MSISuccess || res.Outcome == derrors.MSISuccessReboot) {
		return res.ExitCode, true
	}
	if e, ok := derrors.As(err); ok && e.Code.Space == derrors.MSIExit {
		return e.Code.Value, true
	}
	return 0, false
}

// finishInstall records the outcome of deployment id (run by this attempt,
// or settled from an earlier one when resumed).
func (a *hostAttempt) finishInstall(res *InstallResult, err error, id string, resumed bool) {
	d, e := a.d, a.e
	a.endSteps()
	code, known := exitCodeOf(res, err)
	success := res != nil && (res.Outcome == derrors.MSISuccess || res.Outcome == derrors.MSISuccessReboot)
	var cleanupErr error
	if res != nil {
		cleanupErr = res.CleanupErr
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	r := &e.rec
	r.Steps = a.snapshotSteps()
	r.Progress = nil
	// Where the deployment stands: removed, left over, or unsettled.
	var pkg *PackageIdentity
	if r.DeploymentPackage != nil {
		p := *r.DeploymentPackage
		pkg = &p
	}
	switch {
	case res != nil && cleanupErr == nil:
		r.DeploymentID, r.DeploymentPackage = "", nil
	case res != nil:
		r.DeploymentID, r.DeploymentPackage = "", nil
		if !slices.Contains(r.Leftovers, id) {
			r.Leftovers = append(r.Leftovers, id)
		}
		r.CleanupError = cleanupInfo(a.key, cleanupErr)
	}
	if known {
		c := code
		r.ExitCode = &c
	}
	from := r.State
	if success {
		if pkg == nil {
			p := d.pkg
			pkg = &p
		}
		r.State, r.Package, r.RebootNeeded, r.Error = WithCollector, pkg, res.RebootNeeded, nil
		msg := a.viaTask
		if resumed {
			msg = fmt.Sprintf("deployment %s had finished its installation while the Engine was stopped: its result was read", id)
		}
		d.noteLocked(e, from, func(ev *Event) {
			ev.Message, ev.CleanupError = msg, r.CleanupError.clone()
		})
		d.settleLocked(e)
		return
	}
	if !known && a.ctx.Err() != nil {
		d.restoreLocked(e, cancelledError(a.key, a.currentStep(), context.Cause(a.ctx)), "")
		d.settleLocked(e)
		return
	}
	d.failLocked(a, a.explain(err))
}

// fail records a failure before any installation ran (cleanupErr is the
// failure to remove a leftover, when that is what failed).
func (a *hostAttempt) fail(err error, cleanupErr error) {
	a.endSteps()
	d := a.d
	d.mu.Lock()
	defer d.mu.Unlock()
	a.e.rec.Steps = a.snapshotSteps()
	a.e.rec.Progress = nil
	if cleanupErr != nil {
		a.e.rec.CleanupError = cleanupInfo(a.key, cleanupErr)
	}
	if derrors.KindOf(err) == derrors.Cancelled {
		d.restoreLocked(a.e, err, "")
		d.settleLocked(a.e)
		return
	}
	if a.e.cleanOnly {
		// The host keeps its state and its error; its leftovers stay for a
		// later attempt.
		from := a.e.rec.State
		d.noteLocked(a.e, from, func(ev *Event) {
			ev.Error, ev.Message = NewErrorInfo(a.key, err), "the leftovers could not be removed: a later attempt tries again"
			ev.CleanupError = a.e.rec.CleanupError.clone()
		})
		d.settleLocked(a.e)
		return
	}
	d.failLocked(a, err)
}

// failLocked records err: Retrying when its retry class and the retry
// limits allow, Failed otherwise.
func (d *Deployer) failLocked(a *hostAttempt, err error) {
	if a.laps != nil {
		err = lapsFiltered(discovery.Host{LAPS: a.laps}, err)
	}
	e := a.e
	r := &e.rec
	from := r.State
	r.Error = NewErrorInfo(a.key, err)
	if next, ok := d.retryAt(e, err); ok && !d.draining {
		r.State, r.NextAttempt = Retrying, next
		d.noteLocked(e, from, func(ev *Event) { ev.CleanupError = r.CleanupError.clone() })
		d.waitLocked(e, next)
		return
	}
	r.State = Failed
	d.noteLocked(e, from, func(ev *Event) { ev.CleanupError = r.CleanupError.clone() })
	d.settleLocked(e)
}

// retryAt says whether and when a failed attempt is tried again.
func (d *Deployer) retryAt(e *entry, err error) (time.Time, bool) {
	cfg := d.cfg
	switch derrors.Retry(err) {
	case derrors.RetryBackoff:
		if e.busy >= cfg.BusyRetries {
			return time.Time{}, false
		}
		wait := cfg.BusyBackoff << e.busy
		e.busy++
		return time.Now().Add(wait), true
	case derrors.RetryLater:
		next := time.Now().Add(cfg.RetryInterval)
		if cfg.RetryWindow <= 0 || next.After(e.since.Add(cfg.RetryWindow)) {
			return time.Time{}, false
		}
		return next, true
	}
	return time.Time{}, false
}

// cleanupInfo flattens the failure to remove a deployment: whatever failed
// on the way (a new connection, say), it failed the cleanup step.
func cleanupInfo(key string, err error) *ErrorInfo {
	info := NewErrorInfo(key, err)
	info.Step = derrors.StepCleanup
	return info
}

// restoreAfterCleanupLocked ends a cleanup-only attempt that succeeded.
func (d *Deployer) restoreAfterCleanupLocked(e *entry) {
	d.noteLocked(e, e.rec.State, func(ev *Event) { ev.Message = "the leftovers of earlier deployments were removed" })
}

// checkInstalled reads what the host has of the package's product before
// anything is pushed (installed.go). The same version settles the host With
// Collector without installing, and checkInstalled returns true; an older or
// newer version is said in an event and the installation goes on, an older
// one as a minor upgrade (the third result, InstallOptions.minorUpgrade).
// When the registry cannot be read, it returns the package for the remote
// service to check instead (InstallOptions.skipIfInstalled).
func (a *hostAttempt) checkInstalled(conn *Conn) (bool, *PackageIdentity, bool) {
	d, e := a.d, a.e
	a.step(winreg.StepReadRegistry)
	d.mu.Lock()
	pkg := d.pkg
	d.mu.Unlock()
	logger := d.cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ic := checkInstalled(a.actx, conn, pkg, logger)
	if ic.state == onHostAskService {
		return false, &pkg, false
	}
	if ic.state == onHostSame {
		a.endSteps()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch ic.state {
	case onHostSame:
		r := &e.rec
		r.Steps = a.snapshotSteps()
		from := r.State
		p := pkg
		r.State, r.Package, r.Error, r.Skipped = WithCollector, &p, nil, SkipAlreadyOnHost
		d.noteLocked(e, from, func(ev *Event) {
			ev.Skipped, ev.Message, ev.Package = SkipAlreadyOnHost, ic.message(pkg), &p
		})
		d.settleLocked(e)
		return true, nil, false
	case onHostOlder, onHostNewer:
		d.noteLocked(e, e.rec.State, func(ev *Event) { ev.Message = ic.message(pkg) })
	}
	return false, nil, ic.minorUpgrade
}
