package svcctl

import (
	"fmt"
	"log/slog"

	"github.com/nxdeploy/deployer/internal/secret"
)

// String names the host the client speaks to; a Client prints nothing else
// (its configuration holds the credentials).
func (c *Client) String() string {
	if c == nil {
		return "svcctl.Client(nil)"
	}
	return "svcctl.Client{" + c.host + "}"
}

// Format prints String for every fmt verb, so no verb shows the
// configuration's credentials.
func (c *Client) Format(f fmt.State, verb rune) { secret.Format(f, verb, c.String(), c.String()) }

// LogValue is what log/slog prints: the host.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }
