package winreg

import (
	"fmt"
	"log/slog"

	"github.com/nxdeploy/deployer/internal/secret"
)

// String names the host; a Client prints nothing else (its configuration
// holds the credentials of a sealed bind).
func (c *Client) String() string {
	if c == nil {
		return "winreg.Client(nil)"
	}
	return "winreg.Client{" + c.host + "}"
}

// Format prints String for every fmt verb.
func (c *Client) Format(f fmt.State, verb rune) { secret.Format(f, verb, c.String(), c.String()) }

// LogValue is what log/slog prints: the host.
func (c *Client) LogValue() slog.Value { return slog.StringValue(c.String()) }
