package lab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// EnvLab is the environment variable that turns Require's skips into failures when set to "required" (CI sets it).
const EnvLab = "DEPLOYER_LAB"

// dcerpcdPath is where Debian's samba-common-bin installs samba-dcerpcd.
const dcerpcdPath = "/usr/libexec/samba/samba-dcerpcd"

// systemPython is the Debian interpreter that can import python3-impacket (the pyenv python3 on PATH cannot).
const systemPython = "/usr/bin/python3"

// Require skips t with a precise reason when one of needs is unavailable, unless the environment variable
// DEPLOYER_LAB is "required", in which case it fails t with the same reason.
//
// Known needs: "root", "netns" (root and the right to create network namespaces with `ip netns`), "iptables",
// "smbd" (smbd and samba-dcerpcd), "smbclient", "net", "samba-tool", "wine", "wixl", "msiinfo", "impacket"
// (/usr/bin/python3 can import impacket), "mingw" (x86_64-w64-mingw32-gcc). Any other string is looked up as
// a binary on PATH (and in /usr/sbin, /sbin). Every missing need is named in one message, with the Debian
// package that provides it.
func Require(t testing.TB, needs ...string) {
	t.Helper()
	var missing []string
	for _, need := range needs {
		if reason := checkNeed(need); reason != "" {
			missing = append(missing, reason)
		}
	}
	if len(missing) == 0 {
		return
	}
	reason := strings.Join(missing, "; ")
	if os.Getenv(EnvLab) == "required" {
		t.Fatalf("lab: %s (%s=required, so this is a failure)", reason, EnvLab)
	}
	t.Skipf("lab: %s (set %s=required to fail instead of skipping)", reason, EnvLab)
}

// checkNeed returns "" when need is satisfied, else why not.
func checkNeed(need string) string {
	switch need {
	case "root":
		if uid := os.Geteuid(); uid != 0 {
			return fmt.Sprintf("needs root (running as uid %d)", uid)
		}
		return ""
	case "netns":
		if uid := os.Geteuid(); uid != 0 {
			return fmt.Sprintf("netns needs root (running as uid %d)", uid)
		}
		if _, err := LookPath("ip"); err != nil {
			return "netns needs the ip binary (apt-get install iproute2)"
		}
		if err := canUnshareNet(); err != nil {
			return fmt.Sprintf("cannot create a network namespace: %v", err)
		}
		return ""
	case "smbd":
		if _, err := LookPath("smbd"); err != nil {
			return "binary smbd not found (apt-get install samba)"
		}
		if _, err := os.Stat(dcerpcdPath); err != nil {
			return fmt.Sprintf("%s not found (apt-get install samba-common-bin)", dcerpcdPath)
		}
		return ""
	case "impacket":
		if _, err := os.Stat(systemPython); err != nil {
			return fmt.Sprintf("impacket needs %s (apt-get install python3-impacket)", systemPython)
		}
		out, err := exec.Command(systemPython, "-c", "import impacket").CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%s cannot import impacket (apt-get install python3-impacket): %v: %s",
				systemPython, err, lastLine(out))
		}
		return ""
	case "mingw":
		return binaryNeed("x86_64-w64-mingw32-gcc")
	default:
		return binaryNeed(need)
	}
}

// binaryNeed reports a missing binary with the package that provides it.
func binaryNeed(name string) string {
	if _, err := LookPath(name); err == nil {
		return ""
	}
	if pkg := debianPackage(name); pkg != "" {
		return fmt.Sprintf("binary %s not found (apt-get install %s)", name, pkg)
	}
	return fmt.Sprintf("binary %s not found on PATH", name)
}

// debianPackage names the Debian 12 package(s) providing a binary the lab knows about.
func debianPackage(name string) string {
	switch name {
	case "smbd":
		return "samba"
	case "smbclient":
		return "smbclient"
	case "net":
		return "samba-common-bin"
	case "samba-tool", "samba":
		return "samba-ad-dc"
	case "wine", "wineserver":
		return "--no-install-recommends wine wine64"
	case "wixl":
		return "wixl"
	case "msiinfo", "msibuild", "msiextract":
		return "msitools"
	case "iptables":
		return "iptables"
	case "ip":
		return "iproute2"
	case "x86_64-w64-mingw32-gcc":
		return "gcc-mingw-w64-x86-64-win32"
	case "ldbadd", "ldbsearch", "ldbmodify":
		return "ldb-tools"
	case "ldapsearch":
		return "ldap-utils"
	case "dig":
		return "dnsutils"
	case "smbtorture":
		return "samba-testsuite"
	case "kinit":
		return "krb5-user"
	}
	return ""
}

// LookPath finds a binary on PATH, then in /usr/sbin and /sbin (a non-login PATH often lacks them).
func LookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	} else if strings.Contains(name, "/") {
		return "", err
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("lab: %s not found on PATH, /usr/sbin or /sbin", name)
}

// canUnshareNet creates a throwaway network namespace on a locked thread that then dies with its goroutine.
func canUnshareNet() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, namespace and all
		errc <- unix.Unshare(unix.CLONE_NEWNET)
	}()
	return <-errc
}

// lastLine returns the last non-empty line of out.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
