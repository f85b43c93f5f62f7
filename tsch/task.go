package tsch

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// TaskNamespace is the namespace of task definitions ([MS-TSCH] 2.5).
const TaskNamespace = "http://schemas.microsoft.com/windows/2004/02/mit/task"

// DefaultExecutionTimeLimit bounds a task's run when Task.ExecutionTimeLimit
// is zero: the Task Scheduler stops it after that long.
const DefaultExecutionTimeLimit = 4 * time.Hour

// Task is a one-shot task that runs one program as LocalSystem with the
// highest privileges, only when asked (it has no trigger), hidden from the
// Task Scheduler's default view.
type Task struct {
	// Name is the task's name in the root folder (its path is \Name):
	// letters, digits, '.', '-' and '_', at most 200 characters.
	Name string
	// Command is the program's full path on the host, such as
	// `C:\Windows\nxdeploy-1234\nxsvc.exe`.
	Command string
	// Arguments is the program's command line after its name, quoted as
	// the program parses it.
	Arguments string
	// WorkingDirectory is the program's working directory; empty means the
	// Task Scheduler's default (System32).
	WorkingDirectory string
	// Description is shown in the Task Scheduler's console.
	Description string
	// ExecutionTimeLimit bounds the run; DefaultExecutionTimeLimit when
	// zero. The Task Scheduler stops the program after that long.
	ExecutionTimeLimit time.Duration
}

// ErrInvalidTask is returned for a Task that cannot be registered.
var ErrInvalidTask = errors.New("tsch: invalid task")

// maxNameLen bounds a task name (a path component; the full path must stay
// under MAX_PATH on the host).
const maxNameLen = 200

// checkName validates a task name.
func checkName(name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: name %q must have 1 to %d characters", ErrInvalidTask, name, maxNameLen)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: name %q", ErrInvalidTask, name)
	}
	for _, r := range name {
		if !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_')) {
			return fmt.Errorf("%w: name %q: only letters, digits, '.', '-' and '_' are allowed", ErrInvalidTask, name)
		}
	}
	return nil
}

// Path returns the task's path in the root folder, `\Name`.
func (t Task) Path() string { return `\` + t.Name }

// check validates the task.
func (t Task) check() error {
	if err := checkName(t.Name); err != nil {
		return err
	}
	if t.Command == "" {
		return fmt.Errorf("%w: %s has no command", ErrInvalidTask, t.Name)
	}
	for _, f := range []struct{ what, v string }{{"command", t.Command}, {"arguments", t.Arguments},
		{"working directory", t.WorkingDirectory}, {"description", t.Description}} {
		for _, r := range f.v {
			if r == utf8Error || (r < 0x20 && r != '\t') || (r >= 0xFFFE && r <= 0xFFFF) {
				return fmt.Errorf("%w: %s of %s holds a character XML cannot carry (%U)", ErrInvalidTask, f.what, t.Name, r)
			}
		}
	}
	if len(t.Command) > 260 {
		return fmt.Errorf("%w: command of %s is longer than 260 characters", ErrInvalidTask, t.Name)
	}
	if len(t.Arguments) > 32000 {
		return fmt.Errorf("%w: arguments of %s are longer than 32000 characters", ErrInvalidTask, t.Name)
	}
	if t.ExecutionTimeLimit < 0 {
		return fmt.Errorf("%w: negative execution time limit", ErrInvalidTask)
	}
	return nil
}

const utf8Error = '\uFFFD'

// The task definition's elements, in the order the Task Scheduler writes
// them ([MS-TSCH] 2.5; every group is an xs:all, so order is free).
type xmlTask struct {
	XMLName      xml.Name        `xml:"Task"`
	Xmlns        string          `xml:"xmlns,attr"`
	Version      string          `xml:"version,attr"`
	Registration xmlRegistration `xml:"RegistrationInfo"`
	Principals   xmlPrincipals   `xml:"Principals"`
	Settings     xmlSettings     `xml:"Settings"`
	Actions      xmlActions      `xml:"Actions"`
}

type xmlRegistration struct {
	Author      string `xml:"Author"`
	Description string `xml:"Description,omitempty"`
	URI         string `xml:"URI"`
}

type xmlPrincipals struct {
	Principal xmlPrincipal `xml:"Principal"`
}

type xmlPrincipal struct {
	ID       string `xml:"id,attr"`
	UserID   string `xml:"UserId"`
	RunLevel string `xml:"RunLevel"`
}

type xmlSettings struct {
	MultipleInstancesPolicy    string  `xml:"MultipleInstancesPolicy"`
	DisallowStartIfOnBatteries bool    `xml:"DisallowStartIfOnBatteries"`
	StopIfGoingOnBatteries     bool    `xml:"StopIfGoingOnBatteries"`
	AllowHardTerminate         bool    `xml:"AllowHardTerminate"`
	StartWhenAvailable         bool    `xml:"StartWhenAvailable"`
	RunOnlyIfNetworkAvailable  bool    `xml:"RunOnlyIfNetworkAvailable"`
	IdleSettings               xmlIdle `xml:"IdleSettings"`
	AllowStartOnDemand         bool    `xml:"AllowStartOnDemand"`
	Enabled                    bool    `xml:"Enabled"`
	Hidden                     bool    `xml:"Hidden"`
	RunOnlyIfIdle              bool    `xml:"RunOnlyIfIdle"`
	WakeToRun                  bool    `xml:"WakeToRun"`
	ExecutionTimeLimit         string  `xml:"ExecutionTimeLimit"`
	Priority                   int     `xml:"Priority"`
}

type xmlIdle struct {
	StopOnIdleEnd bool `xml:"StopOnIdleEnd"`
	RestartOnIdle bool `xml:"RestartOnIdle"`
}

type xmlActions struct {
	Context string  `xml:"Context,attr"`
	Exec    xmlExec `xml:"Exec"`
}

type xmlExec struct {
	Command          string `xml:"Command"`
	Arguments        string `xml:"Arguments,omitempty"`
	WorkingDirectory string `xml:"WorkingDirectory,omitempty"`
}

// principalID names the task's one principal, which its actions run as.
const principalID = "LocalSystem"

// XML returns the task's definition as SchRpcRegisterTask takes it
// ([MS-TSCH] 2.5, schema version 1.2, which Windows Vista and Server 2008
// and every later version accept): the LocalSystem principal (S-1-5-18)
// with the highest run level, no trigger, started on demand even on
// batteries, a second instance refused while one runs, hidden, enabled, and
// stopped after ExecutionTimeLimit.
func (t Task) XML() (string, error) {
	if err := t.check(); err != nil {
		return "", err
	}
	limit := t.ExecutionTimeLimit
	if limit == 0 {
		limit = DefaultExecutionTimeLimit
	}
	doc := xmlTask{
		Xmlns:        TaskNamespace,
		Version:      "1.2",
		Registration: xmlRegistration{Author: "nxdeploy", Description: t.Description, URI: t.Path()},
		Principals:   xmlPrincipals{Principal: xmlPrincipal{ID: principalID, UserID: "S-1-5-18", RunLevel: "HighestAvailable"}},
		Settings: xmlSettings{
			MultipleInstancesPolicy: "IgnoreNew",
			AllowHardTerminate:      true,
			AllowStartOnDemand:      true,
			Enabled:                 true,
			Hidden:                  true,
			ExecutionTimeLimit:      isoDuration(limit),
			Priority:                7,
		},
		Actions: xmlActions{Context: principalID, Exec: xmlExec{
			Command: t.Command, Arguments: t.Arguments, WorkingDirectory: t.WorkingDirectory,
		}},
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-16"?>` + "\n")
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidTask, err)
	}
	return b.String(), nil
}

// isoDuration formats d as an xs:duration of whole seconds (PT4H, PT90M5S).
func isoDuration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s <= 0 {
		s = 1
	}
	var b strings.Builder
	b.WriteString("PT")
	if h := s / 3600; h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m := s % 3600 / 60; m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if sec := s % 60; sec > 0 {
		fmt.Fprintf(&b, "%dS", sec)
	}
	return b.String()
}
