package winelab

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nxdeploy/deployer/svcctl"
)

// State is a service's current state (SERVICE_STATUS.dwCurrentState); its
// String is the name sc prints.
type State = svcctl.State

// Service states as numbered by Windows and printed by sc.
const (
	Stopped         = svcctl.Stopped
	StartPending    = svcctl.StartPending
	StopPending     = svcctl.StopPending
	Running         = svcctl.Running
	ContinuePending = svcctl.ContinuePending
	PausePending    = svcctl.PausePending
	Paused          = svcctl.Paused
)

// ServiceStatus is one service's status as printed by `sc query` (and by
// `sc start`/`sc stop`, which print the same block), on Wine or Windows.
type ServiceStatus struct {
	// Name is SERVICE_NAME.
	Name string
	// Type is TYPE, which sc prints in hex without 0x (10 = WIN32_OWN_PROCESS).
	Type uint32
	// State is STATE.
	State State
	// Win32ExitCode is WIN32_EXIT_CODE; 1066 (ERROR_SERVICE_SPECIFIC_ERROR)
	// means ServiceExitCode holds the service's own code.
	Win32ExitCode uint32
	// ServiceExitCode is SERVICE_EXIT_CODE.
	ServiceExitCode uint32
	// CheckPoint is CHECKPOINT.
	CheckPoint uint32
	// WaitHint is WAIT_HINT in milliseconds.
	WaitHint uint32
	// PID is the process id printed by `sc queryex` on Windows, else 0.
	PID uint32
}

// ErrorServiceSpecific is ERROR_SERVICE_SPECIFIC_ERROR, the WIN32_EXIT_CODE of
// a service that stopped with its own exit code.
const ErrorServiceSpecific = 1066

// ExitCode returns the service's effective exit code: ServiceExitCode when
// Win32ExitCode is ERROR_SERVICE_SPECIFIC_ERROR, else Win32ExitCode.
func (s ServiceStatus) ExitCode() uint32 {
	if s.Win32ExitCode == ErrorServiceSpecific {
		return s.ServiceExitCode
	}
	return s.Win32ExitCode
}

// ErrNoStatus is returned (wrapped) when sc output has no service status block.
var ErrNoStatus = errors.New("winelab: no service status in sc output")

// ParseSCQuery parses the first service status block in out (the output of
// `sc query NAME`, `sc queryex NAME`, `sc start NAME` or `sc stop NAME`).
func ParseSCQuery(out string) (ServiceStatus, error) {
	all, err := ParseSCQueryAll(out)
	if err != nil {
		return ServiceStatus{}, err
	}
	return all[0], nil
}

// ParseSCQueryAll parses every service status block in out (`sc query` with no
// name lists all services). Each block starts at a SERVICE_NAME line and must
// carry STATE and WIN32_EXIT_CODE; unknown lines are ignored.
func ParseSCQueryAll(out string) ([]ServiceStatus, error) {
	var (
		all  []ServiceStatus
		cur  *ServiceStatus
		seen map[string]bool
	)
	finish := func() error {
		if cur == nil {
			return nil
		}
		for _, k := range []string{"STATE", "WIN32_EXIT_CODE"} {
			if !seen[k] {
				return fmt.Errorf("%w: service %q has no %s", ErrNoStatus, cur.Name, k)
			}
		}
		all = append(all, *cur)
		return nil
	}
	for _, line := range strings.Split(out, "\n") {
		key, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if key == "SERVICE_NAME" {
			if err := finish(); err != nil {
				return nil, err
			}
			if val == "" {
				return nil, fmt.Errorf("%w: empty SERVICE_NAME", ErrNoStatus)
			}
			cur, seen = &ServiceStatus{Name: val}, map[string]bool{}
			continue
		}
		if cur == nil {
			continue
		}
		var (
			dst *uint32
			hex bool
		)
		switch key {
		case "TYPE":
			dst, hex = &cur.Type, true
		case "STATE":
			dst = (*uint32)(&cur.State)
		case "WIN32_EXIT_CODE":
			dst = &cur.Win32ExitCode
		case "SERVICE_EXIT_CODE":
			dst = &cur.ServiceExitCode
		case "CHECKPOINT":
			dst = &cur.CheckPoint
		case "WAIT_HINT":
			dst = &cur.WaitHint
		case "PID":
			dst = &cur.PID
		default:
			continue
		}
		if seen[key] {
			return nil, fmt.Errorf("%w: service %q repeats %s", ErrNoStatus, cur.Name, key)
		}
		n, err := parseNumber(val, hex)
		if err != nil {
			return nil, fmt.Errorf("%w: service %q %s: %v", ErrNoStatus, cur.Name, key, err)
		}
		*dst = n
		seen[key] = true
	}
	if err := finish(); err != nil {
		return nil, err
	}
	if len(all) == 0 {
		return nil, ErrNoStatus
	}
	return all, nil
}

// parseNumber reads the first token of an sc value: "0x3a98", "1066  (0x42a)",
// "4  RUNNING", or hex digits without 0x when hex is set (TYPE). A
// parenthesized hex repeat must agree with the decimal value.
func parseNumber(val string, hex bool) (uint32, error) {
	fields := strings.Fields(val)
	if len(fields) == 0 {
		return 0, errors.New("empty value")
	}
	tok := fields[0]
	base := 10
	if hex {
		base = 16
	}
	if t, ok := strings.CutPrefix(strings.ToLower(tok), "0x"); ok {
		tok, base = t, 16
	}
	n, err := strconv.ParseUint(tok, base, 32)
	if err != nil {
		return 0, err
	}
	if len(fields) > 1 && strings.HasPrefix(fields[1], "(0x") && strings.HasSuffix(fields[1], ")") {
		rep, err := strconv.ParseUint(strings.TrimSuffix(fields[1][3:], ")"), 16, 32)
		if err != nil || rep != n {
			return 0, fmt.Errorf("%q: decimal and hex values disagree", val)
		}
	}
	return uint32(n), nil
}

// QueryService runs `sc query name` and parses its status. Wine's sc prints
// nothing and exits 1 for an unknown service (and for other SCM errors), which
// yields a *RunError.
func (w *Wine) QueryService(ctx context.Context, name string) (ServiceStatus, error) {
	out, err := w.SC(ctx, "query", name)
	if err != nil {
		return ServiceStatus{}, err
	}
	return ParseSCQuery(out)
}

// WaitState polls QueryService every poll until the service reaches want,
// and returns the last status; it fails when ctx ends first.
func (w *Wine) WaitState(ctx context.Context, name string, want State, poll time.Duration) (ServiceStatus, error) {
	t := time.NewTicker(poll)
	defer t.Stop()
	var last ServiceStatus
	for {
		st, err := w.QueryService(ctx, name)
		if err == nil {
			last = st
			if st.State == want {
				return st, nil
			}
		} else if ctx.Err() == nil {
			return last, err
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("winelab: service %s still %v, want %v: %w", name, last.State, want, ctx.Err())
		case <-t.C:
		}
	}
}
