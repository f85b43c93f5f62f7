//go:build !windows

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "nxsvc is a Windows service; build it with GOOS=windows")
	os.Exit(2)
}
