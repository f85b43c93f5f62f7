package svcctl

import (
	"context"
	"fmt"
	"strings"
	"sync"

	svcctlrpc "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"

	derrors "github.com/nxdeploy/deployer/errors"
)

// Manager is an open handle to a host's service control manager. After a
// transport loss it is reopened on the new transport with the same access
// rights, which is always safe.
type Manager struct {
	c      *Client
	access uint32

	mu     sync.Mutex
	h      *svcctlrpc.Handle
	gen    uint64
	closed bool
}

// OpenSCManager opens the service control manager of the host with the
// given access rights (ROpenSCManagerW). Ask for ManagerAllAccess or
// ManagerCreateService to learn whether the account is an administrator:
// an account that is not (or whose token UAC filters) gets
// ERROR_ACCESS_DENIED, returned as a *derrors.Error of kind
// SharedAccessFailure with reason ReasonNotAdministrator and code Win32 5.
func (c *Client) OpenSCManager(ctx context.Context, access uint32) (*Manager, error) {
	m := &Manager{c: c, access: access}
	err := c.call(ctx, derrors.StepOpenSCManager, retryOnce, func(ctx context.Context, t *transport) error {
		_, err := m.handle(ctx, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Access returns the access rights the Manager was opened with.
func (m *Manager) Access() uint32 { return m.access }

// handle returns the Manager's handle on t, opening it there if it was
// opened on an earlier transport.
func (m *Manager) handle(ctx context.Context, t *transport) (*svcctlrpc.Handle, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.h != nil && m.gen == t.gen {
		return m.h, nil
	}
	resp, err := check(t.cli.OpenSCMW(ctx, &svcctlrpc.OpenSCMWRequest{DesiredAccess: m.access}))
	if err != nil {
		return nil, err
	}
	m.h, m.gen = resp.SCM, t.gen
	return m.h, nil
}

// Close closes the handle (RCloseServiceHandle), waiting at most
// Config.RequestTimeout for the answer, as io.Closer does. A handle opened
// on a lost transport is gone on the server already and is just forgotten.
func (m *Manager) Close() error { return m.CloseContext(context.Background()) }

// CloseContext is Close bounded by ctx as well: every type whose Close sends
// a request to the host has one, named so.
func (m *Manager) CloseContext(ctx context.Context) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	h, gen := m.h, m.gen
	m.h = nil
	m.mu.Unlock()
	return m.c.closeHandle(ctx, h, gen)
}

// closeHandle closes h if it belongs to the live transport.
func (c *Client) closeHandle(ctx context.Context, h *svcctlrpc.Handle, gen uint64) error {
	if h == nil {
		return nil
	}
	c.mu.Lock()
	t := c.cur
	c.mu.Unlock()
	if t == nil || t.gen != gen {
		return nil
	}
	t.callMu.Lock()
	cctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	_, err := check(t.cli.CloseService(cctx, &svcctlrpc.CloseServiceRequest{ServiceObject: h}))
	cancel()
	t.callMu.Unlock()
	if err == nil {
		return nil
	}
	if isRPCFailure(err) {
		c.retire(t)
		if _, fault := faultCode(err); !fault {
			// The transport went away and took the handle with it.
			return nil
		}
	}
	return c.wrap(derrors.StepCleanup, err)
}

// CreateOptions are the optional parameters of CreateService. The zero value
// creates what the deployer needs: an own-process service, started on
// demand, running as LocalSystem, with normal error control, and returns a
// handle with ServiceAllAccess.
type CreateOptions struct {
	// Type is dwServiceType; 0 means ServiceWin32OwnProcess.
	Type uint32
	// StartType is dwStartType; 0 (BootStart, which only drivers may use)
	// means DemandStart.
	StartType StartType
	// ErrorControl is dwErrorControl; 0 is ErrorControlIgnore.
	ErrorControl uint32
	// StartName is the account the service runs as; "" means LocalSystem.
	// Only built-in accounts that need no password ("NT AUTHORITY\\LocalService",
	// "NT AUTHORITY\\NetworkService") are supported.
	StartName string
	// Access is the access asked for on the returned handle; 0 means
	// ServiceAllAccess.
	Access uint32
}

// CreateService creates a service (RCreateServiceW) and returns a handle to
// it. ERROR_SERVICE_EXISTS (1073) and ERROR_SERVICE_MARKED_FOR_DELETE (1072)
// come back typed (IsServiceExists, IsMarkedForDelete).
//
// If the transport is lost while the call is in flight, the outcome is
// unknown: the Client dials a new transport and opens the service by name.
// If it exists, it is taken as created by this call (use unique names, as
// the deployer does); if it does not (1060), the create is sent once more.
func (m *Manager) CreateService(ctx context.Context, name, displayName, binaryPath string, opts CreateOptions) (*Service, error) {
	if opts.Type == 0 {
		opts.Type = ServiceWin32OwnProcess
	}
	if opts.StartType == BootStart {
		opts.StartType = DemandStart
	}
	if opts.Access == 0 {
		opts.Access = ServiceAllAccess
	}
	s := &Service{m: m, name: name, access: opts.Access}
	req := func(mh *svcctlrpc.Handle) *svcctlrpc.CreateServiceWRequest {
		return &svcctlrpc.CreateServiceWRequest{
			ServiceManager:   mh,
			ServiceName:      name,
			DisplayName:      displayName,
			DesiredAccess:    opts.Access,
			ServiceType:      opts.Type,
			StartType:        uint32(opts.StartType),
			ErrorControl:     opts.ErrorControl,
			BinaryPathName:   binaryPath,
			ServiceStartName: opts.StartName,
		}
	}
	create := func(ctx context.Context, t *transport) error {
		mh, err := m.handle(ctx, t)
		if err != nil {
			return err
		}
		resp, err := check(t.cli.CreateServiceW(ctx, req(mh)))
		if err != nil {
			return err
		}
		s.set(resp.Service, t.gen)
		return nil
	}
	err := m.c.call(ctx, derrors.StepCreateService, noRetry, create)
	if err == nil || !recoverable(err) {
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	// Outcome unknown: look for the service on a new transport.
	if oerr := m.c.call(ctx, derrors.StepCreateService, retryOnce, s.reopen); oerr == nil {
		return s, nil
	} else if !IsServiceNotFound(oerr) {
		return nil, oerr
	}
	if err := m.c.call(ctx, derrors.StepCreateService, noRetry, create); err != nil {
		return nil, err
	}
	return s, nil
}

// OpenService opens an existing service by name (ROpenServiceW). A missing
// service is ERROR_SERVICE_DOES_NOT_EXIST (1060, IsServiceNotFound).
func (m *Manager) OpenService(ctx context.Context, name string, access uint32) (*Service, error) {
	s := &Service{m: m, name: name, access: access}
	if err := m.c.call(ctx, derrors.StepOpenService, retryOnce, s.reopen); err != nil {
		return nil, err
	}
	return s, nil
}

// EnumOptions filter EnumServices.
type EnumOptions struct {
	// Type is the dwServiceType filter; 0 means ServiceWin32.
	Type uint32
	// State is the dwServiceState filter: SERVICE_ACTIVE 1, SERVICE_INACTIVE
	// 2, SERVICE_STATE_ALL 3; 0 means all.
	State uint32
	// Prefix keeps only services whose name starts with it (compared
	// case-insensitively, as the SCM compares names).
	Prefix string
}

// Enumeration state filters.
const (
	EnumActive   uint32 = 1
	EnumInactive uint32 = 2
	EnumAll      uint32 = 3
)

// maxEnumBuffer is the largest buffer REnumServicesStatusW accepts (256 KiB).
const maxEnumBuffer = 256 * 1024

// EnumServices lists services (REnumServicesStatusW, paging with the resume
// index), optionally only those whose name has a prefix: the sweep that
// finds services a crashed run left behind. The Manager needs
// ManagerEnumerateService access.
func (m *Manager) EnumServices(ctx context.Context, opts EnumOptions) ([]ServiceEntry, error) {
	if opts.Type == 0 {
		opts.Type = ServiceWin32
	}
	if opts.State == 0 {
		opts.State = EnumAll
	}
	var out []ServiceEntry
	err := m.c.call(ctx, derrors.StepQueryService, retryOnce, func(ctx context.Context, t *transport) error {
		out = out[:0]
		mh, err := m.handle(ctx, t)
		if err != nil {
			return err
		}
		var resume uint32
		size := uint32(64 * 1024)
		for range 1000 {
			resp, err := check(t.cli.EnumServicesStatusW(ctx, &svcctlrpc.EnumServicesStatusWRequest{
				ServiceManager: mh,
				ServiceType:    opts.Type,
				ServiceState:   opts.State,
				BufferLength:   size,
				ResumeIndex:    resume,
			}))
			code, _ := Win32Code(err)
			if err != nil && code != errMoreData {
				return err
			}
			more := code == errMoreData
			if more && (resp.ServicesReturned == 0 || resp.ResumeIndex == resume) {
				// No paging progress (a server that ignores the resume
				// index): start over with a buffer as large as needed.
				if resp.BytesNeededLength <= size || size >= maxEnumBuffer {
					return fmt.Errorf("svcctl: EnumServicesStatusW: ERROR_MORE_DATA without progress (buffer %d, needed %d)", size, resp.BytesNeededLength)
				}
				size = min(max(resp.BytesNeededLength, 2*size), maxEnumBuffer)
				resume, out = 0, out[:0]
				continue
			}
			entries, perr := parseEnumServices(resp.Buffer, resp.ServicesReturned)
			if perr != nil {
				return perr
			}
			for _, e := range entries {
				if opts.Prefix == "" || hasPrefixFold(e.Name, opts.Prefix) {
					out = append(out, e)
				}
			}
			if !more {
				return nil
			}
			resume = resp.ResumeIndex
		}
		return fmt.Errorf("svcctl: EnumServicesStatusW: too many pages")
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
