package svcctl_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// The probe's administrator check: an account that may not create services
// gets ERROR_ACCESS_DENIED from OpenSCManager, typed as "not an
// administrator".
func ExampleClient_OpenSCManager() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := svcctl.Dial(ctx, "host1.example.com", svcctl.Config{
		Credentials: smb.Credentials{User: "deploy", Domain: "CORP", Password: "secret"},
	})
	if err != nil {
		fmt.Println(err) // e.g. "host1.example.com: logon: logon failure ..."
		return
	}
	defer c.Close()
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	switch {
	case errors.Is(err, derrors.ReasonNotAdministrator):
		if de, ok := derrors.As(err); ok {
			fmt.Println("not an administrator:", de.Solution())
		}
		return
	case err != nil:
		fmt.Println(err)
		return
	}
	defer m.Close()
	fmt.Println("administrator")
}

// The remote service's life cycle: create, start with arguments, wait for
// it to stop, read its exit code, delete it and wait until it is gone.
func ExampleManager_CreateService() {
	ctx := context.Background()
	c, err := svcctl.Dial(ctx, "10.0.0.7", svcctl.Config{
		Credentials: smb.Credentials{User: "Administrator", Password: "secret"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	m, err := c.OpenSCManager(ctx, svcctl.ManagerAllAccess)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer m.Close()
	svc, err := m.CreateService(ctx, "nxd-20261124-1", "nxd deployment", `C:\Windows\nxd\1\svc.exe`, svcctl.CreateOptions{})
	if err != nil {
		fmt.Println(err) // svcctl.IsServiceExists(err), svcctl.IsMarkedForDelete(err), ...
		return
	}
	if err := svc.Start(ctx, "--job", `C:\Windows\nxd\1\job.json`); err != nil {
		fmt.Println(err)
		return
	}
	st, err := svcctl.WaitState(ctx, svc, svcctl.Stopped, svcctl.WaitOptions{Timeout: time.Hour})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("msiexec exit code:", st.ExitCode())
	if err := svcctl.DeleteAndWait(ctx, svc, svcctl.WaitOptions{Timeout: time.Minute}); err != nil {
		fmt.Println(err)
	}
}
