// Command winhost starts emulated Windows hosts (SMB2/3 with ADMIN$, IPC$
// and C$, and a service manager behind \pipe\svcctl that runs the deployer's
// remote service model), prints them as a CSV in the Deployer documentation's
// BIOS_NAME,IP_ADDRESS format, and serves until interrupted. It is what an
// Engine developer deploys to without a Windows machine.
//
//	DEPLOY_PW=secret winhost -count 20 -password-env DEPLOY_PW -faults mix > hosts.csv
//
// Hosts listen on 127.10.x.y, all on one port (-listen :PORT; printed on
// standard error).
// -faults mix gives them the demo fleet's mix of faults; -faults none makes
// every host healthy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/examples/internal/interrupt"
)

func main() {
	ctx, stop := interrupt.Context(context.Background())
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("winhost", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var (
		count   = fl.Int("count", 10, "number of hosts")
		listen  = fl.String("listen", ":0", "listen address :PORT of every host (hosts take 127.10.x.y in turn; port 0: a free one)")
		user    = fl.String("user", "Administrator", "administrator account of every host")
		pwEnv   = fl.String("password-env", "", "environment variable holding the account's password (default: the built-in demo password)")
		faults  = fl.String("faults", "none", "fault mix: none (all healthy) or mix (the demo fleet's mix)")
		install = fl.Duration("install-time", 2*time.Second, "how long an emulated msiexec runs")
	)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // -h: the usage is on standard error
		}
		return 2
	}
	if *count < 1 || *count > 64000 {
		fmt.Fprintln(stderr, "winhost: -count must be between 1 and 64000")
		return 2
	}
	host, portText, err := net.SplitHostPort(*listen)
	port, perr := strconv.Atoi(portText)
	if err != nil || perr != nil || port < 0 || port > 65535 || (host != "" && host != deployertest.FleetAddress(0)) {
		fmt.Fprintf(stderr, "winhost: -listen %q: want :PORT (hosts listen on %s, 127.10.0.2, ...)\n", *listen, deployertest.FleetAddress(0))
		return 2
	}
	opts := demo.Options{Port: port, User: *user, InstallTime: *install}
	if *pwEnv != "" {
		pw, ok := os.LookupEnv(*pwEnv)
		if !ok || pw == "" {
			fmt.Fprintf(stderr, "winhost: environment variable %s is not set\n", *pwEnv)
			return 2
		}
		opts.Password = pw
	}
	switch *faults {
	case "none":
		opts.Faults = make([]demo.Fault, *count)
		for i := range opts.Faults {
			opts.Faults[i] = demo.Healthy
		}
	case "mix":
		opts.Faults = demo.Mix(*count)
	default:
		fmt.Fprintf(stderr, "winhost: unknown -faults %q (none or mix)\n", *faults)
		return 2
	}
	fleet, err := demo.Start(opts)
	if err != nil {
		fmt.Fprintf(stderr, "winhost: %v\n", err)
		return 1
	}
	defer fleet.Close()
	fmt.Fprint(stdout, fleet.CSV())
	fmt.Fprintf(stderr, "winhost: %d hosts on port %d, user %s; serving until interrupted\n", len(fleet.Hosts), fleet.Port, fleet.User)
	if *faults == "mix" {
		for _, h := range fleet.Hosts {
			if h.Fault != demo.Healthy {
				fmt.Fprintf(stderr, "winhost: %s %s: %s\n", h.Name, h.IP, h.Fault)
			}
		}
	}
	<-ctx.Done()
	return 0
}
