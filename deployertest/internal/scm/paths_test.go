package scm

import (
	"strings"
	"testing"
)

func FuzzHostPath(f *testing.F) {
	for _, s := range []string{`C:\Windows\a\..\..\b`, `%SystemRoot%\x`, `\\?\C:\WINDOWS\`, `c:\windowsx`, "%WINDIR%\u0130x"} {
		f.Add(s)
	}
	dir := f.TempDir()
	p := pathMapper{systemRoot: `C:\Windows`, adminDir: dir}
	f.Fuzz(func(t *testing.T, win string) {
		host, ok := p.HostPath(win)
		if ok && host != dir && !strings.HasPrefix(host, dir+"/") {
			t.Fatalf("%q escaped the admin dir: %q", win, host)
		}
	})
}
