// Package secret keeps credentials out of what types print: the fmt verbs
// of types that hold a password, an NT hash or a configuration with one.
package secret

import (
	"fmt"
	"io"
	"strconv"
)

// Redacted stands for a secret that is set, in printed and encoded forms.
const Redacted = "[REDACTED]"

// Mark returns Redacted when a secret is set, else "".
func Mark(set bool) string {
	if set {
		return Redacted
	}
	return ""
}

// Format implements fmt.Formatter with safe texts: goText for %#v, text
// quoted for %q, and text for every other verb (%v, %+v, %s, %d, %x, ...),
// so no verb reaches the fields behind them.
func Format(f fmt.State, verb rune, text, goText string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, goText)
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(text))
	default:
		_, _ = io.WriteString(f, text)
	}
}
