package deployer

import (
	"context"
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/svcctl"
)

// Bounds of the waits cleanup makes.
const (
	stopTimeout   = 60 * time.Second
	deleteTimeout = 60 * time.Second
)

func stopAndWait(ctx context.Context, svc *svcctl.Service) (svcctl.Status, error) {
	return svcctl.StopAndWait(ctx, svc, svcctl.WaitOptions{Timeout: stopTimeout})
}

// removeDeployment stops and deletes the service of deployment id (opened by
// name when svc is nil) and deletes its directory in ADMIN$. It goes on
// after a failure and returns the first one, as a cleanup error.
func removeDeployment(ctx context.Context, c *Conn, id string, svc *svcctl.Service) error {
	var errs []error
	name := c.serviceName(id)
	if svc == nil {
		s, err := c.mgr.OpenService(ctx, name, svcctl.ServiceAllAccess)
		switch {
		case err == nil:
			svc = s
		case svcctl.IsMarkedForDelete(err):
			errs = append(errs, svcctl.WaitDeleted(ctx, c.mgr, name, svcctl.WaitOptions{Timeout: deleteTimeout}))
		case !svcctl.IsServiceNotFound(err):
			errs = append(errs, err)
		}
	}
	if svc != nil {
		if _, err := stopAndWait(ctx, svc); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, svcctl.DeleteAndWait(ctx, svc, svcctl.WaitOptions{Timeout: deleteTimeout}))
	}
	errs = append(errs, c.removeTree(ctx, c.shareDir(id)))
	for _, err := range errs {
		if err != nil {
			e := derrors.Wrap(c.label, derrors.StepCleanup, err)
			e.Host, e.Step = c.label, derrors.StepCleanup
			return e
		}
	}
	return nil
}

// removeTree deletes an ADMIN$ directory and its files, retrying files that
// are still in use (a service that just stopped may hold its executable for
// a moment). A missing directory is not an error.
func (c *Conn) removeTree(ctx context.Context, dir string) error {
	entries, err := c.admin.Raw(ctx).ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return derrors.Wrap(c.label, derrors.StepCleanup, err)
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if e.IsDir() {
			err = c.removeTree(ctx, p)
		} else {
			err = c.admin.Remove(ctx, p)
		}
		if err != nil {
			return err
		}
	}
	return c.admin.Remove(ctx, dir)
}

// Leftover is something of ours Sweep found on a host.
type Leftover struct {
	// DeploymentID is the deployment it belongs to.
	DeploymentID string
	// Service reports that the service "<prefix>-<id>" existed.
	Service bool
	// Dir reports that the directory ADMIN$\<prefix>\<id> existed.
	Dir bool
	// Err is the failure to remove it, if any.
	Err error
}

// Sweep finds what earlier deployments left on the host (services named
// "<prefix>-<id>" and directories ADMIN$\<prefix>\<id>, as after a crash of
// the Engine) and removes it, except deployments for which keep returns
// true. It never touches a service or directory without our exact prefix.
func Sweep(ctx context.Context, c *Conn, keep func(deploymentID string) bool) ([]Leftover, error) {
	found := map[string]*Leftover{}
	get := func(id string) *Leftover {
		if found[id] == nil {
			found[id] = &Leftover{DeploymentID: id}
		}
		return found[id]
	}
	pfx := c.cfg.prefix() + "-"
	services, err := c.mgr.EnumServices(ctx, svcctl.EnumOptions{Prefix: pfx, State: svcctl.EnumAll})
	if err != nil {
		return nil, relabel(err, c.label)
	}
	for _, s := range services {
		if len(s.Name) <= len(pfx) || !strings.EqualFold(s.Name[:len(pfx)], pfx) {
			continue
		}
		id := s.Name[len(pfx):]
		if idPattern.MatchString(id) {
			get(id).Service = true
		}
	}
	entries, err := c.admin.Raw(ctx).ReadDir(c.cfg.prefix())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, derrors.Wrap(c.label, derrors.StepCleanup, err)
	}
	for _, e := range entries {
		if e.IsDir() && idPattern.MatchString(e.Name()) {
			get(e.Name()).Dir = true
		}
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		if keep == nil || !keep(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]Leftover, 0, len(ids))
	var errs []error
	for _, id := range ids {
		l := found[id]
		l.Err = removeDeployment(ctx, c, id, nil)
		errs = append(errs, l.Err)
		out = append(out, *l)
	}
	return out, errors.Join(errs...)
}
