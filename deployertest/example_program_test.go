package deployertest_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/internal/remotesvc"
	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/svcctl"
)

// ExampleWithProgram plays the process of every service the host starts
// with a Program of the test's own: it reports RUNNING, then exits with
// msiexec's 1603 as a service-specific code, which svcctl reads back as
// Windows reports it (1066 with the code beside it). WithServices adds a
// service to the host before the test begins.
func ExampleWithProgram() {
	prog := func(ctx context.Context, run *deployertest.Run) (uint32, bool) {
		fmt.Println("started", run.Service, run.StartArgs)
		run.ReportRunning()
		return 1603, true
	}
	h, err := deployertest.New(deployertest.WithProgram(prog),
		deployertest.WithServices(deployertest.Service{Name: "Agent", BinaryPath: `C:\Agent\agent.exe`, State: "RUNNING"}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	// The host's loader refuses what Windows refuses: give it a real image.
	bin, err := remotesvc.Binary("amd64")
	if err != nil {
		fmt.Println(err)
		return
	}
	exe, err := h.LocalPath(`C:\Windows\job.exe`)
	if err == nil {
		err = os.WriteFile(exe, bin, 0o644)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	agent, _ := h.Service("Agent")
	fmt.Println(agent.Name, agent.State)

	ctx := context.Background()
	c, err := svcctl.Dial(ctx, h.IP, svcctl.Config{Credentials: smb.Credentials{User: h.User, Password: h.Password},
		Port: h.Port})
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
	svc, err := m.CreateService(ctx, "job", "job", `C:\Windows\job.exe`, svcctl.CreateOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := svc.Start(ctx, "--run", "1"); err != nil {
		fmt.Println(err)
		return
	}
	st, err := svcctl.WaitState(ctx, svc, svcctl.Stopped, svcctl.WaitOptions{Timeout: 10 * time.Second})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Win32ExitCode, st.ExitCode())
	// Output:
	// Agent RUNNING
	// started job [--run 1]
	// 1066 1603
}
