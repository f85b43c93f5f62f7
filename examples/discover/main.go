// Command discover finds hosts the way the Engine's "Discover and install"
// tab does: from a CSV file in the BIOS_NAME,IP_ADDRESS format, from Active
// Directory over LDAP, or by scanning an address range for TCP 445. It prints
// one JSON object per host: name, addr, source, os, and error (with the error
// table's fields) when the host has one.
//
//	discover -csv hosts.csv
//	discover -ldap ldaps://dc1.lab.test -bind-user admin@lab.test -ldap-password-env AD_PW -base DC=lab,DC=test
//	discover -range 10.0.0.0/24 [-port 445] [-timeout 2s]
//
// At the end it prints on standard error how many hosts it found (for a
// range: how many addresses answered on -port, of how many tried).
//
// It exits 0 unless the source itself failed (bad lines of a CSV file are
// reported on standard error; the good ones are printed).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/examples/internal/interrupt"
)

type hostJSON struct {
	Name   string              `json:"name,omitempty"`
	Addr   string              `json:"addr,omitempty"`
	Source string              `json:"source"`
	OS     string              `json:"os,omitempty"`
	Error  *deployer.ErrorInfo `json:"error,omitempty"`
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("discover", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var (
		csvPath   = fl.String("csv", "", "CSV file of BIOS_NAME,IP_ADDRESS lines")
		ldapURL   = fl.String("ldap", "", "directory URL, ldap:// (StartTLS) or ldaps://")
		bindUser  = fl.String("bind-user", "", "LDAP account, user@realm or DOMAIN\\user")
		pwEnv     = fl.String("ldap-password-env", "", "read the LDAP password from the environment variable `NAME` (as in deploy)")
		base      = fl.String("base", "", "base DN or OU to search (default: the domain)")
		filter    = fl.String("filter", "", "extra LDAP filter ANDed with enabled computers, e.g. (operatingSystem=Windows 11*)")
		caFile    = fl.String("ca", "", "PEM file of the directory's CA (default: system roots)")
		plain     = fl.Bool("plain", false, "with ldap://, do not use StartTLS")
		ntlm      = fl.Bool("ntlm", false, "bind with NTLM instead of a simple bind")
		cidr      = fl.String("range", "", "address range to scan for TCP 445: CIDR or a.b.c.d-e.f.g.h")
		timeout   = fl.Duration("timeout", 2*time.Second, "TCP connect timeout of each address of a range scan (as in probe and deploy)")
		port      = fl.Int("port", 445, "TCP `port` a range scan tries (as in probe and deploy)")
		overall   = fl.Duration("deadline", 5*time.Minute, "bound on the whole discovery")
		noResolve = fl.Bool("no-resolve", false, "do not resolve AD computers' names")
	)
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // -h: the usage is on standard error
		}
		return 2
	}
	var src discovery.Source
	switch {
	case *csvPath != "" && *ldapURL == "" && *cidr == "":
		src = discovery.CSVSource{Path: *csvPath}
	case *ldapURL != "" && *csvPath == "" && *cidr == "":
		ls := discovery.LDAPSource{URL: *ldapURL, User: *bindUser, BaseDN: *base, Filter: *filter,
			Plain: *plain, NTLM: *ntlm, NoResolve: *noResolve}
		if *pwEnv != "" {
			pw, ok := os.LookupEnv(*pwEnv)
			if !ok {
				fmt.Fprintf(stderr, "discover: environment variable %s is not set\n", *pwEnv)
				return 2
			}
			ls.Password = pw
		}
		if *caFile != "" {
			pem, err := os.ReadFile(*caFile)
			if err != nil {
				fmt.Fprintf(stderr, "discover: %v\n", err)
				return 2
			}
			ls.CAPEM = pem
		}
		src = ls
	case *cidr != "" && *csvPath == "" && *ldapURL == "":
		src = discovery.RangeSource{Spec: *cidr, Options: discovery.RangeOptions{Timeout: *timeout, Port: *port}}
	default:
		fmt.Fprintln(stderr, "discover: give exactly one of -csv, -ldap or -range")
		fl.Usage()
		return 2
	}

	ctx, stop := interrupt.Context(context.Background())
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *overall)
	defer cancel()
	var (
		hosts  []discovery.Host
		report *discovery.RangeReport
		err    error
	)
	if rs, ok := src.(discovery.RangeSource); ok {
		// The scan's report says how many addresses were tried.
		hosts, report, err = discovery.ScanRange(ctx, rs.Spec, rs.Options)
	} else {
		hosts, err = deployer.Discover(ctx, src)
	}
	enc := json.NewEncoder(stdout)
	for _, h := range hosts {
		out := hostJSON{Name: h.Name, Source: h.Source, OS: h.Attrs["os"], Error: deployer.NewErrorInfo(h.Label(), h.Err)}
		if h.Addr.IsValid() {
			out.Addr = h.Addr.String()
		}
		if eerr := enc.Encode(out); eerr != nil {
			fmt.Fprintf(stderr, "discover: %v\n", eerr)
			return 1
		}
	}
	if report != nil {
		fmt.Fprintf(stderr, "discover: %d hosts found: %d of %d addresses answered on TCP port %d\n",
			len(hosts), report.Count(discovery.StateOpen), len(report.Results), report.Port)
	} else {
		fmt.Fprintf(stderr, "discover: %d hosts found\n", len(hosts))
	}
	if err != nil {
		fmt.Fprintf(stderr, "discover: %v\n", err)
		var csvErr *discovery.CSVError
		if errors.As(err, &csvErr) && len(hosts) > 0 {
			return 0 // the source was read; its bad lines are reported above
		}
		return 1
	}
	return 0
}
