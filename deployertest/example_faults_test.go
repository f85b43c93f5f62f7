package deployertest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// connectConfig is how a test of Engine code connects to an emulated host.
func connectConfig(h *deployertest.Host) deployer.ConnectConfig {
	return deployer.ConnectConfig{SMB: smb.Config{
		Credentials: smb.Credentials{User: h.User, Password: h.Password},
		Port:        h.Port,
	}}
}

// ExampleWithFault starts hosts with faults by name and shows the step at
// which deployer.Connect stops on each.
func ExampleWithFault() {
	ctx := context.Background()
	for _, f := range []deployertest.Fault{deployertest.Healthy, deployertest.WrongPassword,
		deployertest.AdminShareOff, deployertest.UAC, deployertest.Offline} {
		h, err := deployertest.New(deployertest.WithFault(f))
		if err != nil {
			fmt.Println(err)
			return
		}
		conn, err := deployer.Connect(ctx, h.Target(), connectConfig(h))
		if e, ok := derrors.As(err); ok {
			fmt.Printf("%s: %s at %s\n", f, e.Kind, e.Step)
		} else if err == nil {
			fmt.Printf("%s: connected\n", f)
			conn.Close()
		}
		h.Close()
	}
	// Output:
	// healthy: connected
	// another password: logon failure at logon
	// no ADMIN$: shared access failure at tree connect
	// UAC remote restrictions: shared access failure at tree connect
	// nothing listens (refused): connection refused at connect
}

// ExampleHost_Files deploys to a host and inspects, without an SMB client,
// what the deployment put on it while it ran (the package and the job in
// their directory, before the remote service starts) and what it left: its
// service and its files are gone.
func ExampleHost_Files() {
	h, err := deployertest.New(deployertest.WithInstaller(deployertest.Installer{Duration: 50 * time.Millisecond}),
		deployertest.WithWindows(deployertest.Windows10), deployertest.WithArch(deployertest.X86))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	ctx := context.Background()
	conn, err := deployer.Connect(ctx, h.Target(), connectConfig(h))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	var during []string
	_, err = deployer.RunInstaller(ctx, conn, deployer.Package{Path: "../msi/testdata/ok.msi"},
		deployer.InstallOptions{DeploymentID: "example", Progress: func(p deployer.InstallProgress) {
			if p.Phase == "start" {
				during, _ = h.Files(`C:\Windows`)
			}
		}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(during)
	_, ok := h.Service("nxdeploy-example")
	files, _ := h.Files(`C:\Windows`)
	fmt.Println(ok, files)
	// Output:
	// [C:\Windows\nxdeploy-example\ C:\Windows\nxdeploy-example\job C:\Windows\nxdeploy-example\package.msi]
	// false []
}
