package deployer_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/discovery"
	"github.com/nxdeploy/deployer/smb"
)

func ExampleDiscover() {
	csv := "BIOS_NAME,IP_ADDRESS\nPC-0001,10.20.0.11\nPC-0002,\n"
	hosts, err := deployer.Discover(context.Background(),
		discovery.ReaderSource{Name: "hosts.csv", R: strings.NewReader(csv)})
	if err != nil {
		log.Fatal(err)
	}
	for _, h := range hosts {
		fmt.Printf("%s %q %s\n", h.Name, h.Target(), h.Source)
	}
	// Output:
	// PC-0001 "10.20.0.11" csv:hosts.csv:2
	// PC-0002 "PC-0002" csv:hosts.csv:3
}

// exampleHost starts one emulated Windows host for the examples.
func exampleHost(fault demo.Fault) (*demo.Fleet, discovery.Host, deployer.ConnectConfig) {
	fleet, err := demo.Start(demo.Options{Faults: []demo.Fault{fault}, InstallTime: 100 * time.Millisecond})
	if err != nil {
		log.Fatal(err)
	}
	cfg := deployer.ConnectConfig{SMB: smb.Config{
		Credentials: smb.Credentials{User: fleet.User, Password: fleet.Password},
		Port:        fleet.Port,
	}}
	return fleet, fleet.Targets()[0], cfg
}

func ExamplePushService() {
	fleet, host, cfg := exampleHost(demo.Slow)
	defer fleet.Close()
	ctx := context.Background()

	conn, err := deployer.Connect(ctx, host, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// The deployer's own remote service, for the host's architecture, with
	// its job on the command line (here none: it reports a bad job).
	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "example"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rs.Name, rs.Dir)
	if err := rs.Remove(ctx); err != nil {
		log.Fatal(err)
	}
	// Output:
	// nxdeploy-example nxdeploy-example
}

func ExampleRunInstaller() {
	fleet, host, cfg := exampleHost(demo.RebootNeeded)
	defer fleet.Close()
	ctx := context.Background()

	conn, err := deployer.Connect(ctx, host, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	res, err := deployer.RunInstaller(ctx, conn, deployer.Package{Path: "msi/testdata/ok.msi"}, deployer.InstallOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.ExitCode, res.Outcome, res.RebootNeeded)
	fmt.Println(res.Notice.Message())
	// Output:
	// 3010 success, reboot needed true
	// successful installation(reboot needed)
}

func ExampleDeployer_Run() {
	fleet, err := demo.Start(demo.Options{
		Faults:      []demo.Fault{demo.Healthy, demo.MSIFailure, demo.AdminShareOff},
		InstallTime: 100 * time.Millisecond,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer fleet.Close()

	d, err := deployer.New(deployer.Config{
		Connect: deployer.ConnectConfig{SMB: smb.Config{
			Credentials: smb.Credentials{User: fleet.User, Password: fleet.Password},
			Port:        fleet.Port,
		}},
		Package:     deployer.Package{Path: "msi/testdata/ok.msi"},
		Concurrency: 16,
	})
	if err != nil {
		log.Fatal(err)
	}
	sum, err := d.Run(context.Background(), fleet.Targets())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	for _, f := range sum.Failed {
		fmt.Printf("%s: %s | %s\n", f.Key, f.Error.Type, f.Error.Message)
	}
	// Output:
	// 3 hosts: With Collector 1; Failed 2;
	// PC-0002: MSI error | MSI error (1603)
	// PC-0003: Share error or process launch error on the target computer | shared access failure
}
