package deployer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
)

// State is where a host stands, in the words of the Deployer documentation.
type State int

// The states of the Deployer documentation ("Discovered" → "Scheduled for
// installation" → "Installing Collector" → "With Collector"), plus Failed
// and Retrying.
const (
	Discovered State = iota + 1
	Scheduled
	Installing
	WithCollector
	Failed
	Retrying
)

// stateNames are the states' stable machine names (JSON, stores) and their
// display names (the Deployer documentation's words).
var stateNames = map[State]struct{ name, display string }{
	Discovered:    {"discovered", "Discovered"},
	Scheduled:     {"scheduled", "Scheduled for installation"},
	Installing:    {"installing", "Installing Collector"},
	WithCollector: {"with_collector", "With Collector"},
	Failed:        {"failed", "Failed"},
	Retrying:      {"retrying", "Retrying"},
}

// States lists every state in the order a host moves through them.
func States() []State {
	return []State{Discovered, Scheduled, Installing, WithCollector, Failed, Retrying}
}

// String returns the state's display name, such as "Installing Collector".
func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n.display
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Name returns the state's stable machine name, such as "installing".
func (s State) Name() string {
	if n, ok := stateNames[s]; ok {
		return n.name
	}
	return "state_" + strconv.Itoa(int(s))
}

// Terminal reports whether a host in this state needs no more work until
// it is scheduled again.
func (s State) Terminal() bool { return s == WithCollector || s == Failed }

// MarshalText writes the machine name.
func (s State) MarshalText() ([]byte, error) {
	if _, ok := stateNames[s]; !ok {
		return nil, fmt.Errorf("deployer: invalid state %d", int(s))
	}
	return []byte(s.Name()), nil
}

// UnmarshalText reads a machine name, or a display name (as stores written
// by earlier versions hold).
func (s *State) UnmarshalText(b []byte) error {
	for k, v := range stateNames {
		if v.name == string(b) || v.display == string(b) {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("deployer: unknown state %q", b)
}

// ErrorInfo is a typed error flattened for events, stores, JSON output and
// summaries: values for programs (kind, reason, retry class, step, code),
// and the Deployer documentation's columns as display text.
type ErrorInfo struct {
	// Kind is the row of the error table ("logon_failure" in JSON).
	Kind derrors.Kind `json:"kind"`
	// Reason refines the kind ("bad_credentials"); NoReason ("") when the
	// kind's own cause and solution apply.
	Reason derrors.Reason `json:"reason,omitempty"`
	// Retry says whether the Deployer may try the host again by itself.
	Retry derrors.RetryClass `json:"retry"`
	// Step is what was being done when it failed.
	Step derrors.Step `json:"step,omitempty"`
	// Port is the TCP port used for the host when it is not 445; the cause
	// and solution name it.
	Port int `json:"port,omitempty"`
	// CodeSpace and Code are the code the host sent ("ntstatus",
	// 3221225581), if any; CodeName is its symbolic name
	// ("STATUS_LOGON_FAILURE").
	CodeSpace derrors.CodeSpace `json:"code_space,omitempty"`
	Code      uint32            `json:"code,omitempty"`
	CodeName  string            `json:"code_name,omitempty"`

	// Type is the error table's "Error type" column.
	Type string `json:"type,omitempty"`
	// Message is its "Error message" column, with the code where the table
	// asks for it: "MSI error (1603)".
	Message string `json:"message,omitempty"`
	// Cause and Solution are its columns (or the reason's, more specific).
	Cause    string `json:"cause,omitempty"`
	Solution string `json:"solution,omitempty"`
	// CodeText is the code as text: "NTSTATUS 0xC000006D STATUS_LOGON_FAILURE".
	CodeText string `json:"code_text,omitempty"`
	// Detail is evidence from the host, such as the MSI log's excerpt.
	Detail string `json:"detail,omitempty"`
	// Repro is the msiexec command that reproduces an MSI failure by hand
	// on the computer, with a verbose log (see derrors.Error.Repro).
	Repro string `json:"repro,omitempty"`
	// Error is the whole error as one log line.
	Error string `json:"error"`
}

// NewErrorInfo flattens err (classified with derrors.Wrap when it is not
// already typed). It returns nil for a nil err.
func NewErrorInfo(host string, err error) *ErrorInfo {
	if err == nil {
		return nil
	}
	e := derrors.Wrap(host, "", err)
	info := &ErrorInfo{
		Kind:     e.Kind,
		Reason:   e.Reason,
		Retry:    derrors.Retry(e),
		Step:     e.Step,
		Port:     e.Port,
		Type:     e.Type().String(),
		Message:  e.Message(),
		Cause:    e.Cause(),
		Solution: e.Solution(),
		Detail:   e.Detail,
		Repro:    e.Repro,
		Error:    e.Error(),
	}
	if !e.Code.IsZero() {
		info.CodeSpace, info.Code, info.CodeName, info.CodeText = e.Code.Space, e.Code.Value, e.Code.Name(), e.Code.String()
	}
	return info
}

// UnmarshalJSON reads an ErrorInfo, also in the shape earlier versions
// stored (display texts for kind and reason, the code as text).
func (e *ErrorInfo) UnmarshalJSON(b []byte) error {
	type plain ErrorInfo
	var v struct {
		plain
		Kind   string          `json:"kind"`
		Reason string          `json:"reason"`
		Retry  *string         `json:"retry"`
		Code   json.RawMessage `json:"code"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = ErrorInfo(v.plain)
	defer func() {
		if v.Retry == nil { // written before the retry class was: derive it
			e.Retry = derrors.Retry(&derrors.Error{Kind: e.Kind, Reason: e.Reason, Step: e.Step})
		}
	}()
	if v.Retry != nil {
		if err := e.Retry.UnmarshalText([]byte(*v.Retry)); err != nil {
			return err
		}
	}
	if err := e.Kind.UnmarshalText([]byte(v.Kind)); err != nil {
		if e.Kind = kindByMessage(v.Kind); e.Kind == 0 {
			return err
		}
	}
	if err := e.Reason.UnmarshalText([]byte(v.Reason)); err != nil {
		if e.Reason = reasonByText(v.Reason); e.Reason == derrors.NoReason {
			return err
		}
	}
	if len(v.Code) == 0 || string(v.Code) == "null" {
		return nil
	}
	if v.Code[0] != '"' {
		return json.Unmarshal(v.Code, &e.Code)
	}
	// Earlier versions: "NTSTATUS 0xC000006D STATUS_LOGON_FAILURE", "MSI 1603 ...".
	var text string
	if err := json.Unmarshal(v.Code, &text); err != nil {
		return err
	}
	e.CodeText = text
	f := strings.Fields(text)
	if len(f) < 2 {
		return nil
	}
	spaces := map[string]derrors.CodeSpace{"NTSTATUS": derrors.NTStatus, "Win32": derrors.Win32, "MSI": derrors.MSIExit,
		"LDAP": derrors.LDAPResult, "KRB": derrors.Kerberos}
	if n, err := strconv.ParseUint(f[1], 0, 32); err == nil {
		e.CodeSpace, e.Code = spaces[f[0]], uint32(n)
	}
	if len(f) > 2 {
		e.CodeName = f[2]
	}
	return nil
}

// compact returns e without what its values give (the error table's texts,
// the code's text), as a store keeps it; complete gives them back.
func (e *ErrorInfo) compact() *ErrorInfo {
	if e == nil {
		return nil
	}
	c := *e
	c.Type, c.Message, c.Cause, c.Solution, c.CodeText = "", "", "", "", ""
	return &c
}

// complete fills in the texts e's values give, where they are missing.
func (e *ErrorInfo) complete() {
	if e == nil || e.Kind == 0 {
		return
	}
	de := &derrors.Error{Kind: e.Kind, Reason: e.Reason, Step: e.Step, Port: e.Port}
	if e.CodeSpace != derrors.NoCode {
		de.Code = derrors.Code{Space: e.CodeSpace, Value: e.Code}
	}
	fill := func(dst *string, v string) {
		if *dst == "" {
			*dst = v
		}
	}
	fill(&e.Type, de.Type().String())
	fill(&e.Message, de.Message())
	fill(&e.Cause, de.Cause())
	fill(&e.Solution, de.Solution())
	if !de.Code.IsZero() {
		fill(&e.CodeText, de.Code.String())
	}
}

func kindByMessage(m string) derrors.Kind {
	for _, k := range derrors.Kinds() {
		if k.Message() == m {
			return k
		}
	}
	return 0
}

func reasonByText(t string) derrors.Reason {
	for _, r := range derrors.Reasons() {
		if r.String() == t {
			return r
		}
	}
	return derrors.NoReason
}

// clone returns a copy.
func (e *ErrorInfo) clone() *ErrorInfo {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}

// PackageIdentity is what identifies an MSI package: its ProductCode and
// ProductVersion (from its Property table) and the SHA-256 of the file. The
// Deployer records it per host, so a host With Collector is skipped for the
// same package and due again for another one.
type PackageIdentity struct {
	// ProductCode is the package's ProductCode property, a GUID in braces.
	ProductCode string `json:"product_code,omitempty"`
	// ProductVersion is its ProductVersion property, such as "6.2.1.40".
	ProductVersion string `json:"product_version,omitempty"`
	// SHA256 is the hex SHA-256 of the file; for a package on a share,
	// which the Engine does not read, it is empty and UNC names it.
	SHA256 string `json:"sha256,omitempty"`
	// UNC is the share path of a package the hosts read from a share.
	UNC string `json:"unc,omitempty"`

	// platform is the package's platform (its Template's, such as "x64" or
	// "Intel"), when New inspected it: it tells which registry view holds
	// its product (installed.go). Not part of the identity.
	platform string
}

// Same reports whether p and o are the same package: the same file (or
// share path) and, when both know them, the same product code and version.
func (p PackageIdentity) Same(o PackageIdentity) bool {
	if p.SHA256 != o.SHA256 || p.UNC != o.UNC {
		return false
	}
	return p.ProductCode == o.ProductCode && p.ProductVersion == o.ProductVersion
}

// String names the package for messages: "{GUID} 1.2.3 (sha256 0123456789ab…)".
func (p PackageIdentity) String() string {
	var parts []string
	if p.ProductCode != "" {
		parts = append(parts, p.ProductCode)
	}
	if p.ProductVersion != "" {
		parts = append(parts, p.ProductVersion)
	}
	switch {
	case p.SHA256 != "":
		parts = append(parts, "(sha256 "+p.SHA256[:min(12, len(p.SHA256))]+"…)")
	case p.UNC != "":
		parts = append(parts, p.UNC)
	}
	if len(parts) == 0 {
		return "an unrecorded package"
	}
	return strings.Join(parts, " ")
}

// Progress is how far the work on one host is, as events carry it.
type Progress struct {
	// Phase is "upload", "start", "install" or "cleanup".
	Phase string `json:"phase"`
	// Percent is the share of the phase done, from 0 to 100, when known
	// (the upload's bytes); nil when not.
	Percent *int `json:"percent,omitempty"`
	// Action is the installer's current action, such as "InstallFiles".
	Action string `json:"action,omitempty"`
	// Uploaded and Total count the package's bytes pushed so far.
	Uploaded int64 `json:"uploaded,omitempty"`
	Total    int64 `json:"total,omitempty"`
}

// StepTiming is how long one step of a host's last attempt took.
type StepTiming struct {
	// Step names it: connect, cleanup (of an earlier deployment), upload,
	// start service, msiexec, cleanup.
	Step derrors.Step `json:"step"`
	// Start is when it began; Duration how long it took (so far, for the
	// step under way).
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
}

// HostRecord is what the Deployer knows about one host, and what a Store
// keeps of it: enough for a restarted Engine to resume without
// reinstalling, to settle an installation that was in flight, and to
// remove whatever it left on the host.
type HostRecord struct {
	// Key identifies the host (its name, or its address).
	Key string `json:"key"`
	// Addr is the address last used, if any.
	Addr string `json:"addr,omitempty"`
	// State is the host's state.
	State State `json:"state"`
	// Attempts counts installation attempts since the host was last
	// scheduled.
	Attempts int `json:"attempts,omitempty"`
	// NextAttempt is when a Retrying host is due.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// DeploymentID names the deployment of the attempt under way (its
	// service is "<prefix>-<id>", its directory ADMIN$\<prefix>-<id>). It is
	// recorded before anything is created on the host, so a restarted
	// Engine can read what that deployment did and clean it up.
	DeploymentID string `json:"deployment_id,omitempty"`
	// DeploymentPackage is the package DeploymentID installs.
	DeploymentPackage *PackageIdentity `json:"deployment_package,omitempty"`
	// Leftovers are deployments of earlier attempts that may still be on
	// the host (their cleanup failed, or the Engine stopped first). The
	// next attempt on the host removes them before anything else, whatever
	// the host's state.
	Leftovers []string `json:"leftovers,omitempty"`
	// Package is the package installed (With Collector) or being installed.
	Package *PackageIdentity `json:"package,omitempty"`
	// Account names the account (never a secret) of the last logon.
	Account string `json:"account,omitempty"`
	// LogonFailedAt is when a logon on this host last failed in a way that
	// counts against the account's logon-failure budget.
	LogonFailedAt time.Time `json:"logon_failed_at,omitzero"`
	// RebootNeeded is set when the MSI asked for a restart (3010, 1641).
	RebootNeeded bool `json:"reboot_needed,omitempty"`
	// ExitCode is msiexec's exit code in the last attempt, once known.
	ExitCode *uint32 `json:"exit_code,omitempty"`
	// Error is the failure, for Failed and Retrying hosts, and why a host
	// went back to Discovered (a cancellation).
	Error *ErrorInfo `json:"error,omitempty"`
	// CleanupError is the failure to remove a deployment from the host; its
	// id is then in Leftovers, for a later attempt.
	CleanupError *ErrorInfo `json:"cleanup_error,omitempty"`
	// Skipped says why the host was not started when it was last given to
	// Schedule ("" when it was).
	Skipped SkipReason `json:"skipped,omitempty"`
	// Steps times the steps of the last attempt.
	Steps []StepTiming `json:"steps,omitempty"`
	// Progress is the last progress of an attempt under way.
	Progress *Progress `json:"progress,omitempty"`
	// Updated is when the record last changed.
	Updated time.Time `json:"updated"`
}

// clone returns a deep copy.
func (r HostRecord) clone() HostRecord {
	if r.ExitCode != nil {
		c := *r.ExitCode
		r.ExitCode = &c
	}
	r.Error = r.Error.clone()
	r.CleanupError = r.CleanupError.clone()
	if r.Package != nil {
		p := *r.Package
		r.Package = &p
	}
	if r.DeploymentPackage != nil {
		p := *r.DeploymentPackage
		r.DeploymentPackage = &p
	}
	if r.Progress != nil {
		p := *r.Progress
		if p.Percent != nil {
			v := *p.Percent
			p.Percent = &v
		}
		r.Progress = &p
	}
	r.Leftovers = append([]string(nil), r.Leftovers...)
	r.Steps = append([]StepTiming(nil), r.Steps...)
	return r
}

// String is a compact one-line description, for logs.
func (r HostRecord) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}
