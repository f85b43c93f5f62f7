package winreg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// RemoteRegistryService is the Remote Registry service's name.
const RemoteRegistryService = "RemoteRegistry"

// Errors Open returns (inside a *derrors.Error) when it may not start the
// Remote Registry service.
var (
	// ErrRemoteRegistryStopped: \pipe\winreg does not exist on the host:
	// the Remote Registry service is not running (and was not started).
	ErrRemoteRegistryStopped = errors.New("winreg: the Remote Registry service is not running")
	// ErrRemoteRegistryDisabled: the service is disabled and
	// Config.KeepDisabled forbids enabling it.
	ErrRemoteRegistryDisabled = errors.New("winreg: the Remote Registry service is disabled")
)

// ServiceAction says what Open did about the Remote Registry service.
type ServiceAction int

// Service actions.
const (
	// ServiceNotChecked: Config.LeaveService, or the service manager could
	// not be asked (it refused the account or the host refused svcctl).
	ServiceNotChecked ServiceAction = iota
	// ServiceWasRunning: the service ran already; Close leaves it running.
	ServiceWasRunning
	// ServiceStarted: Open started the stopped service; Close stops it.
	ServiceStarted
	// ServiceEnabledAndStarted: Open set the disabled service to start on
	// demand and started it; Close stops and disables it again.
	ServiceEnabledAndStarted
)

// String describes the action.
func (a ServiceAction) String() string {
	switch a {
	case ServiceNotChecked:
		return "not checked"
	case ServiceWasRunning:
		return "was running"
	case ServiceStarted:
		return "started"
	case ServiceEnabledAndStarted:
		return "enabled and started"
	}
	return fmt.Sprintf("winreg.ServiceAction(%d)", int(a))
}

// remoteRegistry remembers what Open did to the service, to undo it.
type remoteRegistry struct {
	host    string
	cfg     Config
	client  *svcctl.Client
	manager *svcctl.Manager
	svc     *svcctl.Service
	// started: Open started the service; wasDisabled: Open changed its
	// start type from disabled to demand.
	started, wasDisabled bool
	restored             bool
	// checked: the service's state was read.
	checked bool
	// borrowed: manager is the caller's (Config.ServiceManager), left open.
	borrowed bool
}

// action returns what was done.
func (rr *remoteRegistry) action() ServiceAction {
	switch {
	case rr == nil || !rr.checked:
		return ServiceNotChecked
	case rr.wasDisabled:
		return ServiceEnabledAndStarted
	case rr.started:
		return ServiceStarted
	}
	return ServiceWasRunning
}

// serviceAccess is what Open needs on the service to start it and undo that.
const serviceAccess = svcctl.ServiceQueryStatus | svcctl.ServiceQueryConfig | svcctl.ServiceStart |
	svcctl.ServiceStop | svcctl.ServiceChangeConfig

// ensureRemoteRegistry checks the Remote Registry service over \pipe\svcctl
// and starts it when it is stopped (enabling it first when it is disabled),
// unless cfg forbids. The returned value undoes that on restore. When the
// service manager cannot be asked (it refuses the account, or the host
// refuses svcctl), the registry is tried as it is: Windows starts Remote
// Registry itself on a connection to \pipe\winreg when it is set to start
// on demand.
func ensureRemoteRegistry(ctx context.Context, host string, open smb.PipeOpener, cfg Config) (rr *remoteRegistry, err error) {
	rr = &remoteRegistry{host: host, cfg: cfg}
	if cfg.LeaveService {
		return rr, nil
	}
	log := cfg.Logger.With("host", host, "service", RemoteRegistryService)
	if cfg.ServiceManager != nil {
		rr.manager, rr.borrowed = cfg.ServiceManager, true
		return rr, rr.ensure(ctx, log)
	}
	rr.client, err = svcctl.Dial(ctx, host, svcctl.Config{
		Pipe:           func(ctx context.Context) (net.Conn, error) { return open(ctx, "svcctl") },
		RequestTimeout: cfg.RequestTimeout,
	})
	if err != nil {
		log.Info("service manager unavailable; using the registry as it is", "err", err)
		return rr, nil
	}
	rr.manager, err = rr.client.OpenSCManager(ctx, svcctl.ManagerConnect)
	if err != nil {
		log.Info("cannot manage the service; using the registry as it is", "err", err)
		return rr, rr.closeService(context.WithoutCancel(ctx))
	}
	return rr, rr.ensure(ctx, log)
}

// ensure opens the Remote Registry service through rr.manager and starts
// it when it is stopped (see ensureRemoteRegistry); on failure it puts the
// service back and closes what it opened.
func (rr *remoteRegistry) ensure(ctx context.Context, log *slog.Logger) (err error) {
	cfg := rr.cfg
	defer func() {
		if err != nil {
			err = errors.Join(err, rr.restore(context.WithoutCancel(ctx)))
		}
	}()
	rr.svc, err = rr.manager.OpenService(ctx, RemoteRegistryService, serviceAccess)
	if err != nil {
		log.Info("cannot manage the service; using the registry as it is", "err", err)
		return rr.closeService(context.WithoutCancel(ctx))
	}
	st, err := rr.svc.QueryStatus(ctx)
	if err != nil {
		return rr.wrap(StepStartRemoteRegistry, err)
	}
	rr.checked = true
	wait := svcctl.WaitOptions{Timeout: cfg.ServiceTimeout}
	switch st.State {
	case svcctl.Running:
		return nil
	case svcctl.StartPending, svcctl.ContinuePending:
		_, err := svcctl.WaitState(ctx, rr.svc, svcctl.Running, wait)
		return rr.wrap(StepStartRemoteRegistry, err)
	case svcctl.StopPending:
		if _, err := svcctl.WaitState(ctx, rr.svc, svcctl.Stopped, wait); err != nil {
			return rr.wrap(StepStartRemoteRegistry, err)
		}
	}
	conf, err := rr.svc.QueryConfig(ctx)
	if err != nil {
		return rr.wrap(StepStartRemoteRegistry, err)
	}
	if conf.StartType == svcctl.Disabled {
		if cfg.KeepDisabled {
			return rr.wrap(StepStartRemoteRegistry, ErrRemoteRegistryDisabled)
		}
		demand := svcctl.DemandStart
		if err := rr.svc.ChangeConfig(ctx, svcctl.ChangeOptions{StartType: &demand}); err != nil {
			return rr.wrap(StepStartRemoteRegistry, err)
		}
		rr.wasDisabled = true
		log.Info("enabled the disabled service until the registry is closed")
	}
	if err := rr.svc.Start(ctx); err != nil && !svcctl.IsAlreadyRunning(err) {
		return rr.wrap(StepStartRemoteRegistry, err)
	}
	rr.started = true
	if _, err := svcctl.WaitState(ctx, rr.svc, svcctl.Running, wait); err != nil {
		return rr.wrap(StepStartRemoteRegistry, err)
	}
	log.Info("started the stopped service until the registry is closed")
	return nil
}

// wrap types err for the step.
func (rr *remoteRegistry) wrap(step derrors.Step, err error) error {
	if err == nil {
		return nil
	}
	if e, ok := derrors.As(err); ok && e.Host != "" {
		return err
	}
	return derrors.Wrap(rr.host, step, err)
}

// restore stops the service if Open started it and disables it again if it
// was disabled, then closes the service manager connection. It runs once;
// ctx bounds it (with ServiceTimeout per wait).
func (rr *remoteRegistry) restore(ctx context.Context) error {
	if rr == nil || rr.restored {
		return nil
	}
	rr.restored = true
	var errs []error
	log := rr.cfg.Logger.With("host", rr.host, "service", RemoteRegistryService)
	if rr.svc != nil && rr.started {
		if _, err := svcctl.StopAndWait(ctx, rr.svc, svcctl.WaitOptions{Timeout: rr.cfg.ServiceTimeout}); err != nil {
			errs = append(errs, rr.wrap(StepRestoreRemoteRegistry, fmt.Errorf("stop: %w", err)))
		} else {
			log.Info("stopped the service again")
		}
	}
	if rr.svc != nil && rr.wasDisabled {
		disabled := svcctl.Disabled
		if err := rr.svc.ChangeConfig(ctx, svcctl.ChangeOptions{StartType: &disabled}); err != nil {
			errs = append(errs, rr.wrap(StepRestoreRemoteRegistry, fmt.Errorf("disable: %w", err)))
		} else {
			log.Info("disabled the service again")
		}
	}
	if len(errs) > 0 {
		log.Warn("could not put the service back as it was", slog.Any("err", errors.Join(errs...)))
	}
	return errors.Join(append(errs, rr.closeService(ctx))...)
}

// closeService closes the handles and the service manager connection.
func (rr *remoteRegistry) closeService(ctx context.Context) error {
	var errs []error
	if rr.svc != nil {
		errs = append(errs, rr.svc.CloseContext(ctx))
		rr.svc = nil
	}
	if rr.manager != nil && !rr.borrowed {
		errs = append(errs, rr.manager.CloseContext(ctx))
	}
	rr.manager = nil
	if rr.client != nil {
		errs = append(errs, rr.client.Close())
		rr.client = nil
	}
	return errors.Join(errs...)
}
