package deployertest

import (
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode"

	"github.com/nxdeploy/deployer/discovery"

	"github.com/nxdeploy/deployer/deployertest/internal/rpc"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
)

// Service is what a host's service control manager holds about one service,
// as `sc qc` and `sc query` would show it.
type Service struct {
	// Name and DisplayName name the service.
	Name        string
	DisplayName string
	// BinaryPath is the command line the service runs (lpBinaryPathName).
	BinaryPath string
	// StartType is how it starts, as sc shows it: BOOT_START, SYSTEM_START,
	// AUTO_START, DEMAND_START or DISABLED.
	StartType string
	// State is the current state as sc shows it: STOPPED, START_PENDING,
	// STOP_PENDING, RUNNING, CONTINUE_PENDING, PAUSE_PENDING or PAUSED.
	State string
	// Win32ExitCode and ServiceExitCode are the last exit codes (1066 and
	// msiexec's code when the service ended with a service-specific code).
	Win32ExitCode   uint32
	ServiceExitCode uint32
	// MarkedForDelete is true once DeleteService was called while handles
	// or the process kept the service.
	MarkedForDelete bool
	// Runs counts how many times the service was started.
	Runs int
}

var startTypeNames = map[uint32]string{scm.StartBoot: "BOOT_START", scm.StartSystem: "SYSTEM_START",
	scm.StartAuto: "AUTO_START", scm.StartDemand: "DEMAND_START", scm.StartDisabled: "DISABLED"}

var stateNames = map[uint32]string{scm.StateStopped: "STOPPED", scm.StateStartPending: "START_PENDING",
	scm.StateStopPending: "STOP_PENDING", scm.StateRunning: "RUNNING", scm.StateContinuePending: "CONTINUE_PENDING",
	scm.StatePausePending: "PAUSE_PENDING", scm.StatePaused: "PAUSED"}

func serviceOf(si scm.ServiceInfo) Service {
	return Service{Name: si.Name, DisplayName: si.Config.DisplayName, BinaryPath: si.Config.BinaryPath,
		StartType: startTypeNames[si.Config.StartType],
		State:     stateNames[si.Status.CurrentState], Win32ExitCode: si.Status.Win32ExitCode,
		ServiceExitCode: si.Status.ServiceSpecificExitCode, MarkedForDelete: si.MarkedForDelete, Runs: si.Runs}
}

// sessions lists the host's SMB sessions for srvsvc.
func (h *Host) sessions() []rpc.Session {
	if h.server == nil {
		return nil
	}
	var out []rpc.Session
	for _, s := range h.server.SessionList() {
		rs := rpc.Session{Client: s.Client, User: s.User, Active: s.Active, Idle: s.Idle}
		for _, t := range s.Trees {
			rs.Trees = append(rs.Trees, rpc.Tree{ID: t.ID, Share: t.Share, Opens: t.Opens})
		}
		for _, o := range s.Opens {
			rs.Opens = append(rs.Opens, rpc.Open{ID: o.ID, Share: o.Share, Name: o.Name, Access: o.Access})
		}
		out = append(out, rs)
	}
	return out
}

// Services returns the host's services sorted by name (nil on an Offline
// host).
func (h *Host) Services() []Service {
	if h.scm == nil {
		return nil
	}
	var out []Service
	for _, si := range h.scm.Services() {
		out = append(out, serviceOf(si))
	}
	return out
}

// Service returns the service named name (case-insensitive, as Windows
// compares service names) and whether it exists.
func (h *Host) Service(name string) (Service, bool) {
	if h.scm == nil {
		return Service{}, false
	}
	si, ok := h.scm.Service(name)
	if !ok {
		return Service{}, false
	}
	return serviceOf(si), true
}

// LocalPath returns the directory or file of this machine that stands for
// the host's Windows path p, e.g. C:\Windows\Temp\x.msi (any drive letter;
// the system root lives on its drive).
func (h *Host) LocalPath(p string) (string, error) {
	p = strings.ReplaceAll(p, "/", `\`)
	if len(p) < 2 || p[1] != ':' || !unicode.IsLetter(rune(p[0])) || h.root == "" {
		return "", fmt.Errorf("winhost: %q is not a path on a drive of the host, like C:\\Windows", p)
	}
	parts := []string{h.root, strings.ToUpper(p[:1])}
	for _, s := range strings.Split(p[2:], `\`) {
		switch s {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("winhost: %q climbs out of its drive", p)
		}
		parts = append(parts, s)
	}
	return filepath.Join(parts...), nil
}

// ReadFile returns the content of the host's file p, a Windows path such as
// C:\Windows\nxdeploy-run-1\install.log.
func (h *Host) ReadFile(p string) ([]byte, error) {
	lp, err := h.LocalPath(p)
	if err != nil {
		return nil, err
	}
	return os.ReadFile(lp)
}

// Files lists what lies below the host's directory dir (a Windows path such
// as C:\Windows), recursively and sorted, as Windows paths; directories end
// with a backslash. The directories every host starts with (Temp, SysWOW64,
// ...) are left out while they are empty, so on a fresh host
// Files(`C:\Windows`) is empty and after a deployment it shows exactly what
// the deployment left behind.
func (h *Host) Files(dir string) ([]string, error) {
	lp, err := h.LocalPath(dir)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(strings.ReplaceAll(dir, "/", `\`), `\`)
	var out []string
	err = filepath.WalkDir(lp, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == lp {
			return nil
		}
		rel, err := filepath.Rel(lp, p)
		if err != nil {
			return err
		}
		name := base + `\` + strings.ReplaceAll(rel, string(filepath.Separator), `\`)
		if d.IsDir() {
			if h.initial[p] {
				if ents, err := os.ReadDir(p); err == nil && len(ents) == 0 {
					return nil
				}
			}
			name += `\`
		}
		out = append(out, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("winhost: %w", err)
	}
	sort.Strings(out)
	return out, nil
}

// Target returns the host as a discovered host (name and address), ready for
// deployer.Connect with a ConnectConfig whose port is Port.
func (h *Host) Target() discovery.Host {
	a, _ := netip.ParseAddr(h.IP)
	return discovery.Host{Name: h.Name, Addr: a, Source: "deployertest"}
}

// Tasks returns the names of the tasks registered in the host's Task
// Scheduler (root folder), sorted; nil when it has none or no Task
// Scheduler.
func (h *Host) Tasks() []string {
	if h.tasks == nil {
		return nil
	}
	return h.tasks.Tasks()
}
