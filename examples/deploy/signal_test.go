package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nxdeploy/deployer"
	"github.com/nxdeploy/deployer/deployertest/demo"
)

// TestStopSignalsCleanUp builds the command, starts it against an emulated
// fleet, and stops it with SIGTERM (what service managers and containers
// send) or SIGINT twice (Ctrl-C drains, a second one aborts) while every
// host is installing: the command exits with the interrupted status after
// removing its service and files from every host.
func TestStopSignalsCleanUp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "deploy")
	build := exec.Command("go", "build", "-o", bin, ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			// Three hosts: until the account has logged on once, the
			// logon-failure budget (3) bounds the attempts in flight.
			const n = 3
			faults := make([]demo.Fault, n)
			for i := range faults {
				faults[i] = demo.Healthy
			}
			fleet, err := demo.Start(demo.Options{Faults: faults, InstallTime: 10 * time.Minute, StartTimeout: 2 * time.Second})
			require.NoError(t, err)
			t.Cleanup(func() { fleet.Close() })
			csvPath := filepath.Join(t.TempDir(), "hosts.csv")
			require.NoError(t, os.WriteFile(csvPath, []byte(fleet.CSV()), 0o600))

			cmd := exec.Command(bin, "-csv", csvPath, "-msi", testMSI, "-user", fleet.User,
				"-password-env", "DEPLOY_TEST_PW", "-port", strconv.Itoa(fleet.Port), "-json", "-concurrency", strconv.Itoa(n))
			cmd.Env = append(os.Environ(), "DEPLOY_TEST_PW="+fleet.Password)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr syncBuffer
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)

			// Wait until every host is installing, then stop the command.
			installing := map[string]bool{}
			sc := bufio.NewScanner(stdout)
			for len(installing) < n && sc.Scan() {
				var ev deployer.Event
				require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "%s", sc.Text())
				if ev.State == deployer.Installing {
					installing[ev.Host] = true
				}
			}
			require.Len(t, installing, n, "every host reached %s; stderr: %s", deployer.Installing, stderr.String())
			for _, h := range fleet.Hosts {
				require.Eventually(t, func() bool { return len(ourServices(h)) > 0 }, 30*time.Second, 10*time.Millisecond,
					"%s runs our service before the signal", h.Name)
			}
			require.NoError(t, cmd.Process.Signal(sig))
			if sig == syscall.SIGINT {
				// The first interrupt drains; the installations take
				// minutes, so the second stops them.
				require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "draining") },
					30*time.Second, 10*time.Millisecond)
				require.NoError(t, cmd.Process.Signal(sig))
			}
			var after strings.Builder // the events after the signal, for a failure's message
			go func() {
				for sc.Scan() {
					after.WriteString(sc.Text() + "\n")
				}
				done <- cmd.Wait()
			}()
			select {
			case err = <-done:
			case <-time.After(2 * time.Minute):
				_ = cmd.Process.Kill()
				t.Fatalf("the command did not exit after %v; stderr: %s", sig, stderr.String())
			}
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit, "stderr: %s", stderr.String())
			assert.Equal(t, exitInterrupted, exit.ExitCode())
			assert.Contains(t, stderr.String(), "interrupted")
			for _, h := range fleet.Hosts {
				assert.Empty(t, ourServices(h), "%s keeps our service after %v; events:\n%s\nstderr: %s", h.Name, sig, after.String(), stderr.String())
				entries, _ := filepath.Glob(filepath.Join(h.AdminDir, "nxdeploy*"))
				assert.Empty(t, entries, "%s keeps our files after %v; events:\n%s\nstderr: %s", h.Name, sig, after.String(), stderr.String())
			}
		})
	}
}

// ourServices lists the services of ours on a demo host.
func ourServices(h *demo.Host) []string {
	var names []string
	for _, s := range h.Services() {
		if strings.HasPrefix(strings.ToLower(s.Name), "nxdeploy-") {
			names = append(names, s.Name)
		}
	}
	return names
}
