// Package nxsvcmodel models the deployer's remote service (nxsvc, built from
// internal/remotesvc/csrc) on the emulated Windows host: a scm.Program that
// takes the service's one argument (its deployment directory), reads and
// deletes the job file there, runs the installation with an inner program
// (normally scm.Installer, which plays Windows Installer and writes its
// log), rewrites the progress file from the actions the log shows, and
// ends the way nxsvc does: the API's result as a service-specific exit
// code, and the files nxsvc leaves (job.Job.KeepsLog, LeavesResult): after
// a failure the log and the result file, after a success only nxsvc.exe
// (and the result file for an install over another version), unless the
// job has KeepLog.
//
// What it models of nxsvc: the job file's rules (package job decodes it as
// nxsvc's parser does), the skip check (a job with SkipIfInstalled whose
// product the registry lists in that version ends CodeAlreadyInstalled
// without installing, and the version found goes to the result file; an
// older version makes the job a minor upgrade, REINSTALL=ALL
// REINSTALLMODE=vomus added unless the job sets REINSTALL or REINSTALLMODE),
// Windows Installer's refusal of a package whose ProductCode the registry
// lists at another version without REINSTALL (1638, ERROR_PRODUCT_VERSION),
// the
// stop file (a file "stop" in the directory cancels as a stop request
// does, for a program run as a task), the package's SHA-256 check, the package deleted
// once installed, a package on a share the host cannot reach (1619),
// a stop answered with 1602, the job's timeout (CodeTimeout, Windows
// Installer's 1602 in the result), the property dump of Windows Installer's
// log with the secret values hidden, and the files of the directory. What it
// does not: a Windows Installer that ignores the cancel (the hard stop after
// the grace period), and the real API's progress arithmetic.
//
// So the library's push, start, progress, status polling, result fallback
// and cleanup are exercised against the same files the real service reads
// and writes under Wine.
package nxsvcmodel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/registry"
	"github.com/nxdeploy/deployer/deployertest/internal/scm"
	"github.com/nxdeploy/deployer/internal/remotesvc/job"
	"github.com/nxdeploy/deployer/msi"
)

// Program returns a scm.Program that runs nxsvc jobs with inner.
func Program(inner scm.Program) scm.Program { return ProgramWith(inner, nil) }

// ProgramWith is Program on a host whose registry reg records what Windows
// Installer installs: a package installed with 0, 3010 or 1641 gets its
// Uninstall key (ProductCode, ProductName, ProductVersion, Manufacturer read
// from the package); an uninstall removes it, and an uninstall of a product
// the registry does not list ends with 1605 (ERROR_UNKNOWN_PRODUCT) without
// running inner, as Windows Installer does. A nil reg records nothing.
func ProgramWith(inner scm.Program, reg *registry.Registry) scm.Program {
	return func(ctx context.Context, run *scm.Run) (uint32, bool) {
		if len(run.Args) != 2 || !absWindowsDir(run.Args[1]) {
			// No directory to read a job from or write a result to: the
			// exit code alone says it.
			run.ReportRunning()
			return job.CodeBadJob, true
		}
		d := dir{run: run, win: strings.TrimRight(run.Args[1], `\`), reg: reg}
		return d.serve(ctx, inner)
	}
}

// errInstallPackageOpenFailed is Windows Installer's
// ERROR_INSTALL_PACKAGE_OPEN_FAILED.
const errInstallPackageOpenFailed = 1619

// hasProduct reports whether the registry lists the product.
func (d dir) hasProduct(code string) bool {
	_, ok := d.reg.HasProduct(strings.ToUpper(code))
	return ok
}

// errProductVersion is Windows Installer's ERROR_PRODUCT_VERSION: another
// version of the product is installed.
const errProductVersion = 1638

// otherVersion returns the version the registry lists of the package's
// ProductCode when that is not the package's version (info nil or without
// a ProductCode: none).
func (d dir) otherVersion(info *msi.PackageInfo) (string, bool) {
	if d.reg == nil || info == nil || info.ProductCode == "" {
		return "", false
	}
	v, ok := d.reg.HasProduct(strings.ToUpper(info.ProductCode))
	if !ok {
		return "", false
	}
	have, hok := job.PackVersion(v)
	want, wok := job.PackVersion(info.ProductVersion)
	if hok && wok {
		return v, have != want
	}
	return v, v != info.ProductVersion
}

// minorUpgrade is nxsvc's nxjob_minor_upgrade: a job with the skip check
// whose product Windows Installer has at a version older than the
// package's, and whose properties set neither REINSTALL nor REINSTALLMODE.
func minorUpgrade(j job.Job, installed string) bool {
	have, hok := job.PackVersion(installed)
	want, wok := job.PackVersion(j.SkipIfInstalled)
	return hok && wok && have < want && !hasProperty(j.Properties, "REINSTALL") && !hasProperty(j.Properties, "REINSTALLMODE")
}

// hasProperty reports whether props set name (case-sensitive, as Windows
// Installer's property names are).
func hasProperty(props []job.Property, name string) bool {
	return slices.ContainsFunc(props, func(p job.Property) bool { return p.Name == name })
}

// errUnknownProduct is Windows Installer's ERROR_UNKNOWN_PRODUCT.
const errUnknownProduct = 1605

// dir is one run of the service in its deployment directory.
type dir struct {
	// installed is the product's version the registry listed before a job
	// with SkipIfInstalled, for the result file.
	installed string
	reg       *registry.Registry
	run       *scm.Run
	win       string // the directory's Windows path, no trailing backslash
}

func (d dir) hostPath(name string) (string, bool) { return d.run.HostPath(d.win + `\` + name) }

func (d *dir) serve(ctx context.Context, inner scm.Program) (uint32, bool) {
	p, ok := d.hostPath(job.FileJob)
	var b []byte
	err := errors.New("the job file cannot be read")
	if ok {
		if b, err = os.ReadFile(p); err != nil {
			err = errors.New("the job file cannot be read")
		}
	}
	var j job.Job
	if err == nil {
		if j, err = job.Decode(b); err != nil {
			var pe *job.ParseError
			if errors.As(err, &pe) {
				err = errors.New("job file: " + pe.Code.String())
			}
		}
	}
	if err != nil {
		d.run.ReportRunning()
		d.write(job.FileResult, job.Result{Code: job.CodeBadJob, Outcome: job.OutcomeBadJob, Error: err.Error()}.Encode())
		return job.CodeBadJob, true
	}
	// The progress file before the job goes (the job holds the property
	// values), so that until the end the directory holds one or the other;
	// nxsvc deletes it when it ends.
	d.write(job.FileProgress, job.Progress{Seq: 1, Percent: -1, Phase: "execute"}.Encode())
	_ = os.Remove(p)
	defer func() {
		if p, ok := d.hostPath(job.FileProgress); ok {
			_ = os.Remove(p)
		}
	}()
	logWin := d.win + `\` + job.FileLog
	var (
		msiexec []string
		info    *msi.PackageInfo
		// props are the properties Windows Installer gets: the job's, and
		// the minor upgrade's when nxsvc adds them.
		props = j.Properties
	)
	if j.Operation == job.Install {
		pkg := j.Package
		if !strings.HasPrefix(pkg, `\\`) {
			pkg = d.win + `\` + pkg
		} else {
			// The emulated host has no network of its own: a package on a
			// share cannot be opened, as on a host that cannot reach the
			// Engine's share.
			d.run.ReportRunning()
			if lp, ok := d.hostPath(job.FileLog); ok {
				_ = os.WriteFile(lp, []byte("=== Verbose logging started ===\r\n"+
					"MSI (c) (1C:2C) [00:00:00:000]: Note: 1: 2203 2: "+pkg+" 3: -2147024843\r\n"+
					"MSI (c) (1C:2C) [00:00:00:000]: MainEngineThread is returning 1619\r\n"), 0o644)
			}
			return d.finish(j, errInstallPackageOpenFailed, job.OutcomeDone, "")
		}
		var installed string
		if j.SkipIfInstalled != "" && d.reg != nil {
			// MsiQueryProductState and MsiGetProductInfo(VersionString):
			// what the registry lists of the package's product.
			if v, ok := d.reg.HasProduct(strings.ToUpper(j.ProductCode)); ok {
				installed = v
				have, hok := job.PackVersion(v)
				want, _ := job.PackVersion(j.SkipIfInstalled)
				if hok && have == want {
					d.run.ReportRunning()
					if p, ok := d.hostPath(j.Package); ok {
						_ = os.Remove(p)
					}
					d.installed = v
					return d.end(j, job.Result{ID: j.ID, Code: job.CodeAlreadyInstalled, Outcome: job.OutcomeAlreadyInstalled,
						Error: "the product is already installed in the package's version: nothing installed", Installed: v})
				}
			}
		}
		d.installed = installed
		if j.PackageSHA256 != nil && !d.packageMatches(j.Package, j.PackageSHA256) {
			d.run.ReportRunning()
			return d.end(j, job.Result{ID: j.ID, Code: job.CodeBadPackage, Outcome: job.OutcomeBadPackage,
				Error: "the package on the computer is not the one the Engine sent (SHA-256)", Installed: installed})
		}
		if installed != "" && minorUpgrade(j, installed) {
			props = append(slices.Clip(props), job.Property{Name: "REINSTALL", Value: "ALL"},
				job.Property{Name: "REINSTALLMODE", Value: "vomus"})
		}
		msiexec = []string{"msiexec.exe", "/i", pkg, "/qn", "/norestart", "/l*v", logWin}
		if p, ok := d.hostPath(j.Package); ok && d.reg != nil {
			info, _ = msi.Inspect(p)
		}
		if v, ok := d.otherVersion(info); ok && !hasProperty(props, "REINSTALL") {
			// Windows Installer refuses a second package of an installed
			// ProductCode unless it is a minor upgrade (REINSTALL).
			d.run.ReportRunning()
			if lp, ok := d.hostPath(job.FileLog); ok {
				_ = os.WriteFile(lp, []byte("=== Verbose logging started ===\r\n"+
					"MSI (c) (1C:2C) [00:00:00:000]: Product: "+info.ProductName+" -- Another version of this product (installed: "+v+
					") is already installed. Installation of this version cannot continue.\r\n"+
					"MSI (c) (1C:2C) [00:00:00:000]: MainEngineThread is returning 1638\r\n"), 0o644)
			}
			if p, ok := d.hostPath(j.Package); ok {
				_ = os.Remove(p)
			}
			return d.finish(j, errProductVersion, job.OutcomeDone, "")
		}
	} else {
		if d.reg != nil && !d.hasProduct(j.ProductCode) {
			d.run.ReportRunning()
			if lp, ok := d.hostPath(job.FileLog); ok {
				_ = os.WriteFile(lp, []byte("=== Verbose logging started ===\r\n"+
					"MSI (s) (1C:2C) [00:00:00:000]: Product: "+j.ProductCode+" is not installed.\r\n"+
					"MSI (c) (1C:2C) [00:00:00:000]: MainEngineThread is returning 1605\r\n"), 0o644)
			}
			return d.finish(j, errUnknownProduct, job.OutcomeDone, "")
		}
		msiexec = []string{"msiexec.exe", "/x", j.ProductCode, "/qn", "/norestart", "/l*v", logWin}
	}
	innerRun := *d.run
	innerRun.StartArgs = nil
	innerRun.Args = msiexec
	innerRun.CommandLine = strings.Join(msiexec, " ")

	jctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	// The stop file cancels as a stop request does (nxsvc's watchdog looks
	// for it every 500 ms; the model, every 20 ms).
	sctx, stopCancel := context.WithCancel(jctx)
	defer stopCancel()
	stopWatch, stopped := d.watchStopFile(stopCancel)
	stop := d.followProgress()
	code, _ := inner(sctx, &innerRun)
	stop()
	stopWatch()
	d.dumpProperties(props)
	if j.Operation == job.Install {
		// Windows Installer keeps its own copy; nxsvc deletes the package.
		if p, ok := d.hostPath(j.Package); ok {
			_ = os.Remove(p)
		}
	}
	switch {
	case ctx.Err() != nil || stopped.Load():
		return d.finish(j, code, job.OutcomeCancelled, "cancelled by a stop request")
	case jctx.Err() != nil:
		return d.finish(j, code, job.OutcomeTimeout, "cancelled at the job's timeout")
	}
	if d.reg != nil && (code == 0 || code == 3010 || code == 1641) {
		switch {
		case j.Operation == job.Uninstall:
			d.reg.RemoveProduct(j.ProductCode)
		case info != nil && info.ProductCode != "":
			d.reg.AddProduct(registry.Product{Code: strings.ToUpper(info.ProductCode), Name: info.ProductName,
				Version: info.ProductVersion, Publisher: info.Manufacturer})
		}
	}
	return d.finish(j, code, job.OutcomeDone, "")
}

// packageMatches reports whether the package file name has the SHA-256 want.
func (d dir) packageMatches(name string, want []byte) bool {
	p, ok := d.hostPath(name)
	if !ok {
		return false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return false
	}
	sum := sha256.Sum256(b)
	return bytes.Equal(sum[:], want)
}

// finish ends a run in which Windows Installer returned msi: the last
// progress, then end.
func (d dir) finish(j job.Job, msi uint32, outcome job.Outcome, message string) (uint32, bool) {
	r := job.Result{ID: j.ID, Code: msi, Outcome: outcome, MSI: msi, HasMSI: true, Error: message, Installed: d.installed}
	if outcome == job.OutcomeTimeout {
		r.Code = job.CodeTimeout
	}
	if msi == 0 || msi == 3010 || msi == 1641 {
		p := d.readProgress()
		p.Seq++
		p.Percent, p.Phase = 100, "execute"
		d.write(job.FileProgress, p.Encode())
	}
	return d.end(j, r)
}

// end ends a run whose job parsed with the result r (r.Code the exit code)
// as nxsvc's finish does: the log kept or deleted (j.KeepsLog), the result
// file written or not (j.LeavesResult), and r.Code returned.
func (d dir) end(j job.Job, r job.Result) (uint32, bool) {
	if !j.KeepsLog(r.Code) {
		if lp, ok := d.hostPath(job.FileLog); ok {
			_ = os.Remove(lp)
		}
	}
	if j.LeavesResult(r.Code, d.installed != "") {
		d.write(job.FileResult, r.Encode())
	}
	return r.Code, r.Code != 0
}

// watchStopFile cancels the installation (cancel) once the directory holds
// a file "stop", until the returned function is called; stopped says it
// did.
func (d *dir) watchStopFile(cancel context.CancelFunc) (func(), *atomic.Bool) {
	var stopped atomic.Bool
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if p, ok := d.hostPath("stop"); ok {
				if _, err := os.Stat(p); err == nil {
					stopped.Store(true)
					cancel()
					return
				}
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }, &stopped
}

// actionLine is an action start in the log, with scm.Installer's progress.
var actionLine = regexp.MustCompile(`Action start [0-9:]+: ([A-Za-z0-9_.]+)\.(?: Progress \d+/\d+ \((\d+)%\))?`)

// followProgress rewrites the progress file from the log's action lines
// until the returned function is called, which looks at the log once more.
func (d dir) followProgress() func() {
	last := d.readProgress()
	last.Seq++
	d.write(job.FileProgress, last.Encode())
	scan := func() {
		lp, ok := d.hostPath(job.FileLog)
		if !ok {
			return
		}
		b, err := os.ReadFile(lp)
		if err != nil {
			return
		}
		m := actionLine.FindAllStringSubmatch(string(b), -1)
		if len(m) == 0 {
			return
		}
		cur := m[len(m)-1]
		pct := last.Percent
		if cur[2] != "" {
			pct, _ = strconv.Atoi(cur[2])
		}
		if cur[1] != last.Action || pct != last.Percent {
			last = job.Progress{Seq: last.Seq + 1, Percent: pct, Phase: "execute", Action: cur[1]}
			d.write(job.FileProgress, last.Encode())
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				scan()
				return
			case <-t.C:
				scan()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (d dir) readProgress() job.Progress {
	p := job.Progress{Percent: -1, Phase: "execute"}
	if hp, ok := d.hostPath(job.FileProgress); ok {
		if b, err := os.ReadFile(hp); err == nil {
			if got, err := job.DecodeProgress(b); err == nil {
				p = got
			}
		}
	}
	return p
}

// dumpProperties appends Windows Installer's property dump to the log: the
// job's properties, with the secret ones hidden as MsiHiddenProperties
// hides them.
func (d dir) dumpProperties(props []job.Property) {
	lp, ok := d.hostPath(job.FileLog)
	if !ok || len(props) == 0 {
		return
	}
	f, err := os.OpenFile(lp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return
	}
	defer f.Close()
	var b strings.Builder
	for _, p := range props {
		v := p.Value
		if p.Secret {
			v = "**********"
		}
		b.WriteString("Property(S): " + p.Name + " = " + v + "\r\n")
	}
	_, _ = f.WriteString(b.String())
}

// write replaces the file name of the directory atomically (written
// beside it, then renamed), as nxsvc does.
func (d dir) write(name string, b []byte) {
	p, ok := d.hostPath(name)
	if !ok {
		return
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
	}
}

// absWindowsDir reports a path like C:\Windows\nxdeploy-id: a drive, then
// components that are neither empty nor "." or "..".
func absWindowsDir(p string) bool {
	if len(p) < 4 || p[0]|0x20 < 'a' || p[0]|0x20 > 'z' || p[1] != ':' || p[2] != '\\' || strings.ContainsAny(p, "\"\x00\r\n/") {
		return false
	}
	for _, c := range strings.Split(strings.TrimRight(p[3:], `\`), `\`) {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}
