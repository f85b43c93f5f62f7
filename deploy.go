package deployer

// deploy.go: the Deployer's configuration, its events and the summary of a
// run. The Deployer itself (scheduling, cancelling, draining) is in
// scheduler.go, one attempt on one host in attempt.go.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
)

// Config says what a Deployer installs, where from, and how hard it tries.
type Config struct {
	// Connect is how to reach hosts: default credentials, SMB settings, the
	// prefix of what is created on hosts.
	Connect ConnectConfig
	// Credentials, when set, picks a host's account; returning false uses
	// Connect.SMB.Credentials. It is called at every attempt, so a
	// corrected password reaches the hosts scheduled after it.
	Credentials func(h discovery.Host) (smb.Credentials, bool)
	// Properties, when set, picks a host's public MSI properties (a
	// console's per-collection settings); returning false uses
	// Install.Properties. Like Credentials it is called at every attempt.
	// The values are redacted from logs, errors and events as
	// Install.Properties' are.
	Properties func(h discovery.Host) ([]msi.Property, bool)
	// Package is the MSI to install. New reads it (an MSI, its ProductCode
	// and ProductVersion, its SHA-256) before any host is touched.
	Package Package
	// Install tunes each installation (properties, msiexec timeout, service
	// binary). The Deployer sets its DeploymentID and Progress per host:
	// progress reaches the events.
	Install InstallOptions
	// Concurrency bounds hosts worked on at once; 0 means 16.
	Concurrency int
	// HostTimeout bounds one attempt on one host (connect, settle what an
	// earlier attempt left, push, install, cleanup); 0 means the install
	// timeout plus 5 minutes.
	HostTimeout time.Duration
	// Store keeps host records; nil means a new MemoryStore. With a
	// FileStore a restarted Engine resumes: hosts With Collector with the
	// same package are skipped, deployments that were in flight are
	// settled (their result read, or waited for) and removed.
	Store Store
	// OnEvent, when set, receives every event, one call at a time, in the
	// order of the changes. It must not block for long: the Deployer's
	// events queue behind it.
	OnEvent func(Event)
	// Logger receives a line per event (the host as an attribute, never a
	// secret; progress at debug level); nil logs nothing.
	Logger *slog.Logger
	// BusyRetries is how many times a host whose installer is busy (msiexec
	// 1618, a service marked for delete) is retried: 0 means
	// DefaultBusyRetries, a negative value means never (the host fails on
	// the first busy answer), as LogonFailureBudget's negative value means
	// no limit.
	BusyRetries int
	// BusyBackoff is the first wait before such a retry, doubled each time;
	// 0 means 30 s.
	BusyBackoff time.Duration
	// RetryWindow is how long a host that could not be reached (timeout,
	// unreachable, refused, DNS) keeps being retried, from when it was
	// scheduled; 0 means no such retries.
	RetryWindow time.Duration
	// RetryInterval is the wait between such retries; 0 means 1 minute.
	RetryInterval time.Duration
	// LogonFailureBudget is how many failed logons one account may have
	// within LogonFailureWindow before the Deployer stops logging on with
	// it, so a wrong password cannot lock it out: 0 means
	// DefaultLogonFailureBudget, negative means no limit. A domain account
	// counts for every host, a local one (domain "." or the host's name)
	// for its own host; see the package documentation.
	LogonFailureBudget int
	// LogonFailureWindow is how long a failed logon counts against the
	// budget, like a lockout policy's reset window; 0 means
	// DefaultLogonFailureWindow.
	LogonFailureWindow time.Duration
	// SkipInstalledCheck turns off the check of whether the host already
	// has the package's product. Where the host serves \pipe\winreg
	// (Remote Registry runs, or Windows 8 and later start it on that open,
	// as on Windows Server), the check reads the product's Uninstall key
	// before anything is pushed. Otherwise (Remote Registry is disabled by
	// default on Windows 10 and 11, and is left so) the remote service asks
	// Windows Installer (MsiQueryProductState, MsiGetProductInfo) before
	// installing: the package is then already pushed (and removed again),
	// which the registry read avoids. Either way, a host with the package's
	// ProductCode and ProductVersion is With Collector without installing
	// (Skipped "already_on_host"), an older version is upgraded and a newer
	// one installed as asked (an event says so); a registry that cannot be
	// read leaves the check to the remote service (a debug log says why).
	SkipInstalledCheck bool
	// UploadBuffers bounds, in bytes, the memory every upload of the
	// Deployer uses for its buffers, together: the packages and service
	// binaries of all hosts in flight share it (see smb.UploadBudget), so
	// memory does not grow with Concurrency times the package. 0 means
	// DefaultUploadBuffers. Connect.SMB.UploadBudget, when set, is used
	// instead.
	UploadBuffers int64
}

// DefaultBusyRetries is how many times a busy host is retried when
// Config.BusyRetries is 0.
const DefaultBusyRetries = 5

// DefaultUploadBuffers is the memory a Deployer's uploads share when
// Config.UploadBuffers is 0.
const DefaultUploadBuffers = 64 << 20

func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 16
	}
	if c.Store == nil {
		c.Store = NewMemoryStore()
	}
	switch {
	case c.BusyRetries == 0:
		c.BusyRetries = DefaultBusyRetries
	case c.BusyRetries < 0:
		c.BusyRetries = 0
	}
	if c.BusyBackoff <= 0 {
		c.BusyBackoff = 30 * time.Second
	}
	if c.RetryInterval <= 0 {
		c.RetryInterval = time.Minute
	}
	if c.LogonFailureBudget == 0 {
		c.LogonFailureBudget = DefaultLogonFailureBudget
	}
	if c.LogonFailureWindow <= 0 {
		c.LogonFailureWindow = DefaultLogonFailureWindow
	}
	if c.UploadBuffers <= 0 {
		c.UploadBuffers = DefaultUploadBuffers
	}
	if c.Connect.SMB.UploadBudget == nil {
		c.Connect.SMB.UploadBudget = smb.NewUploadBudget(c.UploadBuffers)
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

// inspectPackage reads the package's identity, or says why it cannot be
// installed, naming the file.
func inspectPackage(p Package) (PackageIdentity, error) {
	if p.UNC != "" {
		if !strings.HasPrefix(p.UNC, `\\`) || strings.ContainsAny(p.UNC, "\"\x00\r\n") {
			return PackageIdentity{}, fmt.Errorf("deployer: package %q is not a UNC path (\\\\server\\share\\file.msi)", p.UNC)
		}
		return PackageIdentity{UNC: p.UNC}, nil
	}
	if p.Path == "" {
		return PackageIdentity{}, fmt.Errorf("deployer: Config.Package names no MSI")
	}
	f, err := os.Open(p.Path)
	if err != nil {
		return PackageIdentity{}, fmt.Errorf("deployer: package: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return PackageIdentity{}, fmt.Errorf("deployer: package %s: %w", p.Path, err)
	}
	if st.IsDir() {
		return PackageIdentity{}, fmt.Errorf("deployer: package %s: is a directory, not an MSI file", p.Path)
	}
	info, err := msi.InspectReader(f, st.Size())
	if err != nil {
		return PackageIdentity{}, fmt.Errorf("deployer: package %s: %w", p.Path, err)
	}
	if info.ProductCode == "" {
		return PackageIdentity{}, fmt.Errorf("deployer: package %s: the MSI has no ProductCode property", p.Path)
	}
	sum, err := packageSHA256(f, st.Size())
	if err != nil {
		return PackageIdentity{}, fmt.Errorf("deployer: package %s: %w", p.Path, err)
	}
	return PackageIdentity{ProductCode: info.ProductCode, ProductVersion: info.ProductVersion,
		SHA256: hex.EncodeToString(sum), platform: info.Summary.Platform}, nil
}

// SkipReason says why a host given to Schedule (or Run) was not started.
type SkipReason string

// Why hosts are skipped.
const (
	// SkipInstalled: the host is With Collector with this package.
	SkipInstalled SkipReason = "installed"
	// SkipAlreadyOnHost: the host's registry lists the package's product in
	// the package's version (its Uninstall key, read before anything was
	// pushed): it is With Collector without an installation.
	SkipAlreadyOnHost SkipReason = "already_on_host"
	// SkipNotRetryable: the host Failed with an error the Deployer does not
	// retry by itself (a logon failure, an MSI error, ...): Reschedule it
	// once the cause is fixed.
	SkipNotRetryable SkipReason = "not_retryable"
)

// Event is one change of one host: a state change, or progress within a
// state (From equal to State, Progress set), or a host given to Schedule
// that needs no work (From equal to State, Skipped set).
type Event struct {
	// Time is when it happened.
	Time time.Time `json:"time"`
	// Host names the host; Addr is its address when known.
	Host string `json:"host"`
	Addr string `json:"addr,omitempty"`
	// From and State are the states before and after. A host's first
	// event comes from the state the Deployer knew it in: Discovered for a
	// new host, or its state in the store.
	From  State `json:"from"`
	State State `json:"state"`
	// Attempt counts attempts on this host since it was scheduled, from 1.
	Attempt int `json:"attempt,omitempty"`
	// NextAttempt is when a Retrying host is tried again.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// DeploymentID names the deployment of the attempt under way.
	DeploymentID string `json:"deployment_id,omitempty"`
	// Package is the package installed, once With Collector.
	Package *PackageIdentity `json:"package,omitempty"`
	// ExitCode is msiexec's exit code in this attempt, once known.
	ExitCode *uint32 `json:"exit_code,omitempty"`
	// RebootNeeded is set when the MSI asked for a restart.
	RebootNeeded bool `json:"reboot_needed,omitempty"`
	// Progress is how far the installation is.
	Progress *Progress `json:"progress,omitempty"`
	// Skipped says why a host given to Schedule was not started.
	Skipped SkipReason `json:"skipped,omitempty"`
	// Message explains what the states alone do not: why a host was
	// skipped or resumed, what was cleaned up, why a logon was not tried.
	Message string `json:"message,omitempty"`
	// Error is the failure, or the cancellation that sent the host back.
	Error *ErrorInfo `json:"error,omitempty"`
	// CleanupError is a failure to remove a deployment from the host: it
	// stays in the host's record and a later attempt removes it.
	CleanupError *ErrorInfo `json:"cleanup_error,omitempty"`
}

// MarshalJSON writes the event with the states' machine names ("from",
// "state") and their display names beside them ("from_name", "state_name").
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		plain
		FromName  string `json:"from_name"`
		StateName string `json:"state_name"`
	}{plain(e), e.From.String(), e.State.String()})
}

// Run is the batch form of the Deployer: it schedules hosts, waits until
// every one of them rests (With Collector, Failed, or back where it was when
// cancelled) and returns their summary. Every host appears in the events
// and the summary, skipped ones with the reason. Hosts already in flight
// (scheduled by another Run or Schedule) are joined, never started twice.
//
// Cancelling ctx cancels the run's hosts: none is started any more, and
// those in flight are stopped and cleaned up (no service or file is left on
// them) and go back to the state they had (Discovered for a new host), with
// a "cancelled" event. The error is ctx's, or the Store's failure; per-host
// failures are in the summary and the events.
func (d *Deployer) Run(ctx context.Context, hosts []discovery.Host) (*Summary, error) {
	b, err := d.schedule(hosts, true)
	if err != nil {
		return nil, err
	}
	select {
	case <-b.done:
	case <-ctx.Done():
		d.cancelKeys(b.keys, errRunCancelled)
		<-b.done
	}
	// Events and records of the run are out before it returns.
	_ = d.events.wait(context.Background(), d.events.last())
	storeErr := d.writer.wait(context.Background(), d.writer.last())
	sum := d.Summary(b.keys...)
	if storeErr != nil {
		return sum, storeErr
	}
	return sum, ctx.Err()
}

// Summary counts hosts per state and per error kind, and lists the failed
// ones with the error table's cause and solution.
type Summary struct {
	// Hosts is the number of hosts.
	Hosts int `json:"hosts"`
	// States counts hosts per state.
	States map[State]int `json:"states"`
	// Errors counts failed hosts per error kind.
	Errors map[derrors.Kind]int `json:"errors"`
	// Skipped counts hosts that needed no work, per reason.
	Skipped map[SkipReason]int `json:"skipped"`
	// RebootNeeded counts hosts installed that need a restart.
	RebootNeeded int `json:"reboot_needed"`
	// Cleanup counts hosts that still hold a deployment of ours (its
	// removal failed): a later attempt on them removes it.
	Cleanup int `json:"cleanup_pending"`
	// Failed lists failed hosts, sorted by key.
	Failed []HostRecord `json:"failed"`
}

func newSummary(recs []HostRecord) *Summary {
	s := &Summary{Hosts: len(recs), States: map[State]int{}, Errors: map[derrors.Kind]int{},
		Skipped: map[SkipReason]int{}, Failed: []HostRecord{}}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Key < recs[j].Key })
	for _, rec := range recs {
		s.States[rec.State]++
		if rec.Skipped != "" {
			s.Skipped[rec.Skipped]++
		}
		if rec.RebootNeeded && rec.State == WithCollector {
			s.RebootNeeded++
		}
		if len(rec.Leftovers) > 0 || rec.DeploymentID != "" {
			s.Cleanup++
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

// String renders the summary as one line in the Deployer documentation's
// terms.
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
	for _, r := range []SkipReason{SkipInstalled, SkipAlreadyOnHost, SkipNotRetryable} {
		if n := s.Skipped[r]; n > 0 {
			out += fmt.Sprintf(" skipped (%s) %d;", strings.ReplaceAll(string(r), "_", " "), n)
		}
	}
	if s.Cleanup > 0 {
		out += fmt.Sprintf(" cleanup pending %d;", s.Cleanup)
	}
	return out
}
