package deployertest

import (
	"os"

	"github.com/nxdeploy/deployer/deployertest/internal/loader"
)

// Windows is the version of Windows an emulated host runs: it announces it in NTLM's version field and in srvsvc
// NetServerGetInfo, and its service control manager refuses what that Windows would refuse to start (a binary
// needing a newer subsystem or an export the version lacks, or the Go ≥ 1.22 runtime before Windows 8).
type Windows struct {
	// Name is the product name, e.g. "Windows Server 2022".
	Name string
	// Major, Minor and Build are the version, e.g. 10.0.20348.
	Major, Minor, Build uint32
	// Server is true for Windows Server editions.
	Server bool
}

// Windows versions an emulated host can run.
var (
	Windows7     = Windows{Name: "Windows 7 SP1", Major: 6, Minor: 1, Build: 7601}
	Server2008R2 = Windows{Name: "Windows Server 2008 R2 SP1", Major: 6, Minor: 1, Build: 7601, Server: true}
	Server2012   = Windows{Name: "Windows Server 2012", Major: 6, Minor: 2, Build: 9200, Server: true}
	Windows81    = Windows{Name: "Windows 8.1", Major: 6, Minor: 3, Build: 9600}
	Server2012R2 = Windows{Name: "Windows Server 2012 R2", Major: 6, Minor: 3, Build: 9600, Server: true}
	Windows10    = Windows{Name: "Windows 10 22H2", Major: 10, Build: 19045}
	Server2016   = Windows{Name: "Windows Server 2016", Major: 10, Build: 14393, Server: true}
	Server2019   = Windows{Name: "Windows Server 2019", Major: 10, Build: 17763, Server: true}
	Server2022   = Windows{Name: "Windows Server 2022", Major: 10, Build: 20348, Server: true}
	Windows11    = Windows{Name: "Windows 11 23H2", Major: 10, Build: 22631}
	Server2025   = Windows{Name: "Windows Server 2025", Major: 10, Build: 26100, Server: true}
)

// Arch is an emulated host's processor architecture, as Windows' PROCESSOR_ARCHITECTURE names it.
type Arch string

// Architectures. The host's ADMIN$ shows it as Windows lays out its system root: SysWOW64 on 64-bit Windows (AMD64
// and ARM64), SysArm32 on ARM64 as well, neither on 32-bit x86 Windows.
const (
	AMD64 Arch = "AMD64"
	X86   Arch = "x86"
	ARM64 Arch = "ARM64"
)

func (w Windows) version() loader.Version {
	return loader.Version{Major: w.Major, Minor: w.Minor, Build: w.Build}
}

// WithWindows sets the Windows version the host runs (default Server2022).
func WithWindows(w Windows) Option { return func(c *config) { c.windows = w } }

// WithArch sets the host's architecture (default AMD64).
func WithArch(a Arch) Option { return func(c *config) { c.arch = a } }

// archDirs are the system root's directories that tell the architecture.
func archDirs(a Arch) []string {
	switch a {
	case X86:
		return nil
	case ARM64:
		return []string{"SysWOW64", "SysArm32"}
	}
	return []string{"SysWOW64"}
}

// loadImage runs the loader model on the file at hostPath for this host.
func loadImage(w Windows, a Arch) func(hostPath string) loader.Result {
	return func(hostPath string) loader.Result {
		b, err := os.ReadFile(hostPath)
		if err != nil {
			// The existence check before it reports a missing file; an unreadable one is not an image.
			return loader.Check(nil, w.version(), loader.Arch(a))
		}
		return loader.Check(b, w.version(), loader.Arch(a))
	}
}
