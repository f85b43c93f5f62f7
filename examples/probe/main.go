// Command probe checks Windows hosts before a deployment: for each host it
// resolves the name, connects to TCP 445, negotiates SMB, logs on, connects
// IPC$ and ADMIN$, lists shares, reads ADMIN$'s free space, opens the
// service manager with create-service rights (the administrator check) and,
// with -write-test, creates and deletes a file in ADMIN$.
//
// Usage:
//
//	NXPASS=... probe -user Administrator -domain CORP -password-env NXPASS [-json] [-csv hosts.csv] [host ...]
//	NXPASS=... probe -kerberos -user deploy -domain corp.example.com -password-env NXPASS [-kdc dc1,dc2] pc1.corp.example.com
//
// With -kerberos the logon uses Kerberos: -domain (or -realm) is the
// domain's DNS name, the KDCs come from -kdc or the realm's SRV records, and
// hosts must be given by name (a CSV's BIOS_NAME gets the realm as its DNS
// domain). -ccache FILE uses a credentials cache from kinit instead of a
// password.
//
// Hosts are names or addresses, as arguments or in a CSV file in the
// Deployer documentation's format (BIOS_NAME,IP_ADDRESS). The password is read from the
// environment variable named by -password-env, never from a flag.
//
// With -json it prints one JSON object per host and line:
//
//	{"host":"PC1","addr":"10.0.0.5:445","ok":false,"steps":[{"name":"resolve","duration_ms":0.01},...],
//	 "dialect":"3.1.1","signing_required":true,"signing":true,"encryption":true,"os":"Windows 10.0 Build 19041","admin":false,
//	 "error":{"kind":"shared_access_failure","retry":"never","step":"tree connect","code_space":"ntstatus",
//	          "code":3221225506,"code_name":"STATUS_ACCESS_DENIED","type":"Share error or process launch error on the target computer",
//	          "message":"shared access failure","cause":"...","solution":"...","code_text":"...","error":"..."}}
//
// "error" has the shape of the error of deploy's events (deployer.ErrorInfo).
// "addr" is the address connected to, kept when a later step fails.
//
// "signing" says whether the server signed the session (false only with
// -allow-unsigned against a server that does not sign); "signing_required"
// whether it requires signing; "encryption_not_offered" is true when
// encryption was asked for (the default) and the server does not offer it
// (SMB 2.x). A host that speaks only SMB1 fails at negotiate with the
// reason "SMB1 only".
//
// It exits 0 when every host passed, 1 when any failed, 2 on a usage error.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	deployer "github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/examples/internal/interrupt"
	"github.com/nxdeploy/deployer/smb"
)

func main() {
	ctx, stop := interrupt.Context(context.Background())
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// run is the command without process globals, for tests.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "account `name` (an administrator of the hosts)")
	domain := fs.String("domain", "", "account `domain`; empty or \".\" for a local account")
	passEnv := fs.String("password-env", "", "read the password from the environment variable `NAME`")
	timeout := fs.Duration("timeout", 5*time.Second, "TCP connect timeout")
	reqTimeout := fs.Duration("request-timeout", 30*time.Second, "timeout of each SMB request and RPC call")
	port := fs.Int("port", 445, "SMB TCP port")
	csvPath := fs.String("csv", "", "read hosts from a CSV `file` (BIOS_NAME,IP_ADDRESS)")
	jsonOut := fs.Bool("json", false, "print one JSON object per host")
	writeTest := fs.Bool("write-test", false, "create and delete a file in ADMIN$")
	inventory := fs.Bool("inventory", false, "also list the shares and read ADMIN$'s free space (by default the shares are listed only when ADMIN$ fails)")
	allowUnsigned := fs.Bool("allow-unsigned", false, "accept servers that cannot sign SMB messages")
	requireEnc := fs.Bool("require-encryption", false, "fail hosts that do not offer SMB3 encryption")
	parallel := fs.Int("parallel", 16, "hosts probed at once")
	kerberos := fs.Bool("kerberos", false, "log on with Kerberos instead of NTLM")
	realm := fs.String("realm", "", "Kerberos `realm` (the domain's DNS name); empty means -domain")
	kdcs := fs.String("kdc", "", "comma-separated Kerberos KDC `hosts` (host or host:port); empty means the realm's SRV records")
	ccache := fs.String("ccache", "", "Kerberos credentials cache `file` (from kinit), instead of a password")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK // -h: the usage is on standard error
		}
		return exitUsage
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "probe: "+format+"\n", a...)
		return exitUsage
	}
	if *user == "" {
		return usage("-user is required")
	}
	var password string
	switch {
	case *passEnv != "":
		if password = getenv(*passEnv); password == "" {
			return usage("environment variable %s is empty", *passEnv)
		}
	case *kerberos && *ccache != "":
	default:
		return usage("-password-env is required (the password is never taken from a flag)")
	}
	if !*kerberos && (*realm != "" || *kdcs != "" || *ccache != "") {
		return usage("-realm, -kdc and -ccache need -kerberos")
	}
	hosts, err := readHosts(ctx, *csvPath, fs.Args())
	if err != nil && len(hosts) == 0 {
		return usage("%v", err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v (probing the %d valid hosts)\n", err, len(hosts))
	}
	if len(hosts) == 0 {
		return usage("no hosts: give them as arguments or with -csv")
	}
	opts := deployer.ProbeOptions{
		ConnectConfig: deployer.ConnectConfig{SMB: smb.Config{
			Credentials:     smb.Credentials{User: *user, Domain: *domain, Password: password},
			Port:            *port,
			ConnectTimeout:  *timeout,
			RequestTimeout:  *reqTimeout,
			SigningOptional: *allowUnsigned,
		}},
		WriteTest: *writeTest,
		Inventory: *inventory,
	}
	if *requireEnc {
		opts.SMB.Encryption = smb.EncryptRequired
	}
	if *kerberos {
		k := &smb.Kerberos{Realm: *realm, CCache: *ccache}
		for _, kdc := range strings.Split(*kdcs, ",") {
			if kdc = strings.TrimSpace(kdc); kdc != "" {
				k.KDCs = append(k.KDCs, kdc)
			}
		}
		opts.SMB.Credentials.Kerberos = k
	}

	reports := make([]*deployer.ProbeReport, len(hosts))
	var (
		mu    sync.Mutex
		allOK = true
	)
	var g errgroup.Group
	g.SetLimit(max(*parallel, 1))
	for i, h := range hosts {
		g.Go(func() error {
			r := deployer.Probe(ctx, h, opts)
			mu.Lock()
			defer mu.Unlock()
			reports[i] = r
			allOK = allOK && r.OK
			if *jsonOut {
				b, err := json.Marshal(toJSON(r))
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s\n", b)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return exitFailed
	}
	if !*jsonOut {
		printTable(stdout, reports)
	}
	if !allOK {
		return exitFailed
	}
	return exitOK
}

// readHosts returns the hosts of the CSV file (if any) then the arguments.
// A CSV with invalid lines returns the valid hosts and the error.
func readHosts(ctx context.Context, csvPath string, args []string) ([]discovery.Host, error) {
	var hosts []discovery.Host
	var csvErr error
	if csvPath != "" {
		hs, err := discovery.CSVSource{Path: csvPath}.Discover(ctx)
		var ce *discovery.CSVError
		if err != nil && !errors.As(err, &ce) {
			return nil, err
		}
		hosts, csvErr = hs, err
	}
	for _, a := range args {
		h := discovery.Host{Source: "args"}
		if addr, err := discovery.ParseAddr(a); err == nil {
			h.Addr = addr
		} else {
			h.Name = a
		}
		hosts = append(hosts, h)
	}
	return hosts, csvErr
}

// hostJSON is the -json shape of one report.
type hostJSON struct {
	Host        string              `json:"host"`
	Addr        string              `json:"addr,omitempty"`
	OK          bool                `json:"ok"`
	Steps       []stepJSON          `json:"steps"`
	Dialect     string              `json:"dialect,omitempty"`
	SigningReq  bool                `json:"signing_required"`
	Signing     bool                `json:"signing"`
	Encryption  bool                `json:"encryption"`
	EncNotOffer bool                `json:"encryption_not_offered,omitempty"`
	Cipher      string              `json:"cipher,omitempty"`
	Auth        string              `json:"auth,omitempty"`
	SPN         string              `json:"spn,omitempty"`
	OS          string              `json:"os,omitempty"`
	NetBIOSName string              `json:"netbios_name,omitempty"`
	DNSName     string              `json:"dns_name,omitempty"`
	Domain      string              `json:"domain,omitempty"`
	Admin       bool                `json:"admin"`
	Shares      []string            `json:"shares,omitempty"`
	AdminFree   uint64              `json:"admin_free_bytes,omitempty"`
	DurationMS  float64             `json:"duration_ms"`
	Error       *deployer.ErrorInfo `json:"error,omitempty"`
}

type stepJSON struct {
	Name       string  `json:"name"`
	DurationMS float64 `json:"duration_ms"`
	Error      string  `json:"error,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func toJSON(r *deployer.ProbeReport) hostJSON {
	j := hostJSON{
		Host:        r.Host.Label(),
		OK:          r.OK,
		Steps:       []stepJSON{},
		Dialect:     r.Dialect.String(),
		SigningReq:  r.SigningRequired,
		Signing:     r.Signing,
		Encryption:  r.Encryption,
		EncNotOffer: r.EncryptionNotOffered,
		Cipher:      r.Cipher,
		Auth:        r.Auth,
		SPN:         r.SPN,
		OS:          r.OS(),
		NetBIOSName: r.Server.NetBIOSName,
		DNSName:     r.Server.DNSName,
		Domain:      r.Server.DNSDomain,
		Admin:       r.Admin,
		Shares:      r.Shares,
		AdminFree:   r.AdminFree,
		DurationMS:  ms(r.Duration),
	}
	if j.Domain == "" {
		j.Domain = r.Server.NetBIOSDomain
	}
	if r.Addr.IsValid() {
		j.Addr = r.Addr.String()
	}
	for _, s := range r.Steps {
		sj := stepJSON{Name: s.Name, DurationMS: ms(s.Duration)}
		if e, ok := derrors.As(s.Err); ok {
			sj.Error = e.Message()
		}
		j.Steps = append(j.Steps, sj)
	}
	// The same shape as the error of deploy's events.
	j.Error = deployer.NewErrorInfo(r.Host.Label(), r.Err)
	return j
}

// printTable prints one line per host, failures with their solution.
func printTable(w io.Writer, reports []*deployer.ProbeReport) {
	sort.SliceStable(reports, func(i, j int) bool { return reports[i].OK && !reports[j].OK })
	for _, r := range reports {
		if r.OK {
			enc := fmt.Sprint(r.Encryption)
			if r.EncryptionNotOffered {
				enc = "not-offered"
			}
			fmt.Fprintf(w, "OK    %-20s %-21s SMB %-5s signing=%v encryption=%s admin=%v %s (%d ms)\n",
				r.Host.Label(), r.Addr, r.Dialect, r.Signing, enc, r.Admin, r.OS(), r.Duration.Milliseconds())
			continue
		}
		e := derrors.Wrap(r.Host.Label(), "", r.Err)
		code := ""
		if !e.Code.IsZero() {
			code = " [" + e.Code.String() + "]"
		}
		addr := "-"
		if r.Addr.IsValid() {
			addr = r.Addr.String()
		}
		fmt.Fprintf(w, "FAIL  %-20s %-21s %s at %s%s\n      cause: %s\n      solution: %s\n",
			r.Host.Label(), addr, e.Message(), e.Step, code, e.Cause(), strings.ReplaceAll(e.Solution(), "\n", " "))
	}
}
