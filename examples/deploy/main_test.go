package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
	"github.com/nxdeploy/deployer/msi"
)

// testMSI is the demo's package, a copy of msi/testdata/ok.msi.
const testMSI = "../internal/demofleet/ok.msi"

func runDeploy(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// decodeEvents parses -json output, one event per line.
func decodeEvents(t *testing.T, out string) []deployer.Event {
	t.Helper()
	var evs []deployer.Event
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev deployer.Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "line %q", sc.Text())
		require.NotEmpty(t, ev.Host)
		evs = append(evs, ev)
	}
	require.NoError(t, sc.Err())
	return evs
}

func TestRunDemo(t *testing.T) {
	code, out, errOut := runDeploy(t, "-demo", "-progress-interval", "100ms")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	assert.Contains(t, errOut, "demo fleet of 50 emulated Windows hosts")
	assert.Contains(t, out, "progress: ", "plain progress lines when stdout is not a terminal")
	assert.NotContains(t, out, "\x1b[K", "no redraw when stdout is not a terminal")
	for _, want := range []string{
		"50 hosts",
		// Every state has its row.
		"Discovered", "Scheduled for installation", "Installing Collector", "With Collector", "Failed", "Retrying",
		"of which reboot needed",
		// The Deployer documentation's columns.
		"Error type:", "Error message:", "Cause:", "Solution:",
		// Most rows of the error table.
		"Network error", "logon failure", "connection refused",
		"Share error or process launch error on the target computer", "shared access failure",
		"windows error (1053)", "windows error (2)", "quarantined by antivirus",
		"MSI error (1603)", "MSI didn’t succeed to install on this computer",
	} {
		assert.Contains(t, out, want)
	}
	// 50 hosts, of which the 9 with a fatal fault fail (busy-then-OK, slow
	// and reboot-needed hosts end With Collector, and so does the Windows 7
	// host: the remote service runs there; and the host refusing to create
	// services, through the Task Scheduler, which its remark says).
	assert.Regexp(t, `(?m)^With Collector\s+41$`, out)
	assert.Regexp(t, `(?m)^  PC-\d+: the remote service ran as a task of the Task Scheduler \(the host refused to create services\)  \[demo fault: service creation refused \(Task Scheduler used\)\]$`, out)
	assert.Regexp(t, `(?m)^Failed\s+9$`, out)
	assert.Regexp(t, `(?m)^Retrying\s+0$`, out)
	assert.Contains(t, out, "[demo fault: msiexec 1603]")
}

func TestRunDemoJSON(t *testing.T) {
	code, out, errOut := runDeploy(t, "-demo", "-json")
	require.Equal(t, exitOK, code, "stderr: %s", errOut)
	evs := decodeEvents(t, out)
	seen := map[deployer.State]bool{}
	final := map[string]deployer.Event{}
	for _, ev := range evs {
		seen[ev.From], seen[ev.State] = true, true
		final[ev.Host] = ev
	}
	for _, s := range deployer.States() {
		assert.True(t, seen[s], "state %s in the events", s)
	}
	require.Len(t, final, demo.DefaultSize)
	messages := map[string]bool{}
	for _, ev := range final {
		require.True(t, ev.State.Terminal(), "%s ends in %s", ev.Host, ev.State)
		if ev.State == deployer.Failed {
			require.NotNil(t, ev.Error, ev.Host)
			assert.NotEmpty(t, ev.Error.Cause)
			assert.NotEmpty(t, ev.Error.Solution)
			messages[ev.Error.Message] = true
		}
	}
	for _, m := range []string{"logon failure", "shared access failure", "MSI error (1603)", "connection refused",
		"windows error (1053)"} {
		assert.True(t, messages[m], "a host failed with %q (have %v)", m, messages)
	}
	assert.Contains(t, errOut, "With Collector 41;")
	assert.NotContains(t, out, "Failed hosts", "no table on stdout with -json")
}

func TestRunFlagErrors(t *testing.T) {
	msiPath := testMSI
	t.Setenv("DEPLOY_TEST_PW", "secret")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no input", []string{"-msi", msiPath, "-user", "u", "-password-env", "DEPLOY_TEST_PW"}, "no hosts"},
		{"no msi", []string{"-user", "u", "-password-env", "DEPLOY_TEST_PW", "h1"}, "-msi is required"},
		{"no user", []string{"-msi", msiPath, "-password-env", "DEPLOY_TEST_PW", "h1"}, "-user is required"},
		{"no password env", []string{"-msi", msiPath, "-user", "u", "h1"}, "-password-env is required"},
		{"empty password env", []string{"-msi", msiPath, "-user", "u", "-password-env", "DEPLOY_TEST_UNSET", "h1"},
			"DEPLOY_TEST_UNSET is empty or not set"},
		{"missing msi", []string{"-msi", "nope.msi", "-user", "u", "-password-env", "DEPLOY_TEST_PW", "h1"}, "nope.msi"},
		{"demo with hosts", []string{"-demo", "h1"}, "-demo deploys to its own fleet"},
		{"demo with user", []string{"-demo", "-user", "u"}, "-user, -password-env and -kerberos do not apply"},
		{"demo with kerberos", []string{"-demo", "-kerberos"}, "-kerberos do not apply"},
		{"kerberos flags without kerberos", []string{"-msi", msiPath, "-user", "u", "-password-env", "DEPLOY_TEST_PW",
			"-kdc", "dc1", "h1"}, "need -kerberos"},
		{"ldap flags without ldap", []string{"-msi", msiPath, "-user", "u", "-password-env", "DEPLOY_TEST_PW",
			"-base", "DC=x", "h1"}, "need -ldap"},
		{"bind user without password env", []string{"-msi", msiPath, "-user", "u", "-password-env", "DEPLOY_TEST_PW",
			"-ldap", "ldap://127.0.0.1", "-bind-user", "a@b"}, "-bind-user needs -ldap-password-env"},
		{"bad concurrency", []string{"-demo", "-concurrency", "0"}, "-concurrency"},
		{"bad port", []string{"-demo", "-port", "70000"}, "not a TCP port"},
		{"bad property", []string{"-demo", "-prop", "lower=x"}, "invalid value"},
		{"property without value", []string{"-demo", "-prop", "NAME"}, "is not NAME=VALUE"},
		{"unknown flag", []string{"-password", "x"}, "flag provided but not defined"},
		{"negative timeout", []string{"-demo", "-timeout", "-1s"}, "must not be negative"},
		{"negative host timeout", []string{"-demo", "-host-timeout", "-1s"}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runDeploy(t, tt.args...)
			assert.Equal(t, exitUsage, code)
			assert.Empty(t, out)
			assert.Contains(t, errOut, tt.want)
			assert.NotContains(t, errOut, "secret", "never print a password")
		})
	}
}

func TestRunHelp(t *testing.T) {
	code, _, errOut := runDeploy(t, "-h")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, errOut, "-password-env")
}

func TestRunCSVOfDemoHostsResumesWithStore(t *testing.T) {
	fleet, err := demo.Start(demo.Options{
		Faults:      []demo.Fault{demo.Healthy, demo.RebootNeeded, demo.MSIFailure, demo.AdminShareOff, demo.Healthy},
		InstallTime: 50 * time.Millisecond, StartTimeout: 500 * time.Millisecond,
	})
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "hosts.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(fleet.CSV()), 0o600))
	storePath := filepath.Join(dir, "hosts.journal")
	t.Setenv("DEPLOY_TEST_PW", fleet.Password)
	args := []string{"-csv", csvPath, "-msi", testMSI, "-user", fleet.User,
		"-password-env", "DEPLOY_TEST_PW", "-port", strconv.Itoa(fleet.Port), "-store", storePath,
		"-concurrency", "4", "-busy-backoff", "50ms", "-prop", "SERVER=engine1", "-prop", "PORT=999"}

	code, out, errOut := runDeploy(t, args...)
	require.Equal(t, exitHostsFailed, code, "some hosts failed; stderr: %s", errOut)
	assert.Regexp(t, `(?m)^With Collector\s+3$`, out)
	assert.Regexp(t, `(?m)^Failed\s+2$`, out)
	assert.Regexp(t, `(?m)^  of which reboot needed\s+1$`, out)
	assert.Contains(t, out, "MSI error (1603)")
	assert.Contains(t, out, "shared access failure")
	assert.NotContains(t, out, fleet.Password)
	assert.NotContains(t, errOut, fleet.Password)

	// A re-run with the same journal touches no host: the installed ones
	// have this package, the failed ones failed in a way that is not
	// retried without a change. Every host is in the events, with why.
	code, out, errOut = runDeploy(t, append(args, "-json")...)
	require.Equal(t, exitHostsFailed, code, "stderr: %s", errOut)
	events := map[string][]deployer.Event{}
	for _, ev := range decodeEvents(t, out) {
		events[ev.Host] = append(events[ev.Host], ev)
	}
	for _, h := range fleet.Hosts {
		require.Len(t, events[h.Name], 1, "%s (%s): one event", h.Name, h.Fault)
		ev := events[h.Name][0]
		assert.Equal(t, ev.From, ev.State)
		installed := h.Fault == demo.Healthy || h.Fault == demo.RebootNeeded
		if installed {
			assert.Equal(t, deployer.SkipInstalled, ev.Skipped)
		} else {
			assert.Equal(t, deployer.SkipNotRetryable, ev.Skipped)
		}
	}
	assert.Contains(t, errOut, "5 hosts: With Collector 3; Failed 2;")
	assert.Contains(t, errOut, "skipped (installed) 3; skipped (not retryable) 2;")
}

// TestRunRetryFailed: a wrong password fails every host once; a re-run with
// the right one leaves them Failed (the journal says the error is not
// retried without a change) until -retry-failed asks for them again.
func TestRunRetryFailed(t *testing.T) {
	fleet, err := demo.Start(demo.Options{Faults: []demo.Fault{demo.Healthy, demo.Healthy}, InstallTime: 50 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "hosts.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(fleet.CSV()), 0o600))
	args := []string{"-csv", csvPath, "-msi", testMSI, "-user", fleet.User, "-password-env", "DEPLOY_TEST_PW",
		"-port", strconv.Itoa(fleet.Port), "-store", filepath.Join(dir, "hosts.journal")}

	t.Setenv("DEPLOY_TEST_PW", "wrong-"+fleet.Password)
	code, out, errOut := runDeploy(t, args...)
	require.Equal(t, exitHostsFailed, code, "stderr: %s", errOut)
	assert.Regexp(t, `(?m)^Failed\s+2$`, out)
	assert.Contains(t, out, "logon failure")

	t.Setenv("DEPLOY_TEST_PW", fleet.Password)
	code, out, errOut = runDeploy(t, args...)
	require.Equal(t, exitHostsFailed, code, "stderr: %s", errOut)
	assert.Regexp(t, `(?m)^Failed\s+2$`, out)
	assert.Contains(t, out, "run with -retry-failed")

	code, out, errOut = runDeploy(t, append(args, "-retry-failed")...)
	require.Equal(t, exitOK, code, "stderr: %s\n%s", errOut, out)
	assert.Regexp(t, `(?m)^With Collector\s+2$`, out)

	code, _, errOut = runDeploy(t, "-csv", csvPath, "-msi", testMSI, "-user", fleet.User, "-password-env", "DEPLOY_TEST_PW", "-retry-failed")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "-retry-failed needs -store")
}

// TestRunKerberosByAddress deploys with -kerberos to a host given only by
// its address: it fails with the typed reason before anything is sent, and
// the run completes.
func TestRunKerberosByAddress(t *testing.T) {
	t.Setenv("DEPLOY_TEST_PW", "pw")
	code, out, errOut := runDeploy(t, "-msi", testMSI, "-kerberos", "-user", "u",
		"-domain", "corp.example", "-password-env", "DEPLOY_TEST_PW", "192.0.2.9")
	require.Equal(t, exitHostsFailed, code, "stderr: %s", errOut)
	assert.Regexp(t, `(?m)^Failed\s+1$`, out)
	assert.Contains(t, out, "fully qualified DNS name")
}

func TestRunArgumentHostUnreachable(t *testing.T) {
	// A port nothing listens on: the host fails with "connection refused",
	// and the run completes with the exit status of failed hosts.
	fleet, err := demo.Start(demo.Options{Faults: []demo.Fault{demo.Offline}})
	require.NoError(t, err)
	t.Cleanup(func() { fleet.Close() })
	t.Setenv("DEPLOY_TEST_PW", "pw")
	code, out, errOut := runDeploy(t, "-msi", testMSI, "-user", "u",
		"-password-env", "DEPLOY_TEST_PW", "-port", strconv.Itoa(fleet.Port), fleet.Hosts[0].IP.String())
	require.Equal(t, exitHostsFailed, code, "stderr: %s", errOut)
	assert.Regexp(t, `(?m)^Failed\s+1$`, out)
	assert.Contains(t, out, "connection refused")
}

func TestRunCSVMissingFile(t *testing.T) {
	t.Setenv("DEPLOY_TEST_PW", "pw")
	code, _, errOut := runDeploy(t, "-msi", testMSI, "-user", "u",
		"-password-env", "DEPLOY_TEST_PW", "-csv", filepath.Join(t.TempDir(), "none.csv"))
	assert.Equal(t, exitRunError, code)
	assert.Contains(t, errOut, "none.csv")
}

func TestRunLDAPUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens: the directory refuses
	t.Setenv("DEPLOY_TEST_PW", "pw")
	t.Setenv("DEPLOY_TEST_LDAP_PW", "ldap-secret")
	code, out, errOut := runDeploy(t, "-msi", testMSI, "-user", "u",
		"-password-env", "DEPLOY_TEST_PW", "-ldap", "ldap://"+addr, "-bind-user", "admin@lab.test",
		"-ldap-password-env", "DEPLOY_TEST_LDAP_PW", "-base", "DC=lab,DC=test")
	assert.Equal(t, exitRunError, code, "a source that gives no host fails the run")
	assert.Empty(t, out)
	assert.Contains(t, errOut, "deploy: ")
	assert.NotContains(t, errOut, "ldap-secret")
}

func TestPropsFlag(t *testing.T) {
	tests := []struct {
		in      string
		want    msi.Property
		wantErr bool
	}{
		{in: "SERVER=engine1", want: msi.Property{Name: "SERVER", Value: "engine1"}},
		{in: "EMPTY=", want: msi.Property{Name: "EMPTY", Value: ""}},
		{in: "PATH=C:\\a b=c", want: msi.Property{Name: "PATH", Value: "C:\\a b=c"}},
		{in: "novalue", wantErr: true},
		{in: "=x", wantErr: true},
		{in: "lower=x", wantErr: true},
		{in: "X=a\nb", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var p props
			err := p.Set(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				assert.Empty(t, p)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, props{tt.want}, p)
			assert.Equal(t, tt.in, p.String())
		})
	}
}

func TestProgressDisplay(t *testing.T) {
	tests := []struct {
		name     string
		terminal bool
		want     []string
		notWant  string
	}{
		{"terminal", true, []string{"\r\x1b[K[############............] 2/4 done", "With Collector 1", "Failed 1"}, "progress:"},
		{"plain", false, []string{"progress: 2/4 done, Discovered 0, Scheduled for installation 0, Installing Collector 1," +
			" With Collector 1, Failed 1, Retrying 1\n"}, "\x1b["},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProgress(4)
			p.add(deployer.Event{Host: "a", State: deployer.WithCollector})
			p.add(deployer.Event{Host: "b", State: deployer.Failed})
			p.add(deployer.Event{Host: "c", State: deployer.Installing})
			p.add(deployer.Event{Host: "d", State: deployer.Retrying})
			var buf syncBuffer
			stop := p.display(&buf, tt.terminal, 10*time.Millisecond)
			require.Eventually(t, func() bool { return strings.Contains(buf.String(), "done") }, 5*time.Second, 5*time.Millisecond)
			stop()
			stop() // idempotent
			for _, w := range tt.want {
				assert.Contains(t, buf.String(), w)
			}
			assert.NotContains(t, buf.String(), tt.notWant)
		})
	}
}

func TestProgressLineFitsTheTerminal(t *testing.T) {
	p := newProgress(50)
	counts := map[deployer.State]int{deployer.WithCollector: 20, deployer.Failed: 5, deployer.Installing: 16,
		deployer.Discovered: 9}
	tests := []struct {
		width int
		want  string
	}{
		{0, "[############............] 25/50 done | Discovered 9 | Scheduled for installation 0 | Installing Collector 16 |" +
			" With Collector 20 | Failed 5 | Retrying 0"},
		{200, "[############............] 25/50 done | Discovered 9 | Scheduled for installation 0 | Installing Collector 16 |" +
			" With Collector 20 | Failed 5 | Retrying 0"},
		{120, "[#####.....] 25/50 done, Discovered 9, Scheduled 0, Installing 16, With Collector 20, Failed 5, Retrying 0"},
		{40, "[#####.....] 25/50 done, Discovered 9, "},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.width), func(t *testing.T) {
			got := p.line(counts, true, tt.width)
			assert.Equal(t, tt.want, got)
			if tt.width > 0 {
				assert.Less(t, len([]rune(got)), tt.width)
			}
		})
	}
}

func TestIsTerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f), "a regular file")
	assert.False(t, isTerminal(&bytes.Buffer{}), "not a file")
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer null.Close()
	assert.False(t, isTerminal(null), "a character device that is not a terminal")
	assert.Zero(t, terminalWidth(f), "no width without a terminal")
	assert.Zero(t, terminalWidth(&bytes.Buffer{}))
}

// syncBuffer is a bytes.Buffer safe for the display goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// demoArgs deploys to fleet from a CSV, as an operator would.
func demoArgs(t *testing.T, fleet *demo.Fleet, extra ...string) []string {
	t.Helper()
	dir := t.TempDir()
	csvPath := filepath.Join(dir, "hosts.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte(fleet.CSV()), 0o600))
	t.Setenv("DEPLOY_TEST_PW", fleet.Password)
	return append([]string{"-csv", csvPath, "-msi", testMSI, "-user", fleet.User,
		"-password-env", "DEPLOY_TEST_PW", "-port", strconv.Itoa(fleet.Port), "-store", filepath.Join(dir, "hosts.journal")},
		extra...)
}

func TestRunExitCodes(t *testing.T) {
	healthy, err := demo.Start(demo.Options{Faults: []demo.Fault{demo.Healthy, demo.Healthy}, InstallTime: 50 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { healthy.Close() })
	code, _, errOut := runDeploy(t, demoArgs(t, healthy)...)
	assert.Equal(t, exitOK, code, "every host With Collector: %s", errOut)

	// A package that is not an MSI: refused before any logon.
	bad := filepath.Join(t.TempDir(), "hosts.csv")
	require.NoError(t, os.WriteFile(bad, []byte(healthy.CSV()), 0o600))
	args := demoArgs(t, healthy)
	for i, a := range args {
		if a == "-msi" {
			args[i+1] = bad
		}
	}
	code, out, errOut := runDeploy(t, args...)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, bad)
	assert.Contains(t, errOut, "not a Windows Installer package")
	assert.Empty(t, out, "no host was touched")
}

// TestRunInterruptDrainsThenAborts: the first interrupt lets the
// installations under way finish and starts no other; the second stops
// them. Every host ends in a final state, none "Installing Collector", and
// the command exits with the interrupted status.
func TestRunInterruptDrainsThenAborts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		install time.Duration
		second  bool
	}{
		{"drain", 1500 * time.Millisecond, false},
		{"abort", 60 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fleet, err := demo.Start(demo.Options{Faults: make([]demo.Fault, 6), InstallTime: tc.install})
			require.NoError(t, err)
			t.Cleanup(func() { fleet.Close() })
			args := demoArgs(t, fleet, "-json", "-concurrency", "2")
			pr, pw, err := os.Pipe()
			require.NoError(t, err)
			var errOut syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(args, pw, &errOut)
				pw.Close()
			}()
			var evs []deployer.Event
			sc := bufio.NewScanner(pr)
			installing, signalled := 0, false
			for sc.Scan() {
				var ev deployer.Event
				require.NoError(t, json.Unmarshal(sc.Bytes(), &ev))
				evs = append(evs, ev)
				if ev.State == deployer.Installing && ev.From == deployer.Scheduled {
					installing++
				}
				if installing == 2 && !signalled {
					signalled = true
					require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
					if tc.second {
						require.Eventually(t, func() bool { return strings.Contains(errOut.String(), "draining") },
							10*time.Second, 10*time.Millisecond)
						require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
					}
				}
			}
			code := <-done
			assert.Equal(t, exitInterrupted, code, errOut.String())
			assert.Contains(t, errOut.String(), "draining")
			final := map[string]deployer.Event{}
			for _, ev := range evs {
				if ev.Progress == nil {
					final[ev.Host] = ev
				}
			}
			require.Len(t, final, 6, "every host has a final event")
			counts := map[deployer.State]int{}
			for _, ev := range final {
				counts[ev.State]++
			}
			if tc.second {
				assert.Contains(t, errOut.String(), "interrupted again")
				assert.Equal(t, 6, counts[deployer.Discovered], "aborted and cleaned up: %v", counts)
			} else {
				assert.Equal(t, 2, counts[deployer.WithCollector], "the installations under way finished: %v", counts)
				assert.Equal(t, 4, counts[deployer.Discovered], "the others were not started: %v", counts)
			}
			for _, h := range fleet.Hosts {
				for _, s := range h.Services() {
					assert.False(t, strings.HasPrefix(s.Name, "nxdeploy-"), "%s left on %s", s.Name, h.Name)
				}
			}
		})
	}
}
