package tasksched

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// taskNamespace is the namespace of task definitions ([MS-TSCH] 2.5).
const taskNamespace = "http://schemas.microsoft.com/windows/2004/02/mit/task"

// Limits of a definition the reader accepts.
const (
	maxDefinition = 1 << 20
	maxDepth      = 32
	maxCommand    = 260
	maxArguments  = 32768
)

// Definition is what the Task Scheduler model keeps of a task definition:
// its one Exec action, its principal, and the settings it acts on.
type Definition struct {
	// Command, Arguments and WorkingDirectory are the Exec action's.
	Command, Arguments, WorkingDirectory string
	// UserID is the principal's account ("S-1-5-18" or "SYSTEM" for
	// LocalSystem); empty means the registering caller.
	UserID string
	// Enabled is false when Settings/Enabled says so.
	Enabled bool
	// Hidden is Settings/Hidden.
	Hidden bool
	// ExecutionTimeLimit ends a run that lasts longer; 0 means none
	// ("PT0S"); 72 hours when the definition has none, as on Windows.
	ExecutionTimeLimit time.Duration
}

// XMLError says where a definition fails, as SchRpcRegisterTask's
// TASK_XML_ERROR_INFO does.
type XMLError struct {
	// Code is the HRESULT (SCHED_E_MALFORMEDXML, SCHED_E_MISSINGNODE, ...).
	Code uint32
	// Line and Column locate the failure (1-based; 0 when unknown).
	Line, Column uint32
	// Node names the element at fault.
	Node string
	// Err says what is wrong.
	Err error
}

func (e *XMLError) Error() string {
	return fmt.Sprintf("task definition: line %d column %d (%s): %v", e.Line, e.Column, e.Node, e.Err)
}

// HRESULTs of definition errors.
const (
	schedEMalformedXML  = 0x8004131A
	schedEMissingNode   = 0x80041319
	schedEInvalidValue  = 0x80041316
	schedENamespace     = 0x80041317
	schedEUnexpectedNod = 0x80041318
)

// ParseDefinition reads a task definition ([MS-TSCH] 2.5) the way the Task
// Scheduler does for what this model uses: exactly one Exec action (a
// second action or a COM handler is refused), the principal, and the
// settings. The text is a Go string (UTF-16 on the wire), whatever its
// declaration says. Any defect is an *XMLError, never a panic.
func ParseDefinition(text string) (Definition, error) {
	if len(text) > maxDefinition {
		return Definition{}, &XMLError{Code: schedEMalformedXML, Node: "Task", Err: errors.New("the definition is too large")}
	}
	d := xml.NewDecoder(strings.NewReader(text))
	d.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	def := Definition{Enabled: true, ExecutionTimeLimit: 72 * time.Hour}
	var (
		stack   []string
		actions int
		sawTask bool
		text0   strings.Builder
	)
	fail := func(code uint32, node string, err error) (Definition, error) {
		line, col := d.InputPos()
		return Definition{}, &XMLError{Code: code, Line: uint32(line), Column: uint32(col), Node: node, Err: err}
	}
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(schedEMalformedXML, strings.Join(stack, "/"), err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				if t.Name.Local != "Task" || sawTask {
					return fail(schedEUnexpectedNod, t.Name.Local, errors.New("the root element must be one Task"))
				}
				if t.Name.Space != taskNamespace {
					return fail(schedENamespace, t.Name.Local, fmt.Errorf("namespace %q", t.Name.Space))
				}
				sawTask = true
			}
			if len(stack) >= maxDepth {
				return fail(schedEMalformedXML, t.Name.Local, errors.New("elements nested too deep"))
			}
			stack = append(stack, t.Name.Local)
			text0.Reset()
			path := strings.Join(stack, "/")
			switch path {
			case "Task/Actions/Exec":
				actions++
			case "Task/Actions/ComHandler", "Task/Actions/SendEmail", "Task/Actions/ShowMessage":
				actions++
			}
			if actions > 1 {
				return fail(schedEUnexpectedNod, t.Name.Local, errors.New("the model runs one Exec action per task"))
			}
			if path == "Task/Actions/ComHandler" || path == "Task/Actions/SendEmail" || path == "Task/Actions/ShowMessage" {
				return fail(schedEUnexpectedNod, t.Name.Local, errors.New("only Exec actions are run"))
			}
		case xml.CharData:
			if text0.Len()+len(t) > maxArguments+1024 {
				return fail(schedEInvalidValue, strings.Join(stack, "/"), errors.New("value too long"))
			}
			text0.Write(t)
		case xml.EndElement:
			path := strings.Join(stack, "/")
			v := strings.TrimSpace(text0.String())
			switch path {
			case "Task/Actions/Exec/Command":
				def.Command = v
			case "Task/Actions/Exec/Arguments":
				def.Arguments = v
			case "Task/Actions/Exec/WorkingDirectory":
				def.WorkingDirectory = v
			case "Task/Principals/Principal/UserId":
				def.UserID = v
			case "Task/Settings/Enabled", "Task/Settings/Hidden":
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fail(schedEInvalidValue, t.Name.Local, fmt.Errorf("%q is not a boolean", v))
				}
				if t.Name.Local == "Enabled" {
					def.Enabled = b
				} else {
					def.Hidden = b
				}
			case "Task/Settings/ExecutionTimeLimit":
				lim, err := parseDuration(v)
				if err != nil {
					return fail(schedEInvalidValue, t.Name.Local, err)
				}
				def.ExecutionTimeLimit = lim
			}
			text0.Reset()
			stack = stack[:len(stack)-1]
		}
	}
	switch {
	case !sawTask:
		return fail(schedEMissingNode, "Task", errors.New("no Task element"))
	case actions == 0:
		return fail(schedEMissingNode, "Actions", errors.New("no Exec action"))
	case def.Command == "":
		return fail(schedEMissingNode, "Command", errors.New("the Exec action has no command"))
	case len(def.Command) > maxCommand || len(def.Arguments) > maxArguments:
		return fail(schedEInvalidValue, "Exec", errors.New("command or arguments too long"))
	}
	return def, nil
}

// parseDuration reads an xs:duration of days, hours, minutes and seconds
// (P3D, PT4H, PT90M5S, PT0S).
func parseDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%q is not a duration", s)
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return 0, bad
	}
	var total time.Duration
	inTime := false
	num := ""
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9':
			num += string(r)
			if len(num) > 6 {
				return 0, bad
			}
			continue
		case r == 'T' && !inTime && num == "":
			inTime = true
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil {
			return 0, bad
		}
		num = ""
		switch {
		case r == 'D' && !inTime:
			total += time.Duration(n) * 24 * time.Hour
		case r == 'H' && inTime:
			total += time.Duration(n) * time.Hour
		case r == 'M' && inTime:
			total += time.Duration(n) * time.Minute
		case r == 'S' && inTime:
			total += time.Duration(n) * time.Second
		default:
			return 0, bad
		}
	}
	if num != "" {
		return 0, bad
	}
	return total, nil
}
