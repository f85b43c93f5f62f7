package deployer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// Config says what a Deployer installs, where from, and how hard it tries.
type Config struct {
	// Connect is how to reach hosts: default credentials, SMB settings, the
	// prefix of what is created on hosts.
	Connect ConnectConfig
	// Credentials, when set, picks a host's account; returning false uses
	// Connect.SMB.Credentials.
	Credentials func(h discovery.Host) (smb.Credentials, bool)
	// Package is the MSI to install.
	Package Package
	// Install tunes each installation (properties, msiexec timeout, service
	// binary). Its DeploymentID and Progress are set per host.
	Install InstallOptions
	// Concurrency bounds hosts worked on at once; 0 means 16.
	Concurrency int
	// HostTimeout bounds one attempt on one host (connect, push, install,
	// cleanup); 0 means the install timeout plus 5 minutes.
	HostTimeout time.Duration
	// Store keeps host states; nil means a new MemoryStore. With a FileStore
	// a restarted Engine resumes: hosts With Collector are skipped, hosts
	// that were in flight are cleaned up first.
	Store Store
	// OnEvent, when set, receives every state change, one call at a time.
	OnEvent func(Event)
	// Logger receives a line per state change (the host as an attribute,
	// never a secret); nil logs nothing.
	Logger *slog.Logger
	// BusyRetries is how many times a host whose installer is busy (msiexec
	// 1618, a service marked for delete) is retried; 0 means 5.
	BusyRetries int
	// BusyBackoff is the first wait before such a retry, doubled each time;
	// 0 means 30 s.
	BusyBackoff time.Duration
	// RetryWindow is how long a host that could not be reached (timeout,
	// unreachable, refused, DNS) keeps being retried, from the run's start;
	// 0 means no such retries.
	RetryWindow time.Duration
	// RetryInterval is the wait between such retries; 0 means 1 minute.
	RetryInterval time.Duration
	// LogonFailureBudget is how many logon failures one account may have in
	// a run before the Deployer stops using it, so a wrong password cannot
	// lock the account across the fleet; 0 means 3, negative means no limit.
	LogonFailureBudget int
}

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.Store == nil {
		c.Store = NewMemoryStore()
	}
	if c.BusyRetries == 0 {
		c.BusyRetries = 5
	}
	if c.BusyBackoff <= 0 {
		c.BusyBackoff = 30 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Minute
	}
	if c.LogonFailureBudget == 0 {
		c.LogonFailureBudget = 3
	}
	if c.HostTimeout <= 0 {
		t := c.Install.Timeout
		if t <= 0 {
			t = DefaultInstallTimeout
		}
		c.HostTimeout = t + 5*time.Minute
	}
	return c
}

// Event is one state change of one host.
type Event struct {
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Host names the host; Addr is its address when known.
	Host string `json:"host"`
	Addr string `json:"addr,omitempty"`
	// From and State are the states before and after.
	From  State `json:"from,omitzero"`
	State State `json:"state"`
	// Attempt counts attempts on this host, from 1.
	Attempt int `json:"attempt,omitempty"`
	// NextAttempt is when a Retrying host is tried again.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// ExitCode is msiexec's exit code, once known.
	ExitCode *uint32 `json:"exit_code,omitempty"`
	// RebootNeeded is set when the MSI asked for a restart.
	RebootNeeded bool `json:"reboot_needed,omitempty"`
	// Error is the failure, in the seed's columns.
	Error *ErrorInfo `json:"error,omitempty"`
}

// Deployer moves hosts through the seed's states.
type Deployer struct {
	cfg Config

	emitMu sync.Mutex

	budgetMu sync.Mutex
	accounts map[string]*account // logon budget per account
}

// account is one account's logon budget in a run. Until the account has
// logged on once, at most as many attempts as its remaining budget run at
// once, so concurrent failures can never exceed the budget; after a good
// logon it is known to be valid and only counted.
type account struct {
	failures int
	inflight int
	proven   bool
	changed  chan struct{} // closed and replaced on every change
}

// New returns a Deployer for cfg.
func New(cfg Config) (*Deployer, error) {
	if cfg.Package.Path == "" && cfg.Package.UNC == "" {
		return nil, errors.New("deployer: Config.Package names no MSI")
	}
	return &Deployer{cfg: cfg.withDefaults(), accounts: map[string]*account{}}, nil
}

// ErrLogonBudgetExhausted is the cause for hosts skipped because their
// account already failed to log on LogonFailureBudget times in this run.
var ErrLogonBudgetExhausted = errors.New("the account failed to log on too many times in this run; it is no longer used, to avoid locking it out")

// Run deploys to hosts and returns the summary. It stops starting hosts when
// ctx is cancelled; hosts in flight are cleaned up (no service or file is
// left on them) and keep the state they reached. The error is ctx's, or a
// Store's failure; per-host failures are in the summary and the events.
func (d *Deployer) Run(ctx context.Context, hosts []discovery.Host) (*Summary, error) {
	recs, err := d.cfg.Store.Load(ctx)
	if err != nil {
		return nil, err
	}
	prior := make(map[string]HostRecord, len(recs))
	for _, r := range recs {
		prior[r.Key] = r
	}
	r := &run{d: d, start: time.Now(), sem: semaphore.NewWeighted(int64(d.cfg.Concurrency)),
		final: make(map[string]HostRecord, len(hosts))}
	var wg sync.WaitGroup
	seen := map[string]bool{}
	for _, h := range hosts {
		key := h.Label()
		if seen[key] {
			continue
		}
		seen[key] = true
		rec, ok := prior[key]
		if !ok {
			rec = HostRecord{Key: key}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.host(ctx, h, rec)
		}()
	}
	wg.Wait()
	sum := newSummary(r.final)
	if r.storeErr != nil {
		return sum, r.storeErr
	}
	return sum, ctx.Err()
}

// run is the state of one Run.
type run struct {
	d     *Deployer
	start time.Time
	sem   *semaphore.Weighted

	mu       sync.Mutex
	final    map[string]HostRecord
	storeErr error
}

// set records a state change: store, event, log.
func (r *run) set(ctx context.Context, rec *HostRecord, to State, err error) {
	from := rec.State
	rec.State, rec.Updated = to, time.Now().UTC()
	rec.Error = NewErrorInfo(rec.Key, err)
	if perr := r.d.cfg.Store.Put(context.WithoutCancel(ctx), *rec); perr != nil {
		r.mu.Lock()
		if r.storeErr == nil {
			r.storeErr = perr
		}
		r.mu.Unlock()
	}
	ev := Event{Time: rec.Updated, Host: rec.Key, Addr: rec.Addr, From: from, State: to, Attempt: rec.Attempts,
		NextAttempt: rec.NextAttempt, ExitCode: rec.ExitCode, RebootNeeded: rec.RebootNeeded, Error: rec.Error}
	r.d.emit(ev)
	r.mu.Lock()
	r.final[rec.Key] = rec.clone()
	r.mu.Unlock()
}

func (d *Deployer) emit(ev Event) {
	d.emitMu.Lock()
	defer d.emitMu.Unlock()
	if d.cfg.OnEvent != nil {
		d.cfg.OnEvent(ev)
	}
	if d.cfg.Logger != nil {
		attrs := []any{slog.String("host", ev.Host), slog.String("from", ev.From.String()), slog.Int("attempt", ev.Attempt)}
		if ev.Addr != "" {
			attrs = append(attrs, slog.String("addr", ev.Addr))
		}
		if ev.ExitCode != nil {
			attrs = append(attrs, slog.Uint64("exit_code", uint64(*ev.ExitCode)))
		}
		if ev.Error != nil {
			attrs = append(attrs, slog.String("error", ev.Error.Message), slog.String("step", ev.Error.Step),
				slog.String("solution", ev.Error.Solution))
		}
		if !ev.NextAttempt.IsZero() {
			attrs = append(attrs, slog.Time("next_attempt", ev.NextAttempt))
		}
		level := slog.LevelInfo
		if ev.State == Failed {
			level = slog.LevelWarn
		}
		d.cfg.Logger.Log(context.Background(), level, ev.State.String(), attrs...)
	}
}

// host runs every attempt on one host.
func (r *run) host(ctx context.Context, h discovery.Host, rec HostRecord) {
	cfg := r.d.cfg
	if h.Addr.IsValid() {
		rec.Addr = h.Addr.String()
	}
	if rec.State == WithCollector {
		r.mu.Lock()
		r.final[rec.Key] = rec.clone()
		r.mu.Unlock()
		return // installed by an earlier run
	}
	// A host an earlier run left in flight still has our service and files:
	// the first attempt removes them before installing again.
	leftover := ""
	if rec.State == Scheduled || rec.State == Installing {
		leftover = rec.DeploymentID
	}
	// Every host of the run starts Discovered (a host that failed or was
	// in flight in an earlier run starts over).
	rec.Attempts, rec.NextAttempt = 0, time.Time{}
	r.set(ctx, &rec, Discovered, nil)
	if h.Err != nil && h.Name == "" {
		// Nothing to connect to. (A named host with a discovery problem,
		// such as a name that did not resolve, is tried: the connection
		// resolves it again and reports what it finds.)
		r.set(ctx, &rec, Failed, derrors.Wrap(rec.Key, derrors.StepDiscover, h.Err))
		return
	}
	busy := 0
	for {
		if ctx.Err() != nil {
			return
		}
		creds := cfg.Connect.SMB.Credentials
		if cfg.Credentials != nil {
			if c, ok := cfg.Credentials(h); ok {
				creds = c
			}
		}
		ok, err := r.d.takeLogon(ctx, creds)
		if err != nil {
			return
		}
		if !ok {
			r.set(ctx, &rec, Failed, derrors.New(rec.Key, derrors.StepLogon, derrors.LogonFailure, ErrLogonBudgetExhausted))
			return
		}
		if err := r.sem.Acquire(ctx, 1); err != nil {
			r.d.doneLogon(creds, false, false)
			return
		}
		rec.Attempts++
		rec.NextAttempt = time.Time{}
		rec.DeploymentID = NewDeploymentID()
		r.set(ctx, &rec, Scheduled, nil)
		res, loggedOn, err := r.attempt(ctx, h, &rec, creds, leftover)
		r.sem.Release(1)
		r.d.doneLogon(creds, derrors.AccountAttempt(err), loggedOn)
		if err == nil {
			leftover = ""
			rec.RebootNeeded = res.RebootNeeded
			code := res.ExitCode
			rec.ExitCode = &code
			rec.DeploymentID = ""
			r.set(ctx, &rec, WithCollector, nil)
			return
		}
		if res != nil && res.CleanupErr == nil {
			rec.DeploymentID = "" // nothing of ours is left on the host
			leftover = ""
		} else if rec.DeploymentID != "" {
			leftover = rec.DeploymentID
		}
		if res != nil && res.ExitCode != 0 {
			code := res.ExitCode
			rec.ExitCode = &code
		}
		if ctx.Err() != nil {
			// Cancelled: the host keeps the state it reached, its files and
			// service removed by RunInstaller's cleanup.
			return
		}
		next, ok := r.retryAt(err, &busy)
		if !ok {
			r.set(ctx, &rec, Failed, err)
			return
		}
		rec.NextAttempt = next
		r.set(ctx, &rec, Retrying, err)
		t := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// retryAt says whether and when a failed attempt is tried again.
func (r *run) retryAt(err error, busy *int) (time.Time, bool) {
	cfg := r.d.cfg
	switch derrors.Retry(err) {
	case derrors.RetryBackoff:
		if *busy >= cfg.BusyRetries {
			return time.Time{}, false
		}
		wait := cfg.BusyBackoff << *busy
		*busy++
		return time.Now().Add(wait), true
	case derrors.RetryLater:
		next := time.Now().Add(cfg.RetryInterval)
		if cfg.RetryWindow <= 0 || next.After(r.start.Add(cfg.RetryWindow)) {
			return time.Time{}, false
		}
		return next, true
	}
	return time.Time{}, false
}

// attempt connects, cleans up what an earlier run left, and installs. It
// reports whether the logon succeeded.
func (r *run) attempt(ctx context.Context, h discovery.Host, rec *HostRecord, creds smb.Credentials, leftover string) (*InstallResult, bool, error) {
	cfg := r.d.cfg
	ctx, cancel := context.WithTimeout(ctx, cfg.HostTimeout)
	defer cancel()
	cc := cfg.Connect
	cc.SMB.Credentials = creds
	conn, err := Connect(ctx, h, cc)
	if err != nil {
		e, _ := derrors.As(err)
		loggedOn := e != nil && e.Step != derrors.StepResolve && e.Step != derrors.StepConnect &&
			e.Step != derrors.StepNegotiate && e.Step != derrors.StepLogon
		return nil, loggedOn, err
	}
	defer conn.Close()
	if a := conn.Session().Info().Addr; a.IsValid() {
		rec.Addr = a.Addr().String()
	}
	if leftover != "" {
		if err := removeDeployment(ctx, conn, leftover, nil); err != nil {
			return nil, true, err
		}
	}
	r.set(ctx, rec, Installing, nil)
	opts := cfg.Install
	opts.DeploymentID = rec.DeploymentID
	res, err := RunInstaller(ctx, conn, cfg.Package, opts)
	return res, true, err
}

// budgetKey names an account for the logon-failure budget.
func budgetKey(c smb.Credentials) string { return c.String() }

// takeLogon reserves a logon attempt with c. It waits while the account's
// remaining budget is all in flight, and returns false when the budget is
// spent (or ctx is done).
func (d *Deployer) takeLogon(ctx context.Context, c smb.Credentials) (bool, error) {
	limit := d.cfg.LogonFailureBudget
	for {
		d.budgetMu.Lock()
		a := d.accounts[budgetKey(c)]
		if a == nil {
			a = &account{changed: make(chan struct{})}
			d.accounts[budgetKey(c)] = a
		}
		switch {
		case limit < 0 || a.proven:
			a.inflight++
			d.budgetMu.Unlock()
			return true, nil
		case a.failures >= limit:
			d.budgetMu.Unlock()
			return false, nil
		case a.inflight < limit-a.failures:
			a.inflight++
			d.budgetMu.Unlock()
			return true, nil
		}
		wait := a.changed
		d.budgetMu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// doneLogon ends an attempt reserved by takeLogon: failed says whether it
// was a logon failure, proven whether the logon succeeded.
func (d *Deployer) doneLogon(c smb.Credentials, failed, proven bool) {
	d.budgetMu.Lock()
	defer d.budgetMu.Unlock()
	a := d.accounts[budgetKey(c)]
	a.inflight--
	if failed {
		a.failures++
	}
	if proven {
		a.proven = true
	}
	close(a.changed)
	a.changed = make(chan struct{})
}

// Summary counts hosts per state and per error kind, and lists the failed
// ones with the seed's cause and solution.
type Summary struct {
	// Hosts is the number of hosts.
	Hosts int `json:"hosts"`
	// States counts hosts per final state.
	States map[State]int `json:"states"`
	// Errors counts failed hosts per error message kind (the seed's
	// "Error message" column, without codes).
	Errors map[string]int `json:"errors"`
	// RebootNeeded counts hosts installed that need a restart.
	RebootNeeded int `json:"reboot_needed"`
	// Failed lists failed hosts, sorted by name.
	Failed []HostRecord `json:"failed"`
}

func newSummary(final map[string]HostRecord) *Summary {
	s := &Summary{Hosts: len(final), States: map[State]int{}, Errors: map[string]int{}}
	for _, rec := range sortedRecords(final) {
		s.States[rec.State]++
		if rec.RebootNeeded && rec.State == WithCollector {
			s.RebootNeeded++
		}
		if rec.State == Failed {
			s.Failed = append(s.Failed, rec)
			if rec.Error != nil {
				s.Errors[rec.Error.Kind]++
			}
		}
	}
	return s
}

// String renders the summary as a short text table in the seed's terms.
func (s *Summary) String() string {
	out := fmt.Sprintf("%d hosts:", s.Hosts)
	for _, st := range States() {
		if n := s.States[st]; n > 0 {
			out += fmt.Sprintf(" %s %d;", st, n)
		}
	}
	if s.RebootNeeded > 0 {
		out += fmt.Sprintf(" reboot needed %d;", s.RebootNeeded)
	}
	return out
}
