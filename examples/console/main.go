// Command console is the Engine's "Discover and install" tab as a small web
// application on the deployer library's public API: collections of
// computers from Active Directory or from a CSV file (BIOS_NAME,IP_ADDRESS),
// a table of computers with their state in the Deployer documentation's
// words ("Scheduled for installation", "Installing Collector", "With
// Collector", "Failed"), their progress and last error, updated live; a
// wizard that schedules the selected computers for installation with the
// remote computers' account and the collection's MSI properties; per
// computer the steps of the last attempt with their times, the error's
// type, message, cause and solution and the MSI log's excerpt; "retry
// failed", "probe" (the doctor) and "cancel" for one computer; and a
// settings page to choose the package.
//
// Try it first with no Windows host at all:
//
//	go run ./examples/console -demo
//
// which starts about 50 emulated Windows hosts on 127.10.x.y with a mix of
// faults, loads a small MSI and a collection of the fleet, and prints the
// URL to open (with the login token) and the emulated hosts' account.
//
// Against real hosts:
//
//	console -listen 127.0.0.1:8080
//
// then choose the package in Settings, create a collection and schedule it.
//
// Security: the console listens on 127.0.0.1 unless -listen says otherwise.
// Logging in takes the token printed at start, or the password read from the
// environment variable named by -login-password-env (never from a flag).
// The session cookie is HttpOnly and SameSite=Strict, every form carries a
// CSRF token, and pages forbid framing and inline script. The remote
// computers' password given to the wizard is kept in memory for the
// schedule only: it is never written to disk, logged, or sent back to the
// browser.
//
// Interrupting (SIGINT, Ctrl-C, or SIGTERM) stops the web server, then the
// Deployer: installations under way are stopped and their hosts cleaned up.
//
// Exit status: 0 after a clean stop, 1 when the console could not start or
// stop cleanly, 2 on a usage error.
package main

import (
	"context"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/examples/internal/demofleet"
	"github.com/nxdeploy/deployer/examples/internal/interrupt"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses (see the package documentation).
const (
	exitOK       = 0
	exitRunError = 1
	exitUsage    = 2
)

// options are the parsed flags.
type options struct {
	listen         string
	loginPassEnv   string
	demo           bool
	port           int
	concurrency    int
	connectTimeout time.Duration
	requestTimeout time.Duration
	hostTimeout    time.Duration
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "listen on `address` (host:port); the default serves this computer only")
	fs.StringVar(&o.loginPassEnv, "login-password-env", "", "log in with the password in the environment variable `NAME` instead of a generated token")
	fs.BoolVar(&o.demo, "demo", false, "run on a fleet of emulated Windows hosts with a mix of faults")
	fs.IntVar(&o.port, "port", 445, "SMB TCP `port` of the computers")
	fs.IntVar(&o.concurrency, "concurrency", 16, "computers worked on at once")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 5*time.Second, "TCP connect timeout")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second, "timeout of each SMB request and RPC call")
	fs.DurationVar(&o.hostTimeout, "timeout", 0, "bound on one attempt on one computer (0: the install timeout plus 5 minutes)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case fs.NArg() > 0:
		return nil, usagef("unexpected arguments %q: computers come from collections in the console", fs.Args())
	case o.concurrency < 1:
		return nil, usagef("-concurrency must be at least 1")
	case o.port < 1 || o.port > 65535:
		return nil, usagef("-port %d is not a TCP port", o.port)
	case o.demo && o.port != 445:
		return nil, usagef("-demo uses the demo fleet's port: -port does not apply")
	}
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return nil, usagef("-listen %q: %v", o.listen, err)
	}
	return o, nil
}

// run is the command without process globals (except the interrupt signals
// and the environment), for tests.
func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "console: %v\n", err)
		}
		return exitUsage
	}
	ctx, stop := interrupt.Context(context.Background())
	defer stop()
	if err := serve(ctx, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "console: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitRunError
	}
	return exitOK
}

// serve runs the console until ctx is done.
func serve(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	login := loginSecret{}
	if o.loginPassEnv != "" {
		pw, ok := os.LookupEnv(o.loginPassEnv)
		if !ok || pw == "" {
			return usagef("environment variable %s is not set (the login password is never taken from a flag)", o.loginPassEnv)
		}
		login.password = pw
	} else {
		login.token = randomToken()
	}
	cfg := deployer.Config{Concurrency: o.concurrency, HostTimeout: o.hostTimeout}
	cfg.Connect.SMB.Port = o.port
	cfg.Connect.SMB.ConnectTimeout = o.connectTimeout
	cfg.Connect.SMB.RequestTimeout = o.requestTimeout
	var fleet *demo.Fleet
	if o.demo {
		f, err := demofleet.Start(300 * time.Millisecond)
		if err != nil {
			return err
		}
		defer func() {
			if err := f.Close(); err != nil {
				fmt.Fprintf(stderr, "console: stopping the demo fleet: %v\n", err)
			}
		}()
		fleet = f
		demofleet.Configure(&cfg, f)
	}
	c, err := newConsole(consoleOptions{Deployer: cfg, Login: login,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintf(stderr, "console: stopping the Deployer: %v\n", err)
		}
	}()
	if fleet != nil {
		if err := c.loadDemo(fleet); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	srv := &http.Server{Handler: c, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	url := "http://" + ln.Addr().String() + "/"
	if login.token != "" {
		fmt.Fprintf(stdout, "console: open %slogin?token=%s\n", url, login.token)
	} else {
		fmt.Fprintf(stdout, "console: open %s and log in with the password of $%s\n", url, o.loginPassEnv)
	}
	if fleet != nil {
		fmt.Fprintf(stdout, "console: demo fleet of %d emulated Windows hosts on %s..%s; their account is %s, password %s\n",
			len(fleet.Hosts), fleet.Hosts[0].IP, fleet.Hosts[len(fleet.Hosts)-1].IP, fleet.User, fleet.Password)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(stderr, "console: stopping")
	c.Shutdown() // ends the event streams, which Shutdown would wait for
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}
