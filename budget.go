package deployer

// The logon-failure budget keeps the Deployer from locking accounts out. It
// counts the way an account lockout policy does, so it stays below the
// policy's threshold:
//
//   - A domain account is one account for every host: its failed logons add
//     up at the domain controllers whichever host they were sent to, so they
//     share one count. A local account (domain "." or the host's own name)
//     is a different account on every host, with a count of its own.
//   - Only failures count, and they count within a window, as the policy's
//     "reset account lockout counter after" does: a failure older than the
//     window no longer counts. A success does not reset the count (the
//     Engine cannot see the domain controllers' own counters).
//   - Logons in flight are counted in advance: at most as many logons with
//     an account run at once as its budget has failures left, so concurrent
//     failures can never add up to more than the budget. A logon's
//     reservation ends as soon as the logon is done (not when the
//     installation is), so the next hosts wait for a logon, not an install.
//   - A host whose account has spent its budget is not logged on at all: it
//     fails with derrors.ReasonLogonBudget, an event saying which account,
//     how many failures in which window, and when the account is usable
//     again. It is not retried by itself (a logon failure never is): it is
//     scheduled again once the password is corrected, and the budget lets
//     it through when the failures have aged out of the window.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// Defaults of the logon-failure budget.
const (
	// DefaultLogonFailureBudget is how many failed logons an account may
	// have within the window: below the usual lockout thresholds (5 to 10).
	DefaultLogonFailureBudget = 3
	// DefaultLogonFailureWindow is how long a failed logon counts: as long
	// as the longest common "reset account lockout counter after" setting.
	DefaultLogonFailureWindow = 30 * time.Minute
)

// ErrLogonBudgetExhausted is the cause for hosts whose logon was not tried
// because their account spent its logon-failure budget.
var ErrLogonBudgetExhausted = errors.New("the account failed to log on as many times as its logon-failure budget allows; the logon was not tried, to avoid locking the account out")

// accountName names the account creds log on to host with, the way Windows
// names accounts: DOMAIN\user (user@REALM under Kerberos) for a domain
// account, HOST\user for a local one. An empty domain may reach the domain
// controllers (a host tries its own accounts, then its domain's), so it
// counts as one account for the whole fleet, named by the user alone.
func accountName(c smb.Credentials, h discovery.Host) string {
	if c.Kerberos == nil && (c.Domain == "." || (c.Domain != "" && strings.EqualFold(c.Domain, shortName(h.Name)))) {
		return strings.ToUpper(h.Label()) + `\` + c.User
	}
	return c.String()
}

// shortName is the first label of a DNS name.
func shortName(name string) string {
	short, _, _ := strings.Cut(name, ".")
	return short
}

// logonBudget counts failed logons per account.
type logonBudget struct {
	limit  int // < 0: no limit
	window time.Duration

	mu       sync.Mutex
	accounts map[string]*accountCount
}

type accountCount struct {
	name     string
	failures []time.Time // ascending, within the window
	inflight int
	changed  chan struct{} // closed and replaced on every change
}

func newLogonBudget(limit int, window time.Duration) *logonBudget {
	return &logonBudget{limit: limit, window: window, accounts: map[string]*accountCount{}}
}

func (b *logonBudget) get(account string) *accountCount {
	key := strings.ToLower(account)
	a := b.accounts[key]
	if a == nil {
		a = &accountCount{name: account, changed: make(chan struct{})}
		b.accounts[key] = a
	}
	return a
}

// forget drops an account with nothing to remember, so per-host local
// accounts do not pile up.
func (b *logonBudget) forget(a *accountCount) {
	if len(a.failures) == 0 && a.inflight == 0 {
		delete(b.accounts, strings.ToLower(a.name))
	}
}

func (a *accountCount) prune(now time.Time, window time.Duration) {
	i := 0
	for i < len(a.failures) && now.Sub(a.failures[i]) >= window {
		i++
	}
	if i > 0 {
		a.failures = append(a.failures[:0], a.failures[i:]...)
	}
}

// record adds a failure seen at t (from the store, at start).
func (b *logonBudget) record(account string, t time.Time) {
	if b.limit < 0 || account == "" || time.Since(t) >= b.window {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.get(account)
	i := len(a.failures)
	for i > 0 && a.failures[i-1].After(t) {
		i--
	}
	a.failures = append(a.failures, time.Time{})
	copy(a.failures[i+1:], a.failures[i:])
	a.failures[i] = t
}

// refusal is the error of a host whose account spent its budget, or nil.
func (b *logonBudget) refusal(host, account string) error {
	if b.limit < 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.get(account)
	a.prune(time.Now(), b.window)
	defer b.forget(a)
	if len(a.failures) < b.limit {
		return nil
	}
	return b.refusalLocked(host, a)
}

func (b *logonBudget) refusalLocked(host string, a *accountCount) error {
	until := a.failures[0].Add(b.window)
	e := derrors.New(host, derrors.StepLogon, derrors.LogonFailure, fmt.Errorf(
		"%w: account %s failed to log on %d times in the last %v (logon-failure budget %d); it can be tried again after %s",
		ErrLogonBudgetExhausted, a.name, len(a.failures), b.window, b.limit, until.Format(time.RFC3339)))
	e.Reason = derrors.ReasonLogonBudget
	return e
}

// take reserves a logon with account, waiting while the failures left in
// its budget are all in flight. It fails with the host's budget error once
// the budget is spent, or with ctx's error.
func (b *logonBudget) take(ctx context.Context, host, account string) error {
	if b.limit < 0 {
		return nil
	}
	for {
		b.mu.Lock()
		a := b.get(account)
		now := time.Now()
		a.prune(now, b.window)
		switch {
		case len(a.failures) >= b.limit:
			err := b.refusalLocked(host, a)
			b.forget(a)
			b.mu.Unlock()
			return err
		case len(a.failures)+a.inflight < b.limit:
			a.inflight++
			b.mu.Unlock()
			return nil
		}
		wait := a.changed
		// A failure ageing out of the window frees a place too.
		var (
			expire <-chan time.Time
			timer  *time.Timer
		)
		if len(a.failures) > 0 {
			timer = time.NewTimer(a.failures[0].Add(b.window).Sub(now))
			expire = timer.C
		}
		b.mu.Unlock()
		select {
		case <-wait:
		case <-expire:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// done ends a logon reserved by take; failed says it counts as a failure.
func (b *logonBudget) done(account string, failed bool) {
	if b.limit < 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.get(account)
	a.inflight--
	if failed {
		a.failures = append(a.failures, time.Now())
	}
	close(a.changed)
	a.changed = make(chan struct{})
	b.forget(a)
}
