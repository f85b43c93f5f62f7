package msi_test

import (
	"fmt"
	"log"

	"github.com/nxdeploy/deployer/msi"
)

func ExampleInstallCommand() {
	cmd := msi.InstallCommand{
		Package: `C:\Windows\nx\pkg.msi`,
		LogPath: `C:\Windows\nx\install.log`,
		Properties: []msi.Property{
			{Name: "SERVER", Value: "a b"},
			{Name: "PORT", Value: "443"},
			{Name: "MOTD", Value: `say "hi"`},
		},
	}
	line, err := cmd.Line()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(line)

	parsed, err := msi.ParseCommandLine(line)
	if err != nil {
		log.Fatal(err)
	}
	motd, _ := parsed.Property("MOTD")
	fmt.Println(motd)

	_, err = msi.InstallCommand{Package: `C:\x.msi`, Properties: []msi.Property{{Name: "installdir", Value: "x"}}}.Line()
	fmt.Println(err)
	// Output:
	// msiexec.exe /i "C:\Windows\nx\pkg.msi" /qn /norestart /l*v "C:\Windows\nx\install.log" SERVER="a b" PORT=443 MOTD="say ""hi"""
	// say "hi"
	// msi: property "installdir": lowercase letter 'i' at byte 0: only public (all-uppercase) properties can be set on the command line
}

func ExampleUninstallCommand() {
	line, err := msi.UninstallCommand{ProductCode: "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}"}.Line()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(line)
	// Output:
	// msiexec.exe /x "{6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}" /qn /norestart
}

func ExampleSplitCommandLine() {
	line, err := msi.JoinCommandLine([]string{`C:\Program Files\svc.exe`, "run", `msiexec.exe /i "C:\x.msi" A="b ""c"""`})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(line)
	for _, a := range msi.SplitCommandLine(line) {
		fmt.Println(a)
	}
	// Output:
	// "C:\Program Files\svc.exe" run "msiexec.exe /i \"C:\x.msi\" A=\"b \"\"c\"\"\""
	// C:\Program Files\svc.exe
	// run
	// msiexec.exe /i "C:\x.msi" A="b ""c"""
}

func ExampleInspect() {
	info, err := msi.Inspect("testdata/ok.msi")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.ProductName, info.ProductVersion)
	fmt.Println(info.ProductCode)
	fmt.Println(info.UpgradeCode)
	fmt.Println(info.Manufacturer, info.Summary.Platform)
	server, _ := info.Property("SERVER")
	fmt.Println(server)
	// Output:
	// Nexthink Test Collector 1.2.3
	// {6F0B5C1E-8A3D-4E2B-9C7A-1D2E3F405162}
	// {2B7E1516-28AE-4D2A-ABF7-158809CF4F3C}
	// Nexthink Test x64
	// collector.example.test
}

func ExampleParser() {
	var p msi.Parser
	// Chunks as they arrive while tailing the log; lines may be split.
	p.Feed([]byte("Action start 10:15:03: InstallFin"))
	p.Feed([]byte("alize.\r\nAction ended 10:15:05: InstallFinalize. Return value 3.\r\n"))
	action, at, _ := p.Progress()
	fmt.Println(action, at)
	p.Feed([]byte("MSI (s) (A8:E4) [10:15:05:437]: MainEngineThread is returning 1603\r\n"))
	s := p.Close()
	fmt.Println(s.ReturnCode, s.FailedAction)
	fmt.Println(s.Excerpt(5))
	// Output:
	// InstallFinalize 10:15:03
	// 1603 InstallFinalize
	// 1: Action start 10:15:03: InstallFinalize.
	// 2: Action ended 10:15:05: InstallFinalize. Return value 3.
	// 3: MSI (s) (A8:E4) [10:15:05:437]: MainEngineThread is returning 1603
}
