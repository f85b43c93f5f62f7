package deployer

import (
	"fmt"
	"log/slog"
	"strconv"

	"github.com/nxdeploy/deployer/internal/secret"
)

// What the deployer's types print: a Conn and a Deployer hold
// configurations with credentials and MSI property values, and print
// neither through any fmt verb or log/slog handler.

// String names the host the connection reaches.
func (c *Conn) String() string {
	if c == nil {
		return "deployer.Conn(nil)"
	}
	return "deployer.Conn{" + c.label + "}"
}

// Format prints String for every fmt verb.
func (c *Conn) Format(f fmt.State, verb rune) { secret.Format(f, verb, c.String(), c.String()) }

// LogValue is what log/slog prints: the host.
func (c *Conn) LogValue() slog.Value { return slog.StringValue(c.String()) }

// String describes the Deployer by its package and concurrency.
func (d *Deployer) String() string {
	if d == nil {
		return "deployer.Deployer(nil)"
	}
	pkg := d.cfg.Package.Path
	if pkg == "" {
		pkg = d.cfg.Package.UNC
	}
	return "deployer.Deployer{" + pkg + ", concurrency " + strconv.Itoa(d.cfg.Concurrency) + "}"
}

// Format prints String for every fmt verb.
func (d *Deployer) Format(f fmt.State, verb rune) { secret.Format(f, verb, d.String(), d.String()) }

// LogValue is what log/slog prints: String.
func (d *Deployer) LogValue() slog.Value { return slog.StringValue(d.String()) }
