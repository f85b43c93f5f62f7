// Package torture runs Samba's test suite, smbtorture (Debian's samba-testsuite), against the emulated Windows
// host and against a Samba smbd in a network namespace, and compares the two per suite and per test.
//
// Samba is the control: smbtorture's tests were written against Windows, and many fail against anything else, so a
// test counts against the emulator only when Samba passes it. In the targeted suites (Suite.Target) the emulator must
// pass every test Samba passes, except the ones OutOfScope lists, each with its reason; smb2.session and smb2.ioctl
// (oplocks, leases, durable handles, multichannel) are measured and reported, not targets.
//
// scripts/smbtorture.sh runs the comparison and prints the table; TestSmbtorture runs it in CI and fails on a
// targeted test that Samba passes and the emulator does not.
//
// # Out of scope
//
// These tests pass against Samba and are not expected to pass against the emulator:
//
//   - smb2.create.aclfile, smb2.create.acldir, smb2.create.nulldacl, smb2.create.impersonation: the emulator has no
//     access control lists (every file carries one fixed security descriptor and SET_INFO of security is accepted
//     and ignored), so inheritance, NULL DACLs and impersonation levels are not modelled.
//   - smb2.create.quota-fake-file: NTFS quota files ($Extend\$Quota) are not modelled.
//   - smb2.getinfo.complex: it needs alternate data streams and extended attributes, which are not modelled.
//   - smb2.getinfo.getinfo_access: its set-up writes extended attributes to the file and it reads them back.
//   - smb2.compound.related4, smb2.compound.related7: they set a security descriptor and expect it to deny access.
package torture

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Suite is one smbtorture suite.
type Suite struct {
	// Name is the suite as smbtorture names it, e.g. "smb2.read".
	Name string
	// Share is the share to give smbtorture: ADMIN$ for the smb2 suites, IPC$ for the rpc ones.
	Share string
	// Target is true when the emulator must pass every test Samba passes (except OutOfScope).
	Target bool
}

// Suites are the suites compared, targets first.
var Suites = []Suite{
	{Name: "rpc.svcctl", Share: "IPC$", Target: true},
	{Name: "rpc.srvsvc", Share: "IPC$", Target: true},
	{Name: "smb2.create", Share: "ADMIN$", Target: true},
	{Name: "smb2.read", Share: "ADMIN$", Target: true},
	{Name: "smb2.getinfo", Share: "ADMIN$", Target: true},
	{Name: "smb2.compound", Share: "ADMIN$", Target: true},
	{Name: "smb2.rename", Share: "ADMIN$", Target: true},
	{Name: "smb2.delete-on-close-perms", Share: "ADMIN$", Target: true},
	{Name: "smb2.dir", Share: "ADMIN$", Target: true},
	{Name: "smb2.session", Share: "ADMIN$"},
	{Name: "smb2.ioctl", Share: "ADMIN$"},
}

// OutOfScope are the tests of targeted suites the emulator is not expected to pass, with the reason; the package
// documentation lists the same.
var OutOfScope = map[string]string{
	"smb2.create.aclfile":         "no access control lists: one fixed security descriptor, SET_INFO of security ignored",
	"smb2.create.acldir":          "no access control lists: one fixed security descriptor, SET_INFO of security ignored",
	"smb2.create.nulldacl":        "no access control lists: one fixed security descriptor, SET_INFO of security ignored",
	"smb2.create.impersonation":   "no access control lists: one fixed security descriptor, SET_INFO of security ignored",
	"smb2.create.quota-fake-file": "NTFS quota files are not modelled",
	"smb2.getinfo.complex":        "alternate data streams and extended attributes are not modelled",
	"smb2.getinfo.getinfo_access": "its complex file carries extended attributes (set with SET_INFO FileFullEaInformation) that it reads back: extended attributes are not modelled",
	"smb2.compound.related4":      "it sets a security descriptor and expects it to deny access",
	"smb2.compound.related7":      "it sets a security descriptor and expects it to deny access",
}

// Pending are targeted tests Samba passes that the emulator does not pass yet and that are in scope: the table
// marks them PENDING and the test does not fail on them, so the list can only shrink. Each names what is missing.
var Pending = map[string]string{}

// Outcomes of one test, as smbtorture's subunit output names them.
const (
	Success   = "success"
	Failure   = "failure"
	Error     = "error"
	Skip      = "skip"
	XFail     = "xfail"
	UXSuccess = "uxsuccess"
	// Missing marks a test the other peer ran and this one did not report (the run stopped early).
	Missing = "-"
)

// Results maps each test of one suite run (its short name, "eof") to its outcome.
type Results map[string]string

// Parse reads smbtorture's subunit output: a line "success: NAME", "failure: NAME [", "error: NAME [", "skip: NAME
// [", "xfail: NAME" or "uxsuccess: NAME" per test; everything else is ignored.
func Parse(out []byte) Results {
	res := Results{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		verdict, rest, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch verdict {
		case Success, Failure, Error, Skip, XFail, UXSuccess:
		default:
			continue
		}
		// Names may hold spaces ("srvsvc (admin access).NetShareEnum"); a failure's details follow " [".
		name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "["))
		if name == "" {
			continue
		}
		res[name] = verdict
	}
	return res
}

// Passed reports whether an outcome counts as a pass.
func Passed(outcome string) bool { return outcome == Success || outcome == XFail }

// Failed reports whether an outcome counts as a failure (a skip counts as neither).
func Failed(outcome string) bool {
	return outcome == Failure || outcome == Error || outcome == UXSuccess || outcome == Missing
}

// Counts returns how many tests passed and failed.
func (r Results) Counts() (pass, fail int) {
	for _, o := range r {
		switch {
		case Passed(o):
			pass++
		case Failed(o):
			fail++
		}
	}
	return pass, fail
}

// Row is one test of a suite as both peers ran it.
type Row struct {
	Suite, Test     string
	Emulator, Samba string
}

// Key returns "suite.test".
func (r Row) Key() string { return r.Suite + "." + r.Test }

// Compare lists every test either peer reported, sorted by name; a test one peer did not report is Missing there.
func Compare(suite string, emulator, samba Results) []Row {
	names := map[string]bool{}
	for n := range emulator {
		names[n] = true
	}
	for n := range samba {
		names[n] = true
	}
	rows := make([]Row, 0, len(names))
	for n := range names {
		row := Row{Suite: suite, Test: n, Emulator: emulator[n], Samba: samba[n]}
		if row.Emulator == "" {
			row.Emulator = Missing
		}
		if row.Samba == "" {
			row.Samba = Missing
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Test < rows[j].Test })
	return rows
}

// Regressions returns the targeted tests that Samba passes and the emulator does not, other than OutOfScope.
func Regressions(s Suite, rows []Row) []Row {
	if !s.Target {
		return nil
	}
	var out []Row
	for _, r := range rows {
		if Passed(r.Samba) && !Passed(r.Emulator) {
			_, out1 := OutOfScope[r.Key()]
			_, pending := Pending[r.Key()]
			if !out1 && !pending {
				out = append(out, r)
			}
		}
	}
	return out
}

// Run is one suite as both peers ran it.
type Run struct {
	Suite           Suite
	Emulator, Samba Results
}

// WriteTable prints the per-suite counts, then every test whose outcome differs between the peers (all tests when
// all is true), marking the targeted tests Samba passes that fail on the emulator.
func WriteTable(w io.Writer, runs []Run, all bool) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%-28s %-7s %-15s %-15s\n", "suite", "target", "emulator p/f", "samba p/f")
	for _, r := range runs {
		ep, ef := r.Emulator.Counts()
		sp, sf := r.Samba.Counts()
		target := "no"
		if r.Suite.Target {
			target = "yes"
		}
		fmt.Fprintf(bw, "%-28s %-7s %-15s %-15s\n", r.Suite.Name, target, fmt.Sprintf("%d/%d", ep, ef), fmt.Sprintf("%d/%d", sp, sf))
	}
	fmt.Fprintf(bw, "\n%-52s %-10s %-10s %s\n", "test", "emulator", "samba", "note")
	for _, r := range runs {
		rows := Compare(r.Suite.Name, r.Emulator, r.Samba)
		bad := map[string]bool{}
		for _, g := range Regressions(r.Suite, rows) {
			bad[g.Test] = true
		}
		for _, row := range rows {
			if !all && row.Emulator == row.Samba {
				continue
			}
			note := ""
			switch {
			case bad[row.Test]:
				note = "REGRESSION"
			case OutOfScope[row.Key()] != "":
				note = "out of scope: " + OutOfScope[row.Key()]
			case Pending[row.Key()] != "" && !Passed(row.Emulator):
				note = "PENDING: " + Pending[row.Key()]
			case !r.Suite.Target && Passed(row.Samba) && !Passed(row.Emulator):
				note = "measured, not a target"
			}
			fmt.Fprintf(bw, "%-52s %-10s %-10s %s\n", row.Key(), row.Emulator, row.Samba, note)
		}
	}
	return bw.Flush()
}
