package legacyjob

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Service-specific exit codes reported by nxsvc when the outcome is not the
// command's own exit code. They all lie in [CodeBase, CodeBase+0xFF], far from
// msiexec's codes (0-0xFFFF) and from NTSTATUS crash codes (0xC0000000 and up).
const (
	// CodeBase is the first code of nxsvc's own range ("NX" in the high word).
	CodeBase uint32 = 0x4E580000
	// CodeBadJob means the job could not be read, decoded or validated.
	CodeBadJob uint32 = CodeBase + 1
	// CodeStartFailed means the command could not be started (for example the
	// executable does not exist).
	CodeStartFailed uint32 = CodeBase + 2
	// CodeTimeout means the command ran longer than Job.Timeout and its process
	// tree was killed.
	CodeTimeout uint32 = CodeBase + 3
	// CodeStopped means the service received SERVICE_CONTROL_STOP or
	// SERVICE_CONTROL_SHUTDOWN while the command ran, and killed it.
	CodeStopped uint32 = CodeBase + 4
	// CodeWaitFailed means waiting for the command failed after it started.
	CodeWaitFailed uint32 = CodeBase + 5
	// CodeLast is the last code of nxsvc's own range.
	CodeLast uint32 = CodeBase + 0xFF
)

// IsServiceCode reports whether code lies in nxsvc's own range rather than being
// the exit code of the command.
func IsServiceCode(code uint32) bool { return code >= CodeBase && code <= CodeLast }

// CodeName returns a short name for one of the Code* values, or "" when code is
// not one of them.
func CodeName(code uint32) string {
	switch code {
	case CodeBadJob:
		return "bad-job"
	case CodeStartFailed:
		return "start-failed"
	case CodeTimeout:
		return "timeout"
	case CodeStopped:
		return "stopped"
	case CodeWaitFailed:
		return "wait-failed"
	}
	return ""
}

// Limits enforced by Validate and Decode.
const (
	// MaxEncodedSize bounds the JSON encoding of a job (and of a job file).
	MaxEncodedSize = 64 << 10
	// MaxTimeout bounds Job.Timeout.
	MaxTimeout = 7 * 24 * time.Hour
	// MaxIDLen bounds the length of Job.ID.
	MaxIDLen = 64
	// MaxPathLen bounds every path (MAX_PATH-style limit, without the \\?\ prefix).
	MaxPathLen = 260
)

// FileName is the name of the job file nxsvc looks for next to its executable
// when neither --job nor --job-b64 is given.
const FileName = "job.json"

// ErrInvalid is wrapped by every error returned by Validate and Decode for a
// job that is malformed.
var ErrInvalid = errors.New("invalid job")

// Job is what nxsvc runs.
type Job struct {
	// ID names the deployment; it appears in the Result. Letters, digits, '.',
	// '_' and '-' only, at most MaxIDLen characters.
	ID string
	// Command is the argv of the program to run; Command[0] is an absolute
	// Windows path or a bare executable name found through PATH (msiexec.exe).
	Command []string
	// CmdLine, when not empty, is passed verbatim to CreateProcess as the
	// command line instead of one built by quoting Command. msiexec parses
	// PROPERTY="value with spaces" itself, which standard quoting breaks.
	// Command[0] still names the executable.
	CmdLine string
	// Dir is the working directory of the command (absolute); empty means the
	// directory of ResultPath.
	Dir string
	// LogPath is the absolute path of the verbose log the command writes (the
	// /l*v argument of msiexec). nxsvc creates its directory.
	LogPath string
	// ResultPath is the absolute path where nxsvc writes the Result as JSON.
	ResultPath string
	// Timeout bounds the command's run time; when it expires nxsvc kills the
	// command's process tree. Encoded in whole seconds.
	Timeout time.Duration
}

// wireJob is the JSON shape of a Job.
type wireJob struct {
	ID             string   `json:"id"`
	Command        []string `json:"command"`
	CmdLine        string   `json:"cmdline,omitempty"`
	Dir            string   `json:"dir,omitempty"`
	LogPath        string   `json:"log_path"`
	ResultPath     string   `json:"result_path"`
	TimeoutSeconds int64    `json:"timeout_seconds"`
}

// MarshalJSON encodes the job with Timeout in whole seconds (rounded up).
func (j Job) MarshalJSON() ([]byte, error) {
	secs := int64(j.Timeout / time.Second)
	if j.Timeout%time.Second != 0 {
		secs++
	}
	return json.Marshal(wireJob{
		ID: j.ID, Command: j.Command, CmdLine: j.CmdLine, Dir: j.Dir,
		LogPath: j.LogPath, ResultPath: j.ResultPath, TimeoutSeconds: secs,
	})
}

// UnmarshalJSON decodes a job, rejecting unknown fields and trailing data. It
// does not validate; use Decode for untrusted input.
func (j *Job) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w wireJob
	if err := dec.Decode(&w); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after job object")
	}
	if w.TimeoutSeconds < 0 || w.TimeoutSeconds > int64(math.MaxInt64/int64(time.Second)) {
		return fmt.Errorf("timeout_seconds %d out of range", w.TimeoutSeconds)
	}
	*j = Job{
		ID: w.ID, Command: w.Command, CmdLine: w.CmdLine, Dir: w.Dir,
		LogPath: w.LogPath, ResultPath: w.ResultPath,
		Timeout: time.Duration(w.TimeoutSeconds) * time.Second,
	}
	return nil
}

// Encode returns the validated job as JSON.
func (j Job) Encode() ([]byte, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: encoded size %d exceeds %d bytes", ErrInvalid, len(b), MaxEncodedSize)
	}
	return b, nil
}

// EncodeBase64 returns the validated job as standard base64 of its JSON, the
// value of nxsvc's --job-b64 argument.
func (j Job) EncodeBase64() (string, error) {
	b, err := j.Encode()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// Decode parses and validates a JSON job.
func Decode(b []byte) (Job, error) {
	if len(b) > MaxEncodedSize {
		return Job{}, fmt.Errorf("%w: %d bytes exceeds %d", ErrInvalid, len(b), MaxEncodedSize)
	}
	// A UTF-8 byte order mark is what Windows editors (and PowerShell's
	// Out-File) put in front of a file.
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var j Job
	if err := json.Unmarshal(b, &j); err != nil {
		return Job{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := j.Validate(); err != nil {
		return Job{}, err
	}
	return j, nil
}

// DecodeBase64 decodes the value of --job-b64 (standard or URL-safe base64,
// padded or not) and then the job it carries.
func DecodeBase64(s string) (Job, error) {
	if len(s) > base64.StdEncoding.EncodedLen(MaxEncodedSize) {
		return Job{}, fmt.Errorf("%w: base64 argument of %d bytes is too long", ErrInvalid, len(s))
	}
	s = strings.TrimRight(s, "=")
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.RawURLEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return Job{}, fmt.Errorf("%w: base64: %v", ErrInvalid, err)
	}
	return Decode(b)
}

// Validate reports the first problem that would keep nxsvc from running the
// job safely. Every error wraps ErrInvalid.
func (j Job) Validate() error {
	if err := validID(j.ID); err != nil {
		return err
	}
	if len(j.Command) == 0 {
		return fmt.Errorf("%w: empty command", ErrInvalid)
	}
	for i, a := range j.Command {
		if err := cleanString(fmt.Sprintf("command[%d]", i), a); err != nil {
			return err
		}
	}
	exe := j.Command[0]
	if exe == "" {
		return fmt.Errorf("%w: command[0] is empty", ErrInvalid)
	}
	if strings.ContainsAny(exe, `\/:`) {
		if err := AbsWindowsPath("command[0]", exe); err != nil {
			return err
		}
	} else if strings.ContainsAny(exe, `<>"|?*`) {
		return fmt.Errorf("%w: command[0] %q has a character Windows forbids in names", ErrInvalid, exe)
	}
	if err := cleanString("cmdline", j.CmdLine); err != nil {
		return err
	}
	if len(j.CmdLine) > 32767 {
		return fmt.Errorf("%w: cmdline longer than 32767 characters", ErrInvalid)
	}
	if j.Dir != "" {
		if err := AbsWindowsPath("dir", j.Dir); err != nil {
			return err
		}
	}
	if err := AbsWindowsPath("log_path", j.LogPath); err != nil {
		return err
	}
	if err := AbsWindowsPath("result_path", j.ResultPath); err != nil {
		return err
	}
	if strings.EqualFold(j.LogPath, j.ResultPath) {
		return fmt.Errorf("%w: log_path and result_path are the same file", ErrInvalid)
	}
	if j.Timeout < time.Second || j.Timeout > MaxTimeout {
		return fmt.Errorf("%w: timeout %v outside [1s, %v]", ErrInvalid, j.Timeout, MaxTimeout)
	}
	return nil
}

func validID(id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: id must have 1 to %d characters", ErrInvalid, MaxIDLen)
	}
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return fmt.Errorf("%w: id %q has character %q", ErrInvalid, id, r)
		}
	}
	if id == "." || id == ".." {
		return fmt.Errorf("%w: id %q", ErrInvalid, id)
	}
	return nil
}

// cleanString rejects NUL, CR and LF, which cannot survive a Windows command
// line or a service binary path.
func cleanString(field, s string) error {
	if i := strings.IndexAny(s, "\x00\r\n"); i >= 0 {
		return fmt.Errorf("%w: %s has a NUL or newline at byte %d", ErrInvalid, field, i)
	}
	return nil
}

// AbsWindowsPath checks that p is an absolute local Windows path such as
// C:\Windows\nxdeploy\x\job.json: a drive letter, a colon, a backslash, then
// non-empty components free of the characters Windows forbids in names, with
// no "." or ".." component. field names p in the error, which wraps ErrInvalid.
func AbsWindowsPath(field, p string) error {
	if err := cleanString(field, p); err != nil {
		return err
	}
	if len(p) > MaxPathLen {
		return fmt.Errorf("%w: %s is longer than %d characters", ErrInvalid, field, MaxPathLen)
	}
	if len(p) < 4 || !isLetter(p[0]) || p[1] != ':' || p[2] != '\\' {
		return fmt.Errorf(`%w: %s %q is not an absolute Windows path like C:\dir\file`, ErrInvalid, field, p)
	}
	for _, c := range strings.Split(p[3:], `\`) {
		switch {
		case c == "":
			return fmt.Errorf("%w: %s %q has an empty component", ErrInvalid, field, p)
		case c == "." || c == "..":
			return fmt.Errorf("%w: %s %q has a %q component", ErrInvalid, field, p, c)
		case strings.ContainsAny(c, `<>:"/|?*`):
			return fmt.Errorf("%w: %s %q has a character Windows forbids in names", ErrInvalid, field, p)
		case strings.HasSuffix(c, " ") || strings.HasSuffix(c, "."):
			return fmt.Errorf("%w: %s %q has a component ending in a space or dot", ErrInvalid, field, p)
		}
		for _, r := range c {
			if r < 0x20 {
				return fmt.Errorf("%w: %s %q has a control character", ErrInvalid, field, p)
			}
		}
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }
