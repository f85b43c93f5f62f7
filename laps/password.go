package laps

import (
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what a Password shows of itself in every encoder.
const Redacted = "[REDACTED]"

// Password is a computer's LAPS-managed password. It never shows itself: fmt
// (every verb, %v, %+v and %#v included), encoding/json, encoding/xml,
// encoding.TextMarshaler users and log/slog (text and JSON handlers) all see
// Redacted, also when the Password is a field of a struct they print. Reveal
// returns the password for the one place that needs it: the logon.
type Password struct {
	// get returns the secret. A function value, because fmt prints one as
	// an address wherever it meets it, also in a struct field it cannot ask
	// to format itself (an unexported field, a bad verb), and encoders skip
	// it.
	get func() string
}

// NewPassword wraps s.
func NewPassword(s string) Password { return Password{get: func() string { return s }} }

// Reveal returns the password. Pass it to the logon and nowhere else.
func (p Password) Reveal() string {
	if p.get == nil {
		return ""
	}
	return p.get()
}

// IsZero reports an empty password.
func (p Password) IsZero() bool { return p.Reveal() == "" }

// String returns Redacted.
func (p Password) String() string { return Redacted }

// GoString returns Redacted.
func (p Password) GoString() string { return Redacted }

// Format writes Redacted whatever the verb and flags.
func (p Password) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// MarshalJSON returns Redacted as a JSON string.
func (p Password) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText returns Redacted.
func (p Password) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue returns Redacted for log/slog.
func (p Password) LogValue() slog.Value { return slog.StringValue(Redacted) }
