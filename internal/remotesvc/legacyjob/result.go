package legacyjob

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Outcome says how a job ended.
type Outcome string

// Outcomes recorded in Result.Outcome.
const (
	// OutcomeExited means the command ran and exited by itself; ExitCode is its
	// exit code.
	OutcomeExited Outcome = "exited"
	// OutcomeBadJob means the job was unusable (ExitCode is CodeBadJob).
	OutcomeBadJob Outcome = "bad-job"
	// OutcomeStartFailed means the command did not start (CodeStartFailed).
	OutcomeStartFailed Outcome = "start-failed"
	// OutcomeTimeout means the command was killed at its timeout (CodeTimeout).
	OutcomeTimeout Outcome = "timeout"
	// OutcomeStopped means the service was stopped and killed the command
	// (CodeStopped).
	OutcomeStopped Outcome = "stopped"
	// OutcomeWaitFailed means waiting for the command failed (CodeWaitFailed).
	OutcomeWaitFailed Outcome = "wait-failed"
)

// Result is what nxsvc writes to Job.ResultPath when the job ends, and the
// exit code it reports through the SCM.
type Result struct {
	// ID repeats Job.ID (empty when the job could not be decoded).
	ID string `json:"id"`
	// ExitCode is the command's exit code for OutcomeExited, else one of the
	// Code* values.
	ExitCode uint32 `json:"exit_code"`
	// Outcome says how the job ended.
	Outcome Outcome `json:"outcome"`
	// Started and Ended bracket the command's run (UTC). Started is zero when
	// the command never started.
	Started time.Time `json:"started,omitzero"`
	// Ended is when nxsvc saw the command end (or gave up on it).
	Ended time.Time `json:"ended"`
	// Error describes what went wrong when Outcome is not OutcomeExited.
	Error string `json:"error,omitempty"`
}

// Duration is how long the command ran, or zero when it never started.
func (r Result) Duration() time.Duration {
	if r.Started.IsZero() || r.Ended.Before(r.Started) {
		return 0
	}
	return r.Ended.Sub(r.Started)
}

// ServiceExit returns what the service returns from svc.Handler.Execute: code 0
// is a plain success; anything else is a service-specific exit code, so the SCM
// reports WIN32_EXIT_CODE 1066 and SERVICE_EXIT_CODE ExitCode.
func (r Result) ServiceExit() (serviceSpecific bool, code uint32) {
	if r.ExitCode == 0 {
		return false, 0
	}
	return true, r.ExitCode
}

// MaxResultSize bounds a result file accepted by DecodeResult.
const MaxResultSize = 64 << 10

// DecodeResult parses a result file.
func DecodeResult(b []byte) (Result, error) {
	if len(b) > MaxResultSize {
		return Result{}, fmt.Errorf("result of %d bytes exceeds %d", len(b), MaxResultSize)
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))))
	var r Result
	if err := dec.Decode(&r); err != nil {
		return Result{}, fmt.Errorf("decode result: %w", err)
	}
	if dec.More() {
		return Result{}, errors.New("decode result: trailing data")
	}
	if r.Outcome == "" {
		return Result{}, errors.New("decode result: missing outcome")
	}
	return r, nil
}

// WriteResult writes r as JSON to path atomically: a temporary file in the same
// directory is written, synced, closed and renamed over path, so a reader sees
// either no file or the whole result. path is a path of the local OS.
func WriteResult(path string, r Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write result: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// ReadFile reads a job file of at most MaxEncodedSize bytes.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxEncodedSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: job file %s exceeds %d bytes", ErrInvalid, path, MaxEncodedSize)
	}
	return b, nil
}
