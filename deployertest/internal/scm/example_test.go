package scm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nxdeploy/deployer/deployertest/internal/scm"
)

// A service whose msiexec run is scripted to fail with 1618 once, then
// succeed.
func ExampleManager() {
	dir, _ := os.MkdirTemp("", "admin")
	defer os.RemoveAll(dir)
	_ = os.WriteFile(filepath.Join(dir, "svc.exe"), []byte("MZ"), 0o755)
	_ = os.WriteFile(filepath.Join(dir, "setup.msi"), []byte("msi"), 0o644)

	m := scm.New(scm.Options{AdminDir: dir, StartTimeout: time.Second,
		Program: scm.Installer(scm.InstallerOptions{Outcomes: []uint32{1618, 0}})})
	defer m.Close()
	s := m.Open(scm.Caller{User: "Administrator", Admin: true})
	defer s.Close()

	hSCM, _ := s.OpenSCManager("", scm.SCManagerAllAccess)
	h, _ := s.CreateService(hSCM, scm.CreateParams{Name: "nx-1", DesiredAccess: scm.ServiceAllAccess,
		ServiceType: scm.ServiceWin32OwnProcess, StartType: scm.StartDemand,
		BinaryPath: `C:\Windows\svc.exe /i C:\Windows\setup.msi /l*v C:\Windows\install.log`})
	for range 2 {
		_ = s.StartService(context.Background(), h, nil)
		st, _ := s.QueryStatus(h)
		for st.CurrentState != scm.StateStopped {
			time.Sleep(time.Millisecond)
			st, _ = s.QueryStatus(h)
		}
		fmt.Println(st.Win32ExitCode, st.ServiceSpecificExitCode)
	}
	_, err := s.OpenService(hSCM, "missing", scm.ServiceQueryStatus)
	fmt.Println(err)
	// Output:
	// 1066 1618
	// 0 0
	// scm: ERROR_SERVICE_DOES_NOT_EXIST (1060)
}
