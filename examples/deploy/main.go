// Command deploy installs an MSI on Windows hosts the way the Engine's
// "Discover and install" tab does: it discovers the hosts, moves each one
// through the Deployer documentation's states ("Discovered" → "Scheduled for installation" →
// "Installing Collector" → "With Collector", or "Failed", with "Retrying" in
// between), shows the progress, and ends with a table of the counts per state
// and, for each failed host, the Deployer documentation's Error type, Error message, Cause and
// Solution.
//
// Try it first with no Windows host at all:
//
//	go run ./examples/deploy -demo
//
// which starts about 50 emulated Windows hosts on 127.10.x.y with a mix of
// faults (wrong password, no ADMIN$, UAC remote restrictions, antivirus,
// msiexec 1603, 1618 then success, 3010, a service that never starts, a host
// that refuses connections, ...) and deploys a small MSI embedded in the
// command to them. It needs no root, no network and no extra package.
//
// Against real hosts:
//
//	NXPASS=... deploy -msi NEXThink_Updater.msi -user Administrator -domain CORP -password-env NXPASS -csv hosts.csv
//	NXPASS=... AD_PW=... deploy -msi x.msi -user admin -password-env NXPASS \
//	    -ldap ldaps://dc1.corp.example -bind-user admin@corp.example -ldap-password-env AD_PW -base DC=corp,DC=example
//	NXPASS=... deploy -msi x.msi -user admin -password-env NXPASS -store deploy.journal -prop SERVER=engine1 pc1 10.0.0.7
//	NXPASS=... deploy -msi x.msi -kerberos -user admin -domain corp.example -password-env NXPASS -csv hosts.csv
//
// Hosts come from a CSV file in the Deployer documentation's BIOS_NAME,IP_ADDRESS format
// (-csv), from Active Directory (-ldap), from the arguments (names or
// addresses), or from all of these at once. Passwords are read from the
// environment variables named by -password-env and -ldap-password-env, never
// from a flag. With -store the hosts' states are journaled to a file (one
// deploy at a time may use it), so a re-run skips hosts already With
// Collector with the same package, does not retry hosts that failed in a way
// only a change can fix (a wrong password is never sent again), settles
// what an interrupted or killed run left in flight (an installation that
// finished is read, not run again) and removes what it left on hosts.
//
// Properties (-prop) travel to each host in a job file its remote service
// reads, never on a command line; -hide-prop NAME also keeps a property's value
// out of the hosts' installation logs. To push a code-signed remote service,
// write the builds with -write-service-binaries DIR, sign them, and give
// them back with -service-binary (one per architecture).
//
// Output: with -json, one deployer.Event per line on standard output (and a
// one-line summary on standard error); otherwise a live progress line
// (per-state counters and a bar) when standard output is a terminal, plain
// progress lines every -progress-interval when it is not, and the final
// table.
//
// Interrupting (SIGINT, Ctrl-C) drains: no new host is started and the
// installations under way finish (hosts not started stay Discovered, so a
// re-run with -store picks them up). A second interrupt, or the end of
// -drain-timeout, aborts: the installations still running are stopped and
// their hosts cleaned up (no service or file of ours is left on them).
// SIGTERM, what service managers and containers send before they kill,
// aborts at once, with the same cleanup. In every case every host ends in a
// final state with an event.
//
// Exit status, the first that applies:
//
//	2  usage error: bad flags, or -msi is not a readable MSI (nothing was done)
//	1  the run itself failed: no host found, a source or the store unusable
//	4  interrupted (drained or aborted): some hosts were not deployed
//	3  some hosts failed (the table and the events say which and why);
//	   with -demo, whose faults are on purpose, this is 0
//	0  every host is With Collector
package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/examples/internal/demofleet"
	"github.com/nxdeploy/deployer/examples/internal/interrupt"
	"github.com/nxdeploy/deployer/msi"
	"github.com/nxdeploy/deployer/smb"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit statuses (see the package documentation).
const (
	exitOK          = 0
	exitRunError    = 1
	exitUsage       = 2
	exitHostsFailed = 3
	exitInterrupted = 4
)

// props collects repeated -prop NAME=VALUE flags.
type props []msi.Property

func (p *props) String() string {
	parts := make([]string, len(*p))
	for i, x := range *p {
		parts[i] = x.Name + "=" + x.Value
	}
	return strings.Join(parts, " ")
}

func (p *props) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return fmt.Errorf("%q is not NAME=VALUE", s)
	}
	if err := msi.ValidatePropertyName(name); err != nil {
		return err
	}
	if err := msi.ValidatePropertyValue(name, value); err != nil {
		return err
	}
	*p = append(*p, msi.Property{Name: name, Value: value})
	return nil
}

// has reports whether a property of that name was given.
func (p props) has(name string) bool {
	for _, x := range p {
		if x.Name == name {
			return true
		}
	}
	return false
}

// names collects a repeated flag's values.
type names []string

func (n *names) String() string { return strings.Join(*n, ",") }

func (n *names) Set(s string) error {
	if s == "" {
		return errors.New("empty value")
	}
	*n = append(*n, s)
	return nil
}

// writeServiceBinaries writes the remote service's builds into dir, for an
// operator to sign (signtool, osslsigncode) and give back with
// -service-binary.
func writeServiceBinaries(dir string, stdout io.Writer) (int, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return exitRunError, err
	}
	for _, arch := range []string{"amd64", "386"} {
		b, err := deployer.ServiceBinary(arch)
		if err != nil {
			return exitRunError, err
		}
		p := filepath.Join(dir, "nxsvc-"+arch+".exe")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return exitRunError, err
		}
		fmt.Fprintf(stdout, "%s (%d bytes): the remote service for %s hosts\n", p, len(b), map[string]string{"amd64": "x64", "386": "x86 and ARM64"}[arch])
	}
	return exitOK, nil
}

// options are the parsed flags.
type options struct {
	csvPath, ldapURL, bindUser, ldapPassEnv, base, filter, caFile string
	demo                                                          bool
	args                                                          []string

	msiPath, user, domain, passEnv string
	kerberos                       bool
	realm, kdcs, ccache            string
	port                           int
	concurrency                    int
	hostTimeout, installTimeout    time.Duration
	connectTimeout, requestTimeout time.Duration
	retryWindow, retryInterval     time.Duration
	busyBackoff                    time.Duration
	storePath                      string
	props                          props
	secrets                        names
	serviceBinaries                names
	writeService                   string
	jsonOut                        bool
	reinstall                      bool
	retryFailed                    bool
	progressEvery                  time.Duration
	drainTimeout                   time.Duration
	uploadMiB                      int64
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

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
			fmt.Fprintf(stderr, "deploy: %v\n", err)
		}
		return exitUsage
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, interrupt.Signals...) // the first drains, the second aborts
	defer signal.Stop(sigs)
	code, err := deploy(o, sigs, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "deploy: %v\n", err)
		var ue *usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
	}
	return code
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.csvPath, "csv", "", "read hosts from a CSV `file` (BIOS_NAME,IP_ADDRESS)")
	fs.StringVar(&o.ldapURL, "ldap", "", "read hosts from Active Directory at `URL` (ldap:// with StartTLS, or ldaps://)")
	fs.StringVar(&o.bindUser, "bind-user", "", "LDAP `account`, user@realm or DOMAIN\\user")
	fs.StringVar(&o.ldapPassEnv, "ldap-password-env", "", "read the LDAP password from the environment variable `NAME`")
	fs.StringVar(&o.base, "base", "", "LDAP base `DN` or OU to search (default: the domain)")
	fs.StringVar(&o.filter, "filter", "", "extra LDAP `filter` ANDed with enabled computers")
	fs.StringVar(&o.caFile, "ca", "", "PEM `file` of the directory's CA (default: system roots)")
	fs.BoolVar(&o.demo, "demo", false, "deploy to a fleet of emulated Windows hosts with a mix of faults")
	fs.StringVar(&o.msiPath, "msi", "", "the MSI `file` to install (required unless -demo)")
	fs.StringVar(&o.user, "user", "", "account `name`, an administrator of the hosts")
	fs.StringVar(&o.domain, "domain", "", "account `domain`; empty or \".\" for a local account")
	fs.StringVar(&o.passEnv, "password-env", "", "read the account's password from the environment variable `NAME`")
	fs.BoolVar(&o.kerberos, "kerberos", false, "log on with Kerberos instead of NTLM (hosts by name; -domain is the DNS domain)")
	fs.StringVar(&o.realm, "realm", "", "Kerberos `realm` (the domain's DNS name); empty means -domain")
	fs.StringVar(&o.kdcs, "kdc", "", "comma-separated Kerberos KDC `hosts`; empty means the realm's SRV records")
	fs.StringVar(&o.ccache, "ccache", "", "Kerberos credentials cache `file` (from kinit), instead of a password")
	fs.IntVar(&o.port, "port", 445, "SMB TCP `port`")
	fs.IntVar(&o.concurrency, "concurrency", 16, "hosts worked on at once")
	fs.DurationVar(&o.connectTimeout, "timeout", 5*time.Second, "TCP connect timeout (as in probe and discover)")
	fs.DurationVar(&o.hostTimeout, "host-timeout", 0, "bound on one attempt on one host (0: the install timeout plus 5 minutes)")
	fs.DurationVar(&o.installTimeout, "install-timeout", 0, "bound on msiexec's run on a host (0: 30 minutes)")
	fs.DurationVar(&o.requestTimeout, "request-timeout", 30*time.Second, "timeout of each SMB request and RPC call")
	fs.DurationVar(&o.retryWindow, "retry-window", 0, "keep retrying unreachable hosts this long from the start (0: no such retries)")
	fs.DurationVar(&o.retryInterval, "retry-interval", time.Minute, "wait between retries of an unreachable host")
	fs.DurationVar(&o.busyBackoff, "busy-backoff", 30*time.Second, "first wait before retrying a host whose installer is busy (msiexec 1618)")
	fs.StringVar(&o.storePath, "store", "", "journal hosts' states in `file`, so a re-run resumes")
	fs.Int64Var(&o.uploadMiB, "upload-buffers", deployer.DefaultUploadBuffers>>20, "`MiB` of memory all uploads share for their buffers")
	fs.Var(&o.props, "prop", "MSI public property `NAME=VALUE` (repeatable)")
	fs.Var(&o.secrets, "hide-prop", "keep the value of the -prop `NAME` out of the hosts' installation logs (repeatable)")
	fs.Var(&o.serviceBinaries, "service-binary", "push this code-signed remote service `file` (from -write-service-binaries, signed) to hosts of its architecture (repeatable)")
	fs.StringVar(&o.writeService, "write-service-binaries", "", "write the remote service's builds (nxsvc-amd64.exe, nxsvc-386.exe) to `dir`, to sign, and exit")
	fs.BoolVar(&o.jsonOut, "json", false, "print one event per line as JSON")
	fs.BoolVar(&o.retryFailed, "retry-failed", false, "with -store: try again every host the journal has as Failed (once what its error names, such as the password, is fixed); without it they stay Failed")
	fs.BoolVar(&o.reinstall, "reinstall", false, "install even on hosts whose registry shows the package's product at its version (skips that check)")
	fs.DurationVar(&o.progressEvery, "progress-interval", 2*time.Second, "interval of progress lines when standard output is not a terminal")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 0, "after an interrupt, how long installations under way may finish before they are stopped (0: until a second interrupt)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.args = fs.Args()
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o *options) validate() error {
	hasInput := o.csvPath != "" || o.ldapURL != "" || len(o.args) > 0
	if o.writeService != "" {
		if hasInput || o.demo {
			return usagef("-write-service-binaries writes files and exits: give no hosts or -demo with it")
		}
		return nil
	}
	for _, name := range o.secrets {
		if !o.props.has(name) {
			return usagef("-hide-prop %s names no -prop", name)
		}
	}
	switch {
	case o.demo && hasInput:
		return usagef("-demo deploys to its own fleet: give no -csv, -ldap or host arguments with it")
	case o.demo && (o.user != "" || o.passEnv != "" || o.kerberos):
		return usagef("-demo uses the demo fleet's account: -user, -password-env and -kerberos do not apply")
	case !o.kerberos && (o.realm != "" || o.kdcs != "" || o.ccache != ""):
		return usagef("-realm, -kdc and -ccache need -kerberos")
	case !o.demo && !hasInput:
		return usagef("no hosts: give -csv, -ldap, host arguments, or -demo")
	case !o.demo && o.msiPath == "":
		return usagef("-msi is required")
	case !o.demo && o.user == "":
		return usagef("-user is required")
	case !o.demo && o.passEnv == "" && o.ccache == "":
		return usagef("-password-env is required (the password is never taken from a flag)")
	case o.ldapURL == "" && (o.bindUser != "" || o.ldapPassEnv != "" || o.base != "" || o.filter != "" || o.caFile != ""):
		return usagef("-bind-user, -ldap-password-env, -base, -filter and -ca need -ldap")
	case o.ldapURL != "" && o.bindUser != "" && o.ldapPassEnv == "":
		return usagef("-bind-user needs -ldap-password-env (the password is never taken from a flag)")
	case o.concurrency < 1:
		return usagef("-concurrency must be at least 1")
	case o.retryFailed && o.storePath == "":
		return usagef("-retry-failed needs -store: the journal knows which hosts failed")
	case o.port < 1 || o.port > 65535:
		return usagef("-port %d is not a TCP port", o.port)
	case o.hostTimeout < 0 || o.installTimeout < 0 || o.retryWindow < 0 || o.connectTimeout < 0 || o.requestTimeout < 0 ||
		o.drainTimeout < 0:
		return usagef("durations must not be negative")
	case o.uploadMiB < 1:
		return usagef("-upload-buffers must be at least 1 (MiB)")
	case o.progressEvery <= 0:
		return usagef("-progress-interval must be positive")
	}
	return nil
}

// deploy runs the deployment the options describe and prints its progress
// and result. The first signal on sigs drains it, the second aborts it.
func deploy(o *options, sigs <-chan os.Signal, stdout, stderr io.Writer) (int, error) {
	if o.writeService != "" {
		return writeServiceBinaries(o.writeService, stdout)
	}
	var binaries [][]byte
	for _, f := range o.serviceBinaries {
		b, err := os.ReadFile(f)
		if err != nil {
			return exitUsage, usagef("-service-binary: %v", err)
		}
		binaries = append(binaries, b)
	}
	// Discovery stops at the first interrupt; the deployment drains.
	ctx, cancelDiscovery := context.WithCancel(context.Background())
	defer cancelDiscovery()
	cfg := deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{
			Port:           o.port,
			ConnectTimeout: o.connectTimeout,
			RequestTimeout: o.requestTimeout,
		}},
		Package: deployer.Package{Path: o.msiPath},
		Install: deployer.InstallOptions{Properties: o.props, SecretProperties: o.secrets, Timeout: o.installTimeout,
			Service: deployer.ServiceSpec{Binaries: binaries}},
		Concurrency:        o.concurrency,
		HostTimeout:        o.hostTimeout,
		RetryWindow:        o.retryWindow,
		RetryInterval:      o.retryInterval,
		BusyBackoff:        o.busyBackoff,
		UploadBuffers:      o.uploadMiB << 20,
		SkipInstalledCheck: o.reinstall,
	}
	var (
		hosts []discovery.Host
		notes map[string]string // per-host remarks for the table (a demo host's fault)
	)
	if o.demo {
		fleet, cleanup, err := startDemo(o, &cfg, stderr)
		if err != nil {
			return exitRunError, err
		}
		defer cleanup()
		hosts = fleet.Targets()
		notes = make(map[string]string, len(fleet.Hosts))
		for _, h := range fleet.Hosts {
			notes[h.Name] = string(h.Fault)
		}
	} else {
		if _, err := os.Stat(o.msiPath); err != nil {
			return exitUsage, usagef("-msi: %v", err)
		}
		if _, err := msi.Inspect(o.msiPath); err != nil {
			return exitUsage, usagef("-msi %s: %v", o.msiPath, err)
		}
		var password string
		if o.passEnv != "" {
			var ok bool
			if password, ok = os.LookupEnv(o.passEnv); !ok || password == "" {
				return exitUsage, usagef("environment variable %s is empty or not set", o.passEnv)
			}
		}
		cfg.Connect.SMB.Credentials = smb.Credentials{User: o.user, Domain: o.domain, Password: password}
		if o.kerberos {
			k := &smb.Kerberos{Realm: o.realm, CCache: o.ccache}
			for _, kdc := range strings.Split(o.kdcs, ",") {
				if kdc = strings.TrimSpace(kdc); kdc != "" {
					k.KDCs = append(k.KDCs, kdc)
				}
			}
			cfg.Connect.SMB.Credentials.Kerberos = k
		}
		var err error
		stopWatch := watchDiscovery(sigs, cancelDiscovery)
		hosts, err = discover(ctx, o, stderr)
		if !stopWatch() {
			return exitInterrupted, errors.New("interrupted during discovery: nothing was deployed")
		}
		if err != nil {
			return exitRunError, err
		}
	}
	if o.storePath != "" {
		store, err := deployer.OpenFileStore(o.storePath)
		if err != nil {
			return exitRunError, err
		}
		defer func() {
			if err := store.Close(); err != nil {
				fmt.Fprintf(stderr, "deploy: closing the store: %v\n", err)
			}
		}()
		for _, err := range store.Rejected() {
			fmt.Fprintf(stderr, "deploy: %v (line left out; the journal as it was is kept as %s.corrupt)\n", err, o.storePath)
		}
		cfg.Store = store
	}

	p := newProgress(uniqueLabels(hosts))
	var stopDisplay func()
	if o.jsonOut {
		enc := json.NewEncoder(stdout)
		cfg.OnEvent = func(ev deployer.Event) {
			p.add(ev)
			if err := enc.Encode(ev); err != nil {
				p.setWriteErr(err)
			}
		}
		stopDisplay = func() {}
	} else {
		cfg.OnEvent = p.add
		stopDisplay = p.display(stdout, isTerminal(stdout), o.progressEvery)
	}
	d, err := deployer.New(cfg)
	if err != nil {
		stopDisplay()
		return exitUsage, usagef("%v", err)
	}
	defer d.Close()
	// With a journal, hosts it knows with work left (in flight when an
	// earlier run stopped, or holding leftovers) are settled too.
	var resumed []string
	if o.storePath != "" {
		if resumed, err = d.Resume(); err != nil {
			stopDisplay()
			return exitRunError, err
		}
		if o.retryFailed {
			again, err := d.RescheduleFailed(0)
			if err != nil {
				stopDisplay()
				return exitRunError, err
			}
			resumed = append(resumed, again...)
		}
	}
	interrupted := handleInterrupts(d, sigs, o.drainTimeout, stderr)
	sum, runErr := d.Run(context.Background(), hosts)
	if len(resumed) > 0 && runErr == nil {
		// The run's summary, with the resumed hosts settled too.
		runErr = d.Wait(context.Background())
		keys := append([]string(nil), resumed...)
		for _, h := range hosts {
			keys = append(keys, h.Label())
		}
		sum = d.Summary(keys...)
	}
	stopInterrupts := interrupted()
	stopDisplay()
	if err := p.writeErr(); err != nil {
		return exitRunError, fmt.Errorf("writing events: %w", err)
	}
	if sum != nil {
		if o.jsonOut {
			fmt.Fprintln(stderr, sum.String())
		} else {
			printSummary(stdout, sum, notes, p.remarksOf())
		}
	}
	switch {
	case runErr != nil:
		return exitRunError, runErr
	case stopInterrupts:
		return exitInterrupted, errors.New("interrupted: hosts not deployed are Discovered again; re-run (with -store) to resume")
	case sum.States[deployer.Failed] > 0 && !o.demo:
		return exitHostsFailed, nil
	}
	return exitOK, nil
}

// watchDiscovery cancels discovery at the first signal. The returned
// function stops watching and reports whether discovery ran to its end.
func watchDiscovery(sigs <-chan os.Signal, cancel context.CancelFunc) func() bool {
	done := make(chan struct{})
	var interrupted atomic.Bool
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		select {
		case <-sigs:
			interrupted.Store(true)
			cancel()
		case <-done:
		}
	}()
	return func() bool {
		close(done)
		<-stopped
		return !interrupted.Load()
	}
}

// handleInterrupts drains d at the first signal and aborts at the second
// (or when the drain's timeout ends). The returned function stops handling
// and reports whether the run was interrupted.
func handleInterrupts(d *deployer.Deployer, sigs <-chan os.Signal, timeout time.Duration, stderr io.Writer) func() bool {
	done := make(chan struct{})
	stopped := make(chan struct{})
	var interrupted atomic.Bool
	go func() {
		defer close(stopped)
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		interrupted.Store(true)
		ctx, abort := context.WithCancel(context.Background())
		defer abort()
		if sig == syscall.SIGTERM {
			// A service manager's stop: stop now, cleaning up, before its
			// grace period ends in SIGKILL.
			fmt.Fprintln(stderr, "deploy: terminated: stopping the installations under way and cleaning up their hosts")
			abort()
			_ = d.Drain(ctx)
			return
		}
		how := "interrupt again to stop them now"
		if timeout > 0 {
			ctx, abort = context.WithTimeout(ctx, timeout)
			defer abort()
			how = fmt.Sprintf("they are stopped in %v, or at a second interrupt", timeout)
		}
		fmt.Fprintf(stderr, "\ndeploy: interrupted: draining: no new host is started; %d installations under way finish (%s)\n",
			inFlight(d), how)
		drained := make(chan error, 1)
		go func() { drained <- d.Drain(ctx) }()
		select {
		case <-sigs:
			fmt.Fprintln(stderr, "deploy: interrupted again: stopping the installations under way and cleaning up their hosts")
			abort()
			<-drained
		case err := <-drained:
			if err != nil {
				fmt.Fprintln(stderr, "deploy: the drain timed out: the installations under way were stopped and their hosts cleaned up")
			}
		}
	}()
	return func() bool {
		close(done)
		<-stopped
		return interrupted.Load()
	}
}

// inFlight counts hosts installing.
func inFlight(d *deployer.Deployer) int { return d.Counts()[deployer.Installing] }

// startDemo starts the demo fleet and points cfg at it with short timeouts
// and backoffs, so the whole demo takes seconds.
func startDemo(o *options, cfg *deployer.Config, stderr io.Writer) (*demo.Fleet, func(), error) {
	dir, err := os.MkdirTemp("", "deployer-demo-msi-")
	if err != nil {
		return nil, nil, err
	}
	fleet, err := demofleet.Start(150 * time.Millisecond)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	cleanup := func() {
		if err := fleet.Close(); err != nil {
			fmt.Fprintf(stderr, "deploy: stopping the demo fleet: %v\n", err)
		}
		os.RemoveAll(dir)
	}
	if o.msiPath == "" {
		path := filepath.Join(dir, "demo.msi")
		if err := os.WriteFile(path, demofleet.MSI, 0o600); err != nil {
			cleanup()
			return nil, nil, err
		}
		cfg.Package.Path = path
	} else if _, err := os.Stat(o.msiPath); err != nil {
		cleanup()
		return nil, nil, usagef("-msi: %v", err)
	}
	cfg.Connect.SMB.Credentials = smb.Credentials{User: fleet.User, Password: fleet.Password}
	demofleet.Configure(cfg, fleet)
	fmt.Fprintf(stderr, "deploy: demo fleet of %d emulated Windows hosts on %s..%s port %d (account %s)\n",
		len(fleet.Hosts), fleet.Hosts[0].IP, fleet.Hosts[len(fleet.Hosts)-1].IP, fleet.Port, fleet.User)
	return fleet, cleanup, nil
}

// discover reads the hosts of every input. A source that fails after giving
// hosts (a CSV file with bad lines) is reported and the hosts it gave are
// deployed to.
func discover(ctx context.Context, o *options, stderr io.Writer) ([]discovery.Host, error) {
	var sources []discovery.Source
	if o.csvPath != "" {
		sources = append(sources, discovery.CSVSource{Path: o.csvPath})
	}
	if o.ldapURL != "" {
		ls := discovery.LDAPSource{URL: o.ldapURL, User: o.bindUser, BaseDN: o.base, Filter: o.filter}
		if o.ldapPassEnv != "" {
			pw, ok := os.LookupEnv(o.ldapPassEnv)
			if !ok {
				return nil, usagef("environment variable %s is not set", o.ldapPassEnv)
			}
			ls.Password = pw
		}
		if o.caFile != "" {
			pem, err := os.ReadFile(o.caFile)
			if err != nil {
				return nil, usagef("-ca: %v", err)
			}
			ls.CAPEM = pem
		}
		sources = append(sources, ls)
	}
	hosts, err := deployer.Discover(ctx, sources...)
	for _, a := range o.args {
		h := discovery.Host{Source: "args"}
		if addr, perr := discovery.ParseAddr(a); perr == nil {
			h.Addr = addr
		} else {
			h.Name = a
		}
		hosts = append(hosts, h)
	}
	if err != nil {
		if len(hosts) == 0 {
			return nil, err
		}
		fmt.Fprintf(stderr, "deploy: %v (deploying to the %d hosts found)\n", err, len(hosts))
	}
	if len(hosts) == 0 {
		return nil, errors.New("no hosts found")
	}
	return hosts, nil
}

// uniqueLabels counts hosts as the Deployer does: once per label.
func uniqueLabels(hosts []discovery.Host) int {
	seen := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		seen[h.Label()] = true
	}
	return len(seen)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// progress follows the hosts' states from the Deployer's events.
type progress struct {
	total int

	mu      sync.Mutex
	state   map[string]deployer.State
	changed bool
	err     error
	// remarks are the messages of hosts' With Collector events (how the
	// host was reached, a result read after a restart).
	remarks map[string]string
}

func newProgress(total int) *progress {
	return &progress{total: total, state: make(map[string]deployer.State, total), remarks: map[string]string{}}
}

// remarksOf returns the hosts' With Collector remarks.
func (p *progress) remarksOf() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.remarks)
}

func (p *progress) add(ev deployer.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, known := p.state[ev.Host]; !known && len(p.state) >= p.total {
		p.total++ // a host the journal had in flight, settled with the run
	}
	p.state[ev.Host] = ev.State
	p.changed = true
	if ev.State == deployer.WithCollector && ev.Message != "" {
		p.remarks[ev.Host] = ev.Message
	}
}

func (p *progress) setWriteErr(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *progress) writeErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// snapshot returns the count per state, and whether anything changed since
// the last snapshot.
func (p *progress) snapshot() (map[deployer.State]int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	counts := map[deployer.State]int{}
	for _, s := range p.state {
		counts[s]++
	}
	changed := p.changed
	p.changed = false
	return counts, changed
}

// shortNames are the states' names on a narrow terminal.
var shortNames = map[deployer.State]string{
	deployer.Discovered: "Discovered", deployer.Scheduled: "Scheduled", deployer.Installing: "Installing",
	deployer.WithCollector: "With Collector", deployer.Failed: "Failed", deployer.Retrying: "Retrying",
}

// line renders counts as one line: a bar of the hosts done (With Collector
// or Failed) when bar is set, then every state's counter. With width > 0 the
// line fits in width columns: shorter names first, then a cut.
func (p *progress) line(counts map[deployer.State]int, bar bool, width int) string {
	done := counts[deployer.WithCollector] + counts[deployer.Failed]
	render := func(barWidth int, names map[deployer.State]string, sep string) string {
		var b strings.Builder
		if bar {
			filled := 0
			if p.total > 0 {
				filled = done * barWidth / p.total
			}
			b.WriteString("[" + strings.Repeat("#", filled) + strings.Repeat(".", barWidth-filled) + "] ")
		}
		fmt.Fprintf(&b, "%d/%d done", done, p.total)
		for _, s := range deployer.States() {
			name := s.String()
			if names != nil {
				name = names[s]
			}
			fmt.Fprintf(&b, "%s%s %d", sep, name, counts[s])
		}
		return b.String()
	}
	out := render(24, nil, " | ")
	if width <= 0 || len([]rune(out)) < width {
		return out
	}
	out = render(10, shortNames, ", ")
	if r := []rune(out); len(r) >= width {
		out = string(r[:max(width-1, 0)])
	}
	return out
}

// terminalWidth returns w's width in columns, or 0 when unknown.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

// display shows the progress on w until the returned function is called:
// redrawn in place every 100 ms on a terminal, a plain line every interval
// (when something changed) otherwise. The returned function draws the last
// state and returns once the display has stopped.
func (p *progress) display(w io.Writer, terminal bool, interval time.Duration) func() {
	if terminal {
		interval = 100 * time.Millisecond
	}
	draw := func(final bool) {
		counts, changed := p.snapshot()
		switch {
		case terminal:
			fmt.Fprintf(w, "\r\x1b[K%s", p.line(counts, true, terminalWidth(w)))
			if final {
				fmt.Fprintln(w)
			}
		case changed && !final:
			fmt.Fprintf(w, "progress: %s\n", strings.ReplaceAll(p.line(counts, false, 0), " | ", ", "))
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				draw(true)
				return
			case <-t.C:
				draw(false)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
		})
	}
}

// printSummary prints the final table: hosts per state, failures per error
// message, then the With Collector hosts with a remark (how they were
// reached), then each failed host with the Deployer documentation's columns.
func printSummary(w io.Writer, sum *deployer.Summary, notes, remarks map[string]string) {
	fmt.Fprintf(w, "\n%d hosts\n\n", sum.Hosts)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "State\tHosts")
	for _, s := range deployer.States() {
		fmt.Fprintf(tw, "%s\t%d\n", s, sum.States[s])
	}
	if sum.RebootNeeded > 0 {
		fmt.Fprintf(tw, "  of which reboot needed\t%d\n", sum.RebootNeeded)
	}
	if n := sum.Skipped[deployer.SkipInstalled]; n > 0 {
		fmt.Fprintf(tw, "  already With Collector with this package\t%d\n", n)
	}
	if n := sum.Skipped[deployer.SkipNotRetryable]; n > 0 {
		fmt.Fprintf(tw, "  failed earlier, not retried (fix the cause, then run with -retry-failed)\t%d\n", n)
	}
	if sum.Cleanup > 0 {
		fmt.Fprintf(tw, "Hosts still holding a deployment (removed by the next run)\t%d\n", sum.Cleanup)
	}
	tw.Flush()
	if len(sum.Errors) > 0 {
		kinds := make([]derrors.Kind, 0, len(sum.Errors))
		for k := range sum.Errors {
			kinds = append(kinds, k)
		}
		sort.Slice(kinds, func(i, j int) bool { return kinds[i].Message() < kinds[j].Message() })
		fmt.Fprintln(w)
		fmt.Fprintln(tw, "Error message\tFailed hosts")
		for _, k := range kinds {
			fmt.Fprintf(tw, "%s\t%d\n", k.Message(), sum.Errors[k])
		}
		tw.Flush()
	}
	if len(remarks) > 0 {
		hosts := slices.Sorted(maps.Keys(remarks))
		fmt.Fprintf(w, "\nWith Collector, with a remark (%d):\n", len(hosts))
		for _, h := range hosts {
			line := "  " + h + ": " + remarks[h]
			if n := notes[h]; n != "" {
				line += "  [demo fault: " + n + "]"
			}
			fmt.Fprintln(w, line)
		}
	}
	if len(sum.Failed) == 0 {
		return
	}
	fmt.Fprintf(w, "\nFailed hosts (%d):\n", len(sum.Failed))
	for _, r := range sum.Failed {
		head := r.Key
		if r.Addr != "" && r.Addr != r.Key {
			head += " (" + r.Addr + ")"
		}
		if n := notes[r.Key]; n != "" {
			head += "  [demo fault: " + n + "]"
		}
		fmt.Fprintf(w, "\n%s\n", head)
		e := r.Error
		if e == nil {
			fmt.Fprintln(w, "  Error message: (none recorded)")
			continue
		}
		row := func(name, value string) {
			if value != "" {
				fmt.Fprintf(w, "  %-15s %s\n", name+":", strings.ReplaceAll(value, "\n", " "))
			}
		}
		row("Error type", e.Type)
		row("Error message", e.Message)
		row("Cause", e.Cause)
		row("Solution", e.Solution)
		row("Reproduce", e.Repro)
		row("Step", string(e.Step))
		row("Code", e.CodeText)
		row("Error", e.Error)
		if r.CleanupError != nil {
			row("Cleanup error", r.CleanupError.Error)
		}
	}
}
