package rpcpipe

import (
	"fmt"
	"log/slog"

	"github.com/nxdeploy/deployer/internal/secret"
)

// String names the host; a Conn prints nothing else (its configuration
// holds the credentials of a sealed bind).
func (c *Conn[C]) String() string {
	if c == nil {
		return "rpcpipe.Conn(nil)"
	}
	return "rpcpipe.Conn{" + c.cfg.Host + "}"
}

// Format prints String for every fmt verb.
func (c *Conn[C]) Format(f fmt.State, verb rune) { secret.Format(f, verb, c.String(), c.String()) }

// LogValue is what log/slog prints: the host.
func (c *Conn[C]) LogValue() slog.Value { return slog.StringValue(c.String()) }
