package scm

import (
	"path/filepath"
	"strings"

	"github.com/nxdeploy/deployer/internal/winpath"
)

// pathMapper maps Windows paths under the system root (C:\Windows, the
// directory behind ADMIN$) onto a directory of this machine.
type pathMapper struct {
	systemRoot string // `C:\Windows`, no trailing backslash
	adminDir   string // host directory, "" when unknown
}

// expand replaces every %SystemRoot% and %windir% (case-insensitively) and
// strips a \\?\ prefix.
func (p pathMapper) expand(win string) string {
	win = strings.TrimPrefix(win, `\\?\`)
	for _, v := range []string{"%systemroot%", "%windir%"} {
		for {
			i := strings.Index(asciiLower(win), v)
			if i < 0 {
				break
			}
			win = win[:i] + p.systemRoot + win[i+len(v):]
		}
	}
	return win
}

// asciiLower lowers A-Z only, keeping byte offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// HostPath returns the host path of the Windows path win when it lies under
// the system root, resolving each component case-insensitively against the
// existing entries (Windows file names are case-insensitive), and false
// otherwise.
func (p pathMapper) HostPath(win string) (string, bool) {
	if p.adminDir == "" {
		return "", false
	}
	win = strings.ReplaceAll(p.expand(win), "/", `\`)
	root := p.systemRoot
	if len(win) < len(root) || !strings.EqualFold(win[:len(root)], root) {
		return "", false
	}
	rest := win[len(root):]
	if rest != "" && rest[0] != '\\' {
		return "", false
	}
	host := p.adminDir
	for _, part := range strings.Split(rest, `\`) {
		switch part {
		case "", ".":
			continue
		case "..":
			// Never leave the admin directory.
			if host != p.adminDir {
				host = filepath.Dir(host)
			}
			continue
		}
		host = filepath.Join(host, winpath.MatchName(host, part))
	}
	return host, true
}
