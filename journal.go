package deployer

// journal.go: a FileStore's record encoding, written by hand. A fleet's
// records are encoded as fast as its hosts change state (thousands a second
// when hosts are unreachable); encoding/json's reflection made the journal
// cost as much as the deployment it records. The output is the JSON that
// encoding/json writes for a HostRecord (field names, order, omitempty and
// omitzero alike), so the journal is read back with json.Unmarshal, and a
// test holds the two encoders to the same records.

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendRecord appends r as a JSON object.
func appendRecord(b []byte, r *HostRecord) []byte {
	b = append(b, `{"key":`...)
	b = appendString(b, r.Key)
	if r.Addr != "" {
		b = appendField(b, "addr", r.Addr)
	}
	b = append(b, `,"state":`...)
	b = appendString(b, r.State.Name())
	if r.Attempts != 0 {
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(r.Attempts), 10)
	}
	if !r.NextAttempt.IsZero() {
		b = appendTime(append(b, `,"next_attempt":`...), r.NextAttempt)
	}
	if r.DeploymentID != "" {
		b = appendField(b, "deployment_id", r.DeploymentID)
	}
	if r.DeploymentPackage != nil {
		b = appendPackage(append(b, `,"deployment_package":`...), r.DeploymentPackage)
	}
	if len(r.Leftovers) > 0 {
		b = append(b, `,"leftovers":[`...)
		for i, id := range r.Leftovers {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, id)
		}
		b = append(b, ']')
	}
	if r.Package != nil {
		b = appendPackage(append(b, `,"package":`...), r.Package)
	}
	if r.Account != "" {
		b = appendField(b, "account", r.Account)
	}
	if !r.LogonFailedAt.IsZero() {
		b = appendTime(append(b, `,"logon_failed_at":`...), r.LogonFailedAt)
	}
	if r.RebootNeeded {
		b = append(b, `,"reboot_needed":true`...)
	}
	if r.ExitCode != nil {
		b = strconv.AppendUint(append(b, `,"exit_code":`...), uint64(*r.ExitCode), 10)
	}
	if r.Error != nil {
		b = appendErrorInfo(append(b, `,"error":`...), r.Error)
	}
	if r.CleanupError != nil {
		b = appendErrorInfo(append(b, `,"cleanup_error":`...), r.CleanupError)
	}
	if r.Skipped != "" {
		b = appendField(b, "skipped", string(r.Skipped))
	}
	if len(r.Steps) > 0 {
		b = append(b, `,"steps":[`...)
		for i, s := range r.Steps {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"step":`...)
			b = appendString(b, string(s.Step))
			b = appendTime(append(b, `,"start":`...), s.Start)
			b = strconv.AppendInt(append(b, `,"duration_ns":`...), int64(s.Duration), 10)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if p := r.Progress; p != nil {
		b = append(b, `,"progress":{"phase":`...)
		b = appendString(b, p.Phase)
		if p.Percent != nil {
			b = strconv.AppendInt(append(b, `,"percent":`...), int64(*p.Percent), 10)
		}
		if p.Action != "" {
			b = appendField(b, "action", p.Action)
		}
		if p.Uploaded != 0 {
			b = strconv.AppendInt(append(b, `,"uploaded":`...), p.Uploaded, 10)
		}
		if p.Total != 0 {
			b = strconv.AppendInt(append(b, `,"total":`...), p.Total, 10)
		}
		b = append(b, '}')
	}
	b = appendTime(append(b, `,"updated":`...), r.Updated)
	return append(b, '}')
}

func appendErrorInfo(b []byte, e *ErrorInfo) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, e.Kind.Name())
	if n := e.Reason.Name(); n != "" {
		b = appendField(b, "reason", n)
	}
	b = append(b, `,"retry":`...)
	b = appendString(b, e.Retry.Name())
	if e.Step != "" {
		b = appendField(b, "step", string(e.Step))
	}
	if e.Port != 0 {
		b = strconv.AppendInt(append(b, `,"port":`...), int64(e.Port), 10)
	}
	if n := e.CodeSpace.Name(); n != "" {
		b = appendField(b, "code_space", n)
	}
	if e.Code != 0 {
		b = strconv.AppendUint(append(b, `,"code":`...), uint64(e.Code), 10)
	}
	for _, f := range [...]struct{ name, value string }{
		{"code_name", e.CodeName}, {"type", e.Type}, {"message", e.Message}, {"cause", e.Cause},
		{"solution", e.Solution}, {"code_text", e.CodeText}, {"detail", e.Detail},
		{"repro", e.Repro},
	} {
		if f.value != "" {
			b = appendField(b, f.name, f.value)
		}
	}
	b = append(b, `,"error":`...)
	b = appendString(b, e.Error)
	return append(b, '}')
}

func appendPackage(b []byte, p *PackageIdentity) []byte {
	b = append(b, '{')
	first := true
	for _, f := range [...]struct{ name, value string }{
		{"product_code", p.ProductCode}, {"product_version", p.ProductVersion}, {"sha256", p.SHA256}, {"unc", p.UNC},
	} {
		if f.value == "" {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, f.name)
		b = append(b, ':')
		b = appendString(b, f.value)
	}
	return append(b, '}')
}

// appendField appends ,"name":"value".
func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, value)
}

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, as encoding/json does: '"', '\'
// and control characters escaped, '<', '>' and '&' escaped for HTML, U+2028
// and U+2029 escaped, invalid UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
