package msi

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nxdeploy/deployer/deployertest/lab"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// winePeer runs Windows programs under Wine inside a network namespace with
// no routes (lab.NewNet), with a throwaway prefix.
type winePeer struct {
	n       *lab.Net
	dir     string // Linux directory holding inputs and outputs
	env     []string
	wintool string // Windows path of wintool.exe
}

func newWinePeer(t *testing.T) *winePeer {
	t.Helper()
	if testing.Short() {
		t.Skip("Wine tests take 15-30 s (prefix creation); skipped with -short")
	}
	lab.Require(t, "root", "netns", "wine", "mingw", "wixl")
	w := &winePeer{n: lab.NewNet(t), dir: t.TempDir()}
	w.env = append(os.Environ(),
		"WINEPREFIX="+filepath.Join(w.dir, "prefix"), "WINEARCH=win64", "WINEDEBUG=-all",
		"WINEDLLOVERRIDES=mscoree,mshtml=")
	exe := filepath.Join(w.dir, "wintool.exe")
	out, err := exec.Command("x86_64-w64-mingw32-gcc", "-O2", "-o", exe, "testdata/wintool/wintool.c", "-lshell32").CombinedOutput()
	require.NoError(t, err, "building wintool.exe: %s", out)
	w.wintool = winPath(exe)
	// A persistent wineserver keeps the prefix's services up between wine
	// runs; without it every run pays for a restart.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, os.Mkdir(filepath.Join(w.dir, "prefix"), 0o755))
	srv := w.n.Command(ctx, "wineserver", "-p")
	srv.Env = w.env
	// No output pipes: the daemonized server would hold them open.
	require.NoError(t, srv.Run(), "wineserver -p")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := w.n.Command(ctx, "wineserver", "-k")
		cmd.Env = w.env
		_ = cmd.Run() // nothing to stop when no wine program is left
	})
	return w
}

// winPath is the Wine (Z:) path of a Linux path.
func winPath(p string) string { return "Z:" + strings.ReplaceAll(p, "/", `\`) }

// wine runs `wine args...` and fails t when wine itself cannot start.
func (w *winePeer) wine(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := w.n.Command(ctx, "wine", args...)
	cmd.Env = w.env
	// Output goes to a file, not a pipe: the services wine starts inherit it
	// and outlive the program under the persistent wineserver.
	outPath := filepath.Join(w.dir, "wine.out")
	out, err := os.Create(outPath)
	require.NoError(t, err)
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	msg, _ := os.ReadFile(outPath)
	require.NoError(t, err, "wine %v: %s", args, msg)
}

// split returns CommandLineToArgvW's result for every line.
func (w *winePeer) split(t *testing.T, lines []string) [][]string {
	t.Helper()
	in := filepath.Join(w.dir, "split.in")
	outPath := filepath.Join(w.dir, "split.out")
	require.NoError(t, os.WriteFile(in, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	w.wine(t, w.wintool, "split", winPath(in), winPath(outPath))
	raw, err := os.ReadFile(outPath)
	require.NoError(t, err)
	var res [][]string
	for _, rec := range bytes.Split(bytes.TrimSuffix(raw, []byte{2}), []byte{2}) {
		args := strings.Split(strings.TrimSuffix(string(rec), "\x01"), "\x01")
		res = append(res, args)
	}
	require.Len(t, res, len(lines))
	return res
}

// run starts line verbatim with CreateProcessW and returns its exit code.
func (w *winePeer) run(t *testing.T, line string) int {
	t.Helper()
	in := filepath.Join(w.dir, "run.in")
	outPath := filepath.Join(w.dir, "run.out")
	require.NoError(t, os.WriteFile(in, []byte(line), 0o644))
	require.NoError(t, os.RemoveAll(outPath))
	w.wine(t, w.wintool, "run", winPath(in), winPath(outPath))
	raw, err := os.ReadFile(outPath)
	require.NoError(t, err)
	code, err := strconv.Atoi(string(raw))
	require.NoError(t, err)
	return code
}

func TestWine(t *testing.T) {
	w := newWinePeer(t)

	t.Run("SplitCommandLine matches CommandLineToArgvW", func(t *testing.T) {
		var lines []string
		for _, tc := range splitCases {
			if !strings.ContainsRune(tc.line, 0) {
				lines = append(lines, tc.line)
			}
		}
		for _, a := range hostileArgs {
			line, err := JoinCommandLine([]string{`C:\Program Files\svc.exe`, a, "x" + a, a + "y"})
			require.NoError(t, err)
			lines = append(lines, line)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		alphabet := []string{" ", "\t", `"`, `\`, "a", "é", "b"}
		for range 400 {
			var b strings.Builder
			for range 1 + rng.IntN(14) {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			lines = append(lines, b.String())
		}
		got := w.split(t, lines)
		for i, line := range lines {
			assert.Equal(t, got[i], SplitCommandLine(line), "line %q", line)
		}
	})

	msiDir := t.TempDir()
	okMSI := filepath.Join(msiDir, "ok.msi")
	failsMSI := filepath.Join(msiDir, "fails.msi")
	copyFile(t, "testdata/ok.msi", okMSI)
	copyFile(t, "testdata/fails.msi", failsMSI)

	t.Run("msiexec receives the properties of Line", func(t *testing.T) {
		// Wine's msiexec drops every double quote of its command line, so
		// values with embedded quotes are covered by ParseCommandLine only.
		props := []Property{
			{"SERVER", "collector example test"}, // Wine collapses runs of spaces
			{"INSTALLPATH", `C:\Program Files\Nx Test\`},
			{"SHAREPATH", `\\server\share\`},
			{"ODD", `100% & <x> | ^ 'y' %PATH%`},
			{"PORT", "443"},
		}
		logPath := filepath.Join(w.dir, "ok install.log")
		line, err := InstallCommand{Package: winPath(okMSI), LogPath: winPath(logPath), Properties: props}.Line()
		require.NoError(t, err)
		assert.Equal(t, 0, w.run(t, line), "msiexec exit code for %s", line)
		raw, err := os.ReadFile(logPath)
		require.NoError(t, err)
		for _, p := range props {
			assert.Contains(t, string(raw), fmt.Sprintf("\nProperty(S): %s = %s\n", p.Name, p.Value), "property %s", p.Name)
		}
		sum := ParseLog(raw)
		assert.Equal(t, "Nexthink Test Collector", sum.ProductName)
		assert.Equal(t, "1.2.3", sum.ProductVersion)
		assert.Empty(t, sum.FailedAction)

		line, err = UninstallCommand{ProductCode: "{6f0b5c1e-8a3d-4e2b-9c7a-1d2e3f405162}"}.Line()
		require.NoError(t, err)
		assert.Equal(t, 0, w.run(t, line), "uninstall: %s", line)
	})

	t.Run("failed launch condition returns 1603", func(t *testing.T) {
		logPath := filepath.Join(w.dir, "fails.log")
		line, err := InstallCommand{Package: winPath(failsMSI), LogPath: winPath(logPath)}.Line()
		require.NoError(t, err)
		assert.Equal(t, 1603, w.run(t, line))
		raw, err := os.ReadFile(logPath)
		require.NoError(t, err)
		sum := ParseLog(raw)
		// Wine's log has neither "MainEngineThread is returning" nor
		// "Return value 3.": only the progress and the property dump.
		assert.Equal(t, "Nexthink Failing Test", sum.ProductName)
		assert.Equal(t, "LaunchConditions", sum.LastAction)
		assert.NotEmpty(t, sum.Excerpt(10))

		line, err = InstallCommand{Package: winPath(failsMSI), Properties: []Property{{"MUSTBESET", "1"}}}.Line()
		require.NoError(t, err)
		assert.Equal(t, 0, w.run(t, line), "with MUSTBESET=1")
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, b, 0o644))
}
