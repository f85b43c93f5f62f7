package deployertest_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	smb2 "github.com/oiweiwei/go-smb2.fork"

	"github.com/nxdeploy/deployer/deployertest"
)

// ExampleNew starts a host that requires signing, uploads a file to ADMIN$
// with go-smb2 and finds it in the directory standing for C:\Windows.
func ExampleNew() {
	h, err := deployertest.New(deployertest.WithSigningRequired(), deployertest.WithCredentials("deploy", "S3cret!"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	var d net.Dialer
	nc, err := d.DialContext(context.Background(), "tcp", h.Addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	dialer := &smb2.Dialer{
		Negotiator: smb2.Negotiator{RequireMessageSigning: true},
		Initiator:  &smb2.NTLMInitiator{User: h.User, Password: h.Password},
	}
	s, err := dialer.DialContext(context.Background(), nc)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Logoff()
	share, err := s.Mount("ADMIN$")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer share.Umount()
	if err := share.WriteFile(`Temp\setup.msi`, []byte("MSI"), 0o644); err != nil {
		fmt.Println(err)
		return
	}
	b, err := os.ReadFile(filepath.Join(h.AdminDir, "Temp", "setup.msi"))
	fmt.Println(string(b), err)
	// Output: MSI <nil>
}
