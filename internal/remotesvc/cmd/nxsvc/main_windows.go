//go:build windows

package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/signal"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"

	"github.com/nxdeploy/deployer/internal/remotesvc/job"
	"github.com/nxdeploy/deployer/internal/remotesvc/runner"
)

// serviceName is given to StartServiceCtrlDispatcher, which ignores it for a
// SERVICE_WIN32_OWN_PROCESS service: the service may be created under any name.
const serviceName = "nxsvc"

func main() {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	h := &handler{exe: exe, cmdArgs: os.Args[1:]}
	err = svc.Run(serviceName, h)
	if err == nil {
		return
	}
	if !errors.Is(err, windows.ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
		os.Exit(int(job.CodeBadJob))
	}
	os.Exit(int(console(exe, os.Args[1:])))
}

// console runs the job in the foreground; Ctrl+C stops it like a service stop.
func console(exe string, args []string) uint32 {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res := runner.Service(ctx, args, nil, exe)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(res)
	return res.ExitCode
}

// handler is the svc.Handler of nxsvc.
type handler struct {
	exe     string
	cmdArgs []string
}

// Execute reports RUNNING before doing anything else, runs the job while
// answering the SCM's controls, and returns the job's exit code.
func (h *handler) Execute(args []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	const accepts = svc.AcceptStop | svc.AcceptShutdown
	s <- svc.Status{State: svc.StartPending, WaitHint: 1000}
	running := svc.Status{State: svc.Running, Accepts: accepts}
	s <- running

	var startArgs []string
	if len(args) > 1 {
		startArgs = args[1:]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan job.Result, 1)
	go func() { done <- runner.Service(ctx, h.cmdArgs, startArgs, h.exe) }()

	current := running
	for {
		select {
		case c := <-r:
			switch c.Cmd {
			case svc.Interrogate:
				s <- current
			case svc.Stop, svc.Shutdown:
				current = svc.Status{State: svc.StopPending, WaitHint: 15000}
				s <- current
				cancel()
			}
		case res := <-done:
			if current.State != svc.StopPending {
				s <- svc.Status{State: svc.StopPending, WaitHint: 1000}
			}
			return res.ServiceExit()
		}
	}
}
