package deployer

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"
	"unicode/utf16"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// ServiceSpec says which remote service RunInstaller and Uninstall push
// (InstallOptions.Service): the deployer's own, or a code-signed copy.
type ServiceSpec struct {
	// DeploymentID names this deployment on the host: the service is
	// "<prefix>-<id>" and its files live in ADMIN$\<prefix>-<id>\. See
	// ValidateDeploymentID for what is accepted; "" means a fresh random id.
	DeploymentID string
	// Binary is the service executable to push. Nil means the deployer's own
	// remote service for the host's architecture (Arch). A code-signed copy
	// of it (ServiceBinary, signed with your certificate) is accepted when
	// it is the build for the host's architecture; any other binary is
	// refused (ReasonServiceBinaryMismatch).
	Binary []byte
	// Binaries are code-signed copies of the service, one per build (the
	// x64 and the x86 one, from ServiceBinary): the one for the host's
	// architecture is pushed, and a host whose build is missing is refused
	// (ReasonServiceBinaryMismatch). Binary, when set, wins.
	Binaries [][]byte
	// Arch is the host's architecture: "amd64", "386" or "arm64"; "" means
	// detect it from the host's Windows directory.
	Arch string
	// Args are appended to the service's command line (its binary path).
	// RunInstaller sets the deployment directory, the remote service's only
	// argument.
	Args []string
	// DisplayName is the service's display name; "" means its name.
	DisplayName string
	// VerifySHA256 reads the uploaded binary back and compares it.
	VerifySHA256 bool
}

// serviceExe is the service program's name in a deployment's directory.
const serviceExe = "nxsvc.exe"

// maxCommandLine is the longest command line CreateProcess starts, in UTF-16
// code units: a service's binary path.
const maxCommandLine = 32767

// NewDeploymentID returns a fresh random deployment id.
func NewDeploymentID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// RemoteService is the remote service a deployment created (or reused) on a
// host: a service, or a one-shot task of its Task Scheduler.
type RemoteService struct {
	conn *Conn
	svc  *svcctl.Service
	// Name is the service name.
	Name string
	// DeploymentID is the deployment's id.
	DeploymentID string
	// Dir is the deployment's directory relative to ADMIN$.
	Dir string
	// BinaryPath is the service's command line as the host stores it.
	BinaryPath string
	// SHA256 is the hex digest of the pushed binary.
	SHA256 string
	// Reused reports that a service (or task) of ours with this name
	// already existed and was reused.
	Reused bool
	// task: the program runs as the Task Scheduler's task Name rather than
	// as a service (ConnectConfig.Via); ranAt is when it was run.
	task  bool
	ranAt time.Time
}

// Task reports that the remote service runs as a one-shot task of the
// host's Task Scheduler named Name, rather than as a service (see Via).
func (rs *RemoteService) Task() bool { return rs.task }

// dirState says what RunInstaller already did with the deployment's
// directory: created and protected it (ready), and found none there
// (fresh), so no service of this deployment can be there either.
type dirState struct {
	ready, fresh bool
	// taskLimit bounds a task's run (the job's timeout and grace, and a
	// margin); 0 means tsch.DefaultExecutionTimeLimit.
	taskLimit time.Duration
}

// pushService pushes and starts the remote service of spec.DeploymentID
// (copying it, creating or reusing its service or task), once the host was
// checked (checkWindows).
func pushService(ctx context.Context, c *Conn, spec ServiceSpec, dir dirState) (rs *RemoteService, err error) {
	if spec.DeploymentID == "" {
		spec.DeploymentID = NewDeploymentID()
	}
	if err := ValidateDeploymentID(spec.DeploymentID); err != nil {
		return nil, invalidInput(c.label, derrors.StepUpload, err)
	}
	bin, err := c.serviceBinary(ctx, spec)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(bin)
	rs = &RemoteService{
		conn:         c,
		Name:         c.serviceName(spec.DeploymentID),
		DeploymentID: spec.DeploymentID,
		Dir:          c.shareDir(spec.DeploymentID),
		SHA256:       hex.EncodeToString(sum[:]),
	}
	exe := path.Join(rs.Dir, serviceExe)
	rs.BinaryPath, err = msi.JoinCommandLine(append([]string{c.servicePath(exe)}, spec.Args...))
	if err != nil {
		return nil, invalidInput(c.label, derrors.StepCreateService, err)
	}
	if n := utf16Len(rs.BinaryPath); n > maxCommandLine {
		return nil, invalidInput(c.label, derrors.StepCreateService, fmt.Errorf(
			"the service's command line would be %d characters long, more than Windows starts (%d): shorten the service's arguments", n, maxCommandLine))
	}
	defer func() {
		if err != nil {
			// Leave nothing behind: remove what this call created.
			rs.cleanup(ctx)
			rs = nil
			err = relabel(err, c.label)
		}
	}()

	// An existing service of ours with this name is stopped and reused. A
	// directory just created has none of ours: CreateService tells if a
	// service of that name is there all the same.
	if !dir.fresh && c.mgr != nil {
		if err = c.adoptService(ctx, rs, spec.DeploymentID); err != nil {
			return rs, err
		}
	}

	if !dir.ready {
		if dir.fresh, err = c.prepareDir(ctx, spec.DeploymentID); err != nil {
			return rs, err
		}
	}
	same := false
	if !dir.fresh {
		if same, err = c.sameFile(ctx, exe, bin); err != nil {
			return rs, err
		}
	}
	switch {
	case same:
	case spec.VerifySHA256 || !dir.fresh:
		_, err = c.admin.Upload(ctx, exe, bytes.NewReader(bin), int64(len(bin)),
			smb.UploadOptions{Overwrite: true, VerifySHA256: spec.VerifySHA256})
	default:
		err = c.admin.Put(ctx, exe, bytes.NewReader(bin), int64(len(bin)), smb.UploadOptions{})
	}
	if err != nil {
		return rs, vanished(c, err)
	}

	display := spec.DisplayName
	if display == "" {
		display = rs.Name
	}
	if c.ViaTask() && rs.svc == nil {
		return rs, c.startTask(ctx, rs, spec.Args, dir.taskLimit)
	}
	if rs.svc == nil {
		var created *svcctl.Service
		created, err = c.mgr.CreateService(ctx, rs.Name, display, rs.BinaryPath, svcctl.CreateOptions{})
		if err == nil {
			rs.svc = created
		} else if svcctl.IsServiceExists(err) && dir.fresh {
			exists := err
			if err = c.adoptService(ctx, rs, spec.DeploymentID); err == nil && rs.svc == nil {
				err = exists // gone again meanwhile
			}
		} else if c.cfg.Via == ViaAuto && isAccessDenied(err) {
			// The service manager lets us in but refuses this one call
			// (an RPC filter on RCreateServiceW, an EDR): the task then.
			c.canCreate, c.scmErr = false, relabel(err, c.label)
			if terr := c.startTask(ctx, rs, spec.Args, dir.taskLimit); terr != nil {
				e := atStep(c.label, derrors.StepCreateService, err)
				e.Err = fmt.Errorf("%w; and the Task Scheduler: %v", e.Err, terr)
				return rs, e
			}
			return rs, nil
		}
	}
	if err == nil && rs.Reused {
		err = rs.svc.ChangeConfig(ctx, svcctl.ChangeOptions{BinaryPath: rs.BinaryPath, DisplayName: display})
	}
	if err != nil {
		return rs, err
	}
	if err = rs.svc.Start(ctx); err != nil && !svcctl.IsAlreadyRunning(err) {
		return rs, quarantineCheck(ctx, c, exe, err)
	}
	return rs, nil
}

// adoptService opens the service of rs's name, when there is one: a
// service of ours (its program is ours in deployment id's directory) is
// stopped so its binary can be replaced, and reused (rs.svc, rs.Reused);
// anyone else's is left alone and refused (ReasonServiceNameTaken).
func (c *Conn) adoptService(ctx context.Context, rs *RemoteService, id string) error {
	existing, err := c.mgr.OpenService(ctx, rs.Name, svcctl.ServiceAllAccess)
	switch {
	case svcctl.IsServiceNotFound(err):
		return nil
	case err != nil:
		return err
	}
	ours, err := c.ownsService(ctx, existing, id)
	if err != nil || !ours {
		_ = existing.CloseContext(ctx)
		if err == nil {
			err = serviceNameTaken(c.label, rs.Name)
		}
		return err
	}
	rs.svc, rs.Reused = existing, true
	_, err = stopAndWait(ctx, existing)
	return err
}

// serviceNameTaken is the error for a service named like ours that is not
// ours: it is neither reused nor touched.
func serviceNameTaken(host, name string) *derrors.Error {
	e := derrors.New(host, derrors.StepCreateService, derrors.WindowsError,
		fmt.Errorf("the service %s exists and is not the deployer's (its program is elsewhere)", name))
	e.Reason, e.Code = derrors.ReasonServiceNameTaken, derrors.Win32Code(derrors.ErrorServiceExists)
	return e
}

// makeDeploymentDir creates ADMIN$\<prefix>-<id>. fresh reports that this
// call created it (so it is a real, empty directory); one that existed is
// checked not to be a junction, a link or a file, which could put our
// files anywhere.
func (c *Conn) makeDeploymentDir(ctx context.Context, id string) (fresh bool, err error) {
	dir := c.shareDir(id)
	if fresh, err = c.admin.Mkdir(ctx, dir); err != nil || fresh {
		return fresh, err
	}
	fi, err := c.admin.Lstat(ctx, dir)
	if err != nil {
		return false, derrors.Wrap(c.label, derrors.StepUpload, err)
	}
	if fi.IsReparsePoint() || !fi.IsDir() {
		e := derrors.New(c.label, derrors.StepUpload, derrors.WindowsError,
			fmt.Errorf("deployer: ADMIN$\\%s is a junction, a link or a file", dir))
		e.Reason = derrors.ReasonUnsafeDirectory
		return false, e
	}
	return false, nil
}

// utf16Len is the length of s in UTF-16 code units, as Windows counts a
// command line.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += max(utf16.RuneLen(r), 1) // an invalid rune is sent as U+FFFD
	}
	return n
}

// vanished turns an upload failure into "quarantined by antivirus" when the
// file being written disappeared under us (STATUS_OBJECT_NAME_NOT_FOUND on
// our own new file): antivirus software removed it as it was written.
func vanished(c *Conn, err error) error {
	e, ok := derrors.As(err)
	if !ok || e.Code != derrors.NTStatusCode(derrors.StatusObjectNameNotFound) {
		return err
	}
	q := *e
	q.Kind, q.Reason = derrors.WindowsError, derrors.ReasonQuarantined
	return &q
}

// quarantineCheck turns a start failure into "quarantined by antivirus" when
// the binary we just uploaded has vanished.
func quarantineCheck(ctx context.Context, c *Conn, exe string, startErr error) error {
	ok, err := c.exists(ctx, exe)
	if err != nil || ok {
		return startErr
	}
	e := derrors.Wrap(c.label, derrors.StepStartService, startErr)
	e.Kind, e.Reason = derrors.WindowsError, derrors.ReasonQuarantined
	return e
}

// sameFile reports whether the ADMIN$ file rel exists with exactly content.
func (c *Conn) sameFile(ctx context.Context, rel string, content []byte) (bool, error) {
	fi, err := c.admin.Stat(ctx, rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, err
	}
	if fi.Size() != int64(len(content)) {
		return false, nil
	}
	got, err := c.admin.ReadFile(ctx, rel, len(content)+1)
	if err != nil {
		return false, derrors.Wrap(c.label, derrors.StepUpload, err)
	}
	return bytes.Equal(got, content), nil
}

// detectArch tells the host's architecture from its Windows directory:
// SysWOW64 exists only on 64-bit Windows, and SysArm32 only on ARM64
// Windows among those. Each is one srvsvc request (Session.Exists) where
// the host answers srvsvc, a stat over ADMIN$ otherwise.
func detectArch(ctx context.Context, c *Conn) (string, error) {
	for _, probe := range []struct{ dir, without string }{{"SysWOW64", "386"}, {"SysArm32", "amd64"}} {
		ok, err := c.sess.Exists(ctx, "ADMIN$", probe.dir)
		if err != nil {
			ok, err = c.exists(ctx, probe.dir)
		}
		if err != nil {
			return "", derrors.Wrap(c.label, derrors.StepUpload, err)
		}
		if !ok {
			return probe.without, nil
		}
	}
	return "arm64", nil
}

// Status queries the service's status.
func (rs *RemoteService) Status(ctx context.Context) (svcctl.Status, error) {
	if rs.task {
		return rs.taskStatus(ctx)
	}
	st, err := rs.svc.QueryStatus(ctx)
	return st, relabel(err, rs.conn.label)
}

// Stop stops the service and waits until it is stopped. A task's program
// is first asked to cancel through the stop file in its directory (so
// Windows Installer rolls the product back, as for a service stop), given
// the cancel grace period to end, then ended by the Task Scheduler.
func (rs *RemoteService) Stop(ctx context.Context) (svcctl.Status, error) {
	if rs.task {
		rs.conn.cancelTaskRun(ctx, rs.Name, rs.DeploymentID)
		return rs.conn.stopTask(ctx, rs.Name)
	}
	st, err := stopAndWait(ctx, rs.svc)
	return st, relabel(err, rs.conn.label)
}

// Remove stops and deletes the service and deletes its directory. It uses a
// short fresh context when ctx is already done, so a cancelled deployment
// still cleans up.
func (rs *RemoteService) Remove(ctx context.Context) error { return rs.cleanup(ctx) }

// Close releases this handle to the service and leaves the service and its
// files on the host (a later push of the same deployment reuses
// them, and Sweep removes them). A service marked for deletion is only
// removed once every handle to it is closed.
func (rs *RemoteService) Close() error { return rs.CloseContext(context.Background()) }

// CloseContext is Close bounded by ctx as well: every type whose Close sends
// a request to the host has one, named so.
func (rs *RemoteService) CloseContext(ctx context.Context) error {
	if rs.svc == nil {
		return nil
	}
	return relabel(rs.svc.CloseContext(ctx), rs.conn.label)
}

// cleanupTimeout bounds cleanup after the caller's context is done.
const cleanupTimeout = 30 * time.Second

func (rs *RemoteService) cleanup(ctx context.Context) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	return removeDeployment(ctx, rs.conn, rs.DeploymentID, rs.svc)
}
