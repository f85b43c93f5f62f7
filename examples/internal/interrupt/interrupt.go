// Package interrupt is where the example commands learn that they are asked
// to stop: SIGINT (Ctrl-C) and SIGTERM (what service managers, containers
// and kill send) both cancel the command's context, so a command that has
// changed hosts cleans up before it exits. Every example command uses it;
// how a stop request is handled is decided here only.
package interrupt

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Signals are the signals that ask a command to stop.
var Signals = []os.Signal{os.Interrupt, syscall.SIGTERM}

// Context returns a copy of parent that is cancelled when the process
// receives one of Signals. stop releases the signals (their default action
// applies again) and must be called when the command ends.
func Context(parent context.Context) (ctx context.Context, stop context.CancelFunc) {
	return signal.NotifyContext(parent, Signals...)
}
