package deployer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
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

// Bounds of a deployment directory's tree. The deployer writes a few files
// at its top (the service, the package, the job, the log, the result): a
// deeper or larger tree is not one of ours, and is refused whole.
const (
	deploymentMaxDepth   = 4
	deploymentMaxEntries = 1000
)

// removeDeployment stops and deletes the service of deployment id (opened by
// name when svc is nil, and then only when its binary is ours) and deletes
// its directory in ADMIN$. It goes on after a failure and returns the first
// one, as a cleanup error.
func removeDeployment(ctx context.Context, c *Conn, id string, svc *svcctl.Service) error {
	if err := ValidateDeploymentID(id); err != nil {
		return invalidInput(c.label, derrors.StepCleanup, err)
	}
	var errs []error
	name := c.serviceName(id)
	// A task of ours first: its program holds the directory's files open.
	errs = append(errs, c.removeTask(ctx, id))
	if svc == nil && c.mgr != nil {
		s, err := c.mgr.OpenService(ctx, name, svcctl.ServiceAllAccess)
		switch {
		case err == nil:
			ours, oerr := c.ownsService(ctx, s, id)
			if ours {
				svc = s // DeleteAndWait closes it
			} else {
				_ = s.CloseContext(ctx)
				errs = append(errs, oerr) // nil for someone else's service: left alone
			}
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
	errs = append(errs, c.removeDeploymentDir(ctx, id))
	for _, err := range errs {
		if err != nil {
			e := derrors.Wrap(c.label, derrors.StepCleanup, err)
			e.Host, e.Step = c.label, derrors.StepCleanup
			return e
		}
	}
	return nil
}

// serviceOwned opens the service name (of deployment id) and reports
// whether it is ours. A service being deleted counts as ours: it goes away
// whoever owned it, and cleanup only waits for that.
func (c *Conn) serviceOwned(ctx context.Context, name, id string) (bool, error) {
	s, err := c.mgr.OpenService(ctx, name, svcctl.ServiceQueryConfig)
	switch {
	case svcctl.IsMarkedForDelete(err):
		return true, nil
	case svcctl.IsServiceNotFound(err):
		return false, nil
	case err != nil:
		return false, relabel(err, c.label)
	}
	defer s.CloseContext(ctx)
	return c.ownsService(ctx, s, id)
}

// ownsService reports whether svc, named as deployment id's service, is
// ours: its program is nxsvc.exe in that deployment's directory. A service
// someone else named "<prefix>-<id>" is never reconfigured or deleted.
func (c *Conn) ownsService(ctx context.Context, svc *svcctl.Service, id string) (bool, error) {
	cfg, err := svc.QueryConfig(ctx)
	if svcctl.IsCode(err, errInsufficientBuffer) || svcctl.IsCode(err, rpcXBadStubData) {
		// RQueryServiceConfigW carries at most 8 KiB, less than a command
		// line can hold (ours carries the job when its properties are
		// long): a larger configuration is refused (insufficient buffer)
		// or does not decode (bad stub data). Then the service is ours
		// when our program is in the deployment's directory.
		if ok, err := c.exists(ctx, path.Join(c.shareDir(id), serviceExe)); ok || err != nil {
			return ok, err
		}
		return c.exists(ctx, path.Join(c.legacyDir(id), serviceExe))
	}
	if err != nil {
		return false, err
	}
	return c.ownsBinaryPath(ctx, cfg.BinaryPath, id), nil
}

// Win32 codes of a service configuration too large to read.
const (
	errInsufficientBuffer = 122  // ERROR_INSUFFICIENT_BUFFER
	rpcXBadStubData       = 1783 // RPC_X_BAD_STUB_DATA
)

// ownsBinaryPath reports whether a service's command line starts our
// service program in deployment id's directory (or where older versions
// put it), under the system root or %SystemRoot%.
func (c *Conn) ownsBinaryPath(ctx context.Context, binaryPath, id string) bool {
	argv := msi.SplitCommandLine(binaryPath)
	if len(argv) == 0 {
		return false
	}
	exe := argv[0]
	for _, dir := range []string{c.shareDir(id), c.legacyDir(id)} {
		want := `\` + strings.ReplaceAll(dir, "/", `\`) + `\` + serviceExe
		if len(exe) <= len(want) || !strings.EqualFold(exe[len(exe)-len(want):], want) {
			continue
		}
		root := exe[:len(exe)-len(want)]
		if strings.EqualFold(root, systemRootVar) || strings.EqualFold(root, "%windir%") ||
			strings.EqualFold(root, c.systemRoot(ctx)) {
			return true
		}
	}
	return false
}

// removeDeploymentDir deletes deployment id's directory, ADMIN$\<prefix>-<id>,
// and what is in it, and nothing else: id must be a valid deployment ID;
// links are removed, never followed (the directory itself too, when it is
// one); and a tree deeper or larger than a deployment's is refused whole. A
// missing directory is not an error. (Sweep removes the directories older
// versions made elsewhere: removeLegacyDir.)
func (c *Conn) removeDeploymentDir(ctx context.Context, id string) error {
	if err := ValidateDeploymentID(id); err != nil {
		return invalidInput(c.label, derrors.StepCleanup, err)
	}
	err := c.admin.RemoveAll(ctx, c.shareDir(id), smb.RemoveAllOptions{
		MaxDepth: deploymentMaxDepth, MaxEntries: deploymentMaxEntries})
	if err != nil {
		return derrors.Wrap(c.label, derrors.StepCleanup, err)
	}
	return nil
}

// removeLegacyDir deletes ADMIN$\<prefix>\<id>, where versions before
// 2026-12 put deployment id's directory, as removeDeploymentDir deletes the
// directory; the prefix directory must be a real directory (not a junction
// or a link, which could lead anywhere). Then it removes the prefix
// directory if it is empty.
func (c *Conn) removeLegacyDir(ctx context.Context, id string) error {
	if err := ValidateDeploymentID(id); err != nil {
		return invalidInput(c.label, derrors.StepCleanup, err)
	}
	ok, err := c.prefixDirUsable(ctx, derrors.StepCleanup)
	if err != nil || !ok {
		return err
	}
	err = c.admin.RemoveAll(ctx, c.legacyDir(id), smb.RemoveAllOptions{
		MaxDepth: deploymentMaxDepth, MaxEntries: deploymentMaxEntries})
	if err != nil {
		return derrors.Wrap(c.label, derrors.StepCleanup, err)
	}
	c.removePrefixDirIfEmpty(ctx)
	return nil
}

// ErrPrefixIsLink is wrapped by the error of Sweep or a cleanup that finds
// the prefix directory older versions made in ADMIN$ (ADMIN$\<prefix>) to be
// a reparse point (a junction or a symbolic link): what is under it may be
// anywhere on the host, so the deployer deletes nothing there.
var ErrPrefixIsLink = errors.New("deployer: the prefix directory in ADMIN$ is a junction or a link")

// prefixDirUsable reports whether ADMIN$\<prefix>, the parent directory of
// older versions' deployments, exists as a real directory (false, nil when
// it does not exist), and fails when it is a link or a file.
func (c *Conn) prefixDirUsable(ctx context.Context, step derrors.Step) (bool, error) {
	fi, err := c.admin.Lstat(ctx, c.cfg.prefix())
	var cause error
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, &derrors.Error{Kind: derrors.WindowsError,
		Code: derrors.NTStatusCode(derrors.StatusDeletePending)}):
		// Missing, or being removed by another run as it was empty (a
		// MkdirAll after this retries until it is gone).
		return false, nil
	case err != nil:
		return false, derrors.Wrap(c.label, step, err)
	case fi.IsReparsePoint():
		cause = fmt.Errorf("%w: ADMIN$\\%s", ErrPrefixIsLink, c.cfg.prefix())
	case !fi.IsDir():
		cause = fmt.Errorf("deployer: ADMIN$\\%s is a file, not a directory", c.cfg.prefix())
	default:
		return true, nil
	}
	e := derrors.New(c.label, step, derrors.WindowsError, cause)
	e.Reason = derrors.ReasonUnsafeDirectory
	return false, e
}

// removePrefixDirIfEmpty removes ADMIN$\<prefix>, older versions' parent
// directory of deployments, when nothing is left in it: Windows (as Samba
// and the emulated host) refuses to delete a directory that is not empty
// (STATUS_DIRECTORY_NOT_EMPTY). Failures are not reported: the directory
// is only tidied away.
func (c *Conn) removePrefixDirIfEmpty(ctx context.Context) {
	_ = c.admin.Remove(ctx, c.cfg.prefix())
}

// maxSweepEntries bounds how many entries of ADMIN$ (and of older versions'
// prefix directory) Sweep reads: more than that is not a Windows directory.
const maxSweepEntries = 10000

// Leftover is something of ours Sweep found on a host.
type Leftover struct {
	// DeploymentID is the deployment it belongs to.
	DeploymentID string
	// Service reports that the service "<prefix>-<id>" existed.
	Service bool
	// Task reports that the Task Scheduler's task "<prefix>-<id>" existed
	// (its action runs our program in the deployment's directory).
	Task bool
	// Dir reports that the deployment's directory existed: ADMIN$\<prefix>-<id>,
	// or ADMIN$\<prefix>\<id> where versions before 2026-12 made it.
	Dir bool
	// Err is the failure to remove it, if any.
	Err error
}

// Sweep finds what earlier deployments left on the host (services named
// "<prefix>-<id>", tasks of the Task Scheduler of that name whose action
// runs our program in the deployment's directory, and directories
// ADMIN$\<prefix>-<id>, or ADMIN$\<prefix>\<id> as older versions made them,
// as after a crash of the Engine) and removes it, except deployments for
// which keep returns true. It never touches a service, task or directory
// without our exact prefix. A host whose Task Scheduler does not answer is
// swept of services and directories only.
func Sweep(ctx context.Context, c *Conn, keep func(deploymentID string) bool) ([]Leftover, error) {
	found := map[string]*Leftover{}
	get := func(id string) *Leftover {
		if found[id] == nil {
			found[id] = &Leftover{DeploymentID: id}
		}
		return found[id]
	}
	var services []svcctl.ServiceEntry
	if c.mgr != nil {
		var err error
		services, err = c.mgr.EnumServices(ctx, svcctl.EnumOptions{Prefix: c.cfg.prefix() + "-", State: svcctl.EnumAll})
		if err != nil {
			return nil, relabel(err, c.label)
		}
	}
	for _, s := range services {
		// Only names that are "<prefix>-<valid id>": never "nxdeploy-..".
		// Whether the service is really ours is checked by its binary path
		// before it is removed.
		id, ok := deploymentOfService(c.cfg.prefix(), s.Name)
		if !ok {
			continue
		}
		ours, err := c.serviceOwned(ctx, s.Name, id)
		if ours || err != nil {
			l := get(id)
			l.Service, l.Err = true, err
		}
	}
	tasks, err := c.sweepTasks(ctx)
	if err != nil {
		return nil, err
	}
	for id, terr := range tasks {
		l := get(id)
		l.Task = true
		l.Err = errors.Join(l.Err, terr)
	}
	root, err := c.admin.ReadDir(ctx, "", maxSweepEntries)
	if err != nil {
		return nil, derrors.Wrap(c.label, derrors.StepCleanup, err)
	}
	legacyFound := false
	for _, e := range root {
		if strings.EqualFold(e.Name, c.cfg.prefix()) {
			legacyFound = true
		}
		if id, ok := deploymentOfService(c.cfg.prefix(), e.Name); ok && (e.IsDir() || e.IsReparsePoint()) {
			get(id).Dir = true
		}
	}
	legacy := map[string]bool{}
	usable := false
	if legacyFound {
		if usable, err = c.prefixDirUsable(ctx, derrors.StepCleanup); err != nil {
			return nil, err
		}
	}
	if usable {
		entries, err := c.admin.ReadDir(ctx, c.cfg.prefix(), maxSweepEntries)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, derrors.Wrap(c.label, derrors.StepCleanup, err)
		}
		for _, e := range entries {
			if ValidateDeploymentID(e.Name) == nil && (e.IsDir() || e.IsReparsePoint()) {
				get(e.Name).Dir, legacy[e.Name] = true, true
			}
		}
	}
	ids := make([]string, 0, len(found))
	for id := range found {
		if keep == nil || !keep(id) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if usable && len(ids) == 0 {
		c.removePrefixDirIfEmpty(ctx) // as an older version left it
	}
	out := make([]Leftover, 0, len(ids))
	var errs []error
	for _, id := range ids {
		l := found[id]
		l.Err = removeDeployment(ctx, c, id, nil)
		if legacy[id] {
			l.Err = errors.Join(l.Err, c.removeLegacyDir(ctx, id))
		}
		errs = append(errs, l.Err)
		out = append(out, *l)
	}
	return out, errors.Join(errs...)
}
