package deployer_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// A long-lived Deployer, driven as a console drives it: hosts scheduled while
// others install, one cancelled, then rescheduled.
func ExampleDeployer_Schedule() {
	fleet, err := demo.Start(demo.Options{Faults: make([]demo.Fault, 3), InstallTime: 200 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Close()
	hosts := fleet.Targets()

	d, err := deployer.New(deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{
			Credentials: smb.Credentials{User: fleet.User, Password: fleet.Password},
			Port:        fleet.Port,
		}},
		Package:     deployer.Package{Path: "msi/testdata/ok.msi"},
		Concurrency: 1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()

	// The first host installs; the second waits for its turn.
	if err := d.Schedule(hosts[0], hosts[1]); err != nil {
		log.Fatal(err)
	}
	// The operator changes their mind about the second one...
	if err := d.Cancel(hosts[1].Name); err != nil {
		log.Fatal(err)
	}
	// ...and schedules a third while the first installs.
	if err := d.Schedule(hosts[2]); err != nil {
		log.Fatal(err)
	}
	if err := d.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	for _, r := range d.Hosts() {
		fmt.Printf("%s %s\n", r.Key, r.State)
	}
	// Later, the cancelled host after all.
	if err := d.Reschedule(hosts[1].Name); err != nil {
		log.Fatal(err)
	}
	if err := d.Wait(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Summary())
	// Output:
	// PC-0001 With Collector
	// PC-0002 Discovered
	// PC-0003 With Collector
	// 3 hosts: With Collector 3;
}

// The Engine's flow on the public API: hosts from a CSV, a probe, a
// deployment whose events are followed, an Engine stopped in the middle, a
// restarted Engine resuming from its journal, failed hosts rescheduled once
// their password is corrected, and the summary.
func Example_engineFlow() {
	fleet, err := demo.Start(demo.Options{
		Faults:      []demo.Fault{demo.Healthy, demo.Healthy, demo.WrongPassword, demo.Slow, demo.Healthy},
		InstallTime: 300 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Close()
	dir, err := os.MkdirTemp("", "engine-flow-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	journal := filepath.Join(dir, "hosts.journal")
	ctx := context.Background()

	// 1. The hosts, from a CSV in the BIOS_NAME,IP_ADDRESS format.
	hosts, err := deployer.Discover(ctx, discovery.ReaderSource{Name: "hosts.csv", R: strings.NewReader(fleet.CSV())})
	if err != nil {
		log.Fatal(err)
	}

	// 2. A probe says which hosts can be deployed to, and why not.
	connect := deployer.ConnectConfig{SMB: smb.Config{
		Credentials: smb.Credentials{User: fleet.User, Domain: ".", Password: fleet.Password},
		Port:        fleet.Port,
	}}
	for _, h := range hosts {
		if r := deployer.Probe(ctx, h, deployer.ProbeOptions{ConnectConfig: connect}); !r.OK {
			e, _ := derrors.As(r.Err)
			fmt.Printf("probe %s: %s (%s)\n", h.Name, e.Message(), e.Reason)
		}
	}

	// 3. The deployment, with events, until the Engine is stopped while the
	// slow host installs.
	var (
		mu        sync.Mutex
		cancelled []string
	)
	passwords := map[string]string{} // per-host passwords the operator corrects later
	cfg := deployer.Config{
		Connect: connect,
		Credentials: func(h discovery.Host) (smb.Credentials, bool) {
			mu.Lock()
			defer mu.Unlock()
			pw, ok := passwords[h.Name]
			return smb.Credentials{User: fleet.User, Domain: ".", Password: pw}, ok
		},
		Package: deployer.Package{Path: "msi/testdata/ok.msi"},
		OnEvent: func(ev deployer.Event) {
			if ev.Error != nil && ev.Error.Kind == derrors.Cancelled {
				mu.Lock()
				cancelled = append(cancelled, fmt.Sprintf("%s: %s → %s (%s)", ev.Host, ev.From, ev.State, ev.Error.Message))
				mu.Unlock()
			}
		},
	}
	engine := func() (*deployer.Deployer, *deployer.FileStore) {
		store, err := deployer.OpenFileStore(journal)
		if err != nil {
			log.Fatal(err)
		}
		cfg.Store = store
		d, err := deployer.New(cfg)
		if err != nil {
			log.Fatal(err)
		}
		return d, store
	}
	d, store := engine()
	if err := d.Schedule(hosts...); err != nil {
		log.Fatal(err)
	}
	for {
		c := d.Counts()
		if c[deployer.WithCollector] == 3 && c[deployer.Failed] == 1 && c[deployer.Installing] == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Close(); err != nil { // the Engine stops: the slow host is cleaned up
		log.Fatal(err)
	}
	fmt.Println("stopped:", d.Summary())
	fmt.Println(strings.Join(cancelled, "\n"))
	if err := store.Close(); err != nil {
		log.Fatal(err)
	}

	// 4. The restarted Engine resumes from its journal: what is installed
	// is skipped, the wrong password is not sent again.
	d, store = engine()
	defer store.Close()
	defer d.Close()
	sum, err := d.Run(ctx, hosts)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("resumed:", sum)

	// 5. The operator corrects the password and reschedules the hosts that
	// failed to log on.
	mu.Lock()
	passwords[hosts[2].Name] = fleet.Password + "-other"
	mu.Unlock()
	keys, err := d.RescheduleFailed(derrors.LogonFailure)
	if err != nil {
		log.Fatal(err)
	}
	if err := d.Wait(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
	fmt.Println("rescheduled:", keys)

	// 6. The summary, and each host's record.
	fmt.Println("final:", d.Summary())
	recs := d.Hosts()
	sort.Slice(recs, func(i, j int) bool { return recs[i].Key < recs[j].Key })
	for _, r := range recs {
		fmt.Printf("%s %s %s\n", r.Key, r.State, r.Package.ProductVersion)
	}
	// Output:
	// probe PC-0003: logon failure (bad credentials)
	// stopped: 5 hosts: Discovered 1; With Collector 3; Failed 1;
	// PC-0004: Installing Collector → Discovered (cancelled)
	// resumed: 5 hosts: With Collector 4; Failed 1; skipped (installed) 3; skipped (not retryable) 1;
	// rescheduled: [PC-0003]
	// final: 5 hosts: With Collector 5; skipped (installed) 3;
	// PC-0001 With Collector 1.2.3
	// PC-0002 With Collector 1.2.3
	// PC-0003 With Collector 1.2.3
	// PC-0004 With Collector 1.2.3
	// PC-0005 With Collector 1.2.3
}
