package winelab

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var shared Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := shared.Close(); err != nil {
		os.Stderr.WriteString("winelab: " + err.Error() + "\n")
		if code == 0 {
			code = 1
		}
	}
	if err := goleak.Find(); err != nil && code == 0 {
		os.Stderr.WriteString("winelab: " + err.Error() + "\n")
		code = 1
	}
	os.Exit(code)
}

func TestPathMapping(t *testing.T) {
	w := &Wine{Prefix: t.TempDir()}
	require.NoError(t, os.MkdirAll(filepath.Join(w.Prefix, "drive_c", "windows", "system32"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(w.Prefix, "drive_c", "Program Files"), 0o755))
	for _, tc := range []struct{ in, want string }{
		{`C:\Windows\System32\x.dll`, "drive_c/windows/system32/x.dll"},
		{`c:\PROGRAM FILES\NxTest\hello.txt`, "drive_c/Program Files/NxTest/hello.txt"},
		{`C:\windows\.\nxdeploy\\d1`, "drive_c/windows/nxdeploy/d1"},
		{`C:\`, "drive_c"},
	} {
		got, err := w.Path(tc.in)
		require.NoError(t, err, tc.in)
		assert.Equal(t, filepath.Join(w.Prefix, tc.want), got, tc.in)
	}
	for _, bad := range []string{`D:\x`, `windows\x`, `C:`, `C:\a\..\..\etc`, "/etc/passwd"} {
		_, err := w.Path(bad)
		require.Error(t, err, bad)
	}
}

func TestCheckNamesMissingTools(t *testing.T) {
	err := Check("winelab-no-such-tool")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "winelab-no-such-tool not found")
	assert.Equal(t, "gcc-mingw-w64-x86-64-win32", debianPackage("x86_64-w64-mingw32-gcc"))
}

// TestWineLab proves the harness itself against real Wine: the namespace has
// no route, programs run, and the SCM's create/query/delete life cycle is
// readable through ParseSCQuery.
func TestWineLab(t *testing.T) {
	w := shared.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t.Logf("prefix initialized in %v", w.BootTime.Round(time.Millisecond))

	routes, err := w.Command("ip", "route", "show").CombinedOutput()
	require.NoError(t, err)
	assert.Empty(t, strings.TrimSpace(string(routes)), "namespace must have no routes")

	out, err := w.Run(ctx, "cmd", "/c", "echo", "hello")
	require.NoError(t, err)
	assert.Equal(t, "hello", strings.TrimSpace(out))

	var runErr *RunError
	_, err = w.Run(ctx, "cmd", "/c", "exit", "7")
	require.ErrorAs(t, err, &runErr)
	assert.Equal(t, 7, runErr.ExitCode)

	shim, err := w.Path(`C:\windows\system32\bcryptprimitives.dll`)
	require.NoError(t, err)
	assert.FileExists(t, shim)

	out, err = w.Net(ctx, "start")
	require.NoError(t, err)
	assert.Contains(t, out, "Plug and Play Service", "net start lists the running services by display name")

	name := "wltest"
	_, err = w.SC(ctx, "create", name, "binpath=", `C:\windows\system32\cmd.exe /c exit 0`)
	require.NoError(t, err)
	st, err := w.QueryService(ctx, name)
	require.NoError(t, err)
	assert.Equal(t, name, st.Name)
	assert.Equal(t, Stopped, st.State)
	assert.Equal(t, uint32(0x10), st.Type, "WIN32_OWN_PROCESS")
	st, err = w.WaitState(ctx, name, Stopped, 100*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, Stopped, st.State)

	_, err = w.SC(ctx, "delete", name)
	require.NoError(t, err)
	_, err = w.QueryService(ctx, name)
	require.ErrorAs(t, err, &runErr, "deleted service is gone")
}
