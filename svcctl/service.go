package svcctl

import (
	"context"
	"fmt"
	"sync"

	svcctlrpc "github.com/oiweiwei/go-msrpc/msrpc/scmr/svcctl/v2"

	derrors "github.com/nxdeploy/deployer/errors"
)

// Service is an open handle to one service. After a transport loss it is
// reopened by name on the new transport, through its Manager, with the same
// access rights: that is safe, a name identifies the service record.
type Service struct {
	m      *Manager
	name   string
	access uint32

	mu     sync.Mutex
	h      *svcctlrpc.Handle
	gen    uint64
	closed bool
}

// Name returns the service's name.
func (s *Service) Name() string { return s.name }

func (s *Service) set(h *svcctlrpc.Handle, gen uint64) {
	s.mu.Lock()
	s.h, s.gen = h, gen
	s.mu.Unlock()
}

// reopen opens the service by name on t (a call body for Client.call).
func (s *Service) reopen(ctx context.Context, t *transport) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.openLocked(ctx, t)
}

func (s *Service) openLocked(ctx context.Context, t *transport) error {
	if s.closed {
		return ErrClosed
	}
	mh, err := s.m.handle(ctx, t)
	if err != nil {
		return err
	}
	resp, err := check(t.cli.OpenServiceW(ctx, &svcctlrpc.OpenServiceWRequest{
		ServiceManager: mh,
		ServiceName:    s.name,
		DesiredAccess:  s.access,
	}))
	if err != nil {
		return err
	}
	s.h, s.gen = resp.Service, t.gen
	return nil
}

// handle returns the service's handle on t, reopening it by name if it was
// opened on an earlier transport.
func (s *Service) handle(ctx context.Context, t *transport) (*svcctlrpc.Handle, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if s.h != nil && s.gen == t.gen {
		return s.h, nil
	}
	if err := s.openLocked(ctx, t); err != nil {
		return nil, err
	}
	return s.h, nil
}

// Close closes the handle (RCloseServiceHandle), waiting at most
// Config.RequestTimeout for the answer, as io.Closer does. A service marked
// for deletion is removed once every handle to it is closed.
func (s *Service) Close() error { return s.CloseContext(context.Background()) }

// CloseContext is Close bounded by ctx as well: every type whose Close sends
// a request to the host has one, named so.
func (s *Service) CloseContext(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	h, gen := s.h, s.gen
	s.h = nil
	s.mu.Unlock()
	return s.m.c.closeHandle(ctx, h, gen)
}

// Start starts the service (RStartServiceW) with args, which a service
// receives after its own name in its argument vector. ERROR_SERVICE_ALREADY_
// RUNNING (1056) comes back typed (IsAlreadyRunning).
//
// If the transport is lost in flight, the Client queries the service on a
// new transport: not STOPPED means the start was delivered; STOPPED with
// ERROR_SERVICE_NEVER_STARTED (1077) means it was not, and the start is sent
// once more; any other STOPPED status is ambiguous (it may have run and
// exited already) and ErrTransportLost is returned.
func (s *Service) Start(ctx context.Context, args ...string) error {
	start := func(ctx context.Context, t *transport) error {
		h, err := s.handle(ctx, t)
		if err != nil {
			return err
		}
		req := &svcctlrpc.StartServiceWRequest{Service: h, Argc: uint32(len(args))}
		for _, a := range args {
			req.Argv = append(req.Argv, &svcctlrpc.UnicodeString{StringPointer: a})
		}
		_, err = check(t.cli.StartServiceW(ctx, req))
		return err
	}
	err := s.m.c.call(ctx, derrors.StepStartService, noRetry, start)
	if err == nil || !recoverable(err) {
		return err
	}
	st, qerr := s.QueryStatus(ctx)
	if qerr != nil {
		return err
	}
	switch {
	case st.State != Stopped:
		return nil
	case st.Win32ExitCode == ExitNeverStarted:
		return s.m.c.call(ctx, derrors.StepStartService, noRetry, start)
	}
	return err
}

// QueryStatus returns the service's status with its PID
// (RQueryServiceStatusEx, SC_STATUS_PROCESS_INFO), or without it
// (RQueryServiceStatus) from a server that lacks the Ex call.
func (s *Service) QueryStatus(ctx context.Context) (Status, error) {
	var st Status
	c := s.m.c
	if !c.noStatusEx.Load() {
		err := c.call(ctx, derrors.StepQueryService, retryOnce, func(ctx context.Context, t *transport) error {
			h, err := s.handle(ctx, t)
			if err != nil {
				return err
			}
			resp, err := check(t.cli.QueryServiceStatusEx(ctx, &svcctlrpc.QueryServiceStatusExRequest{
				Service:      h,
				InfoLevel:    svcctlrpc.StatusTypeProcessInfo,
				BufferLength: statusProcessSize,
			}))
			if err != nil {
				return err
			}
			st, err = parseStatusProcess(resp.Buffer)
			return err
		})
		if err == nil || !IsCode(err, errRPCProcnumOutOfRange) {
			return st, err
		}
		c.noStatusEx.Store(true)
	}
	err := c.call(ctx, derrors.StepQueryService, retryOnce, func(ctx context.Context, t *transport) error {
		h, err := s.handle(ctx, t)
		if err != nil {
			return err
		}
		resp, err := check(t.cli.QueryServiceStatus(ctx, &svcctlrpc.QueryServiceStatusRequest{Service: h}))
		if err != nil {
			return err
		}
		st = statusFromRPC(resp.ServiceStatus)
		return nil
	})
	return st, err
}

// Control sends a control code (RControlService) and returns the status the
// server reports with its answer. It is retried once on a new transport if
// the transport is lost, so a STOP can come back as ERROR_SERVICE_NOT_ACTIVE
// (1062) when the first one was delivered.
func (s *Service) Control(ctx context.Context, control uint32) (Status, error) {
	var st Status
	step := derrors.StepQueryService
	if control == ControlStop {
		step = derrors.StepStopService
	}
	err := s.m.c.call(ctx, step, retryOnce, func(ctx context.Context, t *transport) error {
		h, err := s.handle(ctx, t)
		if err != nil {
			return err
		}
		resp, err := check(t.cli.ControlService(ctx, &svcctlrpc.ControlServiceRequest{Service: h, Control: control}))
		if resp != nil {
			st = statusFromRPC(resp.ServiceStatus)
		}
		return err
	})
	return st, err
}

// Stop sends SERVICE_CONTROL_STOP. See StopAndWait for a stop that waits
// and treats "not active" as done.
func (s *Service) Stop(ctx context.Context) (Status, error) {
	return s.Control(ctx, ControlStop)
}

// Delete marks the service for deletion (RDeleteService); the SCM removes it
// once it has stopped and every handle to it is closed.
// ERROR_SERVICE_MARKED_FOR_DELETE (1072) means an earlier Delete did.
//
// If the transport is lost in flight, the Client reopens the service by
// name on a new transport: ERROR_SERVICE_DOES_NOT_EXIST (1060) or 1072 then
// mean the delete was delivered; otherwise it is sent once more, and 1072
// from that second attempt is success too.
func (s *Service) Delete(ctx context.Context) error {
	del := func(ctx context.Context, t *transport) error {
		h, err := s.handle(ctx, t)
		if err != nil {
			return err
		}
		_, err = check(t.cli.DeleteService(ctx, &svcctlrpc.DeleteServiceRequest{Service: h}))
		return err
	}
	c := s.m.c
	err := c.call(ctx, derrors.StepDeleteService, noRetry, del)
	if err == nil || !recoverable(err) {
		return err
	}
	rerr := c.call(ctx, derrors.StepDeleteService, retryOnce, s.reopen)
	switch {
	case IsServiceNotFound(rerr) || IsMarkedForDelete(rerr):
		return nil
	case rerr != nil:
		return err
	}
	if err := c.call(ctx, derrors.StepDeleteService, noRetry, del); err != nil && !IsMarkedForDelete(err) {
		return err
	}
	return nil
}

// ChangeOptions are the fields ChangeConfig changes; zero values are left
// as they are (SERVICE_NO_CHANGE).
type ChangeOptions struct {
	// BinaryPath replaces the command line when not empty.
	BinaryPath string
	// StartType replaces the start type when not nil.
	StartType *StartType
	// DisplayName replaces the display name when not empty.
	DisplayName string
}

// ChangeConfig changes the service's configuration (RChangeServiceConfigW).
// Setting the same values again is harmless, so it is retried once on a new
// transport if the transport is lost.
func (s *Service) ChangeConfig(ctx context.Context, opts ChangeOptions) error {
	startType := noChange
	if opts.StartType != nil {
		startType = uint32(*opts.StartType)
	}
	return s.m.c.call(ctx, derrors.StepConfigureService, retryOnce, func(ctx context.Context, t *transport) error {
		h, err := s.handle(ctx, t)
		if err != nil {
			return err
		}
		_, err = check(t.cli.ChangeServiceConfigW(ctx, &svcctlrpc.ChangeServiceConfigWRequest{
			Service:        h,
			ServiceType:    noChange,
			StartType:      startType,
			ErrorControl:   noChange,
			BinaryPathName: opts.BinaryPath,
			DisplayName:    opts.DisplayName,
		}))
		return err
	})
}

// maxConfigBuffer is the largest buffer RQueryServiceConfigW accepts (8 KiB).
const maxConfigBuffer = 8 * 1024

// QueryConfig returns the service's configuration (RQueryServiceConfigW).
func (s *Service) QueryConfig(ctx context.Context) (ServiceConfig, error) {
	var cfg ServiceConfig
	err := s.m.c.call(ctx, derrors.StepQueryService, retryOnce, func(ctx context.Context, t *transport) error {
		h, err := s.handle(ctx, t)
		if err != nil {
			return err
		}
		size := uint32(1024)
		for range 3 {
			resp, err := check(t.cli.QueryServiceConfigW(ctx, &svcctlrpc.QueryServiceConfigWRequest{Service: h, BufferLength: size}))
			if IsCode(err, errInsufficientBuffer) && resp.BytesNeededLength > size && size < maxConfigBuffer {
				size = min(resp.BytesNeededLength, maxConfigBuffer)
				continue
			}
			if err != nil {
				return err
			}
			cfg = configFromRPC(resp.ServiceConfig)
			return nil
		}
		return fmt.Errorf("svcctl: QueryServiceConfigW: buffer of %d bytes still too small", size)
	})
	return cfg, err
}
