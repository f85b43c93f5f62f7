package torture

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer/deployertest"
	"github.com/nxdeploy/deployer/deployertest/lab"
)

// suiteTimeout bounds one smbtorture run; every suite takes seconds on both peers.
const suiteTimeout = 4 * time.Minute

// TestSmbtorture runs every suite of Suites against an emulated host and a Samba smbd, and fails when a targeted
// test that Samba passes fails on the emulator (OutOfScope aside). SMBTORTURE_SUITES (comma separated) narrows the
// suites; SMBTORTURE_TABLE names a file that receives the table (SMBTORTURE_ALL=1: every test, not only the ones
// whose outcomes differ).
func TestSmbtorture(t *testing.T) {
	lab.Require(t, "root", "netns", "smbd", "smbtorture")
	suites := Suites
	if only := os.Getenv("SMBTORTURE_SUITES"); only != "" {
		suites = nil
		for _, name := range strings.Split(only, ",") {
			for _, s := range Suites {
				if s.Name == strings.TrimSpace(name) {
					suites = append(suites, s)
				}
			}
		}
		require.NotEmpty(t, suites, "SMBTORTURE_SUITES=%q names no known suite", only)
	}

	n := lab.NewNet(t)
	samba := n.AddHost(t, "samba").StartSamba(t, lab.SambaOptions{})
	emu := deployertest.Start(t)
	smbtorture, err := lab.LookPath("smbtorture")
	require.NoError(t, err)

	var runs []Run
	for _, s := range suites {
		var wg sync.WaitGroup
		var emuOut, sambaOut []byte
		wg.Add(2)
		go func() {
			defer wg.Done()
			emuOut = runSuite(t, exec.Command(smbtorture, "//"+emu.IP+"/"+s.Share, "-p", strconv.Itoa(emu.Port),
				"-U", emu.User+"%"+emu.Password, s.Name))
		}()
		go func() {
			defer wg.Done()
			sambaOut = runSuite(t, n.Command(context.Background(), smbtorture, "//"+samba.Addr.String()+"/"+s.Share,
				"-U", samba.AdminUser+"%"+samba.AdminPassword, s.Name))
		}()
		wg.Wait()
		r := Run{Suite: s, Emulator: Parse(emuOut), Samba: Parse(sambaOut)}
		assert.NotEmpty(t, r.Samba, "%s reported no test against Samba:\n%s", s.Name, tail(sambaOut))
		assert.NotEmpty(t, r.Emulator, "%s reported no test against the emulator:\n%s", s.Name, tail(emuOut))
		runs = append(runs, r)
		for _, g := range Regressions(s, Compare(s.Name, r.Emulator, r.Samba)) {
			t.Errorf("%s: %s on the emulator, %s on Samba", g.Key(), g.Emulator, g.Samba)
		}
	}

	var table bytes.Buffer
	require.NoError(t, WriteTable(&table, runs, os.Getenv("SMBTORTURE_ALL") == "1"))
	t.Logf("smbtorture, emulator vs Samba %s:\n%s", sambaVersion(), table.String())
	if path := os.Getenv("SMBTORTURE_TABLE"); path != "" {
		require.NoError(t, os.WriteFile(path, table.Bytes(), 0o644))
	}
}

// runSuite runs one smbtorture command with the suite timeout and returns its output; smbtorture exits non-zero
// whenever a test fails, so only the output tells.
func runSuite(t *testing.T, cmd *exec.Cmd) []byte {
	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if err := cmd.Start(); err != nil {
		t.Errorf("smbtorture: %v", err)
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		t.Errorf("%s: still running after %v", strings.Join(cmd.Args, " "), suiteTimeout)
	}
	return out.Bytes()
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

func sambaVersion() string {
	out, err := exec.Command("smbd", "--version").Output()
	if err != nil {
		return "(version unknown)"
	}
	return strings.TrimSpace(string(out))
}

func TestParse(t *testing.T) {
	out := "smbtorture 4.17.12-Debian\nprogress: 5\ntest: eof\ntime: x\nsuccess: eof\ntest: position\n" +
		"failure: position [\n../read.c:174: wrong\n]\ntest: bug\nskip: bug [\nno\n]\nerror: broken [\n]\nxfail: known\n"
	got := Parse([]byte(out))
	assert.Equal(t, Results{"eof": Success, "position": Failure, "bug": Skip, "broken": Error, "known": XFail}, got)
	p, f := got.Counts()
	assert.Equal(t, [2]int{2, 2}, [2]int{p, f})
}

func TestRegressions(t *testing.T) {
	s := Suite{Name: "smb2.create", Target: true}
	rows := Compare(s.Name, Results{"open": Failure, "aclfile": Failure, "blob": Success},
		Results{"open": Success, "aclfile": Success, "blob": Success, "extra": Success})
	var keys []string
	for _, r := range Regressions(s, rows) {
		keys = append(keys, r.Key())
	}
	assert.Equal(t, []string{"smb2.create.extra", "smb2.create.open"}, keys)
	assert.Empty(t, Regressions(Suite{Name: "smb2.session"}, rows), "a measured suite has no regressions")
}

// TestOutOfScopeDocumented keeps the package documentation and OutOfScope in step.
func TestOutOfScopeDocumented(t *testing.T) {
	doc, err := os.ReadFile("torture.go")
	require.NoError(t, err)
	pkgDoc, _, _ := strings.Cut(string(doc), "package torture")
	for name, reason := range OutOfScope {
		assert.Contains(t, pkgDoc, name, "%s is out of scope but not listed in the package documentation", name)
		assert.NotEmpty(t, reason, "%s has no reason", name)
	}
}
