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

// ExampleHost_Files deploys to a host and inspects what the deployment left
// behind on it, without an SMB client: its service and its files. Removing
// the service deletes its directory, and the prefix directory once it is
// empty.
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
	rs, err := deployer.PushService(ctx, conn, deployer.ServiceSpec{DeploymentID: "example"})
	if err != nil {
		fmt.Println(err)
		return
	}
	svc, ok := h.Service(rs.Name)
	fmt.Println(svc.Name, ok, svc.Runs)
	files, _ := h.Files(`C:\Windows`)
	fmt.Println(files)
	if err := rs.Remove(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_, ok = h.Service(rs.Name)
	files, _ = h.Files(`C:\Windows`)
	fmt.Println(ok, files)
	// Output:
	// nxdeploy-example true 1
	// [C:\Windows\nxdeploy\ C:\Windows\nxdeploy\example\ C:\Windows\nxdeploy\example\nxsvc.exe]
	// false []
}
