package deployer

import (
	"encoding/json"
	"fmt"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
)

// State is where a host stands in a deployment, in the seed's words.
type State int

// The seed's states ("Discovered" → "Scheduled for installation" →
// "Installing Collector" → "With Collector"), plus Failed and Retrying.
const (
	Discovered State = iota + 1
	Scheduled
	Installing
	WithCollector
	Failed
	Retrying
)

var stateNames = map[State]string{
	Discovered:    "Discovered",
	Scheduled:     "Scheduled for installation",
	Installing:    "Installing Collector",
	WithCollector: "With Collector",
	Failed:        "Failed",
	Retrying:      "Retrying",
}

// States lists every state in the order a host moves through them.
func States() []State {
	return []State{Discovered, Scheduled, Installing, WithCollector, Failed, Retrying}
}

// String returns the seed's name for the state.
func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Terminal reports whether a host in this state needs no more work in this
// run.
func (s State) Terminal() bool { return s == WithCollector || s == Failed }

// MarshalText writes the seed's name.
func (s State) MarshalText() ([]byte, error) {
	if _, ok := stateNames[s]; !ok {
		return nil, fmt.Errorf("deployer: invalid state %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads the seed's name.
func (s *State) UnmarshalText(b []byte) error {
	for k, v := range stateNames {
		if v == string(b) {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("deployer: unknown state %q", b)
}

// ErrorInfo is a typed error flattened into the seed's table columns, for
// events, stores, JSON output and summaries.
type ErrorInfo struct {
	Type     string `json:"type"`
	Kind     string `json:"kind"`
	Message  string `json:"message"`
	Cause    string `json:"cause"`
	Solution string `json:"solution"`
	Code     string `json:"code,omitempty"`
	Step     string `json:"step,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Error    string `json:"error"`
}

// NewErrorInfo flattens err (classified with derrors.Wrap when it is not
// already typed). It returns nil for a nil err.
func NewErrorInfo(host string, err error) *ErrorInfo {
	if err == nil {
		return nil
	}
	e := derrors.Wrap(host, "", err)
	info := &ErrorInfo{
		Type:     e.Type().String(),
		Kind:     e.Kind.Message(),
		Message:  e.Message(),
		Cause:    e.Cause(),
		Solution: e.Solution(),
		Step:     string(e.Step),
		Reason:   e.Reason.String(),
		Detail:   e.Detail,
		Error:    e.Error(),
	}
	if !e.Code.IsZero() {
		info.Code = e.Code.String()
	}
	return info
}

// HostRecord is what a Store keeps about one host: enough for a restarted
// Engine to resume without reinstalling, and to clean up a host that was in
// flight.
type HostRecord struct {
	// Key identifies the host in the store (its name, or its address).
	Key string `json:"key"`
	// Addr is the address last used, if any.
	Addr string `json:"addr,omitempty"`
	// State is the host's state.
	State State `json:"state"`
	// Attempts counts installation attempts so far.
	Attempts int `json:"attempts,omitempty"`
	// NextAttempt is when a Retrying host is due.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// DeploymentID names what was pushed to the host (service and directory
	// suffix) while it is Scheduled or Installing, so a resumed run can find
	// and remove it.
	DeploymentID string `json:"deployment_id,omitempty"`
	// RebootNeeded is set when the MSI asked for a restart (3010, 1641).
	RebootNeeded bool `json:"reboot_needed,omitempty"`
	// ExitCode is msiexec's exit code once known.
	ExitCode *uint32 `json:"exit_code,omitempty"`
	// Error is the failure, for Failed and Retrying hosts.
	Error *ErrorInfo `json:"error,omitempty"`
	// Updated is when the record last changed.
	Updated time.Time `json:"updated"`
}

// clone returns a deep copy.
func (r HostRecord) clone() HostRecord {
	if r.ExitCode != nil {
		c := *r.ExitCode
		r.ExitCode = &c
	}
	if r.Error != nil {
		e := *r.Error
		r.Error = &e
	}
	return r
}

// String is a compact one-line description, for logs.
func (r HostRecord) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}
