package discovery_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nxdeploy/deployer/discovery"
)

func ExampleReadCSV() {
	in := "BIOS_NAME,IP_ADDRESS\r\n" +
		"PC-001,10.0.0.1\r\n" +
		"PC-002,\r\n" + // resolve later
		"PC-003,10.0.0.300\r\n" +
		"pc-001,10.0.0.4\r\n"
	hosts, err := discovery.ReadCSV(strings.NewReader(in), "hosts.csv")
	for _, h := range hosts {
		fmt.Printf("%s %q %s\n", h.Name, h.Target(), h.Source)
	}
	var ce *discovery.CSVError
	if errors.As(err, &ce) {
		for _, p := range ce.Problems {
			fmt.Println(p)
		}
	}
	// Output:
	// PC-001 "10.0.0.1" csv:hosts.csv:2
	// PC-002 "PC-002" csv:hosts.csv:3
	// line 4: IP_ADDRESS: "10.0.0.300" is not an IPv4 or IPv6 address
	// line 5: BIOS_NAME: duplicate name "pc-001", first on line 2
}

func ExampleParseRange() {
	addrs, err := discovery.ParseRange("10.0.0.0/30,10.0.1.7-10.0.1.8", discovery.DefaultMaxScanAddrs)
	fmt.Println(addrs, err)
	// Output: [10.0.0.1 10.0.0.2 10.0.1.7 10.0.1.8] <nil>
}
