//go:build windows

// Command gosvc is a minimal Windows service in Go, built the way the
// deployer's earlier remote service was (Go, x/sys/windows/svc). The Wine
// test builds it to show that a Go ≥ 1.22 program cannot start where
// bcryptprimitives.dll has no ProcessPrng (Windows 7, 8.1, Server 2012 R2,
// and a Wine prefix without the shim), while the C service can.
package main

import "golang.org/x/sys/windows/svc"

type handler struct{}

func (handler) Execute(_ []string, r <-chan svc.ChangeRequest, s chan<- svc.Status) (bool, uint32) {
	s <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop}
	for c := range r {
		if c.Cmd == svc.Stop {
			return false, 0
		}
	}
	return false, 0
}

func main() { _ = svc.Run("gosvc", handler{}) }
