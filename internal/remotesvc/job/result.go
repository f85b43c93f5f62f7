package job

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The service's own exit codes ("NX" in the high word), far from Windows
// Installer's results (0-0xFFFF) and from NTSTATUS crash codes (0xC0000000
// and up). Keep in step with csrc/nxsvc.c.
const (
	// CodeBase is the first code of the service's own range.
	CodeBase uint32 = 0x4E580000
	// CodeBadJob means the job file is missing, unreadable or refused, or
	// the service's argument names no usable directory.
	CodeBadJob uint32 = CodeBase + 1
	// CodeSetupFailed means Windows Installer's logging or message handler
	// could not be set up, so the installation never started.
	CodeSetupFailed uint32 = CodeBase + 2
	// CodeTimeout means the job's timeout cancelled the installation.
	CodeTimeout uint32 = CodeBase + 3
	// CodeStopped means a stop request cancelled the installation and
	// Windows Installer did not return within the grace period, so the
	// service ended its process.
	CodeStopped uint32 = CodeBase + 4
	// CodeBadPackage means the package on the host is not the one the job
	// names by its SHA-256 (changed or truncated on its way), so nothing
	// was installed.
	CodeBadPackage uint32 = CodeBase + 5
	// CodeAlreadyInstalled means the job asked to skip a product already
	// installed in the package's version (Job.SkipIfInstalled) and Windows
	// Installer has it in that version: nothing was installed. The result
	// file's Installed says which version.
	CodeAlreadyInstalled uint32 = CodeBase + 6
	// CodeLast is the last code of the service's own range.
	CodeLast uint32 = CodeBase + 0xFF
)

// Windows Installer results that end a run successfully.
const (
	msiSuccess        = 0
	msiRebootStarted  = 1641 // ERROR_SUCCESS_REBOOT_INITIATED
	msiRebootRequired = 3010 // ERROR_SUCCESS_REBOOT_REQUIRED
	msiUnknownProduct = 1605 // ERROR_UNKNOWN_PRODUCT
)

// Succeeded reports whether a run of operation op that ended with the
// service's exit code code succeeded: for an install, Windows Installer's
// 0, 3010 (reboot required) or 1641 (reboot started), or
// CodeAlreadyInstalled; for an uninstall, 0, 3010, 1641 or 1605 (the
// product was already absent). It is nxsvc's nxjob_succeeded.
func Succeeded(op Operation, code uint32) bool {
	switch code {
	case msiSuccess, msiRebootRequired, msiRebootStarted:
		return op == Install || op == Uninstall
	case CodeAlreadyInstalled:
		return op == Install
	case msiUnknownProduct:
		return op == Uninstall
	}
	return false
}

// KeepsLog reports whether the service leaves Windows Installer's log
// (FileLog, with its secret values scrubbed; when Windows Installer wrote
// one) after a run of j that ended with code: when the run failed, or j
// has KeepLog. Otherwise it deletes the log before it reports that it
// stopped. It is nxsvc's nxjob_keeps_log.
func (j Job) KeepsLog(code uint32) bool { return j.KeepLog || !Succeeded(j.Operation, code) }

// LeavesResult reports whether the service writes the result file
// (FileResult) after a run of j that ended with code, installedBefore
// saying whether its skip check (SkipIfInstalled) found a version of the
// product installed: when the run failed, when j has KeepLog, and after an
// install that succeeded over another version (the result's Installed
// says which), but not for CodeAlreadyInstalled, whose version is the
// package's. It is nxsvc's nxjob_leaves_result.
func (j Job) LeavesResult(code uint32, installedBefore bool) bool {
	if j.KeepsLog(code) {
		return true
	}
	return j.Operation == Install && installedBefore && code != CodeAlreadyInstalled
}

// IsServiceCode reports whether code is one of the service's own rather than
// a Windows Installer result.
func IsServiceCode(code uint32) bool { return code >= CodeBase && code <= CodeLast }

// CodeName returns a short name for a Code* value, or "" for another code.
func CodeName(code uint32) string {
	switch code {
	case CodeBadJob:
		return "bad-job"
	case CodeSetupFailed:
		return "setup-failed"
	case CodeTimeout:
		return "timeout"
	case CodeStopped:
		return "stopped"
	case CodeBadPackage:
		return "bad-package"
	case CodeAlreadyInstalled:
		return "already-installed"
	}
	return ""
}

// Outcome says how the service ended.
type Outcome string

// Outcomes written in the result file.
const (
	// OutcomeDone means the Windows Installer API returned by itself; Code
	// is its result.
	OutcomeDone Outcome = "done"
	// OutcomeCancelled means a stop request was answered with IDCANCEL and
	// the API returned (1602 once the product rolled back).
	OutcomeCancelled Outcome = "cancelled"
	// OutcomeTimeout means the job's timeout cancelled the installation;
	// Code is CodeTimeout and MSI the API's result.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeHardStop means Windows Installer did not return within the
	// grace period after a cancel and the service ended its process.
	OutcomeHardStop Outcome = "hard-stop"
	// OutcomeBadJob means the job was refused (CodeBadJob).
	OutcomeBadJob Outcome = "bad-job"
	// OutcomeSetupFailed means the installation could not start
	// (CodeSetupFailed).
	OutcomeSetupFailed Outcome = "setup-failed"
	// OutcomeBadPackage means the package's SHA-256 differs from the job's
	// (CodeBadPackage).
	OutcomeBadPackage Outcome = "bad-package"
	// OutcomeAlreadyInstalled means the product was already installed in
	// the job's SkipIfInstalled version (CodeAlreadyInstalled).
	OutcomeAlreadyInstalled Outcome = "already-installed"
)

// Result is the service's result file.
type Result struct {
	// ID is the deployment's id; empty when the job was refused.
	ID string
	// Code is the service's exit code.
	Code uint32
	// Outcome says how the service ended.
	Outcome Outcome
	// MSI is the Windows Installer API's result; HasMSI says whether the API
	// returned at all.
	MSI    uint32
	HasMSI bool
	// Error describes what went wrong, in words.
	Error string
	// Installed is, for a job with SkipIfInstalled, the version of the
	// product Windows Installer had before the job ("" when it had none).
	Installed string
}

// Progress is the service's progress file.
type Progress struct {
	// Seq increases with every rewrite of the file.
	Seq uint32
	// Percent is how much of the current phase is done, 0-100, or -1 when
	// Windows Installer has not said yet.
	Percent int
	// Phase is "script" (Windows Installer writes its script), "execute" or
	// "rollback".
	Phase string
	// Action is the last action Windows Installer started, such as
	// "InstallFiles".
	Action string
}

// Maximum sizes of the files the service writes.
const (
	MaxResultSize   = 4096
	MaxProgressSize = 1024
)

// Encode returns the result file nxsvc writes for r (a model of the
// service writes it with this; a test holds it to nxsvc's own text).
func (r Result) Encode() []byte {
	var b strings.Builder
	b.WriteString("nxsvc-result 1\nid=" + oneLine(r.ID) + "\ncode=" + strconv.FormatUint(uint64(r.Code), 10) +
		"\noutcome=" + oneLine(string(r.Outcome)))
	if r.HasMSI {
		b.WriteString("\nmsi=" + strconv.FormatUint(uint64(r.MSI), 10))
	}
	b.WriteString("\nerror=" + oneLine(r.Error))
	if r.Installed != "" {
		b.WriteString("\ninstalled=" + oneLine(r.Installed))
	}
	b.WriteString("\n")
	return []byte(b.String())
}

// Encode returns the progress file nxsvc writes for p.
func (p Progress) Encode() []byte {
	return []byte("nxsvc-progress 1\nseq=" + strconv.FormatUint(uint64(p.Seq), 10) + "\npercent=" + strconv.Itoa(p.Percent) +
		"\nphase=" + oneLine(p.Phase) + "\naction=" + oneLine(p.Action) + "\n")
}

// oneLine replaces control characters, as nxsvc does, so a value stays on
// its line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// DecodeResult parses a result file.
func DecodeResult(b []byte) (Result, error) {
	kv, err := keyValues(b, "nxsvc-result 1", MaxResultSize)
	if err != nil {
		return Result{}, fmt.Errorf("result file: %w", err)
	}
	r := Result{ID: kv["id"], Outcome: Outcome(kv["outcome"]), Error: kv["error"], Installed: kv["installed"]}
	if r.Code, err = number(kv, "code", true); err != nil {
		return Result{}, fmt.Errorf("result file: %w", err)
	}
	if _, ok := kv["msi"]; ok {
		if r.MSI, err = number(kv, "msi", true); err != nil {
			return Result{}, fmt.Errorf("result file: %w", err)
		}
		r.HasMSI = true
	}
	if r.Outcome == "" {
		return Result{}, fmt.Errorf("result file: no outcome")
	}
	return r, nil
}

// DecodeProgress parses a progress file.
func DecodeProgress(b []byte) (Progress, error) {
	kv, err := keyValues(b, "nxsvc-progress 1", MaxProgressSize)
	if err != nil {
		return Progress{}, fmt.Errorf("progress file: %w", err)
	}
	p := Progress{Phase: kv["phase"], Action: kv["action"]}
	if p.Seq, err = number(kv, "seq", true); err != nil {
		return Progress{}, fmt.Errorf("progress file: %w", err)
	}
	pct, ok := kv["percent"]
	if !ok {
		return Progress{}, fmt.Errorf("progress file: no percent")
	}
	n, err := strconv.Atoi(pct)
	if err != nil || n < -1 || n > 100 {
		return Progress{}, fmt.Errorf("progress file: percent %q out of range", truncate(pct))
	}
	p.Percent = n
	return p, nil
}

// keyValues reads "header\nkey=value\n..." lines; a key given twice, a
// line without "=", or text that is not UTF-8 is an error, and so is a
// file without its last newline (a torn write).
func keyValues(b []byte, header string, limit int) (map[string]string, error) {
	if len(b) > limit {
		return nil, fmt.Errorf("%d bytes exceeds %d", len(b), limit)
	}
	if !utf8.Valid(b) {
		return nil, fmt.Errorf("not UTF-8")
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		return nil, fmt.Errorf("incomplete (no final newline)")
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if lines[0] != header {
		return nil, fmt.Errorf("first line %q is not %q", truncate(lines[0]), header)
	}
	kv := make(map[string]string, len(lines))
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("line %q is not key=value", truncate(l))
		}
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("key %q given twice", truncate(k))
		}
		kv[k] = v
	}
	return kv, nil
}

func number(kv map[string]string, key string, required bool) (uint32, error) {
	s, ok := kv[key]
	if !ok {
		if required {
			return 0, fmt.Errorf("no %s", key)
		}
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", key, truncate(s))
	}
	return uint32(n), nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
