package winreg_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/nxdeploy/deployer/smb"
	"github.com/nxdeploy/deployer/winreg"
)

// Compare an installed product's version with a package's, as Windows
// Installer does.
func ExampleVersion_Compare() {
	installed := winreg.VersionFromDword(0x02010bb8) // the Version value of the product's Uninstall key
	pkg, _ := winreg.ParseVersion("2.1.3000.42")     // the package's ProductVersion
	next, _ := winreg.ParseVersion("2.2.0")
	fmt.Println(installed, installed.Compare(pkg), installed.Compare(next))
	// Output: 2.1.3000 0 -1
}

// ProductCodes and upgrade codes are stored packed in Windows Installer's
// registry keys.
func ExamplePackGUID() {
	p, _ := winreg.PackGUID("{8bdc3e8c-6bc8-4f4b-ade7-cb4fd10d5932}")
	fmt.Println(p)
	// Output: C8E3CDB88CB6B4F4DA7EBCF41DD09523
}

// Read whether a host has a product, over the SMB session the deployer
// already has with it.
func ExampleOpen() {
	ctx := context.Background()
	sess, err := smb.Dial(ctx, "pc-0001.corp.example.com", smb.Config{
		Credentials: smb.Credentials{User: "Administrator", Password: "..."},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sess.Close()
	reg, err := winreg.Open(ctx, sess.Host(), sess.Pipes(), winreg.Config{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	p, err := reg.Product(ctx, "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}")
	switch {
	case errors.Is(err, winreg.ErrNotInstalled):
		fmt.Println("not installed")
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Println(p.DisplayName, p.Version)
	}
}
