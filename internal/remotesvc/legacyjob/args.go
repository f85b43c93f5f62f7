package legacyjob

import (
	"fmt"
	"strings"
)

// Argument names understood by nxsvc.
const (
	// ArgJob is followed by the absolute path of a job file.
	ArgJob = "--job"
	// ArgJobB64 is followed by the base64 of a job's JSON.
	ArgJobB64 = "--job-b64"
)

// Source says where a job comes from, as parsed from nxsvc's arguments.
type Source struct {
	// B64 is the value of --job-b64, if given.
	B64 string
	// Path is the value of --job, if given.
	Path string
}

// ParseArgs parses nxsvc's arguments (without the program name): at most one of
// "--job PATH" and "--job-b64 B64", each also accepted as "--name=value". No
// arguments yields the zero Source, meaning "use the job file next to the
// executable".
func ParseArgs(args []string) (Source, error) {
	var s Source
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(args[i], "=")
		if name != ArgJob && name != ArgJobB64 {
			return Source{}, fmt.Errorf("%w: unknown argument %q", ErrInvalid, truncate(args[i], 64))
		}
		if !hasVal {
			if i+1 >= len(args) {
				return Source{}, fmt.Errorf("%w: %s needs a value", ErrInvalid, name)
			}
			i++
			val = args[i]
		}
		if val == "" {
			return Source{}, fmt.Errorf("%w: %s has an empty value", ErrInvalid, name)
		}
		if s.B64 != "" || s.Path != "" {
			return Source{}, fmt.Errorf("%w: more than one job given", ErrInvalid)
		}
		if name == ArgJob {
			if err := AbsWindowsPath(ArgJob, val); err != nil {
				return Source{}, err
			}
			s.Path = val
		} else {
			s.B64 = val
		}
	}
	return s, nil
}

// Load resolves a Source into a validated Job: B64 is decoded in place, Path
// (or defaultPath when the Source is empty) is read with readFile.
func (s Source) Load(defaultPath string, readFile func(string) ([]byte, error)) (Job, error) {
	if s.B64 != "" {
		return DecodeBase64(s.B64)
	}
	p := s.Path
	if p == "" {
		p = defaultPath
	}
	b, err := readFile(p)
	if err != nil {
		return Job{}, fmt.Errorf("%w: read job file: %v", ErrInvalid, err)
	}
	return Decode(b)
}

// Args returns the service arguments that carry j in full (--job-b64), for the
// service's binary path.
func (j Job) Args() ([]string, error) {
	s, err := j.EncodeBase64()
	if err != nil {
		return nil, err
	}
	return []string{ArgJobB64, s}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
