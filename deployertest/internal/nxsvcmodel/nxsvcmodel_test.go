package nxsvcmodel_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest/internal/nxsvcmodel"
	"github.com/nxdeploy/deployer/deployertest/internal/registry"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
)

// host is an emulated service manager running the model, with the
// directory standing for C:\Windows.
type host struct {
	t     *testing.T
	admin string
	s     *scm.Session
	hSCM  scm.Handle
	// pkg is the package deploy writes (nil: a placeholder).
	pkg []byte
}

func newHost(t *testing.T, inst scm.InstallerOptions) *host { return newHostWith(t, inst, nil) }

// newHostWith is newHost on a host whose registry is reg.
func newHostWith(t *testing.T, inst scm.InstallerOptions, reg *registry.Registry) *host {
	t.Helper()
	admin := t.TempDir()
	m := scm.New(scm.Options{AdminDir: admin, StartTimeout: 5 * time.Second, Program: nxsvcmodel.ProgramWith(scm.Installer(inst), reg)})
	t.Cleanup(func() { _ = m.Close() })
	s := m.Open(scm.Caller{User: "Administrator", Admin: true})
	t.Cleanup(func() { _ = s.Close() })
	h, err := s.OpenSCManager("", scm.SCManagerAllAccess)
	require.NoError(t, err)
	return &host{t: t, admin: admin, s: s, hSCM: h}
}

// deploy writes the service, the package (unless j is an uninstall or
// names a package on a share) and the job (when j.ID is set)
// into nxdeploy\<id> and starts the service with the directory as its
// argument.
func (h *host) deploy(id string, j job.Job, binPath string) (scm.Handle, string) {
	h.t.Helper()
	dir := filepath.Join(h.admin, "nxdeploy", id)
	require.NoError(h.t, os.MkdirAll(dir, 0o755))
	require.NoError(h.t, os.WriteFile(filepath.Join(dir, "nxsvc.exe"), []byte("MZ"), 0o755))
	pkg := h.pkg
	if pkg == nil {
		pkg = []byte("msi")
	}
	if j.Operation != job.Uninstall && !strings.HasPrefix(j.Package, `\\`) {
		require.NoError(h.t, os.WriteFile(filepath.Join(dir, "package.msi"), pkg, 0o644))
	}
	if j.ID != "" {
		b, err := j.Encode()
		require.NoError(h.t, err)
		require.NoError(h.t, os.WriteFile(filepath.Join(dir, job.FileJob), b, 0o644))
	}
	if binPath == "" {
		binPath = `C:\Windows\nxdeploy\` + id + `\nxsvc.exe C:\Windows\nxdeploy\` + id
	}
	sh, err := h.s.CreateService(h.hSCM, scm.CreateParams{Name: "nxdeploy-" + id, DesiredAccess: scm.ServiceAllAccess,
		ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand, BinaryPath: binPath})
	require.NoError(h.t, err)
	require.NoError(h.t, h.s.StartService(context.Background(), sh, nil))
	return sh, dir
}

func (h *host) wait(sh scm.Handle) scm.Status {
	h.t.Helper()
	var st scm.Status
	require.Eventually(h.t, func() bool {
		var err error
		st, err = h.s.QueryStatus(sh)
		return err == nil && st.CurrentState == scm.StateStopped
	}, 10*time.Second, time.Millisecond)
	return st
}

func readResult(t *testing.T, dir string) job.Result {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, job.FileResult))
	require.NoError(t, err)
	r, err := job.DecodeResult(b)
	require.NoError(t, err)
	return r
}

// files lists the names of the files in dir, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// TestModel runs jobs to each kind of end and checks the exit code and
// every file the model leaves in the deployment directory, as nxsvc leaves
// them: after a failure the log (when Windows Installer ran) and the
// result; after a success nxsvc.exe alone (and the result after an install
// over another version); with KeepLog the log and the result whatever the
// outcome.
func TestModel(t *testing.T) {
	const product = "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}"
	props := []job.Property{{Name: "SERVER", Value: "collector.example.test"}, {Name: "TENANTKEY", Value: "s3cr3t", Secret: true}}
	install := func(keep bool) func(string) job.Job {
		return func(id string) job.Job {
			return job.Job{ID: id, Operation: job.Install, Package: "package.msi", Properties: props, Timeout: time.Minute, KeepLog: keep}
		}
	}
	uninstall := func(keep bool) func(string) job.Job {
		return func(id string) job.Job {
			return job.Job{ID: id, Operation: job.Uninstall, ProductCode: product, Timeout: time.Minute, KeepLog: keep}
		}
	}
	skip := func(keep bool) func(string) job.Job {
		return func(id string) job.Job {
			return job.Job{ID: id, Operation: job.Install, Package: "package.msi", ProductCode: product, SkipIfInstalled: "1.2.3",
				Timeout: time.Minute, KeepLog: keep}
		}
	}
	var (
		quiet   = []string{"nxsvc.exe"}
		failed  = []string{"install.log", "nxsvc.exe", "result"}
		kept    = failed
		refused = []string{"nxsvc.exe", "package.msi", "result"}
	)
	tests := []struct {
		name      string
		outcomes  []uint32
		installed string // the version of product the host's registry lists ("": no registry)
		job       func(id string) job.Job
		code      uint32
		files     []string
		result    job.Result // when files has a result
	}{
		{"installs", nil, "", install(false), 0, quiet, job.Result{}},
		{"installs, keep log", nil, "", install(true), 0, kept, job.Result{Code: 0, Outcome: job.OutcomeDone, HasMSI: true}},
		{"fails", []uint32{1603}, "", install(false), 1603, failed, job.Result{Code: 1603, Outcome: job.OutcomeDone, MSI: 1603, HasMSI: true}},
		{"fails, keep log", []uint32{1603}, "", install(true), 1603, failed,
			job.Result{Code: 1603, Outcome: job.OutcomeDone, MSI: 1603, HasMSI: true}},
		{"reboot", []uint32{3010}, "", install(false), 3010, quiet, job.Result{}},
		{"reboot started", []uint32{1641}, "", install(false), 1641, quiet, job.Result{}},
		{"reboot, keep log", []uint32{3010}, "", install(true), 3010, kept, job.Result{Code: 3010, Outcome: job.OutcomeDone, MSI: 3010, HasMSI: true}},
		{"package on a share", nil, "", func(id string) job.Job {
			return job.Job{ID: id, Operation: job.Install, Package: `\\engine\share\x.msi`, Timeout: time.Minute}
		}, 1619, failed, job.Result{Code: 1619, Outcome: job.OutcomeDone, MSI: 1619, HasMSI: true}},
		{"uninstall", nil, "", uninstall(false), 0, quiet, job.Result{}},
		{"uninstall, keep log", nil, "", uninstall(true), 0, kept, job.Result{Code: 0, Outcome: job.OutcomeDone, HasMSI: true}},
		{"uninstall fails", []uint32{1603}, "", uninstall(false), 1603, failed, job.Result{Code: 1603, Outcome: job.OutcomeDone, MSI: 1603, HasMSI: true}},
		{"uninstall of an absent product", nil, "none", uninstall(false), 1605, quiet, job.Result{}},
		{"uninstall of an absent product, keep log", nil, "none", uninstall(true), 1605, kept,
			job.Result{Code: 1605, Outcome: job.OutcomeDone, MSI: 1605, HasMSI: true}},
		{"already installed", nil, "1.2.3", skip(false), job.CodeAlreadyInstalled, quiet, job.Result{}},
		{"already installed, keep log", nil, "1.2.3", skip(true), job.CodeAlreadyInstalled, []string{"nxsvc.exe", "result"},
			job.Result{Code: job.CodeAlreadyInstalled, Outcome: job.OutcomeAlreadyInstalled,
				Error: "the product is already installed in the package's version: nothing installed", Installed: "1.2.3"}},
		{"skip check, nothing installed", nil, "none", skip(false), 0, quiet, job.Result{}},
		{"package changed on its way", nil, "", func(id string) job.Job {
			return job.Job{ID: id, Operation: job.Install, Package: "package.msi", PackageSHA256: make([]byte, 32), Timeout: time.Minute}
		}, job.CodeBadPackage, refused, job.Result{Code: job.CodeBadPackage, Outcome: job.OutcomeBadPackage,
			Error: "the package on the computer is not the one the Engine sent (SHA-256)"}},
		{"no job file", nil, "", func(string) job.Job { return job.Job{} }, job.CodeBadJob, refused,
			job.Result{Code: job.CodeBadJob, Outcome: job.OutcomeBadJob, Error: "the job file cannot be read"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var reg *registry.Registry
			if tc.installed != "" {
				reg = registry.New()
				if tc.installed != "none" {
					reg.AddProduct(registry.Product{Code: product, Name: "NxTest", Version: tc.installed})
				}
			}
			h := newHostWith(t, scm.InstallerOptions{Outcomes: tc.outcomes}, reg)
			id := "m" + string(rune('a'+i))
			j := tc.job(id)
			sh, dir := h.deploy(id, j, "")
			st := h.wait(sh)
			if tc.code == 0 {
				assert.Equal(t, uint32(0), st.Win32ExitCode)
			} else {
				assert.Equal(t, uint32(1066), st.Win32ExitCode)
				assert.Equal(t, tc.code, st.ServiceSpecificExitCode)
			}
			assert.Equal(t, tc.files, files(t, dir), "the files the run left")
			if slices.Contains(tc.files, job.FileResult) {
				want := tc.result
				want.ID = j.ID
				assert.Equal(t, want, readResult(t, dir))
			}
			if j.Properties != nil && slices.Contains(tc.files, job.FileLog) {
				b, err := os.ReadFile(filepath.Join(dir, job.FileLog))
				require.NoError(t, err)
				assert.Contains(t, string(b), "Property(S): SERVER = collector.example.test")
				assert.Contains(t, string(b), "Property(S): TENANTKEY = **********")
				assert.NotContains(t, string(b), "s3cr3t")
			}
		})
	}
}

// TestModelNeverEmptyUntilDone: from the moment the model deletes the job,
// the directory holds the job, the progress file or the result, until the
// run has done its work (the package deleted) and succeeded: a directory
// with none of them is a run that ended successfully, a failure never
// shows one.
func TestModelNeverEmptyUntilDone(t *testing.T) {
	for _, tc := range []struct {
		name     string
		outcomes []uint32
		code     uint32
	}{{"success", nil, 0}, {"failure", []uint32{1603}, 1603}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, scm.InstallerOptions{Duration: 300 * time.Millisecond, ProgressLines: 10, Outcomes: tc.outcomes})
			sh, dir := h.deploy("seen", job.Job{ID: "seen", Operation: job.Install, Package: "package.msi", Timeout: time.Minute}, "")
			var empty, looks int
			for {
				st, err := h.s.QueryStatus(sh)
				require.NoError(t, err)
				if st.CurrentState == scm.StateStopped {
					break
				}
				looks++
				names := files(t, dir)
				if !slices.Contains(names, job.FileJob) && !slices.Contains(names, job.FileProgress) && !slices.Contains(names, job.FileResult) {
					empty++
					assert.NotContains(t, names, "package.msi", "an empty directory only once the work is done")
				}
			}
			assert.Positive(t, looks)
			st := h.wait(sh)
			assert.Equal(t, tc.code, st.ServiceSpecificExitCode)
			if tc.code != 0 {
				assert.Zero(t, empty, "a failed run never shows a directory without job, progress and result")
			}
			t.Logf("%d looks while the service ran, %d with nxsvc.exe alone", looks, empty)
		})
	}
}

func TestModelBadArguments(t *testing.T) {
	h := newHost(t, scm.InstallerOptions{})
	for i, arg := range []string{"", ` ..\x`, ` C:\Windows\..\x`, ` C:\Windows\nxdeploy\x extra`} {
		id := "x" + string(rune('a'+i))
		bp := `C:\Windows\nxdeploy\` + id + `\nxsvc.exe` + arg
		sh, dir := h.deploy(id, job.Job{}, bp)
		st := h.wait(sh)
		assert.Equal(t, job.CodeBadJob, st.ServiceSpecificExitCode, bp)
		assert.NoFileExists(t, filepath.Join(dir, job.FileResult))
	}
}

// TestModelProgressAndCancel follows a slow install's progress file, then
// stops the service: the model answers 1602 as nxsvc does.
func TestModelProgressAndCancel(t *testing.T) {
	h := newHost(t, scm.InstallerOptions{Duration: 2 * time.Second, ProgressLines: 20})
	sh, dir := h.deploy("cancel", job.Job{ID: "cancel", Operation: job.Install, Package: "package.msi", Timeout: time.Minute}, "")
	var seen []int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, job.FileProgress))
		if err != nil {
			return false
		}
		p, err := job.DecodeProgress(b)
		require.NoError(t, err)
		if len(seen) == 0 || seen[len(seen)-1] != p.Percent {
			seen = append(seen, p.Percent)
		}
		return p.Percent >= 30
	}, 10*time.Second, 5*time.Millisecond)
	_, err := h.s.Control(sh, scm.ControlStop)
	require.NoError(t, err)
	st := h.wait(sh)
	assert.Equal(t, uint32(1602), st.ServiceSpecificExitCode)
	r := readResult(t, dir)
	assert.Equal(t, job.OutcomeCancelled, r.Outcome)
	assert.Equal(t, uint32(1602), r.MSI)
	assert.GreaterOrEqual(t, len(seen), 3, "progress moved: %v", seen)

	h2 := newHost(t, scm.InstallerOptions{Duration: 5 * time.Second})
	sh, dir = h2.deploy("timeout", job.Job{ID: "timeout", Operation: job.Install, Package: "package.msi", Timeout: time.Second}, "")
	st = h2.wait(sh)
	assert.Equal(t, job.CodeTimeout, st.ServiceSpecificExitCode)
	r = readResult(t, dir)
	assert.Equal(t, job.OutcomeTimeout, r.Outcome)
	assert.Equal(t, uint32(1602), r.MSI)
	assert.True(t, strings.HasPrefix(r.Error, "cancelled"))
}

// TestModelStopFile writes the file "stop" into the deployment directory
// mid-install, as the Engine does for a program run as a Task Scheduler
// task: the model cancels as nxsvc does (1602, outcome cancelled), the
// installer did not run to its end, and the job, progress and package are
// removed.
func TestModelStopFile(t *testing.T) {
	const steps = 20
	h := newHost(t, scm.InstallerOptions{Duration: 3 * time.Second, ProgressLines: steps})
	sh, dir := h.deploy("stopfile", job.Job{ID: "stopfile", Operation: job.Install, Package: "package.msi", Timeout: time.Minute}, "")
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, job.FileProgress))
		if err != nil {
			return false
		}
		p, err := job.DecodeProgress(b)
		return err == nil && p.Percent >= 20
	}, 10*time.Second, 5*time.Millisecond, "the install is under way")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stop"), nil, 0o644))
	st := h.wait(sh)
	assert.Equal(t, uint32(1066), st.Win32ExitCode)
	assert.Equal(t, uint32(1602), st.ServiceSpecificExitCode)
	assert.Equal(t, job.Result{ID: "stopfile", Code: 1602, Outcome: job.OutcomeCancelled, MSI: 1602, HasMSI: true,
		Error: "cancelled by a stop request"}, readResult(t, dir))
	b, err := os.ReadFile(filepath.Join(dir, job.FileLog))
	require.NoError(t, err)
	assert.Contains(t, string(b), "Installation operation cancelled by a stop request")
	assert.NotContains(t, string(b), "Progress 20/20", "the installer did not run to its end")
	for _, f := range []string{job.FileJob, job.FileProgress, "package.msi"} {
		assert.NoFileExists(t, filepath.Join(dir, f), "%s is removed", f)
	}
}

// TestModelOtherVersion installs ok.msi (ProductCode okProduct, 1.2.3) on
// a host whose registry lists okProduct at another version: as Windows
// Installer, the model refuses it with 1638 unless the job's properties
// carry REINSTALL, and as nxsvc, a job with the skip check meeting an older
// version adds REINSTALL=ALL REINSTALLMODE=vomus itself (seen in the log a
// job with KeepLog keeps). Without KeepLog, the upgrade over the older
// version leaves the result file (the version the host had) and no log.
func TestModelOtherVersion(t *testing.T) {
	const okProduct = "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}"
	ok, err := os.ReadFile(filepath.Join("..", "..", "..", "msi", "testdata", "ok.msi"))
	require.NoError(t, err)
	reinstall := []job.Property{{Name: "REINSTALL", Value: "ALL"}, {Name: "REINSTALLMODE", Value: "vomus"}}
	tests := []struct {
		name      string
		installed string
		skip      bool
		props     []job.Property
		code      uint32
		after     string // the version the registry lists afterwards
		logged    bool   // the log's property dump shows the minor upgrade
	}{
		{"older, no skip record, no REINSTALL", "1.2.2", false, nil, 1638, "1.2.2", false},
		{"older, the caller's REINSTALL", "1.2.2", false, reinstall, 0, "1.2.3", true},
		{"older, the skip record: nxsvc adds REINSTALL", "1.2.2", true, nil, 0, "1.2.3", true},
		{"older, the skip record and the caller's REINSTALLMODE only", "1.2.2", true,
			[]job.Property{{Name: "REINSTALLMODE", Value: "vomus"}}, 1638, "1.2.2", false},
		{"newer, the skip record: a downgrade, refused", "1.3.0", true, nil, 1638, "1.3.0", false},
		{"absent", "", true, nil, 0, "1.2.3", false},
	}
	for i, tc := range tests {
		for _, keep := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, keep log %v", tc.name, keep), func(t *testing.T) {
				reg := registry.New()
				if tc.installed != "" {
					reg.AddProduct(registry.Product{Code: okProduct, Name: "NxTest", Version: tc.installed})
				}
				h := newHostWith(t, scm.InstallerOptions{}, reg)
				id := fmt.Sprintf("v%c%v", 'a'+i, keep)
				j := job.Job{ID: id, Operation: job.Install, Package: "package.msi", Properties: tc.props, Timeout: time.Minute, KeepLog: keep}
				if tc.skip {
					j.ProductCode, j.SkipIfInstalled = okProduct, "1.2.3"
				}
				h.pkg = ok
				sh, dir := h.deploy(id, j, "")
				st := h.wait(sh)
				assert.Equal(t, tc.code, st.ServiceSpecificExitCode)
				v, listed := reg.HasProduct(okProduct)
				require.True(t, listed)
				assert.Equal(t, tc.after, v)
				assert.NoFileExists(t, filepath.Join(dir, "package.msi"))
				if !keep {
					// A success leaves the result only after an install over
					// another version (the skip check found it), and no log.
					want := []string{"nxsvc.exe"}
					switch {
					case tc.code != 0:
						want = []string{"install.log", "nxsvc.exe", "result"}
					case tc.skip && tc.installed != "":
						want = []string{"nxsvc.exe", "result"}
					}
					assert.Equal(t, want, files(t, dir))
					if slices.Contains(want, job.FileResult) {
						r := readResult(t, dir)
						assert.Equal(t, tc.code, r.Code, "result %+v", r)
						if tc.skip {
							assert.Equal(t, tc.installed, r.Installed, "the version the host had")
						}
					}
					return
				}
				assert.Equal(t, []string{"install.log", "nxsvc.exe", "result"}, files(t, dir))
				r := readResult(t, dir)
				assert.Equal(t, tc.code, r.Code, "result %+v", r)
				if tc.skip {
					assert.Equal(t, tc.installed, r.Installed)
				}
				log, err := os.ReadFile(filepath.Join(dir, job.FileLog))
				require.NoError(t, err)
				if tc.code == 1638 {
					assert.Contains(t, string(log), "MainEngineThread is returning 1638")
				}
				assert.Equal(t, tc.logged, strings.Contains(string(log), "Property(S): REINSTALL = ALL\r\nProperty(S): REINSTALLMODE = vomus"),
					"the minor upgrade's properties in the log:\n%s", log)
			})
		}
	}
}
