package deployer_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	deployer "github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/discovery"
	derrors "github.com/nxdeploy/deployer/errors"
	"github.com/nxdeploy/deployer/smb"
)

// Probe a host before deploying to it. Here nothing listens on the port, so
// the probe stops at the TCP connect with a typed error that says what to
// check.
func ExampleProbe() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close() // a closed port: the connect is refused

	host := discovery.Host{Name: "PC1", Addr: netip.MustParseAddr("127.0.0.1")}
	r := deployer.Probe(context.Background(), host, deployer.ProbeOptions{
		ConnectConfig: deployer.ConnectConfig{SMB: smb.Config{
			Credentials:    smb.Credentials{User: "Administrator", Domain: "CORP", Password: "secret"},
			Port:           port,
			ConnectTimeout: 2 * time.Second,
		}},
	})
	fmt.Println("ok:", r.OK)
	for _, s := range r.Steps {
		fmt.Printf("step %s: failed=%v\n", s.Name, s.Err != nil)
	}
	e, _ := derrors.As(r.Err) // Err is an error; its *derrors.Error has the table's columns
	fmt.Println("error type:", e.Type())
	fmt.Println("message:", e.Message())
	fmt.Println("host:", e.Host, "step:", e.Step)
	// Output:
	// ok: false
	// step resolve: failed=false
	// step connect: failed=true
	// error type: Network error
	// message: connection refused
	// host: PC1 step: connect
}
